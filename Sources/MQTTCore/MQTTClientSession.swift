/// The client side of one MQTT 3.1.1 session as a pure state machine: packet identifiers, a window of QoS 1
/// publishes in flight, keep-alive and the connect handshake. It performs no I/O and reads no clock: the caller
/// passes the time (any monotonic reading, e.g. a manual clock in tests) and executes the returned actions, sending
/// the packets they carry. A simulator runs tens of thousands of these on one thread, so the hot calls
/// (``publish(_:now:)``, ``received(_:now:)``) return one action and do not allocate beyond the packets themselves.
///
/// ```swift
/// var session = MQTTClientSession(configuration: .init(keepAlive: .seconds(60), inFlightWindow: 10))
/// send(session.connect(MQTTConnect(clientId: "d1", keepAlive: 60), now: clock.now))
/// // … bytes arrive and decode to a CONNACK:
/// if case .connected(_, let resend) = session.received(.connAck(ack), now: clock.now) { resend.forEach(send) }
/// switch session.publish(MQTTPublish(topic: "devices/d1/messages/events/", payload: body, qos: .atLeastOnce),
///                        now: clock.now) {
/// case .send(let publish): send(.publish(publish))
/// case .queued: break            // goes out when a PUBACK frees a place
/// case .refused(let reason): print(reason)
/// }
/// ```
///
/// At least once: a QoS 1 publish stays in flight until its PUBACK. When the connection is lost
/// (``connectionLost()``), the ones in flight are sent again, with DUP set, right after the next CONNACK.
public struct MQTTClientSession: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// The keep-alive announced in CONNECT; `nil` (or zero) turns keep-alive off.
        public var keepAlive: Duration?
        /// QoS 1 publishes in flight at once (awaiting PUBACK); more wait in the session's queue.
        public var inFlightWindow: Int
        /// Publishes that may wait behind the window; beyond it ``publish(_:now:)`` refuses.
        public var queueLimit: Int
        /// How long to wait for CONNACK, and for PINGRESP after a PINGREQ, before the session closes.
        public var responseTimeout: Duration

        public init(keepAlive: Duration? = .seconds(60), inFlightWindow: Int = 10, queueLimit: Int = 1_000,
                    responseTimeout: Duration = .seconds(30)) {
            self.keepAlive = keepAlive
            self.inFlightWindow = max(1, min(inFlightWindow, Int(UInt16.max) - 1))
            self.queueLimit = max(0, queueLimit)
            self.responseTimeout = responseTimeout
        }
    }

    public enum State: Sendable, Hashable {
        /// No connection (initially, after ``connectionLost()``, or after a refused CONNECT).
        case disconnected
        /// CONNECT sent, CONNACK awaited.
        case connecting
        case connected
        /// DISCONNECT sent by ``disconnect()``; nothing more is sent.
        case closed
    }

    /// What to do with a publish.
    public enum PublishDecision: Sendable, Hashable {
        /// Send this packet now (a QoS 1 publish has its packet id and is in flight).
        case send(MQTTPublish)
        /// Waiting for a place in the window, or for the connection; it is sent by a later action.
        case queued
        case refused(MQTTClientSessionError)
    }

    /// What to do after a packet from the server.
    public enum ReceiveAction: Sendable, Hashable {
        case none
        /// CONNACK accepted: the session is connected. Send `resend` (publishes in flight when the last connection
        /// was lost, with DUP set, then queued ones the window now admits) in order.
        case connected(sessionPresent: Bool, resend: [MQTTPublish])
        /// A QoS 1 publish of ours was acknowledged; it had been sent at `sentAt`. Send `next` (a queued publish
        /// that took its place), if any.
        case acknowledged(packetId: UInt16, sentAt: Duration, next: MQTTPublish?)
        /// A SUBACK for ``subscribe(_:now:)``'s packet id.
        case subscribed(packetId: UInt16, returnCodes: [MQTTSubAckReturnCode])
        /// An UNSUBACK.
        case unsubscribed(packetId: UInt16)
        /// An application message from the server; when `acknowledge` is set (QoS 1) send it.
        case message(MQTTPublish, acknowledge: MQTTPubAck?)
        /// The server answered a PINGREQ.
        case pong
        /// Close the connection: the server refused CONNECT or broke the protocol.
        case close(MQTTClientSessionError)
    }

    /// What ``tick(now:)`` asks for.
    public enum TickAction: Sendable, Hashable {
        case none
        /// Nothing was sent for a keep-alive interval: send PINGREQ.
        case ping
        /// CONNACK or PINGRESP did not come within the response timeout: close the connection.
        case close(MQTTClientSessionError)
    }

    public let configuration: Configuration
    public private(set) var state: State = .disconnected

    private var lastPacketId: UInt16 = 0
    /// QoS 1 publishes awaiting PUBACK, by packet id, with the time they were (last) sent.
    private var inFlight: [UInt16: (publish: MQTTPublish, sentAt: Duration)] = [:]
    /// In-flight packet ids in send order, so a resend after reconnect keeps the order.
    private var inFlightOrder: [UInt16] = []
    private var queue = MQTTPublishQueue()
    private var lastSent: Duration = .zero
    /// When CONNACK or PINGRESP became due.
    private var awaitingResponseSince: Duration?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// QoS 1 publishes sent and not yet acknowledged.
    public var inFlightCount: Int { inFlight.count }
    /// Publishes waiting for a place in the window or for the connection.
    public var queuedCount: Int { queue.count }
    /// How many times CONNECT was accepted.
    public private(set) var connections = 0

    /// The latest time at which ``tick(now:)`` must run (for one timer per session, or a timer wheel for many);
    /// `nil` while nothing is timed.
    public var nextDeadline: Duration? {
        switch state {
        case .connecting:
            return awaitingResponseSince.map { $0 + configuration.responseTimeout }
        case .connected:
            var deadline = awaitingResponseSince.map { $0 + configuration.responseTimeout }
            if let keepAlive = configuration.keepAlive, keepAlive > .zero, awaitingResponseSince == nil {
                deadline = lastSent + keepAlive
            }
            return deadline
        case .disconnected, .closed:
            return nil
        }
    }

    // MARK: Connection

    /// Starts the handshake on a new connection: returns the CONNECT to send (keep-alive from the configuration).
    public mutating func connect(_ connect: MQTTConnect, now: Duration) -> MQTTPacket {
        var connect = connect
        connect.keepAlive = configuration.keepAlive.map { UInt16(clamping: $0.components.seconds) } ?? 0
        state = .connecting
        awaitingResponseSince = now
        lastSent = now
        return .connect(connect)
    }

    /// The connection is gone (socket closed, or a ``ReceiveAction/close(_:)`` or ``TickAction/close(_:)`` was
    /// executed). Publishes in flight stay, to be sent again after the next CONNACK.
    public mutating func connectionLost() {
        guard state != .closed else { return }
        state = .disconnected
        awaitingResponseSince = nil
    }

    /// Leaves for now (a duty cycle's sleep): returns DISCONNECT to send when connected. Unlike ``disconnect()``
    /// the session keeps what is in flight and queued, and sends it on the next connection (clean session off).
    public mutating func disconnectKeepingSession() -> MQTTPacket? {
        let packet: MQTTPacket? = state == .connected ? .disconnect : nil
        connectionLost()
        return packet
    }

    /// Ends the session: returns DISCONNECT to send (when connected) and drops everything not acknowledged,
    /// returning those publishes (in flight first, then queued) so the caller can count or fail them.
    public mutating func disconnect() -> (packet: MQTTPacket?, unacknowledged: [MQTTPublish]) {
        let packet: MQTTPacket? = state == .connected ? .disconnect : nil
        state = .closed
        awaitingResponseSince = nil
        var dropped = inFlightOrder.compactMap { inFlight[$0]?.publish }
        while let next = queue.popFirst() { dropped.append(next) }
        inFlight.removeAll()
        inFlightOrder.removeAll()
        return (packet, dropped)
    }

    // MARK: Sending

    /// Decides what happens to `publish`. QoS 0 goes out at once when connected (else it is refused: QoS 0 is
    /// never queued). QoS 1 gets a packet id and goes out when the window has a place and the session is
    /// connected; otherwise it waits in the queue (or is refused when the queue is full). QoS 2 is refused, as
    /// IoT Hub does not support it.
    public mutating func publish(_ publish: MQTTPublish, now: Duration) -> PublishDecision {
        switch publish.qos {
        case .exactlyOnce:
            return .refused(.qos2NotSupported)
        case .atMostOnce:
            guard state == .connected else { return .refused(.notConnected) }
            var publish = publish
            publish.packetId = nil
            publish.dup = false
            lastSent = now
            return .send(publish)
        case .atLeastOnce:
            guard state != .closed else { return .refused(.closed) }
            if state == .connected, inFlight.count < configuration.inFlightWindow, queue.isEmpty {
                return .send(startFlight(publish, now: now))
            }
            guard queue.count < configuration.queueLimit else { return .refused(.queueFull) }
            queue.append(publish)
            return .queued
        }
    }

    /// A SUBSCRIBE with a fresh packet id, or `nil` when not connected.
    public mutating func subscribe(_ subscriptions: [MQTTSubscription], now: Duration) -> MQTTSubscribe? {
        guard state == .connected else { return nil }
        lastSent = now
        return MQTTSubscribe(packetId: nextPacketId(), subscriptions: subscriptions)
    }

    /// An UNSUBSCRIBE with a fresh packet id, or `nil` when not connected.
    public mutating func unsubscribe(_ topicFilters: [String], now: Duration) -> MQTTUnsubscribe? {
        guard state == .connected else { return nil }
        lastSent = now
        return MQTTUnsubscribe(packetId: nextPacketId(), topicFilters: topicFilters)
    }

    /// Records that some other packet (a PUBACK of ours, say) was sent, which counts for keep-alive.
    public mutating func sent(now: Duration) {
        lastSent = now
    }

    // MARK: Receiving

    /// Handles one packet from the server.
    public mutating func received(_ packet: MQTTPacket, now: Duration) -> ReceiveAction {
        switch (state, packet) {
        case (.connecting, .connAck(let ack)):
            awaitingResponseSince = nil
            guard ack.returnCode == .accepted else {
                state = .disconnected
                return .close(.refused(ack.returnCode))
            }
            state = .connected
            connections += 1
            lastSent = now
            return .connected(sessionPresent: ack.sessionPresent, resend: resendAfterConnect(now: now))
        case (.connecting, _):
            state = .disconnected
            return .close(.protocolViolation("\(packet.packetType) before CONNACK"))
        case (.connected, .pubAck(let ack)):
            guard let flight = inFlight.removeValue(forKey: ack.packetId) else {
                // A duplicate PUBACK (after a resend, both attempts may be acknowledged): harmless.
                return .none
            }
            if let index = inFlightOrder.firstIndex(of: ack.packetId) { inFlightOrder.remove(at: index) }
            var next: MQTTPublish?
            if inFlight.count < configuration.inFlightWindow, let queued = queue.popFirst() {
                next = startFlight(queued, now: now)
            }
            return .acknowledged(packetId: ack.packetId, sentAt: flight.sentAt, next: next)
        case (.connected, .publish(let publish)):
            switch publish.qos {
            case .atMostOnce:
                return .message(publish, acknowledge: nil)
            case .atLeastOnce:
                guard let id = publish.packetId else { return .close(.protocolViolation("QoS 1 PUBLISH without a packet id")) }
                lastSent = now
                return .message(publish, acknowledge: MQTTPubAck(packetId: id))
            case .exactlyOnce:
                return .close(.protocolViolation("QoS 2 PUBLISH from the server (IoT Hub never sends QoS 2)"))
            }
        case (.connected, .subAck(let ack)):
            return .subscribed(packetId: ack.packetId, returnCodes: ack.returnCodes)
        case (.connected, .unsubAck(let ack)):
            return .unsubscribed(packetId: ack.packetId)
        case (.connected, .pingResp):
            awaitingResponseSince = nil
            return .pong
        case (.connected, _):
            return .close(.protocolViolation("unexpected \(packet.packetType) from the server"))
        case (.disconnected, _), (.closed, _):
            return .none
        }
    }

    // MARK: Time

    /// Keep-alive and response timeouts; call at ``nextDeadline`` (or any time: it does nothing early).
    public mutating func tick(now: Duration) -> TickAction {
        switch state {
        case .connecting:
            if let since = awaitingResponseSince, now - since >= configuration.responseTimeout {
                state = .disconnected
                awaitingResponseSince = nil
                return .close(.timedOut("no CONNACK within \(configuration.responseTimeout)"))
            }
            return .none
        case .connected:
            if let since = awaitingResponseSince {
                guard now - since >= configuration.responseTimeout else { return .none }
                state = .disconnected
                awaitingResponseSince = nil
                return .close(.timedOut("no PINGRESP within \(configuration.responseTimeout)"))
            }
            guard let keepAlive = configuration.keepAlive, keepAlive > .zero, now - lastSent >= keepAlive else {
                return .none
            }
            lastSent = now
            awaitingResponseSince = now
            return .ping
        case .disconnected, .closed:
            return .none
        }
    }

    // MARK: Internals

    private mutating func startFlight(_ publish: MQTTPublish, now: Duration) -> MQTTPublish {
        var publish = publish
        let id = nextPacketId()
        publish.packetId = id
        publish.dup = false
        inFlight[id] = (publish, now)
        inFlightOrder.append(id)
        lastSent = now
        return publish
    }

    /// Publishes in flight (sent again with DUP, keeping their ids and order), then queued ones up to the window.
    private mutating func resendAfterConnect(now: Duration) -> [MQTTPublish] {
        var out: [MQTTPublish] = []
        out.reserveCapacity(inFlightOrder.count)
        for id in inFlightOrder {
            guard var flight = inFlight[id] else { continue }
            flight.publish.dup = true
            flight.sentAt = now
            inFlight[id] = flight
            out.append(flight.publish)
        }
        while inFlight.count < configuration.inFlightWindow, let queued = queue.popFirst() {
            out.append(startFlight(queued, now: now))
        }
        return out
    }

    /// The next packet id (1…65535) not in flight.
    private mutating func nextPacketId() -> UInt16 {
        repeat {
            lastPacketId = lastPacketId == .max ? 1 : lastPacketId + 1
        } while inFlight[lastPacketId] != nil
        return lastPacketId
    }
}

