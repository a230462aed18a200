import MQTTCore
import Testing

/// The pure client session: handshake, the QoS 1 window and its queue, resend after reconnect, keep-alive and
/// timeouts, all on a manual time line.
struct ClientSessionTests {
    private func connected(window: Int = 2, queueLimit: Int = 10, keepAlive: Duration? = .seconds(60))
        -> MQTTClientSession
    {
        var session = MQTTClientSession(configuration: .init(keepAlive: keepAlive, inFlightWindow: window,
                                                             queueLimit: queueLimit, responseTimeout: .seconds(5)))
        _ = session.connect(MQTTConnect(clientId: "d1"), now: .zero)
        let action = session.received(.connAck(MQTTConnAck(returnCode: .accepted)), now: .zero)
        #expect(action == .connected(sessionPresent: false, resend: []))
        return session
    }

    private func message(_ text: String, qos: MQTTQoS = .atLeastOnce) -> MQTTPublish {
        MQTTPublish(topic: "devices/d1/messages/events/", payload: Array(text.utf8), qos: qos)
    }

    @Test func connectCarriesTheKeepAliveAndARefusalCloses() {
        var session = MQTTClientSession(configuration: .init(keepAlive: .seconds(240)))
        let packet = session.connect(MQTTConnect(clientId: "d1", keepAlive: 1), now: .zero)
        guard case .connect(let connect) = packet else { Issue.record("not a CONNECT: \(packet)"); return }
        #expect(connect.keepAlive == 240 && session.state == .connecting)
        let action = session.received(.connAck(MQTTConnAck(returnCode: .notAuthorized)), now: .seconds(1))
        #expect(action == .close(.refused(.notAuthorized)))
        #expect(session.state == .disconnected && session.connections == 0)
    }

    @Test func aDutyCycleSleepKeepsWhatIsInFlightForTheNextConnection() {
        var session = connected(window: 1)
        _ = session.publish(message("a"), now: .seconds(1))
        _ = session.publish(message("b"), now: .seconds(1))
        let packet = session.disconnectKeepingSession()
        #expect(packet == .disconnect && session.state == .disconnected)
        #expect(session.disconnectKeepingSession() == nil, "no second DISCONNECT while disconnected")
        _ = session.connect(MQTTConnect(clientId: "d1"), now: .seconds(10))
        let action = session.received(.connAck(MQTTConnAck(sessionPresent: true, returnCode: .accepted)), now: .seconds(10))
        guard case .connected(_, let resend) = action else { Issue.record("not connected: \(action)"); return }
        #expect(resend.map { String(decoding: $0.payload, as: UTF8.self) } == ["a"] && resend.first?.dup == true)
        #expect(session.queuedCount == 1)
    }

    @Test func theWindowHoldsTwoAndAPubAckAdmitsTheNext() {
        var session = connected(window: 2)
        guard case .send(let first) = session.publish(message("a"), now: .seconds(1)),
              case .send(let second) = session.publish(message("b"), now: .seconds(1)) else {
            Issue.record("the first two should go out"); return
        }
        #expect(first.packetId == 1 && second.packetId == 2 && !first.dup)
        #expect(session.publish(message("c"), now: .seconds(2)) == .queued)
        #expect(session.inFlightCount == 2 && session.queuedCount == 1)
        let ack = session.received(.pubAck(MQTTPubAck(packetId: 1)), now: .seconds(3))
        guard case .acknowledged(let id, let sentAt, let next?) = ack else { Issue.record("\(ack)"); return }
        #expect(id == 1 && sentAt == .seconds(1))
        #expect(next.payload == Array("c".utf8) && next.packetId == 3)
        #expect(session.queuedCount == 0 && session.inFlightCount == 2)
        // A duplicate PUBACK is harmless.
        #expect(session.received(.pubAck(MQTTPubAck(packetId: 1)), now: .seconds(3)) == .none)
    }

    @Test func theQueueIsBoundedAndQoS0AndQoS2AreNotQueued() {
        var session = MQTTClientSession(configuration: .init(inFlightWindow: 1, queueLimit: 2))
        #expect(session.publish(message("a"), now: .zero) == .queued, "QoS 1 waits for the connection")
        #expect(session.publish(message("b"), now: .zero) == .queued)
        #expect(session.publish(message("c"), now: .zero) == .refused(.queueFull))
        #expect(session.publish(message("d", qos: .atMostOnce), now: .zero) == .refused(.notConnected))
        #expect(session.publish(message("e", qos: .exactlyOnce), now: .zero) == .refused(.qos2NotSupported))
    }

