import IoTHubDevice
import IoTHubProtocol
import Logging

/// The native MQTT engine: each simulated device is a socket and MQTTCore's pure client session, with no
/// `DeviceClient`, no Swift task and no thread of its own; `loops` threads carry the whole fleet. It speaks IoT
/// Hub's MQTT (user name, SAS token, telemetry topic, QoS 1) and measures connect and send→PUBACK latencies.
public enum NativeMQTTEngine {
    public struct Configuration: Sendable {
        public var hostName: String
        public var gatewayHostName: String?
        /// Several places to connect to instead (brokers or hub nodes, on the same port): the device at fleet
        /// index `i` goes to `gateways[i % count]`.
        public var gateways: [String] = []
        public var port: Int = 8883
        /// TLS for every connection (`nil`: plain TCP, for the companion hub's plain port).
        public var tls: DeviceTLSContext?
        public var messagesPerDevice = 10
        /// Pause between one device's messages; zero sends them all at once (the window paces them).
        public var interval: Duration = .zero
        public var payloadSize = 64
        public var window = 10
        public var loops = 1
        /// First connects per second across the fleet (`nil`: as fast as handshakes go).
        public var connectsPerSecond: Double?
        /// Handshakes under way at once, per loop.
        public var maximumConcurrentConnects = 256
        public var maximumAttempts = 5
        public var bindAddresses: [String] = []
        public var keepAlive: Duration? = .seconds(60)
        public var responseTimeout: Duration = .seconds(30)
        public var sweepInterval: Duration = .milliseconds(20)
        /// The run stops here, finished or not.
        public var deadline: Duration = .seconds(600)
        /// SAS token lifetime (AMQP renews in band at four fifths of it).
        public var tokenLifetime: Duration = .seconds(3600)
        /// Put each message's send time in an application property, for end-to-end latency at the service side.
        public var stampTelemetry = false

        public init(hostName: String) { self.hostName = hostName }

        /// A TLS context that presents `certificate` (an X.509 device's) and trusts what the run's TLS trusts.
        func clientTLS(presenting certificate: FleetCertificateAuthority.DeviceCertificate) throws -> DeviceTLSContext {
            try DeviceTLSContext(trust: tls?.trust ?? .system, certificatePEM: certificate.certificatePEM,
                                 privateKeyPEM: certificate.privateKeyPEM)
        }

        /// Where the device at fleet index `index` connects.
        public func gateway(forDevice index: Int) -> String {
            gateways.isEmpty ? gatewayHostName ?? hostName : gateways[index % gateways.count]
        }

        /// The settings a fleet run shares with the SDK engine (host, gateway, port, traffic, loops, source
        /// addresses, deadline), with a TLS context for ``FleetConfiguration/caFile`` unless the port is plain.
        public init(_ fleet: FleetConfiguration) throws {
            hostName = fleet.hostName
            gatewayHostName = fleet.gatewayHostName
            gateways = fleet.gateways
            port = fleet.plainMQTTPort ?? fleet.mqttsPort
            tls = fleet.plainMQTTPort == nil ? try DeviceTLSContext.shared(trust: fleet.caFile.map { .caFile($0) } ?? .system) : nil
            messagesPerDevice = fleet.messagesPerDevice
            interval = fleet.messageInterval
            payloadSize = fleet.payloadSize
            loops = fleet.loops
            bindAddresses = fleet.bindAddresses
            deadline = fleet.deadline
        }
    }

    /// What one loop's devices did.
    struct ShardResult: Sendable {
        var metrics: FleetMetrics
        var timeline: FleetTimeline
        var errors: [String: Int]
        var connected: Int
        var allConnectedAt: Duration
        var sent: Int
        var acknowledged: Int
    }

    public struct Result: Sendable {
        public var metrics: FleetMetrics
        public var timeline: FleetTimeline
        public var errors: [String: Int]
        public var devices: Int
        /// Devices that connected at least once.
        public var connected: Int
        /// When the last of them first connected, from the start.
        public var allConnectedAt: Duration
        public var sent: Int
        public var acknowledged: Int
        public var duration: Duration

        /// As the `run` command's report.
        public func report(messagesPerDevice: Int) -> FleetReport {
            let connects = metrics.operations[.connect]?.latency ?? LatencyHistogram()
            let sends = metrics.operations[.d2cAck]?.latency ?? LatencyHistogram()
            return FleetReport(devices: devices, connected: connected, connectLatency: LatencySummary(connects),
                               connectDuration: allConnectedAt, messagesPlanned: devices * messagesPerDevice,
                               acknowledged: acknowledged, failed: errors.values.reduce(0, +),
                               sendLatency: LatencySummary(sends), sendDuration: duration, totalDuration: duration,
                               errors: errors)
        }
    }

