import Foundation
import IoTHubDevice
import IoTHubProtocol
import IoTHubTestSupport
import Testing
@testable import IoTHubServer

/// The sample programs, run as the README runs them, against the companion hub over TLS.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SampleProgramTests {
    /// Runs a sample with the device's connection string and the hub's CA in its environment.
    private func run(_ product: String, _ arguments: [String], hub: LocalHub, deviceId: String) async throws
        -> (status: Int32, output: String)
    {
        let key = try await hub.createDevice(deviceId)
        return try await Self.execute(product, arguments, environment: [
            "IOTHUB_DEVICE_CONNECTION_STRING": "HostName=localhost;DeviceId=\(deviceId);SharedAccessKey=\(key)",
            "IOTHUB_CA_FILE": hub.caPath, "IOTHUB_MQTT_PORT": "\(hub.mqttsPort)", "IOTHUB_AMQP_PORT": "\(hub.amqpsPort)",
        ])
    }

    @Test func telemetrySampleSendsAndWaitsForEveryAcknowledgement() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let result = try await run("sample-telemetry", ["--count", "25", "--interval-ms", "2"], hub: hub,
                                   deviceId: "sample-telemetry")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("sent 25 messages, all acknowledged"))
        let events = try await hub.events(for: "sample-telemetry")
        #expect(Set(events.compactMap { $0.message.properties["index"] }) == Set((0..<25).map { "\($0)" }))
        #expect(events.allSatisfy { $0.message.systemProperties.contentType == "application/json" })
        await hub.stop()
    }

    @Test func telemetrySampleOverAMQP() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let result = try await run("sample-telemetry", ["--count", "10", "--transport", "amqp"], hub: hub,
                                   deviceId: "sample-telemetry-amqp")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("sent 10 messages, all acknowledged"))
        #expect(try await hub.events(for: "sample-telemetry-amqp").count == 10)
        await hub.stop()
    }

    @Test func amqpGatewaySampleCarriesManyDevicesOverOneConnection() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        var lines: [String] = []
        for index in 0..<20 {
            let key = try await hub.createDevice("gateway-\(index)")
            lines.append("HostName=localhost;DeviceId=gateway-\(index);SharedAccessKey=\(key)")
        }
        let file = hub.directory + "/devices.txt"
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await Self.execute("sample-amqp-gateway", ["--devices", file, "--messages", "3"], environment: [
            "IOTHUB_CA_FILE": hub.caPath, "IOTHUB_AMQP_PORT": "\(hub.amqpsPort)",
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("20 devices connected over 1 AMQP connection(s)"), "\(result.output)")
        #expect(result.output.contains("sent 60 messages, all acknowledged"), "\(result.output)")
        for index in [0, 19] { #expect(try await hub.events(for: "gateway-\(index)").count == 3) }
        await hub.stop()
    }

    @Test func telemetrySampleExplainsAMissingConnectionString() throws {
        let process = Process()
        process.executableURL = try SampleBinaries.path("sample-telemetry")
        process.environment = ["PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        #expect(text.contains("IOTHUB_DEVICE_CONNECTION_STRING"))
    }

    @Test func telemetrySampleExplainsItsOptionsWithoutArgumentParser() async throws {
        let environment = ["PATH": "/usr/bin:/bin"]
        let help = try await Self.execute("sample-telemetry", ["--help"], environment: environment)
        #expect(help.status == 0 && help.output.contains("USAGE: sample-telemetry"), "\(help.output)")
        for (arguments, complaint) in [(["--colour", "red"], "unknown option '--colour'"),
                                       (["--count", "-1"], "--count must be an integer of at least 0, not '-1'"),
                                       (["--interval-ms=soon"], "--interval-ms must be an integer"),
                                       (["--transport", "http"], "--transport must be mqtt or amqp, not 'http'"),
                                       (["--count"], "--count needs a value")] {
            let result = try await Self.execute("sample-telemetry", arguments, environment: environment)
            #expect(result.status == 1 && result.output.contains(complaint) && result.output.contains("USAGE:"),
                    "\(arguments): \(result.output)")
        }
    }

    @Test func x509SampleExplainsAMissingVariableAndABadPort() async throws {
        let missing = try await Self.execute("sample-x509-device", [], environment: [
            "IOTHUB_HOSTNAME": "localhost", "IOTHUB_DEVICE_ID": "", "IOTHUB_CA_FILE": "", "IOTHUB_MQTT_PORT": "",
        ])
        #expect(missing.status == 1 && missing.output.contains("set IOTHUB_DEVICE_ID to"), "\(missing.output)")
        let badPort = try await Self.execute("sample-x509-device", [], environment: [
            "IOTHUB_HOSTNAME": "localhost", "IOTHUB_DEVICE_ID": "d", "IOTHUB_X509_CERT_FILE": "/nonexistent.pem",
            "IOTHUB_X509_KEY_FILE": "/nonexistent.key", "IOTHUB_CA_FILE": "", "IOTHUB_MQTT_PORT": "88x3",
        ])
        #expect(badPort.status == 1 && badPort.output.contains("IOTHUB_MQTT_PORT must be a port number, not '88x3'"),
                "\(badPort.output)")
    }

    @Test func thermostatSampleReportsFollowsDesiredAndAnswersMethods() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let identity = DeviceIdentity(deviceId: "sample-thermostat")
        let running = Task { try await run("sample-thermostat", ["--seconds", "6"], hub: hub, deviceId: identity.deviceId) }
        // Wait until the sample reported its state and subscribed to methods.
        var report: DirectMethodResponse?
        for _ in 0..<100 where report == nil {
            try await Task.sleep(for: .milliseconds(50))
            report = try? await hub.services.methods.invoke(identity, method: "getMaxMinReport", payload: [])
        }
        #expect(report?.status == 200)
        let twin = try await hub.services.twins.serviceView(identity)
        #expect(twin["properties"]?.objectValue?["reported"]?.objectValue?["serialNumber"] == "swift-0001")
        _ = try await hub.services.twins.update(identity, body: ["properties": ["desired": ["targetTemperature": 25.5]]],
                                                ifMatch: nil, replace: false)
        let reboot = try await hub.services.methods.invoke(identity, method: "reboot", payload: Array(#"{"delay":2}"#.utf8))
        #expect(reboot.status == 200)
        let result = try await running.value
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("desired targetTemperature 25.5"))
        let reported = try await hub.services.twins.serviceView(identity)["properties"]?.objectValue?["reported"]?.objectValue
        #expect(reported?["targetTemperature"]?.objectValue?["value"] == 25.5)
        #expect(try await hub.events(for: identity.deviceId).count >= 3)
        await hub.stop()
    }

    @Test func c2dListenerSamplePrintsMessages() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let identity = DeviceIdentity(deviceId: "sample-c2d")
        let running = Task { try await run("sample-c2d-listener", ["--count", "2"], hub: hub, deviceId: identity.deviceId) }
        // Messages sent before the sample subscribes wait in the hub's queue.
        for _ in 0..<100 where (try? await hub.services.store.device(identity)) == nil {
            try await Task.sleep(for: .milliseconds(20))
        }
        _ = try await hub.services.cloudToDevice.send(IoTHubMessage(text: "first", properties: ["color": "red"]), to: identity)
        _ = try await hub.services.cloudToDevice.send(IoTHubMessage(text: "second"), to: identity)
        let result = try await running.value
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("properties=[color=red]: first"))
        #expect(result.output.contains(": second"))
        await hub.stop()
    }
}

