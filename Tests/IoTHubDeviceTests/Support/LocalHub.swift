import Foundation
import Glibc
import IoTHubDevice
import IoTHubProtocol
import Logging
@testable import IoTHubServer

/// The companion hub, in this process, on free ports: plain MQTT, MQTT over TLS (certificate for `localhost`),
/// HTTPS, AMQP over TLS, plain AMQP and the storage (blob) endpoint for file uploads. Restartable on the same data
/// directory and ports.
final class LocalHub: @unchecked Sendable {
    // @unchecked: `server` and `task` change only in start/stop, which tests call sequentially.
    let directory: String
    let mqttPort: Int
    let mqttsPort: Int
    let httpsPort: Int
    let amqpsPort: Int
    let amqpPort: Int
    /// The storage endpoint's HTTPS port; file-upload grants name `localhost:{storagePort}`.
    let storagePort: Int
    private(set) var server: HubServer
    private var task: Task<Void, Error>

    /// Observes the AMQP links and CBS requests the hub sees (wire-fidelity tests).
    let amqpObserver: AMQPWireRecorder?

    /// - Parameter amqpIdentityLimit: identities one AMQP connection may carry at the hub (IoT Hub: 995).
    static func start(amqpObserver: AMQPWireRecorder? = nil, amqpIdentityLimit: Int? = nil) async throws -> LocalHub {
        let directory = NSTemporaryDirectory() + "iothub-device-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A port found free can be taken before the hub binds it (another test's outgoing connection may get it as
        // its ephemeral port); that listener then fails and the hub stops. Start again on other ports.
        for attempt in 1...5 {
            let ports = try FreePorts.take(6)
            let (server, task, listening) = try await launch(directory: directory, ports: ports, amqpObserver: amqpObserver,
                                                             amqpIdentityLimit: amqpIdentityLimit)
            if listening {
                return LocalHub(directory: directory, ports: ports, server: server, task: task, amqpObserver: amqpObserver)
            }
            await server.shutdown()
            let failure = await task.result
            if attempt == 5 {
                throw DeviceClientError.invalidConfiguration("the test hub's listeners did not all come up: \(failure)")
            }
        }
        throw DeviceClientError.invalidConfiguration("the test hub did not start")
    }

    private init(directory: String, ports: [Int], server: HubServer, task: Task<Void, Error>,
                 amqpObserver: AMQPWireRecorder?) {
        self.directory = directory
        self.mqttPort = ports[0]
        self.mqttsPort = ports[1]
        self.httpsPort = ports[2]
        self.amqpsPort = ports[3]
        self.amqpPort = ports[4]
        self.storagePort = ports[5]
        self.amqpObserver = amqpObserver
        self.server = server
        self.task = task
    }

