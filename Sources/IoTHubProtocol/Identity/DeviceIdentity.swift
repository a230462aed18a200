/// A device, or a module on a device: who is connecting or being addressed.
///
/// ```swift
/// let device = DeviceIdentity(deviceId: "dev1")
/// let module = DeviceIdentity(deviceId: "dev1", moduleId: "filter")
/// module.clientId   // "dev1/filter"
/// ```
public struct DeviceIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The device id.
    public var deviceId: String
    /// The module id, for a module identity.
    public var moduleId: String?

    /// Creates an identity; ids are not validated here (see ``validate()``).
    public init(deviceId: String, moduleId: String? = nil) {
        self.deviceId = deviceId
        self.moduleId = moduleId
    }

    /// Checks both ids against IoT Hub's naming rules.
    public func validate() throws(IdentityError) {
        try IdentityValidation.validateDeviceId(deviceId)
        if let moduleId { try IdentityValidation.validateModuleId(moduleId) }
    }

    /// The MQTT client id: `d`, or `d/m` for a module.
    public var clientId: String {
        if let moduleId { return "\(deviceId)/\(moduleId)" }
        return deviceId
    }

    /// The topic and path prefix `devices/d` or `devices/d/modules/m` (ids not URL-encoded).
    public var topicBase: String {
        if let moduleId { return "devices/\(deviceId)/modules/\(moduleId)" }
        return "devices/\(deviceId)"
    }

    /// The SAS resource for this identity on `hostName`.
    public func sasResource(hostName: String) -> SASResource {
        if let moduleId { return .module(hostName: hostName, deviceId: deviceId, moduleId: moduleId) }
        return .device(hostName: hostName, deviceId: deviceId)
    }

    public var description: String { clientId }
}
