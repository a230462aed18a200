import IoTHubProtocol

/// A failure the hub reports to a client: an IoT Hub error code and a message that says what to do.
///
/// Every protocol head maps it the same way: REST answers `code.httpStatus` with IoT Hub's error body, MQTT twin
/// responses carry the status, CONNECT failures become CONNACK 5.
public struct HubError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: IoTHubErrorCode
    public var message: String

    public init(_ code: IoTHubErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name) (\(code.rawValue)): \(message)" }

    public static func deviceNotFound(_ identity: DeviceIdentity) -> HubError {
        identity.moduleId == nil
            ? HubError(.deviceNotFound, "device '\(identity.deviceId)' is not registered; create it first")
            : HubError(.moduleNotFound, "module '\(identity.clientId)' is not registered; create it first")
    }

    public static func unauthorized(_ message: String) -> HubError {
        HubError(.iotHubUnauthorizedAccess, message)
    }

    public static func invalid(_ message: String) -> HubError {
        HubError(.argumentInvalid, message)
    }
}