    /// Starts the hub and waits until every port accepts; `listening` is `false` when one did not within 4 s.
    private static func launch(directory: String, ports: [Int], amqpObserver: AMQPWireRecorder?,
                               amqpIdentityLimit: Int? = nil) async throws
        -> (server: HubServer, task: Task<Void, Error>, listening: Bool)
    {
        var logger = Logger(label: "device-test-hub")
        logger.logLevel = .warning
        var configuration = HubConfiguration(dataDirectory: directory, hostName: "localhost", mqttsPort: ports[1],
                                             httpsPort: ports[2], plainMQTTPort: ports[0])
        configuration.amqpsPort = ports[3]
        configuration.plainAMQPPort = ports[4]
        configuration.storage.port = ports[5]
        if let amqpObserver { configuration.amqp.linkObserver = { amqpObserver.record($0) } }
        if let amqpIdentityLimit { configuration.amqp.maximumIdentitiesPerConnection = amqpIdentityLimit }
        var server: HubServer?
        // A port freed by a previous run may linger for a moment.
        for attempt in 0..<50 {
            do {
                server = try await HubServer.start(configuration, logger: logger)
                break
            } catch where attempt < 49 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        guard let server else { throw DeviceClientError.invalidConfiguration("hub did not start") }
        let task = Task { try await server.run() }
        var listening = true
        for port in ports {
            // Until the port accepts (a `for … where` here would go on probing all 400 times).
            var accepted = false
            for _ in 0..<400 {
                if FreePorts.accepts(port) { accepted = true; break }
                try await Task.sleep(for: .milliseconds(10))
            }
            listening = listening && accepted
        }
        return (server, task, listening)
    }

    var services: HubServices { server.services }
    var caPath: String { server.data.tls.caCertificatePath }

    /// Graceful stop (as SIGTERM).
    func stop() async {
        await server.shutdown()
        _ = try? await task.value
    }

    /// Stops and starts again on the same data directory and ports.
    func restart(after pause: Duration = .zero) async throws {
        await stop()
        if pause > .zero { try await Task.sleep(for: pause) }
        (server, task, _) = try await Self.launch(directory: directory,
                                                  ports: [mqttPort, mqttsPort, httpsPort, amqpsPort, amqpPort, storagePort],
                                                  amqpObserver: amqpObserver)
    }

    /// Creates a SAS device and returns its primary key (base64).
    func createDevice(_ id: String, moduleId: String? = nil) async throws -> String {
        let record = try await services.registry.create(.init(identity: DeviceIdentity(deviceId: id, moduleId: moduleId)))
        guard case .sas(let primary, _) = record.authentication else { fatalError("not a SAS device") }
        return primary.base64
    }

    /// Options for a client of this hub over plain MQTT, or plain AMQP.
    func plainOptions(_ transport: TransportKind = .mqtt) -> DeviceClientOptions {
        var options = DeviceClientOptions()
        options.transport = transport.transport
        options.plainTCPPort = transport == .mqtt ? mqttPort : amqpPort
        options.retryPolicy = RetryPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1))
        options.operationTimeout = .seconds(20)
        return options
    }

    /// Options for a client of this hub over TLS (the hub's CA trusted) with `transport`.
    func tlsOptions(_ transport: TransportKind = .mqtt) -> DeviceClientOptions {
        var options = plainOptions(transport)
        options.plainTCPPort = nil
        options.port = mqttsPort
        options.amqpPort = amqpsPort
        options.httpsPort = httpsPort
        options.trust = .caFile(caPath)
        return options
    }

    /// A client over plain MQTT (or `transport`) with a fresh device.
    func plainClient(_ id: String, _ transport: TransportKind = .mqtt, options: DeviceClientOptions? = nil) async throws
        -> DeviceClient
    {
        let key = try await createDevice(id)
        return try DeviceClient(hostName: "localhost", deviceId: id, sharedAccessKey: key,
                                options: options ?? plainOptions(transport))
    }


    /// Telemetry stored for `deviceId`, oldest first.
    func events(for deviceId: String) async throws -> [StoredEvent] {
        var all: [StoredEvent] = []
        var after: Int64 = 0
        while true {
            let page = try await services.events.events(after: after, deviceId: deviceId, limit: 500)
            all += page
            guard let last = page.last, page.count == 500 else { return all }
            after = last.sequenceNumber
        }
    }

    func removeData() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Free loopback ports, and a check that a port accepts connections.
enum FreePorts {
    static func take(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
                }
            }
            guard bound else { throw DeviceClientError.invalidConfiguration("no free port") }
            sockets.append(fd)
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// The transports the API suites run over.
enum TransportKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case mqtt, amqp

    var transport: DeviceClientTransport { self == .mqtt ? .mqtt : .amqp }
    var description: String { rawValue }
}

/// The SDK's connection state (the hub has a type of the same name).
typealias ClientState = IoTHubDevice.ConnectionState

/// Collects a client's connection states in the background.
final class StateRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [ClientState] = []
    private var task: Task<Void, Never>?

    init(_ client: DeviceClient) async {
        let stream = await client.connectionStates
        task = Task { [weak self] in
            for await state in stream { self?.append(state) }
        }
    }

    private func append(_ state: ClientState) {
        lock.withLock { recorded.append(state) }
    }

    var states: [ClientState] { lock.withLock { recorded } }

    /// Waits until `condition` holds for the states so far.
    func wait(timeout: Duration = .seconds(20), until condition: ([ClientState]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(states) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(states)
    }

    deinit { task?.cancel() }
}
