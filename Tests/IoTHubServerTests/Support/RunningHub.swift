import Foundation
import Glibc
import IoTHubTestSupport
import Logging
import Synchronization
@testable import IoTHubCore
@testable import IoTHubServer

/// A hub running in this process on the official SDKs' fixed ports (443 HTTPS, 8883 MQTT over TLS, 5671 AMQP over TLS), over a fresh
/// data directory.
///
/// The official SDKs cannot use other ports, so suites that use this are serialized with `.serialized` and
/// take the `InteropLock`, and then the `FixedPortsFileLock` that other test modules (IoTHubDeviceTests) and
/// other test processes take for the same ports.
final class RunningHub: Sendable {
    let server: HubServer
    let task: Task<Void, Error>
    private let portsLock: FixedPortsFileLock

    static func start(plainHTTPPort: Int? = nil) async throws -> RunningHub {
        await InteropLock.shared.acquire()
        let portsLock: FixedPortsFileLock
        do {
            portsLock = try await FixedPortsFileLock.acquire()
        } catch {
            await InteropLock.shared.release()
            throw error
        }
        do {
            return try await startLocked(plainHTTPPort: plainHTTPPort, portsLock: portsLock)
        } catch {
            portsLock.release()
            await InteropLock.shared.release()
            throw error
        }
    }

    private static func startLocked(plainHTTPPort: Int?, portsLock: FixedPortsFileLock) async throws -> RunningHub {
        let directory = TestProcess.temporaryDirectory()
        var logger = Logger(label: "test-hub")
        logger.logLevel = .warning
        let server = try await HubServer.start(
            HubConfiguration(dataDirectory: directory, hostName: "localhost", plainHTTPPort: plainHTTPPort), logger: logger)
        let task = Task { try await server.run() }
        // Wait until HTTPS, MQTT and AMQP accept connections.
        for port in [443, 8883, 5671] {
            for _ in 0..<200 {
                if (try? TestProcess.run("/usr/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status) == 0 { break }
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        return RunningHub(server: server, task: task, portsLock: portsLock)
    }

    private init(server: HubServer, task: Task<Void, Error>, portsLock: FixedPortsFileLock) {
        self.server = server
        self.task = task
        self.portsLock = portsLock
    }

    var ownerConnectionString: String {
        server.data.policies[0].connectionString(hostName: "localhost").description
    }

    var caPath: String { server.data.tls.caCertificatePath }

    /// Graceful shutdown, as SIGTERM; waits until the store is flushed.
    func stop() async {
        await server.shutdown()
        _ = try? await task.value
        portsLock.release()
        await InteropLock.shared.release()
    }
}


/// Runs the oracle scripts of Tests/Oracle with the test venv's Python.
enum Python {
    /// Runs a script from Tests/Oracle with the hub's CA trusted, and returns the JSON object it emitted through
    /// its ``OracleResultFile``.
    static func runJSON(_ name: String, _ arguments: [String], caPath: String) async throws -> [String: Any] {
        let resultFile = OracleResultFile()
        let result = try await TestProcess.runOffPool(
            "/usr/bin/env",
            // SSL_CERT_FILE: uamqp (under azure-iot-hub's C2D client) trusts OpenSSL's default store.
            ["REQUESTS_CA_BUNDLE=\(caPath)", "SSL_CERT_FILE=\(caPath)", "\(OracleResultFile.environmentVariable)=\(resultFile.path)",
             OracleScripts.python, OracleScripts.path(name)] + arguments)
        let object = resultFile.contents.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        guard result.status == 0, let object else {
            throw HubError.invalid("\(name) failed (\(result.status)): \(result.output.suffix(2000))")
        }
        return object
    }
}

/// One hub on the fixed ports at a time, across all suites.
actor InteropLock {
    static let shared = InteropLock()
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { held = false } else { waiters.removeFirst().resume() }
    }
}
