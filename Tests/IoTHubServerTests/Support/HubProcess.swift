import Foundation
import IoTHubProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The ports of one hub: every listener on its own free port, so that it runs beside the in-process hubs of the
/// interop suites (which hold 443 and 8883).
struct HubPorts: Sendable {
    let https: Int
    let mqtts: Int
    let plainHTTP: Int
    let plainMQTT: Int

    static func free() throws -> HubPorts {
        let ports = try RawTCPConnection.freePorts(4)
        return HubPorts(https: ports[0], mqtts: ports[1], plainHTTP: ports[2], plainMQTT: ports[3])
    }

    var all: [Int] { [https, mqtts, plainHTTP, plainMQTT] }
}

/// `iothub serve` as a child process (not in this process, so a test can `kill -9` it), with the admin verbs
/// pointed at it.
///
/// ```swift
/// var hub = try await HubProcess.start(dataDirectory: dir, ports: try .free(), logPath: dir + "/hub.log")
/// defer { hub.stop() }
/// hub.kill()                                     // SIGKILL, as a crash
/// hub = try await HubProcess.start(dataDirectory: dir, ports: hub.ports, logPath: hub.logPath)
/// ```
final class HubProcess {
    let dataDirectory: String
    let ports: HubPorts
    /// The hub's stdout and stderr (appended to across restarts).
    let logPath: String
    private let process: Process

    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Starts `iothub serve` and waits until every port accepts connections.
    /// - Throws: when the hub exits or is not listening within `timeout`, with its log.
    static func start(dataDirectory: String, ports: HubPorts, logPath: String,
                      timeout: Duration = .seconds(30)) async throws -> HubProcess {
        let log = try appending(to: logPath)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = ["serve", "--data-dir", dataDirectory, "--hostname", "localhost",
                             "--https-port", "\(ports.https)", "--mqtts-port", "\(ports.mqtts)",
                             "--plain-http-port", "\(ports.plainHTTP)", "--plain-mqtt-port", "\(ports.plainMQTT)",
                             "--amqps-port", "0", "--storage-port", "0",
                             "--log-level", "warning"]
        process.environment = cleanEnvironment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try? log.close()
        let hub = HubProcess(dataDirectory: dataDirectory, ports: ports, logPath: logPath, process: process)
        let deadline = ContinuousClock.now + timeout
        while !ports.all.allSatisfy(RawTCPConnection.isAccepting(port:)) {
            guard process.isRunning else {
                process.waitUntilExit()
                throw HubProcessError("iothub serve exited with \(process.terminationStatus):\n\(hub.log)")
            }
            guard ContinuousClock.now < deadline else {
                hub.stop()
                throw HubProcessError("iothub serve is not listening on \(ports.all) after \(timeout):\n\(hub.log)")
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        return hub
    }

    private init(dataDirectory: String, ports: HubPorts, logPath: String, process: Process) {
        self.dataDirectory = dataDirectory
        self.ports = ports
        self.logPath = logPath
        self.process = process
    }

    /// What the hub wrote so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// `kill -9`: the hub gets no chance to flush or close anything. Returns once it is gone.
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM (graceful shutdown), then SIGKILL if the hub is still running after `grace`. Safe to call again.
    /// Returns whether the hub exited by itself within `grace`.
    @discardableResult
    func stop(grace: Duration = .seconds(10)) -> Bool {
        guard process.isRunning else { return true }
        process.terminate()
        let deadline = ContinuousClock.now + grace
        while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        let graceful = !process.isRunning
        kill()
        process.waitUntilExit()
        return graceful
    }

    // MARK: Admin verbs

    /// Runs an admin verb (`device create …`) against this hub, through its plain HTTP port, with the
    /// `iothubowner` policy read from the data directory.
    func admin(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable())
        process.arguments = arguments + hubArguments
        process.environment = Self.cleanEnvironment
        let output = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Creates a device and returns its primary key.
    func createDevice(_ deviceId: String) throws -> SharedAccessKey {
        let result = try admin(["device", "create", deviceId])
        guard result.status == 0 else { throw HubProcessError("iothub device create failed (\(result.status)): \(result.output)") }
        guard let key = (try? JSONValue(parsing: result.output))?["authentication"]?["symmetricKey"]?["primaryKey"]?.stringValue
        else { throw HubProcessError("iothub device create printed no primary key: \(result.output)") }
        return try SharedAccessKey(base64: key)
    }

    /// Reads `deviceId`'s stored telemetry, oldest first, with `iothub monitor --from-start` (which streams until
    /// stopped): stops once `isComplete` holds for the lines read and no new line came for `quiet`, or when
    /// `timeout` passed.
    /// - Returns: the JSON lines (see `MonitorController`).
    func monitor(deviceId: String, timeout: Duration, quiet: Duration = .milliseconds(500),
                 isComplete: ([JSONValue]) -> Bool) async throws -> [JSONValue] {
        let outputPath = logPath + ".monitor-\(UUID().uuidString).jsonl"
        let errorPath = outputPath + ".err"
        defer {
            try? FileManager.default.removeItem(atPath: outputPath)
            try? FileManager.default.removeItem(atPath: errorPath)
        }
        let output = try appending(to: outputPath)
        let errors = try appending(to: errorPath)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable())
        process.arguments = ["monitor", "--device", deviceId, "--from-start"] + hubArguments
        process.environment = Self.cleanEnvironment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        try? output.close()
        try? errors.close()
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }

        var lines: [JSONValue] = []
        var consumed = 0
        var lastGrowth = ContinuousClock.now
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let bytes = Array((try? Data(contentsOf: URL(fileURLWithPath: outputPath))) ?? Data())
            // Only complete lines: the last one may still be half written.
            if let end = bytes.lastIndex(of: UInt8(ascii: "\n")), end >= consumed {
                for line in bytes[consumed..<end].split(separator: UInt8(ascii: "\n")) {
                    do { lines.append(try JSONValue(parsing: line)) } catch {
                        throw HubProcessError("iothub monitor printed a line that is not JSON: \(String(decoding: line, as: UTF8.self))")
                    }
                }
                consumed = end + 1
                lastGrowth = ContinuousClock.now
            }
            if !process.isRunning {
                let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
                throw HubProcessError("iothub monitor exited with \(process.terminationStatus): \(stderr)")
            }
            if isComplete(lines), ContinuousClock.now - lastGrowth >= quiet { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return lines
    }

    /// How the admin verbs reach this hub: its data directory for the `iothubowner` key, its plain HTTP port.
    private var hubArguments: [String] {
        ["--data-dir", dataDirectory, "--hostname", "localhost", "--endpoint", "http://127.0.0.1:\(ports.plainHTTP)"]
    }

    // MARK: The executable

    /// This environment without the variables the `iothub` verbs would prefer to the flags given.
    private static var cleanEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for name in ["IOTHUB_CONNECTION_STRING", "IOTHUB_CA_FILE", "IOTHUB_DATA_DIR"] { environment[name] = nil }
        return environment
    }

    /// The `iothub` executable of this build: `IoTHubServerTests` depends on it, so `swift test` builds it into
    /// the directory that holds the test bundle.
    static func executable() throws -> String {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let directories = [Bundle.main.bundleURL.deletingLastPathComponent(), Bundle.main.bundleURL,
                           URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                           packageRoot.appendingPathComponent(".build/debug")]
        for directory in directories {
            let path = directory.appendingPathComponent("iothub").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw HubProcessError("no iothub executable next to the tests or in \(packageRoot.path)/.build/debug; run `swift build --product iothub`")
    }
}

/// A handle writing at the end of `path`, which is created if needed.
private func appending(to path: String) throws -> FileHandle {
    if !FileManager.default.fileExists(atPath: path) {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw HubProcessError("cannot create \(path)") }
    }
    guard let handle = FileHandle(forWritingAtPath: path) else { throw HubProcessError("cannot open \(path)") }
    handle.seekToEndOfFile()
    return handle
}

struct HubProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
