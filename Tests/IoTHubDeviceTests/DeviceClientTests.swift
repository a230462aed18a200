import Foundation
import IoTHubDevice
import IoTHubProtocol
import Testing
@testable import IoTHubServer

/// Every `DeviceClient` API against the companion hub started by the test, over each transport (MQTT and AMQP,
/// plain and over TLS): one suite, each test run once per ``TransportKind``.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DeviceClientTests {
    @Test(arguments: TransportKind.allCases)
    func telemetryWithPropertiesIsStoredInOrder(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let client = try await hub.plainClient("telemetry-1", transport)
        try await client.connect()
        for index in 0..<50 {
            var message = IoTHubMessage(text: #"{"n":\#(index)}"#, properties: ["seq": "\(index)", "kind": "a b&c=d"])
            message.systemProperties.messageId = "m-\(index)"
            message.systemProperties.contentType = "application/json"
            message.systemProperties.contentEncoding = "utf-8"
            try await client.send(message)
        }
        await client.close()
        let events = try await hub.events(for: "telemetry-1")
        #expect(events.map { $0.message.properties["seq"] } == (0..<50).map { "\($0)" })
        let first = try #require(events.first)
        #expect(String(decoding: first.message.body, as: UTF8.self) == #"{"n":0}"#)
        #expect(first.message.properties["kind"] == "a b&c=d")
        #expect(first.message.systemProperties.messageId == "m-0")
        #expect(first.message.systemProperties.contentType == "application/json")
        #expect(first.message.systemProperties.connectionDeviceId == "telemetry-1")
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func concurrentSendersAllAcknowledged(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let client = try await hub.plainClient("telemetry-2", transport)
        try await client.connect()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<500 {
                group.addTask { try await client.send(IoTHubMessage(text: "\(index)")) }
            }
            try await group.waitForAll()
        }
        await client.close()
        let bodies = Set(try await hub.events(for: "telemetry-2").map { String(decoding: $0.message.body, as: UTF8.self) })
        #expect(bodies == Set((0..<500).map { "\($0)" }))
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func tlsWithTheHubCertificateAuthority(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let key = try await hub.createDevice("tls-1")
        let options = hub.tlsOptions(transport)
        let client = try DeviceClient(connectionString: "HostName=localhost;DeviceId=tls-1;SharedAccessKey=\(key)",
                                      options: options)
        try await client.connect()
        try await client.send(IoTHubMessage(text: "over tls"))
        await client.close()
        #expect(try await hub.events(for: "tls-1").count == 1)

        // The system trust store does not know the hub's private CA: the handshake fails, no retries forever.
        var untrusted = options
        untrusted.trust = .system
        untrusted.retryPolicy = .never
        let refused = try DeviceClient(connectionString: "HostName=localhost;DeviceId=tls-1;SharedAccessKey=\(key)",
                                       options: untrusted)
        await #expect(throws: DeviceClientError.self) { try await refused.connect() }
        await refused.close()
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func twinReadReportedAndDesired(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let client = try await hub.plainClient("twin-1", transport)
        try await client.connect()
        let before = try await client.twin()
        #expect(before.reported.isEmpty)
        let version = try await client.updateReportedProperties(["firmware": "1.2.0", "battery": 87])
        let second = try await client.updateReportedProperties(["battery": 86])
        #expect(second == version + 1)
        let twin = try await client.twin()
        #expect(twin.reported["firmware"] == "1.2.0")
        #expect(twin.reported["battery"] == 86)
        #expect(twin.reportedVersion == second)

        let updates = await client.desiredPropertyUpdates()
        let identity = DeviceIdentity(deviceId: "twin-1")
        _ = try await hub.services.twins.update(identity, body: ["properties": ["desired": ["interval": 5]]],
                                                ifMatch: nil, replace: false)
        var iterator = updates.makeAsyncIterator()
        let update = try #require(await iterator.next())
        #expect(update.patch["interval"] == 5)
        #expect(update.version >= 2)
        let read = try await client.twin()
        #expect(read.desired["interval"] == 5)
        #expect(read.desiredVersion == update.version)

        // A patch the hub rejects (nesting too deep) is an error with the hub's status.
        var deep: JSONValue = 1
        for _ in 0..<12 { deep = .object(["a": deep]) }
        await #expect(throws: DeviceClientError.self) { try await client.updateReportedProperties(["deep": deep]) }
        await client.close()
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func directMethodsByNameAndDefault(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let client = try await hub.plainClient("method-1", transport)
        try await client.connect()
        await client.setMethodHandler("reboot") { call in
            DirectMethodResult(status: 200, payload: ["delay": call.payload.objectValue?["delay"] ?? .null])
        }
        await client.setMethodHandler("slow") { _ in
            try? await Task.sleep(for: .milliseconds(300))
            return DirectMethodResult(status: 202, payload: "done")
        }
        let identity = DeviceIdentity(deviceId: "method-1")
        // Handlers run concurrently: three slow calls take about as long as one.
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: DirectMethodResponse.self) { group in
            for _ in 0..<3 {
                group.addTask { try await hub.services.methods.invoke(identity, method: "slow", payload: []) }
            }
            for try await response in group { #expect(response.status == 202) }
        }
        #expect(ContinuousClock.now - started < .seconds(3))
        let reboot = try await hub.services.methods.invoke(identity, method: "reboot", payload: Array(#"{"delay":3}"#.utf8))
        #expect(reboot.status == 200)
        #expect(try JSONValue(parsing: reboot.payload) == ["delay": 3])
        let unknown = try await hub.services.methods.invoke(identity, method: "nope", payload: [])
        #expect(unknown.status == 404)
        await client.setDefaultMethodHandler { call in DirectMethodResult(status: 200, payload: .string(call.name)) }
        let fallback = try await hub.services.methods.invoke(identity, method: "nope", payload: [])
        #expect(fallback.status == 200)
        #expect(String(decoding: fallback.payload, as: UTF8.self) == #""nope""#)
        await client.close()
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func cloudToDeviceMessages(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let client = try await hub.plainClient("c2d-1", transport)
        try await client.connect()
        let messages = await client.cloudToDeviceMessages()
        let identity = DeviceIdentity(deviceId: "c2d-1")
        for index in 0..<3 {
            var message = IoTHubMessage(text: "hello \(index)", properties: ["index": "\(index)"])
            message.systemProperties.messageId = "c2d-\(index)"
            _ = try await hub.services.cloudToDevice.send(message, to: identity)
        }
        var received: [IoTHubMessage] = []
        for await message in messages {
            received.append(message)
            if received.count == 3 { break }
        }
        #expect(received.map { String(decoding: $0.body, as: UTF8.self) } == ["hello 0", "hello 1", "hello 2"])
        #expect(received.map { $0.properties["index"] } == ["0", "1", "2"])
        #expect(received.first?.systemProperties.messageId == "c2d-0")
        await client.close()
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func wrongKeyIsRefusedWithoutRetryLoop(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        _ = try await hub.createDevice("wrong-key")
        let client = try DeviceClient(hostName: "localhost", deviceId: "wrong-key",
                                      sharedAccessKey: SharedAccessKey.random().base64, options: hub.plainOptions(transport))
        let recorder = await StateRecorder(client)
        await #expect(throws: DeviceClientError.self) { try await client.connect() }
        // No retry loop: one attempt, then quiet.
        try await Task.sleep(for: .milliseconds(800))
        let attempts = recorder.states.filter { if case .connecting = $0 { true } else { false } }
        #expect(attempts.count == 1)
        #expect(await recorder.wait { $0.contains { if case .disconnected(.unauthorized) = $0 { true } else { false } } })
        await #expect(throws: DeviceClientError.self) { try await client.send(IoTHubMessage(text: "x")) }
        await client.close()
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func disabledDeviceIsFatalUnlessRetryUnauthorized(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let client = try await hub.plainClient("disabled-1", transport)
        try await client.connect()
        let recorder = await StateRecorder(client)
        let identity = DeviceIdentity(deviceId: "disabled-1")
        _ = try await hub.services.registry.update(RegistryService.Request(identity: identity, status: .disabled),
                                                   condition: .any)
        #expect(await recorder.wait { $0.contains { if case .disconnected(.unauthorized) = $0 { true } else { false } } })
        await client.close()
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func closeDuringReconnectReturnsPromptly(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let client = try await hub.plainClient("close-1", transport)
        try await client.connect()
        let recorder = await StateRecorder(client)
        await hub.stop()
        #expect(await recorder.wait { $0.contains { if case .connecting = $0 { true } else { false } } })
        let pending = Task { try await client.send(IoTHubMessage(text: "never")) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        await client.close()
        #expect(ContinuousClock.now - started < .seconds(1))
        await #expect(throws: DeviceClientError.closed) { try await pending.value }
        // The recorder reads the state stream on its own task; give it a moment to see the last state.
        #expect(await recorder.wait(timeout: .seconds(5)) { $0.last == ClientState.disconnected(.closed) },
                "states: \(recorder.states)")
    }

    @Test(arguments: TransportKind.allCases)
    func sendBeforeConnectAndAfterCloseFailClearly(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let client = try await hub.plainClient("order-1", transport)
        await #expect(throws: DeviceClientError.notConnected) { try await client.send(IoTHubMessage(text: "x")) }
        try await client.connect()
        await client.close()
        await #expect(throws: DeviceClientError.closed) { try await client.send(IoTHubMessage(text: "x")) }
        await #expect(throws: DeviceClientError.closed) { try await client.connect() }
        let tooBig = IoTHubMessage(body: [UInt8](repeating: 0x41, count: 300_000))
        await #expect(throws: DeviceClientError.tooLarge(size: 300_000, limit: 262_144)) { try await client.send(tooBig) }
        await hub.stop()
    }

    @Test(arguments: TransportKind.allCases)
    func moduleClientFromConnectionStringWithTokenProviderAndGateway(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        _ = try await hub.createDevice("edge-1")
        let moduleKey = try await hub.createDevice("edge-1", moduleId: "sensor")
        var options = hub.plainOptions(transport)
        options.modelId = "dtmi:com:example:Thermostat;1"
        let module = try DeviceClient(
            connectionString: "HostName=localhost;DeviceId=edge-1;ModuleId=sensor;SharedAccessKey=\(moduleKey);GatewayHostName=127.0.0.1",
            options: options)
        try await module.connect()
        try await module.send(IoTHubMessage(text: "from the module"))
        let version = try await module.updateReportedProperties(["role": "sensor"])
        #expect(version >= 1)
        let moduleTwin = try await hub.services.twins.serviceView(DeviceIdentity(deviceId: "edge-1", moduleId: "sensor"))
        #expect(moduleTwin["properties"]?.objectValue?["reported"]?.objectValue?["role"] == "sensor")
        let events = try await hub.events(for: "edge-1")
        #expect(events.first?.identity.moduleId == "sensor")
        await module.close()

        // A token provider is asked again for every connection.
        let deviceKey = try await hub.createDevice("provided-1")
        let calls = Counter()
        let key = try SharedAccessKey(base64: deviceKey)
        let provided = try DeviceClient(hostName: "localhost", deviceId: "provided-1", options: hub.plainOptions(transport)) { ttl in
            calls.increment()
            let expiry = UInt64(Date().timeIntervalSince1970) + UInt64(ttl.components.seconds)
            return SASToken.generate(resource: .device(hostName: "localhost", deviceId: "provided-1"), key: key,
                                     expiry: expiry).description
        }
        try await provided.connect()
        try await provided.send(IoTHubMessage(text: "provided"))
        hub.services.presence.session(for: DeviceIdentity(deviceId: "provided-1"))?.end(.takenOver)
        try await Task.sleep(for: .milliseconds(500))
        try await provided.send(IoTHubMessage(text: "after reconnect"))
        #expect(calls.value >= 2)
        await provided.close()
        await hub.stop()
    }

    @Test func malformedConfigurationIsRejected() throws {
        #expect(throws: DeviceClientError.self) { try DeviceClient(connectionString: "HostName=h;SharedAccessKey=a2V5") }
        #expect(throws: DeviceClientError.self) { try DeviceClient(connectionString: "nonsense") }
        #expect(throws: DeviceClientError.self) {
            try DeviceClient(hostName: "h", deviceId: "d", sharedAccessKey: "not base64 !!")
        }
        var options = DeviceClientOptions()
        options.trust = .caFile("/nonexistent/ca.pem")
        #expect(throws: DeviceClientError.self) {
            try DeviceClient(hostName: "h", deviceId: "d", sharedAccessKey: "a2V5", options: options)
        }
    }
}