    @Test func inFlightPublishesAreResentWithDupAfterReconnectInOrder() {
        var session = connected(window: 3)
        for text in ["a", "b", "c", "d"] { _ = session.publish(message(text), now: .seconds(1)) }
        _ = session.received(.pubAck(MQTTPubAck(packetId: 2)), now: .seconds(2))   // "d" takes b's place as id 4
        session.connectionLost()
        #expect(session.state == .disconnected && session.inFlightCount == 3)
        #expect(session.publish(message("e"), now: .seconds(3)) == .queued)
        _ = session.connect(MQTTConnect(clientId: "d1"), now: .seconds(4))
        let action = session.received(.connAck(MQTTConnAck(sessionPresent: true, returnCode: .accepted)), now: .seconds(4))
        guard case .connected(true, let resend) = action else { Issue.record("\(action)"); return }
        #expect(resend.map { String(decoding: $0.payload, as: UTF8.self) } == ["a", "c", "d"])
        #expect(resend.map(\.packetId) == [1, 3, 4] && resend.allSatisfy(\.dup))
        #expect(session.queuedCount == 1, "the window is full again, so e waits")
        #expect(session.connections == 2)
    }

    @Test func packetIdsWrapAndSkipThoseInFlight() {
        var session = connected(window: 2, queueLimit: 0)
        guard case .send(let held) = session.publish(message("held"), now: .zero) else { return }
        #expect(held.packetId == 1)
        // Cycle through every other id with the second place of the window.
        var seen: [UInt16] = []
        for _ in 0..<65_535 {
            guard case .send(let publish) = session.publish(message("x"), now: .zero), let id = publish.packetId else {
                Issue.record("refused"); return
            }
            seen.append(id)
            _ = session.received(.pubAck(MQTTPubAck(packetId: id)), now: .zero)
        }
        #expect(!seen.contains(1) && !seen.contains(0))
        #expect(seen.first == 2 && seen.contains(65_535))
    }

    @Test func keepAlivePingsWhenIdleAndClosesWithoutPingResp() {
        var session = connected(keepAlive: .seconds(60))
        #expect(session.nextDeadline == .seconds(60))
        #expect(session.tick(now: .seconds(59)) == .none)
        _ = session.publish(message("a"), now: .seconds(30))
        #expect(session.tick(now: .seconds(60)) == .none, "a publish at 30 s moved the ping to 90 s")
        #expect(session.nextDeadline == .seconds(90))
        #expect(session.tick(now: .seconds(90)) == .ping)
        #expect(session.nextDeadline == .seconds(95), "PINGRESP is due within the response timeout")
        #expect(session.received(.pingResp, now: .seconds(91)) == .pong)
        #expect(session.tick(now: .seconds(150)) == .ping)
        #expect(session.tick(now: .seconds(156)) == .close(.timedOut("no PINGRESP within 5.0 seconds")))
        #expect(session.state == .disconnected)
    }

    @Test func noConnAckInTimeCloses() {
        var session = MQTTClientSession(configuration: .init(responseTimeout: .seconds(5)))
        _ = session.connect(MQTTConnect(clientId: "d1"), now: .seconds(10))
        #expect(session.nextDeadline == .seconds(15))
        #expect(session.tick(now: .seconds(14)) == .none)
        guard case .close(.timedOut) = session.tick(now: .seconds(15)) else { Issue.record("no timeout"); return }
        #expect(session.state == .disconnected)
    }

    @Test func serverMessagesAreAcknowledgedAtQoS1AndViolationsClose() {
        var session = connected()
        let inbound = MQTTPublish(topic: "devices/d1/messages/devicebound/", payload: [1], qos: .atLeastOnce, packetId: 9)
        #expect(session.received(.publish(inbound), now: .seconds(1)) == .message(inbound, acknowledge: MQTTPubAck(packetId: 9)))
        let qos0 = MQTTPublish(topic: "$iothub/twin/res/200/?$rid=1", payload: [])
        #expect(session.received(.publish(qos0), now: .seconds(1)) == .message(qos0, acknowledge: nil))
        #expect(session.received(.subAck(MQTTSubAck(packetId: 4, returnCodes: [.grantedQoS1])), now: .seconds(1))
                == .subscribed(packetId: 4, returnCodes: [.grantedQoS1]))
        guard case .close(.protocolViolation) = session.received(.connAck(MQTTConnAck(returnCode: .accepted)), now: .seconds(2))
        else { Issue.record("a second CONNACK is a violation"); return }
    }

    @Test func disconnectReturnsWhatWasNotAcknowledged() {
        var session = connected(window: 1)
        _ = session.publish(message("a"), now: .zero)
        _ = session.publish(message("b"), now: .zero)
        let (packet, dropped) = session.disconnect()
        #expect(packet == .disconnect)
        #expect(dropped.map { String(decoding: $0.payload, as: UTF8.self) } == ["a", "b"])
        #expect(session.publish(message("c"), now: .zero) == .refused(.closed))
        #expect(session.nextDeadline == nil)
    }
}
