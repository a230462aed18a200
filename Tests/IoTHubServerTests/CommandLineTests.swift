import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The `iothub` admin verbs against a running hub, as an operator uses them.
@Suite("iothub command line", .serialized)
struct CommandLineTests {
    static var binary: String {
        // The test bundle sits in the build directory next to the executables.
        let candidates = [Bundle.main.bundleURL.deletingLastPathComponent(), Bundle.main.bundleURL,
                          URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for directory in candidates where FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("iothub").path) {
            return directory.appendingPathComponent("iothub").path
        }
        return ".build/debug/iothub"
    }

    func iothub(_ arguments: [String], hub: RunningHub) async throws -> (status: Int32, output: String) {
        try await TestProcess.runOffPool(Self.binary, arguments + ["--connection-string", hub.ownerConnectionString, "--ca-file", hub.caPath])
    }

    @Test("device, twin, c2d, invoke and monitor verbs")
    func verbs() async throws {
        let hub = try await RunningHub.start()
        let result: Result<Void, any Error>
        do {
            let created = try await iothub(["device", "create", "cli-dev"], hub: hub)
            #expect(created.status == 0 && created.output.contains("\"primaryKey\""), "\(created.output)")
            let connection = try await iothub(["device", "connection-string", "cli-dev"], hub: hub)
            let parsed = try ConnectionString(parsing: connection.output)
            #expect(parsed.deviceId == "cli-dev" && parsed.hostName == "localhost")
            let twin = try await iothub(["twin", "update", "cli-dev", "--desired", #"{"fan":true}"#, "--tags", #"{"site":"lab"}"#], hub: hub)
            #expect(twin.status == 0 && twin.output.contains("\"fan\": true") && twin.output.contains("\"site\": \"lab\""), "\(twin.output)")
            let badJSON = try await iothub(["twin", "update", "cli-dev", "--desired", "{nope"], hub: hub)
            #expect(badJSON.status != 0 && badJSON.output.contains("not valid JSON"))
            let queued = try await iothub(["c2d", "send", "cli-dev", "hello", "--property", "a=b", "--ack", "full"], hub: hub)
            #expect(queued.status == 0, "\(queued.output)")
            let offline = try await iothub(["invoke", "cli-dev", "reboot", "--timeout", "5"], hub: hub)
            #expect(offline.status != 0 && offline.output.contains("DeviceNotOnline") && !offline.output.contains("Usage"))
            let list = try await iothub(["device", "list"], hub: hub)
            #expect(list.output.contains("cli-dev"))
            // Telemetry in over the device HTTPS API, out through `iothub monitor`.
            let key = try SharedAccessKey(base64: parsed.sharedAccessKey ?? "")
            let token = SASToken.generate(resourceURI: "localhost/devices/cli-dev", key: key, expiry: UInt64(Date().timeIntervalSince1970) + 600)
            let post = try await TestProcess.runOffPool("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", hub.caPath,
                                                             "-H", "Authorization: \(token)", "-H", "iothub-app-level: hi",
                                                             "--data-binary", #"{"t":1}"#, "https://localhost/devices/cli-dev/messages/events"])
            #expect(post.output == "204")
            let monitor = try await iothub(["monitor", "--device", "cli-dev", "--from-start", "--limit", "1"], hub: hub)
            let line = try JSONValue(parsing: monitor.output.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(line["body"] == #"{"t":1}"# && line["properties"]?["level"] == "hi")
            let deleted = try await iothub(["device", "delete", "cli-dev"], hub: hub)
            #expect(deleted.status == 0)
            let gone = try await iothub(["device", "show", "cli-dev"], hub: hub)
            #expect(gone.status != 0 && gone.output.contains("DeviceNotFound"))
            result = .success(())
        } catch {
            result = .failure(error)
        }
        await hub.stop()
        try result.get()
    }
}
