import CLinuxSystem
import Foundation
import IoTHubDevice
import IoTHubProtocol
import Logging

/// The AMQP multiplexing benchmark: many SDK devices over few shared AMQP connections (at most 995 each), as a
/// protocol gateway runs them. It measures what a hub operator and a gateway developer size by:
///
/// - device attaches per second (CBS put-token plus the device's links, until ``DeviceClient/connect()`` returns);
/// - the hub's resident memory per idle multiplexed device (from `/proc/PID/statm` of the hub process);
/// - this process's, that is the SDK's, resident memory per idle multiplexed device.
///
/// Memory is a slope, not a ratio of totals: the resident set after a warm-up batch of devices and after all of
/// them, divided by the devices in between, so one-time costs (code pages, TLS contexts, the loop thread, SQLite's
/// page cache filling) do not count against a device. Every device then sends one telemetry message, and the run
/// counts the acknowledgements, so a device that only looked connected is caught.
public enum AMQPMultiplexBenchmark {
    public struct Configuration: Sendable {
        /// The hub's host name (the SAS audience).
        public var hostName: String
        /// Where to connect, when not `hostName` (e.g. `127.0.0.1`).
        public var gatewayHostName: String?
        /// AMQP over TLS port.
        public var amqpsPort: Int = 5671
        /// A plain AMQP port to use instead of TLS (the companion hub's `--plain-amqp-port`).
        public var plainAMQPPort: Int?
        public var caFile: String?
        /// Devices in all.
        public var devices: Int = 20_000
        /// Devices connected before the first memory sample.
        public var warmupDevices: Int = 2_000
        public var identitiesPerConnection: Int = AMQPConnectionPool.maximumIdentitiesPerConnection
        /// The hub's process id, to sample its resident memory; without it only the SDK side is measured.
        public var hubProcessId: Int32?
        /// How long the fleet sits idle before the second sample.
        public var idle: Duration = .seconds(3)
        public var deviceIdPrefix: String = "bench-amqp-"

        public init(hostName: String) { self.hostName = hostName }

        public var deviceIds: [String] { (0..<devices).map { "\(deviceIdPrefix)\($0)" } }
    }

    public struct Result: Sendable {
        public var devices: Int
        public var connections: Int
        public var attach: Duration
        public var attachesPerSecond: Double
        /// Hub resident bytes per idle device (slope), when the hub's process id was given.
        public var hubBytesPerDevice: Double?
        public var hubResidentBytes: (warm: Int, all: Int)?
        /// This process's resident bytes per idle device (slope).
        public var clientBytesPerDevice: Double
        public var clientResidentBytes: (warm: Int, all: Int)
        /// This process's heap in use (malloc) per idle device, and the part of it the unconnected client objects take.
        public var clientHeapBytesPerDevice: Double
        public var clientObjectHeapBytesPerDevice: Double
        public var acknowledged: Int

        public var json: JSONValue {
            var object: JSONObject = [
                "benchmark": "amqp-multiplex", "devices": .integer(Int64(devices)),
                "connections": .integer(Int64(connections)), "attachSeconds": .double(attach.seconds),
                "attachesPerSecond": .double(attachesPerSecond.rounded()),
                "clientBytesPerDevice": .double(clientBytesPerDevice.rounded()),
                "clientResidentBytes": ["warm": .integer(Int64(clientResidentBytes.warm)),
                                        "all": .integer(Int64(clientResidentBytes.all))],
                "clientHeapBytesPerDevice": .double(clientHeapBytesPerDevice.rounded()),
                "clientObjectHeapBytesPerDevice": .double(clientObjectHeapBytesPerDevice.rounded()),
                "acknowledged": .integer(Int64(acknowledged)),
                "targets": ["hubBytesPerDevice": 3072, "clientBytesPerDevice": 2048, "attachesPerSecond": 10_000],
            ]
            if let hubBytesPerDevice, let hubResidentBytes {
                object["hubBytesPerDevice"] = .double(hubBytesPerDevice.rounded())
                object["hubResidentBytes"] = ["warm": .integer(Int64(hubResidentBytes.warm)),
                                              "all": .integer(Int64(hubResidentBytes.all))]
            }
            return .object(object)
        }

        public var text: String {
            var lines = [
                "AMQP multiplexing: \(devices) devices over \(connections) connections",
                "  attaches:   \(Int(attachesPerSecond.rounded()))/s (all \(devices) in \(String(format: "%.2f", attach.seconds)) s; target ≥ 10,000/s)",
            ]
            if let hubBytesPerDevice {
                lines.append("  hub RSS:    \(Int(hubBytesPerDevice.rounded())) B per idle device (target ≤ 3,072)")
            }
            lines.append("  SDK RSS:    \(Int(clientBytesPerDevice.rounded())) B per idle device (target ≤ 2,048); heap in use "
                         + "\(Int(clientHeapBytesPerDevice.rounded())) B, of which the unconnected client "
                         + "\(Int(clientObjectHeapBytesPerDevice.rounded())) B")
            lines.append("  telemetry:  \(acknowledged) of \(devices) acknowledged")
            return lines.joined(separator: "\n")
        }
    }