/// Why a session refused a publish or asks to close.
public enum MQTTClientSessionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// QoS 0 publishes are sent only while connected; connect first (or use QoS 1, which waits).
    case notConnected
    /// The session was ended with ``MQTTClientSession/disconnect()``; start a new session.
    case closed
    /// The queue behind the in-flight window is full; wait for acknowledgements or raise ``MQTTClientSession/Configuration/queueLimit``.
    case queueFull
    /// IoT Hub does not support QoS 2; use QoS 1.
    case qos2NotSupported
    /// The server refused CONNECT with this return code (for IoT Hub: 4 or 5 is a wrong or expired token).
    case refused(MQTTConnectReturnCode)
    /// The server sent something MQTT 3.1.1 does not allow here.
    case protocolViolation(String)
    case timedOut(String)

    public var description: String {
        switch self {
        case .notConnected: "not connected: QoS 0 messages are not queued"
        case .closed: "the session was disconnected"
        case .queueFull: "the publish queue is full"
        case .qos2NotSupported: "QoS 2 is not supported by IoT Hub; use QoS 1"
        case .refused(let code): "CONNECT refused: \(code)"
        case .protocolViolation(let detail): "protocol violation: \(detail)"
        case .timedOut(let detail): "timed out: \(detail)"
        }
    }
}

/// A FIFO of publishes: an array with a moving head, compacted when half of it is consumed.
struct MQTTPublishQueue: Sendable {
    private var storage: [MQTTPublish] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }

    mutating func append(_ publish: MQTTPublish) {
        storage.append(publish)
    }

    mutating func popFirst() -> MQTTPublish? {
        guard head < storage.count else { return nil }
        let first = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64, head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return first
    }
}
