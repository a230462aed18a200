import Foundation
import IoTHubDevice
import IoTHubProtocol
import MQTTCore
import Testing
@testable import IoTHubServer

/// Wire fidelity: our `DeviceClient` puts on the wire what the official Python `azure-iot-device` package puts on
/// it for the same operations, apart from the `DeviceClientType` (product information) in the user name.
///
/// Both SDKs run against one hub on the official ports (8883 MQTT over TLS, 443 HTTPS; the Python SDK cannot use
/// others), each with a fresh device, through the same operations, each waited for: connect; one telemetry
/// message (body `x`, property `a=1`, message id `m1`, content type `application/json`, content encoding
/// `utf-8`); get the twin; patch reported `{"r": 1}`; enable desired-property updates; enable methods and answer
/// method `m` (invoked by the test) with 200; enable C2D and receive one message (sent by the test); close.
///
/// The hub's ``MQTTEndpointConfiguration/packetObserver`` captures every packet each device sends. The test
/// compares, after replacing the Python device's id with the Swift one: the CONNECT (client id, user name without
/// `DeviceClientType`, keep-alive, clean session, will, SAS token shape), the ordered SUBSCRIBE / UNSUBSCRIBE /
/// PUBLISH / DISCONNECT sequence (topic filters and topics with `$rid` values masked, QoS and retain flags), and
/// the number of PUBACKs. The Python SDK is the oracle. Set `WIRE_FIDELITY_VERBOSE=1` to print both captures.
@Suite("wire fidelity: DeviceClient vs azure-iot-device", .serialized, .timeLimit(.minutes(5)))
struct WireFidelityTests {
    static let pythonDevice = "wire-a"
    static let swiftDevice = "wire-b"