    /// Connects the fleet in two batches, samples memory after each, idles, sends one message per device, closes.
    public static func run(_ configuration: Configuration, keys: [String: String], logger: Logger) async throws
        -> Result
    {
        let loop = try DeviceEventLoop(name: "amqp-bench")
        defer { loop.shutdown() }
        let pool = AMQPConnectionPool(eventLoop: loop, identitiesPerConnection: configuration.identitiesPerConnection)
        var options = DeviceClientOptions()
        options.transport = .amqp(sharing: pool)
        options.amqpPort = configuration.amqpsPort
        options.plainTCPPort = configuration.plainAMQPPort
        if let caFile = configuration.caFile { options.trust = .caFile(caFile) }
        options.retryPolicy = RetryPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(2))
        options.operationTimeout = .seconds(120)
        options.logger = logger
        options.gatewayHostName = configuration.gatewayHostName
        let ids = configuration.deviceIds
        let warm = min(max(configuration.warmupDevices, 0), ids.count)
        // Clients are made batch by batch, so the memory slope includes the client objects, not just their links.
        var clients = try makeClients(ids[0..<warm], keys: keys, hostName: configuration.hostName, options: options)
        var attach = try await connect(clients[...])
        try await Task.sleep(for: configuration.idle)
        let clientWarm = ResidentMemory.bytes(of: nil)
        let heapWarm = ResidentMemory.heapInUse()
        let hubWarm = configuration.hubProcessId.map { ResidentMemory.bytes(of: $0) }
        let rest = try makeClients(ids[warm...], keys: keys, hostName: configuration.hostName, options: options)
        let heapObjects = ResidentMemory.heapInUse()
        attach += try await connect(rest[...])
        clients += rest
        try await Task.sleep(for: configuration.idle)
        let clientAll = ResidentMemory.bytes(of: nil)
        let heapAll = ResidentMemory.heapInUse()
        let hubAll = configuration.hubProcessId.map { ResidentMemory.bytes(of: $0) }
        let connections = await pool.connections.count

        let acknowledged = await sendOneEach(clients)
        await withTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.close() } }
        }
        let measured = Double(max(clients.count - warm, 1))
        var result = Result(
            devices: clients.count, connections: connections, attach: attach,
            attachesPerSecond: Double(clients.count) / max(attach.seconds, 1e-9),
            clientBytesPerDevice: Double(clientAll - clientWarm) / measured,
            clientResidentBytes: (clientWarm, clientAll),
            clientHeapBytesPerDevice: Double(heapAll - heapWarm) / measured,
            clientObjectHeapBytesPerDevice: Double(heapObjects - heapWarm) / measured, acknowledged: acknowledged)
        if let hubWarm, let hubAll {
            result.hubBytesPerDevice = Double(hubAll - hubWarm) / measured
            result.hubResidentBytes = (hubWarm, hubAll)
        }
        return result
    }

    private static func makeClients(_ ids: ArraySlice<String>, keys: [String: String], hostName: String,
                                    options: DeviceClientOptions) throws -> [DeviceClient] {
        try ids.map { id in
            guard let key = keys[id] else { throw FleetError.invalidConfiguration("no key for \(id)") }
            return try DeviceClient(hostName: hostName, deviceId: id, sharedAccessKey: key, options: options)
        }
    }

    /// Connects `clients` all at once; returns how long until the last one was connected.
    private static func connect(_ clients: ArraySlice<DeviceClient>) async throws -> Duration {
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { try await client.connect() } }
            try await group.waitForAll()
        }
        return ContinuousClock.now - started
    }

    private static func sendOneEach(_ clients: [DeviceClient]) async -> Int {
        await withTaskGroup(of: Bool.self) { group in
            for client in clients {
                group.addTask { (try? await client.send(IoTHubMessage(text: #"{"bench":"amqp"}"#))) != nil }
            }
            var acknowledged = 0
            for await ok in group where ok { acknowledged += 1 }
            return acknowledged
        }
    }
}

/// Resident set sizes from `/proc/PID/statm`.
enum ResidentMemory {
    /// The resident bytes of process `pid`, or of this process when `nil`; 0 when it cannot be read.
    static func bytes(of pid: Int32?) -> Int {
        let path = pid.map { "/proc/\($0)/statm" } ?? "/proc/self/statm"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Bytes this process has allocated with malloc and not freed (all arenas, and mmapped blocks).
    static func heapInUse() -> Int {
        let info = mallinfo2()
        return Int(info.uordblks) + Int(info.hblkhd)
    }
}
