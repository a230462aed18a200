import Foundation
import Glibc
import IoTHubDevice
import IoTHubProtocol
import IoTHubTestSupport
import Logging
import MQTTCore
import Synchronization
@testable import IoTHubServer

/// The companion hub in this process on the official SDKs' fixed ports (443 HTTPS, 8883 MQTT over TLS, host name
/// `localhost`), over a fresh data directory, recording every packet devices send.
///
/// The official Python device SDK cannot use another port. IoTHubServerTests' interop suites use the same ports
/// (in the same test process), so the hub holds the ``FixedPortsFileLock`` from ``start()`` to ``stop()``.
final class FixedPortHub: Sendable {
    let server: HubServer
    let packets: PacketRecorder
    private let task: Task<Void, Error>
    private let portsLock: FixedPortsFileLock
    private let directory: String

    static func start() async throws -> FixedPortHub {
        let portsLock = try await FixedPortsFileLock.acquire()
        do {
            return try await startLocked(portsLock)
        } catch {
            portsLock.release()
            throw error
        }
    }

    private static func startLocked(_ portsLock: FixedPortsFileLock) async throws -> FixedPortHub {
        let directory = NSTemporaryDirectory() + "iothub-wire-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "wire-test-hub")
        logger.logLevel = .warning
        let packets = PacketRecorder()
        var configuration = HubConfiguration(dataDirectory: directory, hostName: "localhost")
        configuration.mqtt.packetObserver = { clientId, packet in packets.record(clientId, packet) }
        var started: HubServer?
        // A port another suite just closed may linger for a moment.
        for attempt in 0..<50 {
            do {
                started = try await HubServer.start(configuration, logger: logger)
                break
            } catch where attempt < 49 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        guard let server = started else { throw HubError.invalid("the hub did not start on 443/8883") }
        let task = Task { try await server.run() }
        for port in [443, 8883] {
            // Until the port accepts (a `for … where` here would go on probing all 400 times).
            for _ in 0..<400 {
                if FreePorts.accepts(port) { break }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        return FixedPortHub(server: server, packets: packets, task: task, portsLock: portsLock, directory: directory)
    }

    private init(server: HubServer, packets: PacketRecorder, task: Task<Void, Error>, portsLock: FixedPortsFileLock,
                 directory: String) {
        self.server = server
        self.packets = packets
        self.task = task
        self.portsLock = portsLock
        self.directory = directory
    }

    var services: HubServices { server.services }
    var caPath: String { server.data.tls.caCertificatePath }

    /// Creates a SAS device and returns its connection string (`HostName=localhost;DeviceId=…;SharedAccessKey=…`).
    func createDevice(_ id: String) async throws -> String {
        let record = try await services.registry.create(.init(identity: DeviceIdentity(deviceId: id)))
        guard case .sas(let primary, _) = record.authentication else {
            throw HubError.invalid("device '\(id)' was not created with SAS keys")
        }
        return "HostName=localhost;DeviceId=\(id);SharedAccessKey=\(primary.base64)"
    }

    /// Graceful stop (as SIGTERM), then frees the ports for other suites and removes the data directory.
    func stop() async {
        await server.shutdown()
        _ = try? await task.value
        portsLock.release()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Every packet devices send to the hub, with the client id of the connection's CONNECT, in arrival order per
/// connection. Filled by ``MQTTEndpointConfiguration/packetObserver`` on the hub's event loops.
final class PacketRecorder: Sendable {
    private let recorded = Mutex<[(clientId: String?, packet: MQTTPacket)]>([])

    func record(_ clientId: String?, _ packet: MQTTPacket) {
        recorded.withLock { $0.append((clientId, packet)) }
    }

    /// The packets of the connections whose CONNECT named `clientId`, in order.
    func packets(of clientId: String) -> [MQTTPacket] {
        recorded.withLock { all in all.filter { $0.clientId == clientId }.map(\.packet) }
    }

    /// Waits until `condition` holds for `clientId`'s packets; returns whether it did within `timeout`.
    func wait(for clientId: String, timeout: Duration = .seconds(20), until condition: ([MQTTPacket]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(packets(of: clientId)) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(packets(of: clientId))
    }
}


/// A script from Tests/Oracle run with the test venv's Python, talked to line by line: the test reads its stdout
/// lines as they come and writes lines to its stdin.
final class OracleProcess: @unchecked Sendable {
    // @unchecked: `process` and the pipes are set up in init and only used through thread-safe calls afterwards;
    // the output is guarded by `output`.
    private let process = Process()
    private let stdin = Pipe()
    private let stdout = Pipe()
    private let stderr = Pipe()
    private let output = Mutex<(lines: [String], partial: [UInt8], errors: String, ended: Bool)>(([], [], "", false))
    private let resultFile = OracleResultFile()

    /// Starts `Tests/Oracle/<script>` with `arguments`.
    init(script: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: OracleScripts.python)
        process.arguments = [OracleScripts.path(script)] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment[OracleResultFile.environmentVariable] = resultFile.path
        process.environment = environment
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let (out, err) = (stdout.fileHandleForReading, stderr.fileHandleForReading)
        DispatchQueue.global().async { [self] in
            while true {
                let data = out.availableData
                guard !data.isEmpty else { break }
                output.withLock { state in
                    state.partial += data
                    while let newline = state.partial.firstIndex(of: UInt8(ascii: "\n")) {
                        state.lines.append(String(decoding: state.partial[..<newline], as: UTF8.self))
                        state.partial.removeSubrange(...newline)
                    }
                }
            }
            output.withLock { $0.ended = true }
        }
        DispatchQueue.global().async { [self] in
            while true {
                let data = err.availableData
                guard !data.isEmpty else { break }
                output.withLock { $0.errors += String(decoding: data, as: UTF8.self) }
            }
        }
    }

    /// The stdout lines so far.
    var lines: [String] { output.withLock { $0.lines } }

    /// What the script wrote to stdout and stderr so far (for failure messages).
    var transcript: String {
        output.withLock { state in
            (state.lines.joined(separator: "\n") + "\n--- stderr ---\n" + state.errors).suffix(4000).description
        }
    }

    /// The JSON object the script emitted through `oracle_result.emit`, once it has.
    var result: JSONValue? {
        resultFile.contents.flatMap { try? JSONValue(parsing: Array($0)) }
    }

    /// Waits until the script printed `line`. The SDK's background threads print to stdout too, so `line` may
    /// share a line of output with their text (no step name is part of another).
    /// - Throws: when the script ends or `timeout` passes first.
    func waitForLine(_ line: String, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (seen, ended) = output.withLock { state in
                (state.lines.contains { $0.contains(line) }, state.ended)
            }
            if seen { return }
            guard !ended, ContinuousClock.now < deadline else {
                throw HubError.invalid("\(ended ? "the script ended" : "timed out") before printing '\(line)':\n\(transcript)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Writes `line` and a newline to the script's stdin.
    func send(_ line: String) {
        stdin.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Waits up to `timeout` for the script to exit (then kills it) and returns its exit status.
    @discardableResult
    func finish(timeout: Duration = .seconds(30)) async -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? stdin.fileHandleForWriting.close()
        return process.terminationStatus
    }
}
