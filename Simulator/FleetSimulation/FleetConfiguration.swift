import IoTHubDevice

/// What a fleet run does: how many devices, what each sends, and where.
public struct FleetConfiguration: Sendable {
    /// The hub host name (SAS tokens and MQTT user names name it).
    public var hostName: String
    /// Where devices connect when it is not `hostName` (for example `127.0.0.1`).
    public var gatewayHostName: String?
    /// Several places to connect to instead (brokers or hub nodes): device `i` goes to `gateways[i % count]`.
    public var gateways: [String] = []
    /// MQTT over TLS port; ignored with ``plainMQTTPort``.
    public var mqttsPort: Int = 8883
    /// A plain MQTT port (the companion hub's opt-in local port).
    public var plainMQTTPort: Int?
    /// CA file for TLS; `nil` uses the system trust store.
    public var caFile: String?
    /// Virtual devices.
    public var devices: Int = 100
    /// Device ids are `{prefix}{index}`.
    public var deviceIdPrefix: String = "sim-"
    /// Telemetry messages each device sends.
    public var messagesPerDevice: Int = 10
    /// Pause between one device's messages.
    public var messageInterval: Duration = .zero
    /// Telemetry body size in bytes (a JSON document padded to this size).
    public var payloadSize: Int = 64
    /// Event loop threads the devices are spread over.
    public var loops: Int = 1
    /// Devices connecting at the same time, at most (a ramp, so the hub is not hit by every CONNECT at once).
    public var connectConcurrency: Int = 64
    /// Source addresses to spread connections over (127.0.0.x), against ephemeral port exhaustion.
    public var bindAddresses: [String] = []
    /// How long the whole run may take before the simulator stops waiting and reports what it has.
    public var deadline: Duration = .seconds(600)

    public init(hostName: String) {
        self.hostName = hostName
    }

    /// The ids of every device of the fleet.
    public var deviceIds: [String] { (0..<devices).map { "\(deviceIdPrefix)\($0)" } }
}