    /// Runs `devices` (ids with their SAS keys), each sending ``Configuration/messagesPerDevice`` messages of
    /// ``Configuration/payloadSize`` bytes, until every message is acknowledged or the deadline passes.
    public static func run(_ configuration: Configuration, devices: [(id: String, key: String)]) async throws
        -> Result
    {
        let planned = try devices.enumerated().map { index, device -> PlannedDevice in
            do {
                return PlannedDevice(index: index, id: device.id, key: try SharedAccessKey(base64: device.key), group: 0)
            } catch {
                throw FleetError.invalidConfiguration("the key of \(device.id) is not base64")
            }
        }
        let telemetry = TelemetryBehaviour(interval: configuration.interval, jitter: .zero, payload: .empty,
                                           size: configuration.payloadSize, properties: [:])
        let behaviour = DeviceBehaviour(telemetry: telemetry, messageLimit: configuration.messagesPerDevice)
        return try await run(configuration, behaviours: [behaviour], devices: planned,
                             control: RunControl(devices: planned.count))
    }

    /// Runs `devices`, each doing what `behaviours[device.group]` says, until every device is done, `control`
    /// stops the run, or the deadline passes.
    public static func run(_ configuration: Configuration, behaviours: [DeviceBehaviour], devices: [PlannedDevice],
                           control: RunControl) async throws -> Result {
        try await FleetShard.runAll(configuration, behaviours: behaviours, devices: devices, control: control,
                                    loopName: "fleetsim-mqtt", shardOffset: 0) { _ in nil }
    }
}

/// The native AMQP engine: devices share AMQP connections, up to 995 per connection and one set of connections per
/// loop, each device with its own CBS token (renewed in band) and links, driven by the SDK's AMQP transport without
/// a `DeviceClient` or a task per device. ``NativeMQTTEngine/Configuration`` carries its settings too (its `port`
/// is the AMQP port).
public enum NativeAMQPEngine {
    public static func run(_ configuration: NativeMQTTEngine.Configuration, behaviours: [DeviceBehaviour],
                           devices: [PlannedDevice], control: RunControl) async throws -> NativeMQTTEngine.Result {
        try await FleetShard.runAll(configuration, behaviours: behaviours, devices: devices, control: control,
                                    loopName: "fleetsim-amqp", shardOffset: 1_000) { shard in
            let pool = AMQPConnectionPool(eventLoop: shard.loop)
            return { index, planned, behaviour, shard in
                NativeAMQPDevice(index: index, planned: planned, behaviour: behaviour, shard: shard, pool: pool)
            }
        }
    }
}

extension FleetShard {
    /// Spreads `devices` over `configuration.loops` shards (shard numbers from `shardOffset`, so two engines in one
    /// run report apart), runs them, and merges what they measured.
    static func runAll(_ configuration: NativeMQTTEngine.Configuration, behaviours: [DeviceBehaviour],
                       devices: [PlannedDevice], control: RunControl, loopName: String, shardOffset: Int,
                       beforeShutdown: () async -> Void = {},
                       factory: (FleetShard) -> ((Int, PlannedDevice, DeviceBehaviour, FleetShard) -> any ShardDevice)?)
        async throws -> NativeMQTTEngine.Result
    {
        let loops = try (0..<max(1, configuration.loops)).map { try DeviceEventLoop(name: "\(loopName)-\($0)") }
        defer { for loop in loops { loop.shutdown() } }
        let shards = loops.enumerated().map { index, loop in
            let shard = FleetShard(index: shardOffset + index, loop: loop, configuration: configuration,
                                   behaviours: behaviours, control: control, rateShare: 1 / Double(loops.count))
            shard.makeDevice = factory(shard)
            return shard
        }
        let results = await withTaskGroup(of: NativeMQTTEngine.ShardResult.self) { group in
            for (index, shard) in shards.enumerated() {
                let assigned = stride(from: index, to: devices.count, by: shards.count).map { devices[$0] }
                group.addTask { await shard.run(assigned) }
            }
            var results: [NativeMQTTEngine.ShardResult] = []
            for await result in group { results.append(result) }
            return results
        }
        await beforeShutdown()
        var timeline = FleetTimeline()
        for result in results { timeline.merge(result.timeline) }
        return NativeMQTTEngine.Result(
            metrics: FleetMetrics.merged(results.map(\.metrics)), timeline: timeline,
            errors: results.reduce(into: [:]) { $0.merge($1.errors, uniquingKeysWith: +) },
            devices: devices.count, connected: results.reduce(0) { $0 + $1.connected },
            allConnectedAt: results.map(\.allConnectedAt).max() ?? .zero,
            sent: results.reduce(0) { $0 + $1.sent }, acknowledged: results.reduce(0) { $0 + $1.acknowledged },
            duration: ContinuousClock.now - control.started)
    }
}