    @Test("CONNECT, SUBSCRIBEs and PUBLISH topics equal the official Python SDK's for the same operations")
    func sameWireAsOfficialPythonSDK() async throws {
        let hub = try await FixedPortHub.start()
        let outcome: Result<(python: WireCapture, swift: WireCapture), any Error>
        do {
            let python = try await Self.runPython(hub)
            let swift = try await Self.runSwift(hub)
            outcome = .success((python, swift))
        } catch {
            outcome = .failure(error)
        }
        await hub.stop()
        let (python, swift) = try outcome.get()
        let oracle = python.replacingDeviceId(Self.pythonDevice, with: Self.swiftDevice)

        let report = """

            --- azure-iot-device (device \(Self.pythonDevice), shown as \(Self.swiftDevice)) ---
            \(oracle.rendered)
            --- DeviceClient (device \(Self.swiftDevice)) ---
            \(swift.rendered)
            """
        if ProcessInfo.processInfo.environment["WIRE_FIDELITY_VERBOSE"] == "1" { print(report) }
        #expect(swift.connect == oracle.connect,
                "CONNECT differs:\n\(WireCapture.differences(oracle.connect, swift.connect))\(report)")
        #expect(swift.sequence == oracle.sequence,
                "packet sequence differs:\n\(WireCapture.differences(oracle.sequence, swift.sequence))\(report)")
        #expect(swift.acknowledgements == oracle.acknowledgements,
                "PUBACK count differs: python \(oracle.acknowledgements), swift \(swift.acknowledgements)\(report)")
    }

    // MARK: The two runs

    /// The C2D message the test sends to each device.
    static var cloudToDeviceMessage: IoTHubMessage {
        var message = IoTHubMessage(text: "hello", properties: ["k": "v"])
        message.systemProperties.messageId = "c1"
        return message
    }

    /// The method payload the test invokes `m` with.
    static let methodPayload = Array(#"{"n":1}"#.utf8)

    /// Drives device A with `Tests/Oracle/device_sdk_wire.py`; the test does the service side at its prompts.
    static func runPython(_ hub: FixedPortHub) async throws -> WireCapture {
        let connectionString = try await hub.createDevice(pythonDevice)
        let identity = DeviceIdentity(deviceId: pythonDevice)
        let oracle = try OracleProcess(script: "device_sdk_wire.py", arguments: [connectionString, hub.caPath])
        do {
            try await oracle.waitForLine("step methods-enabled")
            let response = try await hub.services.methods.invoke(identity, method: "m", payload: methodPayload,
                                                                 responseTimeout: 30)
            #expect(response.status == 200)
            try await oracle.waitForLine("step c2d-enabled")
            try await hub.services.cloudToDevice.send(cloudToDeviceMessage, to: identity)
            try await oracle.waitForLine("step c2d-received")
            // Close only once the hub has the C2D acknowledgement, so that it is on the wire in both runs.
            let acknowledged = await hub.packets.wait(for: pythonDevice) { $0.contains { $0.packetType == .pubAck } }
            #expect(acknowledged, "the Python device did not acknowledge the C2D message")
            oracle.send("close")
            try await oracle.waitForLine("step closed")
            let status = await oracle.finish()
            #expect(status == 0, "device_sdk_wire.py exited with \(status):\n\(oracle.transcript)")
            let result = try #require(oracle.result, "device_sdk_wire.py emitted no result:\n\(oracle.transcript)")
            #expect(result["connected"]?.boolValue == true, "\(oracle.transcript)")
            #expect(result["method"]?.stringValue == "m", "\(oracle.transcript)")
            #expect(result["c2d"]?.stringValue == "hello", "\(oracle.transcript)")
        } catch {
            await oracle.finish(timeout: .zero)
            throw error
        }
        _ = await hub.packets.wait(for: pythonDevice, timeout: .seconds(5)) { $0.contains { $0.packetType == .disconnect } }
        return try WireCapture(hub.packets.packets(of: pythonDevice))
    }

    /// Drives device B with our `DeviceClient` through the same operations.
    static func runSwift(_ hub: FixedPortHub) async throws -> WireCapture {
        let connectionString = try await hub.createDevice(swiftDevice)
        let identity = DeviceIdentity(deviceId: swiftDevice)
        var options = DeviceClientOptions()
        options.trust = .caFile(hub.caPath)
        options.operationTimeout = .seconds(30)
        let client = try DeviceClient(connectionString: connectionString, options: options)
        do {
            // 1. Connect.
            try await client.connect()
            // 2. Telemetry.
            var message = IoTHubMessage(text: "x", properties: ["a": "1"])
            message.systemProperties.messageId = "m1"
            message.systemProperties.contentType = "application/json"
            message.systemProperties.contentEncoding = "utf-8"
            try await client.send(message)
            // 3. Get the twin.
            _ = try await client.twin()
            // 4. Patch reported properties.
            try await client.updateReportedProperties(["r": 1])
            // 5. Desired-property updates.
            _ = await client.desiredPropertyUpdates()
            // 6. Methods: the test invokes "m", the handler answers 200.
            await client.setMethodHandler("m") { _ in DirectMethodResult(status: 200, payload: ["ok": true]) }
            let response = try await hub.services.methods.invoke(identity, method: "m", payload: methodPayload,
                                                                 responseTimeout: 30)
            #expect(response.status == 200)
            // 7. Cloud-to-device: the test sends one message.
            let messages = await client.cloudToDeviceMessages()
            try await hub.services.cloudToDevice.send(cloudToDeviceMessage, to: identity)
            let received = try await firstElement(of: messages, timeout: .seconds(20))
            #expect(received.map { String(decoding: $0.body, as: UTF8.self) } == "hello")
            let acknowledged = await hub.packets.wait(for: swiftDevice) { $0.contains { $0.packetType == .pubAck } }
            #expect(acknowledged, "the Swift device did not acknowledge the C2D message")
        } catch {
            await client.close()
            throw error
        }
        // 8. Close.
        await client.close()
        _ = await hub.packets.wait(for: swiftDevice, timeout: .seconds(5)) { $0.contains { $0.packetType == .disconnect } }
        return try WireCapture(hub.packets.packets(of: swiftDevice))
    }

    /// The first element of `stream`, or `nil` when it ends or `timeout` passes first.
    static func firstElement<Element: Sendable>(of stream: AsyncStream<Element>, timeout: Duration) async throws -> Element? {
        try await withThrowingTaskGroup(of: Element?.self) { group in
            group.addTask {
                for await element in stream { return element }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

/// What one device sent, reduced to what must match between the SDKs.
struct WireCapture: Sendable {
    /// The CONNECT, one `name: value` line per field.
    var connect: [String]
    /// SUBSCRIBE, UNSUBSCRIBE, PUBLISH and DISCONNECT packets in order (PINGREQ and PUBACK left out: their timing
    /// is not the SDK's choice).
    var sequence: [String]
    /// The number of PUBACKs (the device's acknowledgements of QoS 1 deliveries).
    var acknowledgements: Int
    /// The `DeviceClientType` of the user name, which is expected to differ.
    var deviceClientType: String?

    /// Reduces the packets of one connection, which must start with its CONNECT.
    init(_ packets: [MQTTPacket]) throws {
        guard case .connect(let connect)? = packets.first else {
            throw HubError.invalid("no CONNECT captured; packets: \(packets.map(\.packetType))")
        }
        let (userName, clientType) = Self.userNameWithoutClientType(connect.username)
        deviceClientType = clientType
        let password = connect.password.map { String(decoding: $0, as: UTF8.self) }
        self.connect = [
            "client id: \(connect.clientId)",
            "user name: \(userName ?? "<none>")",
            "keep-alive: \(connect.keepAlive)",
            "clean session: \(connect.cleanSession)",
            "will: \(connect.will.map { "\($0.topic) qos=\($0.qos.rawValue)" } ?? "<none>")",
            "password: \(password.map { Self.masking(["sig", "se"], in: $0) } ?? "<none>")",
        ]
        var sequence: [String] = []
        var acknowledgements = 0
        for packet in packets.dropFirst() {
            switch packet {
            case .subscribe(let subscribe):
                sequence.append("SUBSCRIBE " + subscribe.subscriptions
                    .map { "\($0.topicFilter) qos=\($0.qos.rawValue)" }.joined(separator: ", "))
            case .unsubscribe(let unsubscribe):
                sequence.append("UNSUBSCRIBE " + unsubscribe.topicFilters.joined(separator: ", "))
            case .publish(let publish):
                sequence.append("PUBLISH \(Self.masking(["$rid", "%24rid"], in: publish.topic)) qos=\(publish.qos.rawValue)"
                    + (publish.retain ? " retain" : ""))
            case .disconnect:
                sequence.append("DISCONNECT")
            case .pubAck:
                acknowledgements += 1
            case .pingReq:
                break
            default:
                sequence.append("\(packet.packetType)")
            }
        }
        self.sequence = sequence
        self.acknowledgements = acknowledgements
    }

    /// This capture with every occurrence of device id `old` replaced by `new`.
    func replacingDeviceId(_ old: String, with new: String) -> WireCapture {
        var copy = self
        copy.connect = connect.map { $0.replacingOccurrences(of: old, with: new) }
        copy.sequence = sequence.map { $0.replacingOccurrences(of: old, with: new) }
        return copy
    }

    /// The capture, for failure messages.
    var rendered: String {
        (["DeviceClientType: \(deviceClientType ?? "<none>")"] + connect + sequence.enumerated().map { "#\($0.offset) \($0.element)" }
            + ["PUBACKs: \(acknowledgements)"]).joined(separator: "\n")
    }

    /// Line-by-line differences, `oracle` first.
    static func differences(_ oracle: [String], _ ours: [String]) -> String {
        (0..<max(oracle.count, ours.count)).compactMap { index -> String? in
            let (expected, actual) = (index < oracle.count ? oracle[index] : "<nothing>",
                                      index < ours.count ? ours[index] : "<nothing>")
            return expected == actual ? nil : "  [\(index)] python: \(expected)\n  [\(index)]  swift: \(actual)"
        }.joined(separator: "\n")
    }

    /// Splits the `DeviceClientType` query item off a user name `{host}/{id}/?{query}`.
    static func userNameWithoutClientType(_ userName: String?) -> (String?, String?) {
        guard let userName, let question = userName.firstIndex(of: "?") else { return (userName, nil) }
        let items = userName[userName.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false)
        let clientType = items.first { $0.hasPrefix("DeviceClientType=") }.map { String($0.dropFirst("DeviceClientType=".count)) }
        let kept = items.filter { !$0.hasPrefix("DeviceClientType=") }.joined(separator: "&")
        return (String(userName[...question]) + kept, clientType)
    }

    /// Replaces the value of each query-like item `key=value` (at the start, or after `?`, `&` or a space) with `*`.
    static func masking(_ keys: [String], in text: String) -> String {
        var text = text
        for key in keys {
            var result = ""
            var rest = Substring(text)
            while let range = rest.range(of: key + "=") {
                let startsItem = range.lowerBound == rest.startIndex && result.isEmpty
                    || (range.lowerBound > rest.startIndex && "?& ".contains(rest[rest.index(before: range.lowerBound)]))
                result += rest[..<range.upperBound]
                rest = rest[range.upperBound...]
                guard startsItem else { continue }
                result += "*"
                rest = rest[(rest.firstIndex(of: "&") ?? rest.endIndex)...]
            }
            text = result + rest
        }
        return text
    }
}
