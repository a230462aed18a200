import IoTHubDevice
import IoTHubProtocol
import MQTTCore

/// One simulated device of the native MQTT engine: its own socket, MQTTCore's pure client session and stream
/// decoder, and IoT Hub's user name, token and topics from IoTHubProtocol. No task and no thread of its own: its
/// ``NativeMQTTShard`` drives it on the shard's loop.
final class NativeMQTTDevice: DeviceSocketDelegate {
    enum Phase { case waiting, connecting, connected, done }

    /// Its place in the shard.
    let index: Int
    let id: String
    private let identity: DeviceIdentity
    private let topic: String
    private let key: SharedAccessKey
    unowned let shard: NativeMQTTShard
    private var session: MQTTClientSession
    private var decoder = MQTTStreamDecoder()
    private var socket: DeviceSocket?
    private(set) var phase = Phase.waiting
    private var connectStarted: Duration = .zero
    private var attempts = 0
    /// Messages handed to the session, and acknowledged.
    private(set) var sent = 0
    private(set) var acknowledged = 0
    var nextSendAt: Duration = .zero
    /// When to try connecting again after a failure.
    var retryAt: Duration?
    /// This connection's failure was counted already (so its close does not count it again).
    private var failureRecorded = false

    init(index: Int, id: String, key: SharedAccessKey, shard: NativeMQTTShard) {
        self.index = index
        self.id = id
        self.identity = DeviceIdentity(deviceId: id)
        self.topic = DeviceTopic.telemetry(PropertyBag()).topic(for: identity)
        self.key = key
        self.shard = shard
        let configuration = shard.configuration
        session = MQTTClientSession(configuration: .init(
            keepAlive: configuration.keepAlive, inFlightWindow: configuration.window,
            queueLimit: max(configuration.messagesPerDevice, 1), responseTimeout: configuration.responseTimeout))
    }

    var planned: Int { shard.configuration.messagesPerDevice }
    var isFinished: Bool { phase == .done }

    // MARK: Connecting

    func connect(now: Duration) {
        guard phase == .waiting else { return }
        phase = .connecting
        attempts += 1
        retryAt = nil
        connectStarted = now
        decoder = MQTTStreamDecoder()
        let socket = DeviceSocket(settings: shard.socketSettings(device: index, attempt: attempts), loop: shard.loop)
        socket.delegate = self
        self.socket = socket
        socket.connect()
    }

    func socketOpened(_ socket: DeviceSocket) {
        let configuration = shard.configuration
        let expiry = UInt64(shard.unixTime()) + 3600
        let token = SASToken.generate(resourceURI: "\(configuration.hostName)/devices/\(id)", key: key, expiry: expiry)
        let userName = MQTTUserName(hostName: configuration.hostName, identity: identity, clientType: "fleetsim/0.1")
        let connect = MQTTConnect(clientId: id, cleanSession: false, username: userName.description,
                                  password: Array(token.description.utf8))
        send(session.connect(connect, now: shard.now()))
    }

    func socket(_ socket: DeviceSocket, received bytes: ArraySlice<UInt8>) {
        decoder.append(bytes)
        let now = shard.now()
        while phase == .connecting || phase == .connected {
            let packet: MQTTPacket?
            do {
                packet = try decoder.next()
            } catch {
                return fail("the hub sent a malformed packet: \(error)", class: .other, closing: true)
            }
            guard let packet else { return }
            handle(session.received(packet, now: now), now: now)
        }
    }

    func socketClosed(_ socket: DeviceSocket, reason: String) {
        guard socket === self.socket else { return }
        self.socket = nil
        session.connectionLost()
        switch phase {
        case .connecting, .connected:
            if !failureRecorded { shard.failed(self, reason: reason, class: .network) }
            failureRecorded = false
            let wasConnected = phase == .connected
            phase = .waiting
            shard.lost(self, wasConnected: wasConnected, attempts: attempts)
        case .waiting, .done:
            break
        }
    }

    // MARK: Traffic

    private func handle(_ action: MQTTClientSession.ReceiveAction, now: Duration) {
        switch action {
        case .none, .pong, .subscribed, .unsubscribed:
            break
        case .connected(_, let resend):
            phase = .connected
            attempts = 0
            shard.connected(self, after: now - connectStarted)
            for publish in resend { send(.publish(publish)) }
            if nextSendAt < now { nextSendAt = now }
            sendDue(now: now)
        case .acknowledged(_, let sentAt, let next):
            acknowledged += 1
            shard.acknowledged(after: now - sentAt)
            if let next { send(.publish(next)) }
            if acknowledged >= planned { finish() } else { sendDue(now: now) }
        case .message(_, let acknowledge):
            if let acknowledge {
                send(.pubAck(acknowledge))
                session.sent(now: now)
            }
        case .close(let error):
            let errorClass: FleetErrorClass
            if case .refused(let code) = error {
                errorClass = code == .notAuthorized || code == .badUsernameOrPassword ? .unauthorized
                    : code == .serverUnavailable ? .throttled : .refused
            } else if case .timedOut = error {
                errorClass = .timeout
            } else {
                errorClass = .other
            }
            fail("\(error)", class: errorClass, closing: true)
        }
    }

    /// Hands the session what is due: with no interval every planned message (the window paces them), else one
    /// message per interval.
    func sendDue(now: Duration) {
        guard phase == .connected else { return }
        let interval = shard.configuration.interval
        while sent < planned, now >= nextSendAt {
            switch session.publish(MQTTPublish(topic: topic, payload: shard.payload, qos: .atLeastOnce), now: now) {
            case .send(let publish): send(.publish(publish))
            case .queued: break
            case .refused(let error): return fail("\(error)", class: .other, closing: false)
            }
            sent += 1
            shard.sentOne()
            if interval > .zero { nextSendAt = nextSendAt + interval }
        }
    }

    func tick(now: Duration) {
        switch session.tick(now: now) {
        case .none: break
        case .ping: send(.pingReq)
        case .close(let error): fail("\(error)", class: .timeout, closing: true)
        }
        sendDue(now: now)
    }

    var nextDeadline: Duration? { session.nextDeadline }

    private func send(_ packet: MQTTPacket) {
        guard let socket else { return }
        do {
            socket.write(try shard.encoder.encode(packet))
        } catch {
            fail("cannot encode \(packet.packetType): \(error)", class: .other, closing: true)
        }
    }

    private func fail(_ reason: String, class errorClass: FleetErrorClass, closing: Bool) {
        shard.failed(self, reason: reason, class: errorClass)
        failureRecorded = closing
        if closing { socket?.close(reason: reason) }
    }

    /// Every message acknowledged: DISCONNECT and close.
    private func finish() {
        guard phase != .done else { return }
        let was = phase
        phase = .done
        let (packet, _) = session.disconnect()
        if let packet { send(packet) }
        let socket = self.socket
        self.socket = nil
        socket?.close(reason: "done")
        shard.finished(self, was: was)
    }

    /// Gives up (the run's deadline, or too many failed attempts).
    func abandon() {
        guard phase != .done else { return }
        let was = phase
        phase = .done
        let socket = self.socket
        self.socket = nil
        socket?.close(reason: "abandoned")
        shard.finished(self, was: was)
    }
}
