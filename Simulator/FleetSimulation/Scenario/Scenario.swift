import IoTHubProtocol

/// A fleet simulation as a QA engineer writes it in YAML (`Simulator/scenarios/` has documented examples): groups
/// of devices with their behaviour, and what the service side does meanwhile. ``ScenarioParser`` reads it and
/// names the line and field of every mistake.
public struct Scenario: Sendable, Equatable {
    public var name: String
    /// How long the run lasts once the fleet is connected.
    public var duration: Duration
    public var groups: [DeviceGroup]
    public var service: ServiceBehaviour

    /// Devices in all groups.
    public var deviceCount: Int { groups.reduce(0) { $0 + $1.count } }
}

/// Which engine simulates a group's devices.
public enum SimulationEngine: String, Sendable, CaseIterable {
    /// One socket per device on MQTTCore's client session; the default for MQTT.
    case nativeMQTT = "native-mqtt"
    /// Up to 995 devices per AMQP connection, one CBS token each.
    case nativeAMQP = "native-amqp"
    /// Each device a real `DeviceClient`, for fidelity checks.
    case sdk
}

/// A group of devices that behave alike.
public struct DeviceGroup: Sendable, Equatable {
    public enum Security: String, Sendable, CaseIterable { case tls, plain }
    public enum Authentication: String, Sendable, CaseIterable { case sas, x509 }

    public var name: String
    public var count: Int
    public var ids: DeviceIdPattern
    public var engine: SimulationEngine
    /// For the `sdk` engine, which protocol the clients speak (`mqtt` unless set).
    public var sdkProtocol: String
    public var security: Security
    public var authentication: Authentication
    public var telemetry: TelemetryBehaviour?
    public var twin: TwinBehaviour
    public var methods: [MethodBehaviour]
    public var cloudToDevice: CloudToDeviceBehaviour?
    public var lifecycle: Lifecycle
}

/// Device ids from a pattern with one `{index}` placeholder, optionally zero-padded: `thermo-{index:05}` gives
/// `thermo-00000`, `thermo-00001`, …
public struct DeviceIdPattern: Sendable, Equatable {
    public var prefix: String
    public var suffix: String
    public var width: Int

    /// `nil` unless `pattern` has exactly one `{index}` or `{index:0N}`.
    public init?(_ pattern: String) {
        guard let open = pattern.range(of: "{index"), let close = pattern[open.upperBound...].firstIndex(of: "}")
        else { return nil }
        let spec = pattern[open.upperBound..<close]
        if spec.isEmpty {
            width = 0
        } else if spec.hasPrefix(":0"), let digits = Int(spec.dropFirst(2)), (1...12).contains(digits) {
            width = digits
        } else {
            return nil
        }
        prefix = String(pattern[..<open.lowerBound])
        suffix = String(pattern[pattern.index(after: close)...])
        guard !suffix.contains("{index") else { return nil }
    }

    public func id(_ index: Int) -> String {
        let digits = String(index)
        return prefix + String(repeating: "0", count: max(0, width - digits.count)) + digits + suffix
    }
}

/// Telemetry every `interval` (± `jitter`), a JSON body from ``payload``, padded to `size` bytes when set.
public struct TelemetryBehaviour: Sendable, Equatable {
    public var interval: Duration
    public var jitter: Duration
    public var payload: PayloadTemplate
    public var size: Int?
    public var properties: [String: String]
}

public struct TwinBehaviour: Sendable, Equatable {
    /// Reported properties to send once connected.
    public var reportOnConnect: JSONObject?
    /// Echo each desired update into reported properties (as a thermostat acknowledges a set-point).
    public var echoDesired: Bool

    public static let none = TwinBehaviour(reportOnConnect: nil, echoDesired: false)
}

/// How a device answers one direct method.
public struct MethodBehaviour: Sendable, Equatable {
    public var name: String
    public var status: Int
    public var delay: Duration
    public var payload: JSONValue
}

/// How devices settle C2D messages: the fractions (summing to 1) that complete, reject and abandon.
public struct CloudToDeviceBehaviour: Sendable, Equatable {
    public var complete: Double
    public var reject: Double
    public var abandon: Double
}

public struct Lifecycle: Sendable, Equatable {
    /// Connects per second across the group while the fleet comes up (`nil`: as fast as the engine goes).
    public var connectRate: Double?
    /// Connect, send for `connected`, disconnect, sleep for `sleep`, again.
    public var dutyCycle: DutyCycle?
    /// The fraction of the group that disconnects and comes back each minute.
    public var churnPerMinute: Double?
    /// At `at` into the run, `fraction` of the group drops at once and reconnects.
    public var reconnectStorms: [ReconnectStorm]

    public struct DutyCycle: Sendable, Equatable {
        public var connected: Duration
        public var sleep: Duration
    }

    public struct ReconnectStorm: Sendable, Equatable {
        public var at: Duration
        public var fraction: Double
    }

    public static let steady = Lifecycle(connectRate: nil, dutyCycle: nil, churnPerMinute: nil, reconnectStorms: [])
}

/// What the service side does while the fleet runs, each at its rate (per second, across the fleet).
public struct ServiceBehaviour: Sendable, Equatable {
    public struct MethodCalls: Sendable, Equatable {
        public var name: String
        public var rate: Double
        public var payload: JSONValue
        public var timeout: Duration
    }

    public struct DesiredPatches: Sendable, Equatable {
        public var rate: Double
        public var patch: PayloadTemplate
    }

    public struct CloudToDeviceSends: Sendable, Equatable {
        public var rate: Double
        public var size: Int
    }

    public var methods: [MethodCalls]
    public var desired: DesiredPatches?
    public var cloudToDevice: CloudToDeviceSends?
    /// Read the hub's telemetry stream to time end-to-end D2C latency.
    public var readTelemetry: Bool

    public static let idle = ServiceBehaviour(methods: [], desired: nil, cloudToDevice: nil, readTelemetry: false)
}
