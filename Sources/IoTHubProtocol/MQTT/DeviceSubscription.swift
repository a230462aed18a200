/// A topic filter a device subscribes to.
///
/// ```swift
/// let me = DeviceIdentity(deviceId: "d1")
/// DeviceSubscription.cloudToDevice.filter(for: me)   // "devices/d1/messages/devicebound/#"
/// try DeviceSubscription(parsing: "$iothub/methods/POST/#", identity: me)   // .methods
/// ```
public enum DeviceSubscription: Sendable, Hashable, CaseIterable {
    /// Cloud-to-device messages: `devices/d/messages/devicebound/#`.
    case cloudToDevice
    /// Twin responses: `$iothub/twin/res/#`.
    case twinResponses
    /// Desired-property notifications: `$iothub/twin/PATCH/properties/desired/#`.
    case desiredProperties
    /// Direct method requests: `$iothub/methods/POST/#`.
    case methods
    /// Module input messages (edge routing): `devices/d/modules/m/inputs/#`.
    case moduleInputs

    /// The filter string for `identity`.
    public func filter(for identity: DeviceIdentity) -> String {
        switch self {
        case .cloudToDevice: "devices/\(identity.deviceId)/messages/devicebound/#"
        case .twinResponses: "$iothub/twin/res/#"
        case .desiredProperties: "$iothub/twin/PATCH/properties/desired/#"
        case .methods: "$iothub/methods/POST/#"
        case .moduleInputs: "\(identity.topicBase)/inputs/#"
        }
    }

    /// Classifies a SUBSCRIBE filter from `identity`.
    /// - Throws: ``MQTTNameError/foreignTopic(_:expected:)`` for another identity's filter and
    ///   ``MQTTNameError/unknownTopic(_:)`` for any filter IoT Hub does not define.
    public init(parsing filter: String, identity: DeviceIdentity) throws(MQTTNameError) {
        for candidate in Self.allCases {
            if candidate == .cloudToDevice && identity.moduleId != nil { continue }
            if candidate == .moduleInputs && identity.moduleId == nil { continue }
            if filter == candidate.filter(for: identity) {
                self = candidate
                return
            }
        }
        let parts = filter.split(separator: "/", omittingEmptySubsequences: false)
        if parts.first == "devices", parts.count >= 3, parts[1] != Substring(identity.deviceId) {
            throw .foreignTopic(filter, expected: identity)
        }
        throw .unknownTopic(filter)
    }
}
