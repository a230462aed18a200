import IoTHubProtocol

/// Why the hub ends a device's connection.
public enum SessionEndReason: Sendable, Hashable, CustomStringConvertible {
    /// A new connection for the same identity took over.
    case takenOver
    /// The device was disabled.
    case disabled
    /// The device was deleted.
    case deleted
    /// The hub is shutting down.
    case shutdown
    /// The SAS token the session authenticated with expired; the device must reconnect with a new one.
    case tokenExpired

    public var description: String {
        switch self {
        case .takenOver: "another connection for the same identity took over"
        case .disabled: "the device was disabled"
        case .deleted: "the device was deleted"
        case .shutdown: "the hub is shutting down"
        case .tokenExpired: "its SAS token expired; reconnect with a new token"
        }
    }
}

/// What the hub's services can ask of a connected device, whatever protocol it uses.
///
/// Each protocol head (MQTT, AMQP, HTTPS long-poll) implements this for its connections; the services see only
/// this interface, through the ``PresenceDirectory``.
public protocol DeviceSession: AnyObject, Sendable {
    /// The authenticated identity.
    var identity: DeviceIdentity { get }
    /// Whether the device subscribed to desired-property notifications.
    var wantsDesiredPropertyUpdates: Bool { get }
    /// Whether the device subscribed to direct methods.
    var acceptsMethods: Bool { get }
    /// Sends a desired-properties patch (JSON with `$version`).
    func sendDesiredPropertiesPatch(_ patch: [UInt8], version: Int64)
    /// Sends a direct method request; the answer comes back through ``MethodDispatcher``.
    func sendMethodRequest(_ request: DirectMethodRequest)
    /// Tells the session that cloud-to-device messages are waiting.
    func cloudToDeviceMessagesAvailable()
    /// Closes the connection.
    func end(_ reason: SessionEndReason)
}
