import Foundation
import Testing
@testable import IoTHubProtocol

/// MQTT user names and topics compared byte for byte with the official Python device SDK.
@Suite("MQTT names match the official device SDK")
struct MQTTNamesOracleTests {
    static func identities(count: Int, seed: UInt64) -> [(host: String, identity: DeviceIdentity)] {
        var random = TestRandom(seed: seed)
        return (0..<count).map { index in
            let host = random.string(from: Alphabets.hostName, maxLength: 20) + ".azure-devices.net"
            let device = random.string(from: Alphabets.identifier, maxLength: 128)
            let module = index % 3 == 0 ? random.string(from: Alphabets.identifier, maxLength: 64) : nil
            return (host, DeviceIdentity(deviceId: device, moduleId: module))
        }
    }

    @Test("user name and client id, plain and Plug and Play")
    func userNames() throws {
        let cases = Self.identities(count: 60, seed: 11)
        let answers = try PythonOracle.values(cases.enumerated().map { index, c in
            var request: [String: Any] = ["op": "username", "host": c.host, "deviceId": c.identity.deviceId]
            if let module = c.identity.moduleId { request["moduleId"] = module }
            if index % 2 == 1 { request["productInfo"] = "dtmi:com:example:Thermostat;\(index)" }
            return request
        })
        for (index, (c, answer)) in zip(cases, answers).enumerated() {
            let fields = try #require(answer as? [String: Any])
            let theirs = try #require(fields["username"] as? String)
            #expect(fields["clientId"] as? String == c.identity.clientId)
            let parsed = try MQTTUserName(parsing: theirs)
            #expect(parsed.hostName == c.host)
            #expect(parsed.identity == c.identity)
            // Same inputs, with their DeviceClientType, must give the same bytes.
            let modelId = index % 2 == 1 ? "dtmi:com:example:Thermostat;\(index)" : nil
            let ours = MQTTUserName(hostName: c.host, identity: c.identity,
                                    clientType: try #require(parsed.clientType), modelId: modelId)
            #expect(ours.description == theirs)
            #expect(parsed.modelId == modelId)
            #expect(parsed.apiVersion == (modelId == nil ? "2019-10-01" : "2020-09-30"))
        }
    }

    @Test("telemetry topics with system and application properties, 200 random messages")
    func telemetryTopics() throws {
        var random = TestRandom(seed: 2024)
        let identities = Self.identities(count: 200, seed: 5)
        var messages: [IoTHubMessage] = []
        var requests: [[String: Any]] = []
        for (index, c) in identities.enumerated() {
            var message = IoTHubMessage()
            var request: [String: Any] = ["op": "telemetry_topic", "deviceId": c.identity.deviceId]
            if let module = c.identity.moduleId { request["moduleId"] = module }
            func maybe(_ field: WritableKeyPath<MessageSystemProperties, String?>, _ name: String) {
                guard Bool.random(using: &random) else { return }
                let value = random.string(from: Alphabets.awkward, maxLength: 12)
                message.systemProperties[keyPath: field] = value
                request[name] = value
            }
            maybe(\.messageId, "message_id")
            maybe(\.correlationId, "correlation_id")
            maybe(\.userId, "user_id")
            maybe(\.contentType, "content_type")
            maybe(\.contentEncoding, "content_encoding")
            if index % 7 == 0 {
                // The Python SDK can set only the security-agent interface id.
                message.systemProperties.interfaceId = "urn:azureiot:Security:SecurityAgent:1"
                request["security"] = true
            }
            maybe(\.expiryTimeUTC, "expiry_time_utc")
            if index % 5 == 0 { maybe(\.outputName, "output_name") }
            var properties: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &random) {
                properties[random.string(from: Alphabets.awkward, maxLength: 10)] =
                    random.string(from: Alphabets.awkward, maxLength: 16, minLength: 0)
            }
            message.properties = properties
            request["properties"] = properties
            messages.append(message)
            requests.append(request)
        }
        let answers = try PythonOracle.values(requests)
        for ((c, message), answer) in zip(zip(identities, messages), answers) {
            let theirs = try #require(answer as? String)
            let ours = DeviceTopic.telemetry(message.telemetryPropertyBag).topic(for: c.identity)
            #expect(ours == theirs)
            // The hub side parses theirs back to the same message properties.
            guard case .telemetry(let bag) = try DeviceTopic(parsing: theirs, identity: c.identity) else {
                Issue.record("not classified as telemetry: \(theirs)")
                continue
            }
            let decoded = IoTHubMessage(body: [], propertyBag: bag)
            #expect(decoded.properties == message.properties)
            #expect(decoded.systemProperties == message.systemProperties)
        }
    }