extension SampleProgramTests {
    /// Runs a program with extra environment variables (an empty value removes the variable), waiting off the
    /// cooperative pool.
    static func execute(_ product: String, _ arguments: [String], environment extra: [String: String] = [:]) async throws
        -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = try SampleBinaries.path(product)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }.filter { !$0.value.isEmpty }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = output.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: data)
            }
        }
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func caProofOfPossessionThroughTheCommandLine() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let dir = hub.directory
        let hubArguments = ["--data-dir", dir, "--endpoint", "https://localhost:\(hub.httpsPort)"]
        let clean = ["IOTHUB_CONNECTION_STRING": "", "IOTHUB_CA_FILE": ""]
        try OpenSSLTool.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", dir + "/lab.key"])
        try OpenSSLTool.run(["req", "-new", "-x509", "-key", dir + "/lab.key", "-subj", "/CN=lab", "-days", "3",
                             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                             "-out", dir + "/lab.pem"])
        let upload = try await Self.execute("iothub", ["ca", "upload", "lab", "--file", dir + "/lab.pem"] + hubArguments,
                                            environment: clean)
        #expect(upload.status == 0 && upload.output.contains("\"isVerified\": false"), "\(upload.output)")
        let code = try await Self.execute("iothub", ["ca", "code", "lab"] + hubArguments, environment: clean)
        let verificationCode = code.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(code.status == 0 && verificationCode.count == 32, "\(code.output)")
        try OpenSSLTool.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", dir + "/proof.key"])
        try OpenSSLTool.run(["req", "-new", "-key", dir + "/proof.key", "-subj", "/CN=\(verificationCode)", "-out", dir + "/proof.csr"])
        try OpenSSLTool.run(["x509", "-req", "-in", dir + "/proof.csr", "-CA", dir + "/lab.pem", "-CAkey", dir + "/lab.key",
                             "-CAcreateserial", "-days", "1", "-out", dir + "/proof.pem"])
        let verify = try await Self.execute("iothub", ["ca", "verify", "lab", "--file", dir + "/proof.pem"] + hubArguments,
                                            environment: clean)
        #expect(verify.status == 0 && verify.output.contains("\"isVerified\": true"), "\(verify.output)")
        let wrong = try await Self.execute("iothub", ["ca", "verify", "lab", "--file", dir + "/lab.pem"] + hubArguments,
                                           environment: clean)
        #expect(wrong.status != 0)
        let list = try await Self.execute("iothub", ["ca", "list"] + hubArguments, environment: clean)
        #expect(list.output.contains("\"name\": \"lab\""))
        let delete = try await Self.execute("iothub", ["ca", "delete", "lab"] + hubArguments, environment: clean)
        #expect(delete.status == 0)
        let show = try await Self.execute("iothub", ["ca", "show", "lab"] + hubArguments, environment: clean)
        #expect(show.status != 0 && show.output.contains("404"))
        await hub.stop()
    }

    @Test func x509SampleWithACertificateIssuedAndRegisteredByTheCommandLine() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let out = hub.directory + "/device-certs"
        let issued = try await Self.execute("iothub", ["cert", "issue", "--device", "x509-sample", "--out", out,
                                                       "--data-dir", hub.directory])
        #expect(issued.status == 0, "\(issued.output)")
        let sha256 = try #require(issued.output.split(separator: "\n").first { $0.hasPrefix("sha256 thumbprint: ") }?
            .dropFirst("sha256 thumbprint: ".count))
        let created = try await Self.execute("iothub", [
            "device", "create", "x509-sample", "--auth-method", "x509_thumbprint", "--primary-thumbprint", String(sha256),
            "--data-dir", hub.directory, "--endpoint", "https://localhost:\(hub.httpsPort)",
        ], environment: ["IOTHUB_CONNECTION_STRING": "", "IOTHUB_CA_FILE": ""])
        #expect(created.status == 0 && created.output.contains("selfSigned"), "\(created.output)")
        let run = try await Self.execute("sample-x509-device", ["--count", "3"], environment: [
            "IOTHUB_HOSTNAME": "localhost", "IOTHUB_DEVICE_ID": "x509-sample",
            "IOTHUB_X509_CERT_FILE": out + "/x509-sample.pem", "IOTHUB_X509_KEY_FILE": out + "/x509-sample.key",
            "IOTHUB_CA_FILE": hub.caPath, "IOTHUB_MQTT_PORT": "\(hub.mqttsPort)",
        ])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("sent 3 messages with an X.509 certificate"))
        let events = try await hub.events(for: "x509-sample")
        #expect(events.count == 3)
        #expect(events.allSatisfy { $0.message.systemProperties.connectionAuthMethod?.contains("x509Certificate") == true })
        await hub.stop()
    }
}

/// Finds the sample executables next to the test bundle (`swift test` builds every product), building them when
/// they are missing.
enum SampleBinaries {
    static func path(_ product: String) throws -> URL {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let candidates = [
            Bundle.main.bundleURL.appendingPathComponent(product),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(product),
            packageRoot.appendingPathComponent(".build/debug/\(product)"),
        ]
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) { return found }
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        build.arguments = ["swift", "build", "--package-path", packageRoot.path, "--product", product]
        try build.run()
        build.waitUntilExit()
        let built = packageRoot.appendingPathComponent(".build/debug/\(product)")
        guard build.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: built.path) else {
            throw DeviceClientError.invalidConfiguration("cannot build \(product) (swift build exited \(build.terminationStatus))")
        }
        return built
    }
}
