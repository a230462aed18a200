import Foundation
import IoTHubProtocol
import MQTTCore
import NIOCore
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The hub's MQTT head through its production pipeline on a testing channel: bytes in, exact bytes out.
@Suite("MQTT device endpoint: session state machine")
struct MQTTDeviceConnectionHandlerTests {
    static let connAckAccepted: [UInt8] = [0x20, 0x02, 0x00, 0x00]
    static let connAckNotAuthorized: [UInt8] = [0x20, 0x02, 0x00, 0x05]

    /// A connected device: CONNECT answered by CONNACK 0.
    func connected(_ device: TestDevice, on hub: TestHub, keepAlive: UInt16 = 60,
                   configuration: MQTTEndpointConfiguration = MQTTEndpointConfiguration()) async throws -> MQTTTestConnection {
        let connection = try await MQTTTestConnection.open(hub, configuration: configuration)
        try await connection.send(device.connect(keepAlive: keepAlive))
        let connAck = try await connection.nextWrite()
        try #require(connAck == Self.connAckAccepted)
        return connection
    }

    func subscribe(_ connection: MQTTTestConnection, _ filters: [String], packetId: UInt16 = 10) async throws {
        try await connection.send(.subscribe(MQTTSubscribe(packetId: packetId, subscriptions: filters.map {
            MQTTSubscription(topicFilter: $0, qos: .atLeastOnce)
        })))
        let subAck = try await connection.nextPacket()
        try #require(subAck == .subAck(MQTTSubAck(packetId: packetId,
                                                  returnCodes: filters.map { _ in .grantedQoS1 })))
    }

    // MARK: CONNECT

    @Test("a valid SAS CONNECT gets CONNACK 0 and registers the session; connection state is recorded")
    func connectAccepted() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        #expect(hub.services.presence.session(for: device.identity) != nil)
        #expect(try await connection.eventually {
            try await hub.store.device(device.identity)?.connectionState == .connected
        })
        try await connection.send(.disconnect)
        #expect(try await connection.closed())
        #expect(hub.services.presence.session(for: device.identity) == nil)
        #expect(try await connection.eventually {
            try await hub.store.device(device.identity)?.connectionState == .disconnected
        })
    }

    @Test("every authentication failure is CONNACK 5, then the hub closes", arguments: [
        "wrong key", "expired token", "unknown device", "user name of another device", "wrong host", "no password",
        "no user name", "malformed user name", "disabled device", "token for another device",
    ])
    func connectRefused(_ failure: String) async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let other = try await TestDevice.create("d2", on: hub)
        var connect = MQTTConnect(clientId: "d1", keepAlive: 60, username: device.userName,
                                  password: Array(device.token().utf8))
        switch failure {
        case "wrong key": connect.password = Array(device.token(key: SharedAccessKey(bytes: Array(repeating: 7, count: 32))).utf8)
        case "expired token": connect.password = Array(device.token(ttl: -10).utf8)
        case "unknown device":
            connect.clientId = "ghost"
            connect.username = "hub.test/ghost/?api-version=2021-04-12"
        case "user name of another device": connect.username = other.userName
        case "wrong host": connect.username = "elsewhere.test/d1/?api-version=2021-04-12"
        case "no password": connect.password = nil
        case "no user name":
            connect.username = nil
            connect.password = nil  // MQTT 3.1.1 allows no password without a user name
        case "malformed user name": connect.username = "hub.test"
        case "disabled device":
            _ = try await hub.services.registry.update(.init(identity: device.identity, status: .disabled), condition: .any)
        case "token for another device": connect.password = Array(other.token().utf8)
        default: Issue.record("unknown case")
        }
        let connection = try await MQTTTestConnection.open(hub)
        try await connection.send(.connect(connect))
        #expect(try await connection.nextWrite() == Self.connAckNotAuthorized)
        #expect(try await connection.closed())
        #expect(hub.services.presence.count == 0)
    }

    @Test("an invalid client id is CONNACK 2")
    func identifierRejected() async throws {
        let hub = try TestHub()
        let connection = try await MQTTTestConnection.open(hub)
        try await connection.send(.connect(MQTTConnect(clientId: "a/b/c", username: "hub.test/a/?api-version=1", password: [1])))
        #expect(try await connection.nextWrite() == [0x20, 0x02, 0x00, 0x02])
        #expect(try await connection.closed())
    }

    @Test("MQTT 5 (protocol level 5) is CONNACK 1, then close")
    func unsupportedProtocolLevel() async throws {
        let hub = try TestHub()
        let connection = try await MQTTTestConnection.open(hub)
        // CONNECT, remaining length 13: "MQTT", level 5, flags clean session, keep-alive 60, client id "x".
        try await connection.sendBytes([0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3C,
                                        0x00, 0x01, 0x78])
        #expect(try await connection.nextWrite() == [0x20, 0x02, 0x00, 0x01])
        #expect(try await connection.closed())
    }

    // MARK: Hostile input

    @Test("a packet before CONNECT closes without an answer")
    func packetBeforeConnect() async throws {
        let hub = try TestHub()
        let connection = try await MQTTTestConnection.open(hub)
        try await connection.sendBytes([0xC0, 0x00])  // PINGREQ
        #expect(try await connection.closed())
        #expect(try await connection.channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    @Test("garbage closes the connection", arguments: [
        [0xFF, 0xFF, 0xFF, 0xFF] as [UInt8],
        [0x00, 0x00],
        [0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],  // remaining length longer than four bytes
        Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
    ])
    func garbage(_ bytes: [UInt8]) async throws {
        let hub = try TestHub()
        let connection = try await MQTTTestConnection.open(hub)
        try await connection.sendBytes(bytes)
        #expect(try await connection.closed())
        #expect(hub.services.presence.count == 0)
    }

    @Test("an oversized remaining length closes the connection before the body is buffered")
    func oversizedPacket() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        // PUBLISH QoS 1 announcing 268,435,455 bytes (the MQTT maximum).
        try await connection.sendBytes([0x32, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01])
        #expect(try await connection.closed())
    }

    @Test("a second CONNECT closes the connection")
    func secondConnect() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(device.connect())
        #expect(try await connection.closed())
        #expect(hub.services.presence.session(for: device.identity) == nil)
    }

    @Test("publishing to another device's topic, or a topic IoT Hub does not define, closes the connection", arguments: [
        "devices/d2/messages/events/", "devices/d1/messages/devicebound/", "$iothub/twin/GET/", "random/topic",
        "devices/d1/modules/m1/messages/events/",
    ])
    func foreignPublish(_ topic: String) async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(.publish(MQTTPublish(topic: topic, payload: [1], qos: .atLeastOnce, packetId: 1)))
        #expect(try await connection.closed())
        #expect(try await hub.services.events.events(after: 0, deviceId: nil).isEmpty)
    }

    @Test("subscribing to another device's C2D topic or an unknown filter closes the connection", arguments: [
        "devices/d2/messages/devicebound/#", "#", "$iothub/#", "devices/+/messages/devicebound/#",
    ])
    func foreignSubscribe(_ filter: String) async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(.subscribe(MQTTSubscribe(packetId: 3, subscriptions: [
            MQTTSubscription(topicFilter: filter, qos: .atLeastOnce),
        ])))
        #expect(try await connection.closed())
    }

    @Test("a QoS 2 PUBLISH closes the connection and stores nothing")
    func qos2Publish() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(.publish(MQTTPublish(topic: "devices/d1/messages/events/", payload: [1],
                                                       qos: .exactlyOnce, packetId: 1)))
        #expect(try await connection.closed())
        #expect(try await hub.services.events.events(after: 0, deviceId: nil).isEmpty)
    }

    @Test("server-to-client packets from a device close the connection", arguments: [
        MQTTPacket.pubRel(MQTTPubRel(packetId: 1)), .connAck(MQTTConnAck(returnCode: .accepted)), .pingResp,
    ])
    func serverPackets(_ packet: MQTTPacket) async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(packet)
        #expect(try await connection.closed())
    }

    // MARK: Keep-alive

    @Test("PINGREQ gets PINGRESP; a connection silent for 1.5 × keep-alive is closed, not before")
    func keepAlive() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub, keepAlive: 10)
        try await connection.send(.pingReq)
        #expect(try await connection.nextWrite() == [0xD0, 0x00])
        await connection.channel.testingEventLoop.advanceTime(by: .seconds(14))
        #expect(try await connection.quiet(for: .milliseconds(100)))
        try await connection.send(.pingReq)  // activity restarts the clock
        #expect(try await connection.nextWrite() == [0xD0, 0x00])
        await connection.channel.testingEventLoop.advanceTime(by: .seconds(14))
        #expect(connection.channel.isActive)
        await connection.channel.testingEventLoop.advanceTime(by: .seconds(2))
        #expect(try await connection.closed())
    }

    @Test("a connection that never sends CONNECT is closed after the connect timeout")
    func connectTimeout() async throws {
        let hub = try TestHub()
        let connection = try await MQTTTestConnection.open(hub)
        await connection.channel.testingEventLoop.advanceTime(by: .seconds(29))
        #expect(connection.channel.isActive)
        await connection.channel.testingEventLoop.advanceTime(by: .seconds(2))
        #expect(try await connection.closed())
    }

    // MARK: Telemetry

    @Test("telemetry: PUBACK after the message is stored, with IoT Hub's system properties and the property bag")
    func telemetry() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(.publish(MQTTPublish(
            topic: "devices/d1/messages/events/%24.mid=m-1&%24.cid=c-1&%24.ct=application%2Fjson&temp=21.5&flag",
            payload: Array(#"{"t":1}"#.utf8), qos: .atLeastOnce, packetId: 0x1234)))
        #expect(try await connection.nextWrite() == [0x40, 0x02, 0x12, 0x34])
        let stored = try await hub.services.events.events(after: 0, deviceId: "d1")
        try #require(stored.count == 1)
        let message = stored[0].message
        #expect(message.body == Array(#"{"t":1}"#.utf8))
        #expect(message.properties == ["temp": "21.5", "flag": ""] || message.properties["temp"] == "21.5")
        #expect(message.systemProperties.messageId == "m-1")
        #expect(message.systemProperties.correlationId == "c-1")
        #expect(message.systemProperties.contentType == "application/json")
        #expect(message.systemProperties.connectionDeviceId == "d1")
        #expect(message.systemProperties.connectionAuthMethod?.contains(#""type":"sas""#) == true)
        #expect(message.systemProperties.enqueuedTime != nil)
    }

    @Test("QoS 0 telemetry is stored without a PUBACK")
    func telemetryQoS0() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(.publish(MQTTPublish(topic: "devices/d1/messages/events/", payload: [42])))
        #expect(try await connection.eventually { try await hub.services.events.events(after: 0, deviceId: "d1").count == 1 })
        #expect(try await connection.quiet())
    }

    @Test("PUBACKs go out in the order the PUBLISHes came in, across telemetry and twin requests")
    func acknowledgementOrder() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        var bytes: [UInt8] = []
        for id in UInt16(1)...200 {
            let topic = id % 10 == 0 ? "$iothub/twin/GET/?$rid=\(id)" : "devices/d1/messages/events/n=\(id)"
            bytes += try MQTTPacket.publish(MQTTPublish(topic: topic, payload: [UInt8(id & 0xFF)], qos: .atLeastOnce,
                                                        packetId: id)).encoded()
        }
        try await connection.sendBytes(bytes)  // all coalesced in one read
        var acknowledged: [UInt16] = []
        while acknowledged.count < 200, let packet = try await connection.nextPacket() {
            if case .pubAck(let ack) = packet { acknowledged.append(ack.packetId) }
        }
        #expect(acknowledged == Array(1...200))
        #expect(try await hub.services.events.events(after: 0, deviceId: "d1").count == 180)
    }

    @Test("a message over 256 KiB closes the connection without a PUBACK")
    func oversizedMessage() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(.publish(MQTTPublish(topic: "devices/d1/messages/events/",
                                                       payload: Array(repeating: 1, count: 262_145), qos: .atLeastOnce,
                                                       packetId: 1)))
        #expect(try await connection.closed())
        #expect(try await hub.services.events.events(after: 0, deviceId: nil).isEmpty)
    }

    @Test("a will message is stored as telemetry when the connection drops without DISCONNECT")
    func will() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await MQTTTestConnection.open(hub)
        try await connection.send(device.connect(will: MQTTWill(topic: "devices/d1/messages/events/", payload: Array("gone".utf8))))
        #expect(try await connection.nextWrite() == Self.connAckAccepted)
        try await connection.channel.close()
        #expect(try await connection.eventually { try await hub.services.events.events(after: 0, deviceId: "d1").count == 1 })
        let stored = try await hub.services.events.events(after: 0, deviceId: "d1")
        #expect(stored.first?.message.body == Array("gone".utf8))
        #expect(stored.first?.message.properties["iothub-MessageType"] == "Will")
    }

    // MARK: Subscriptions, twins, methods

    @Test("SUBSCRIBE with QoS 2 is granted QoS 1; UNSUBSCRIBE is acknowledged")
    func subscribeGrants() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await connection.send(.subscribe(MQTTSubscribe(packetId: 10, subscriptions: [
            MQTTSubscription(topicFilter: "$iothub/methods/POST/#", qos: .exactlyOnce),
            MQTTSubscription(topicFilter: "$iothub/twin/res/#", qos: .atMostOnce),
        ])))
        #expect(try await connection.nextWrite() == [0x90, 0x04, 0x00, 0x0A, 0x01, 0x00])
        #expect(hub.services.presence.session(for: device.identity)?.acceptsMethods == true)
        try await connection.send(.unsubscribe(MQTTUnsubscribe(packetId: 11, topicFilters: ["$iothub/methods/POST/#"])))
        #expect(try await connection.nextWrite() == [0xB0, 0x02, 0x00, 0x0B])
        #expect(hub.services.presence.session(for: device.identity)?.acceptsMethods == false)
    }

    @Test("twin GET and reported PATCH answer on the response topic with $rid and the new $version")
    func twinRequests() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await subscribe(connection, ["$iothub/twin/res/#"])
        try await connection.send(.publish(MQTTPublish(topic: "$iothub/twin/PATCH/properties/reported/?$rid=7",
                                                       payload: Array(#"{"temp":21}"#.utf8), qos: .atLeastOnce, packetId: 2)))
        let packets = [try await connection.nextPacket(), try await connection.nextPacket()]
        #expect(packets.contains(.pubAck(MQTTPubAck(packetId: 2))))
        let patched = packets.compactMap { packet -> MQTTPublish? in if case .publish(let p) = packet { p } else { nil } }
        #expect(patched.first?.topic == "$iothub/twin/res/204/?$rid=7&$version=2")
        #expect(patched.first?.payload == [])
        try await connection.send(.publish(MQTTPublish(topic: "$iothub/twin/GET/?$rid=8", payload: [])))
        guard case .publish(let got)? = try await connection.nextPacket() else { Issue.record("no twin"); return }
        #expect(got.topic == "$iothub/twin/res/200/?$rid=8")
        let body = try JSONValue(parsing: got.payload)
        #expect(body.objectValue?["reported"]?.objectValue?["temp"] == .integer(21))
        #expect(body.objectValue?["reported"]?.objectValue?["$version"] == .integer(2))
        #expect(body.objectValue?["desired"]?.objectValue?["$version"] == .integer(1))
        try await connection.send(.publish(MQTTPublish(topic: "$iothub/twin/PATCH/properties/reported/?$rid=9",
                                                       payload: Array("{nope".utf8))))
        guard case .publish(let bad)? = try await connection.nextPacket() else { Issue.record("no answer"); return }
        #expect(bad.topic == "$iothub/twin/res/400/?$rid=9")
        #expect(connection.channel.isActive)
    }

    @Test("a desired-properties update reaches the subscribed device with its $version")
    func desiredNotification() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await subscribe(connection, ["$iothub/twin/PATCH/properties/desired/#"])
        _ = try await hub.services.twins.update(device.identity, body: try JSONValue(parsing: #"{"properties":{"desired":{"fan":true}}}"#),
                                                ifMatch: nil, replace: false)
        guard case .publish(let patch)? = try await connection.nextPacket() else { Issue.record("no patch"); return }
        #expect(patch.topic == "$iothub/twin/PATCH/properties/desired/?$version=2")
        #expect(patch.qos == .atMostOnce)
        let body = try JSONValue(parsing: patch.payload)
        #expect(body.objectValue?["fan"] == .bool(true) && body.objectValue?["$version"] == .integer(2))
    }

    @Test("a direct method goes to the device and its answer, matched by $rid, returns to the caller")
    func directMethod() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        try await subscribe(connection, ["$iothub/methods/POST/#"])
        let methods = hub.services.methods
        let call = Task { try await methods.invoke(device.identity, method: "reboot", payload: Array(#"{"delay":1}"#.utf8)) }
        guard case .publish(let request)? = try await connection.nextPacket() else { Issue.record("no request"); return }
        #expect(request.topic.hasPrefix("$iothub/methods/POST/reboot/?$rid="))
        #expect(request.payload == Array(#"{"delay":1}"#.utf8))
        let rid = String(request.topic.split(separator: "=").last ?? "")
        try await connection.send(.publish(MQTTPublish(topic: "$iothub/methods/res/200/?$rid=\(rid)",
                                                       payload: Array(#"{"ok":true}"#.utf8))))
        let response = try await call.value
        #expect(response.status == 200 && response.payload == Array(#"{"ok":true}"#.utf8))
    }

    // MARK: Cloud-to-device

    @Test("C2D: queued messages are delivered over QoS 1 on subscribe; PUBACK completes them")
    func cloudToDevice() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        try await hub.services.cloudToDevice.send(IoTHubMessage(text: "hello", properties: ["a": "b"]), to: device.identity)
        let connection = try await connected(device, on: hub)
        try await subscribe(connection, ["devices/d1/messages/devicebound/#"])
        guard case .publish(let delivery)? = try await connection.nextPacket() else { Issue.record("no C2D"); return }
        #expect(delivery.qos == .atLeastOnce)
        #expect(delivery.topic.hasPrefix("devices/d1/messages/devicebound/"))
        let bag = PropertyBag(decoding: delivery.topic.dropFirst("devices/d1/messages/devicebound/".count))
        let received = IoTHubMessage(body: delivery.payload, propertyBag: bag)
        #expect(received.body == Array("hello".utf8) && received.properties["a"] == "b")
        #expect(received.systemProperties.to == "/devices/d1/messages/deviceBound")
        #expect(received.systemProperties.messageId != nil)
        // A message sent while connected arrives at once.
        try await hub.services.cloudToDevice.send(IoTHubMessage(text: "second"), to: device.identity)
        guard case .publish(let second)? = try await connection.nextPacket() else { Issue.record("no second"); return }
        #expect(second.payload == Array("second".utf8))
        try await connection.send(.pubAck(MQTTPubAck(packetId: delivery.packetId!)))
        try await connection.send(.pubAck(MQTTPubAck(packetId: second.packetId!)))
        #expect(try await connection.eventually { try await hub.store.pendingCloudToDeviceCount(device.identity) == 0 })
    }

    @Test("C2D: a message not acknowledged before the connection drops is delivered again on the next connection")
    func cloudToDeviceRedelivery() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        try await hub.services.cloudToDevice.send(IoTHubMessage(text: "again"), to: device.identity)
        let first = try await connected(device, on: hub)
        try await subscribe(first, ["devices/d1/messages/devicebound/#"])
        guard case .publish? = try await first.nextPacket() else { Issue.record("no C2D"); return }
        try await first.channel.close()
        // The lock is released asynchronously after the close; the next connection gets the message.
        let second = try await connected(device, on: hub)
        try await subscribe(second, ["devices/d1/messages/devicebound/#"])
        var delivered: MQTTPublish?
        _ = try await second.eventually {
            if delivered == nil, case .publish(let p)? = try await second.nextPacket(timeout: .milliseconds(50)) { delivered = p }
            if delivered == nil { hub.services.presence.session(for: device.identity)?.cloudToDeviceMessagesAvailable() }
            return delivered != nil
        }
        #expect(delivered?.payload == Array("again".utf8))
    }

    // MARK: Sessions

    @Test("a new CONNECT for the same device takes over: the old connection is closed")
    func takeover() async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let first = try await connected(device, on: hub)
        let second = try await connected(device, on: hub)
        #expect(try await first.closed())
        #expect(second.channel.isActive)
        #expect(hub.services.presence.count == 1)
        // The old connection's close does not mark the device disconnected.
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await hub.store.device(device.identity)?.connectionState == .connected)
    }

    @Test("disabling or deleting a connected device disconnects it at once", arguments: ["disable", "delete"])
    func disableAndDelete(_ action: String) async throws {
        let hub = try TestHub()
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        if action == "disable" {
            _ = try await hub.services.registry.update(.init(identity: device.identity, status: .disabled), condition: .any)
        } else {
            try await hub.services.registry.delete(device.identity, condition: .any)
        }
        #expect(try await connection.closed())
        #expect(hub.services.presence.count == 0)
    }

    @Test("modules connect with client id d/m and publish on their own telemetry topic")
    func moduleIdentity() async throws {
        let hub = try TestHub()
        _ = try await TestDevice.create("d1", on: hub)
        let module = try await TestDevice.create("d1", on: hub, moduleId: "m1")
        let connection = try await connected(module, on: hub)
        try await connection.send(.publish(MQTTPublish(topic: "devices/d1/modules/m1/messages/events/", payload: [1],
                                                       qos: .atLeastOnce, packetId: 1)))
        #expect(try await connection.nextWrite() == [0x40, 0x02, 0x00, 0x01])
        let stored = try await hub.services.events.events(after: 0, deviceId: "d1")
        #expect(stored.first?.message.systemProperties.connectionModuleId == "m1")
    }
}