    @Test("subscription filters, twin request and method response topics")
    func deviceTopics() throws {
        var random = TestRandom(seed: 99)
        let identities = Self.identities(count: 80, seed: 6)
        let rids = identities.map { _ in random.string(from: Alphabets.awkward, maxLength: 36) }
        let statuses = identities.map { _ in Int.random(in: 100...999, using: &random) }
        let answers = try PythonOracle.values(identities.indices.map { i in
            var request: [String: Any] = ["op": "device_topics", "deviceId": identities[i].identity.deviceId,
                                          "rid": rids[i], "status": statuses[i]]
            if let module = identities[i].identity.moduleId { request["moduleId"] = module }
            return request
        })
        for (i, answer) in answers.enumerated() {
            let t = try #require(answer as? [String: Any])
            let me = identities[i].identity
            #expect(t["c2dSubscribe"] as? String == DeviceSubscription.cloudToDevice.filter(for: me))
            #expect(t["methodSubscribe"] as? String == DeviceSubscription.methods.filter(for: me))
            #expect(t["twinResponseSubscribe"] as? String == DeviceSubscription.twinResponses.filter(for: me))
            #expect(t["twinPatchSubscribe"] as? String == DeviceSubscription.desiredProperties.filter(for: me))
            if me.moduleId != nil {
                #expect(t["inputSubscribe"] as? String == DeviceSubscription.moduleInputs.filter(for: me))
            }
            #expect(t["twinGet"] as? String == DeviceTopic.twinGet(requestId: rids[i]).topic(for: me))
            #expect(t["twinPatch"] as? String == DeviceTopic.twinReportedPatch(requestId: rids[i]).topic(for: me))
            #expect(t["methodResponse"] as? String
                    == DeviceTopic.methodResponse(status: statuses[i], requestId: rids[i]).topic(for: me))
            // And the hub side classifies what they send.
            #expect(try DeviceTopic(parsing: t["twinGet"] as! String, identity: me) == .twinGet(requestId: rids[i]))
            #expect(try DeviceTopic(parsing: t["twinPatch"] as! String, identity: me)
                    == .twinReportedPatch(requestId: rids[i]))
            #expect(try DeviceTopic(parsing: t["methodResponse"] as! String, identity: me)
                    == .methodResponse(status: statuses[i], requestId: rids[i]))
            if me.moduleId == nil {
                #expect(try DeviceSubscription(parsing: t["c2dSubscribe"] as! String, identity: me) == .cloudToDevice)
            } else {
                #expect(try DeviceSubscription(parsing: t["inputSubscribe"] as! String, identity: me) == .moduleInputs)
            }
        }
    }

    @Test("the device SDK reads our C2D, method and twin topics back to the same values")
    func hubTopicsParsedByDevice() throws {
        var random = TestRandom(seed: 4242)
        let identities = Self.identities(count: 100, seed: 8).map { DeviceIdentity(deviceId: $0.identity.deviceId) }
        var messages: [IoTHubMessage] = []
        var requests: [[String: Any]] = []
        for me in identities {
            var message = IoTHubMessage()
            message.systemProperties.messageId = random.string(from: Alphabets.awkward, maxLength: 20)
            message.systemProperties.to = "/devices/\(me.deviceId)/messages/deviceBound"
            if Bool.random(using: &random) { message.systemProperties.correlationId = random.string(from: Alphabets.awkward, maxLength: 10) }
            if Bool.random(using: &random) { message.systemProperties.contentType = "application/json" }
            if Bool.random(using: &random) { message.systemProperties.ack = "full" }
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                message.properties[random.string(from: Alphabets.awkward, maxLength: 8)] =
                    random.string(from: Alphabets.awkward, maxLength: 12, minLength: 0)
            }
            messages.append(message)
            let methodName = random.string(from: Alphabets.awkward.filter { $0 != "/" }, maxLength: 16)
            let rid = random.string(from: Alphabets.awkward, maxLength: 20)
            requests.append(["op": "parse_c2d_topic",
                             "topic": HubTopic.cloudToDevice(message.cloudToDevicePropertyBag).topic(for: me)])
            requests.append([
                "op": "parse_hub_topics", "deviceId": me.deviceId,
                "methodTopic": HubTopic.methodRequest(name: methodName, requestId: rid).topic(for: me),
                "twinTopic": HubTopic.twinResponse(status: 204, requestId: rid, version: 7).topic(for: me),
                "patchTopic": HubTopic.desiredPropertiesPatch(version: 3).topic(for: me),
                "c2dTopic": HubTopic.cloudToDevice(message.cloudToDevicePropertyBag).topic(for: me),
                "expectMethod": methodName, "expectRid": rid,
            ])
        }
        let answers = try PythonOracle.values(requests)
        for (i, me) in identities.enumerated() {
            let c2d = try #require(answers[2 * i] as? [String: Any])
            let message = messages[i]
            #expect(c2d["message_id"] as? String == message.systemProperties.messageId)
            #expect(c2d["correlation_id"] as? String == message.systemProperties.correlationId)
            #expect(c2d["content_type"] as? String == message.systemProperties.contentType)
            #expect(c2d["ack"] as? String == message.systemProperties.ack)
            #expect(c2d["properties"] as? [String: String] == message.properties)
            let topics = try #require(answers[2 * i + 1] as? [String: Any])
            let request = requests[2 * i + 1]
            #expect(topics["methodName"] as? String == request["expectMethod"] as? String)
            #expect(topics["methodRid"] as? String == request["expectRid"] as? String)
            #expect(topics["twinRid"] as? String == request["expectRid"] as? String)
            #expect(topics["twinStatus"] as? String == "204")
            #expect(topics["isTwinPatch"] as? Bool == true)
            #expect(topics["isC2D"] as? Bool == true)
            _ = me
        }
    }
}
