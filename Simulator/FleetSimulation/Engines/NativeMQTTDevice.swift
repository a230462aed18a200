import IoTHubDevice
import IoTHubProtocol
import MQTTCore

/// One simulated device of the native MQTT engine: its own socket, MQTTCore's pure client session and stream
/// decoder, and IoT Hub's user name, token and topics from IoTHubProtocol. No task and no thread of its own: its
/// ``FleetShard`` drives it on the shard's loop. It does what its group's ``DeviceBehaviour`` says: telemetry
/// from a payload template, twin reports and desired echoes, method answers, and C2D (which MQTT always completes:
/// IoT Hub's MQTT has no reject or abandon).
final class NativeMQTTDevice: DeviceSocketDelegate, ShardDevice {
    typealias Phase = ShardDevicePhase

    /// Its place in the shard.
    let index: Int
    let planned: PlannedDevice
    let behaviour: DeviceBehaviour
    var id: String { planned.id }
    private let identity: DeviceIdentity
    unowned let shard: FleetShard
    private var session: MQTTClientSession
    private var decoder = MQTTStreamDecoder()
    private var socket: DeviceSocket?
    private(set) var phase = Phase.waiting
    private var connectStarted: Duration = .zero
    private(set) var connectedAt: Duration = .zero
    private var attempts = 0
    /// Messages handed to the session, and acknowledged.
    private(set) var sent = 0
    private(set) var acknowledged = 0
    private var renderer: PayloadRenderer?
    private var nextSendAt: Duration?
    /// When to try connecting again after a failure or a planned disconnect.
    var retryAt: Duration?
    /// This connection's failure was counted already (so its close does not count it again).
    private var failureRecorded = false
    private var requestCounter: UInt32 = 0
    /// Twin requests awaiting their response: request id and when it was sent.
    private var twinRequests: [(requestId: String, sentAt: Duration)] = []
    /// Method responses held back for their handler's delay.
    private var heldResponses: [(due: Duration, topic: String, payload: [UInt8])] = []
    private var reportedOnConnect = false
    /// The TLS context that presents this device's certificate (X.509 devices), made at its first connect.
    private var clientTLS: DeviceTLSContext?

    init(index: Int, planned: PlannedDevice, behaviour: DeviceBehaviour, shard: FleetShard) {
        self.index = index
        self.planned = planned
        self.behaviour = behaviour
        self.identity = DeviceIdentity(deviceId: planned.id)
        self.shard = shard
        let configuration = shard.configuration
        let limit = behaviour.messageLimit ?? 0
        session = MQTTClientSession(configuration: .init(
            keepAlive: configuration.keepAlive, inFlightWindow: configuration.window,
            queueLimit: max(limit, configuration.window * 4, 16), responseTimeout: configuration.responseTimeout))
        if let telemetry = behaviour.telemetry, !shard.hasStaticBody(group: planned.group) {
            renderer = PayloadRenderer(template: telemetry.payload, seed: UInt64(planned.index))
        }
    }

    /// Telemetry handed to the session and not yet acknowledged.
    var pending: Int { sent - acknowledged }

    // MARK: Connecting

    func connect(now: Duration) {
        guard phase == .waiting else { return }
        phase = .connecting
        attempts += 1
        retryAt = nil
        connectStarted = now
        decoder = MQTTStreamDecoder()
        if let certificate = planned.certificate, clientTLS == nil {
            do {
                clientTLS = try shard.configuration.clientTLS(presenting: certificate)
            } catch {
                phase = .waiting
                shard.failed(self, reason: "\(error)", class: .other, during: .connect)
                return shard.lost(self, wasConnected: false, attempts: shard.configuration.maximumAttempts)
            }
        }
        let socket = DeviceSocket(settings: shard.socketSettings(device: index, attempt: attempts, tls: clientTLS),
                                  loop: shard.loop)
        socket.delegate = self
        self.socket = socket
        socket.connect()
    }

    func socketOpened(_ socket: DeviceSocket) {
        let configuration = shard.configuration
        let userName = MQTTUserName(hostName: configuration.hostName, identity: identity, clientType: "fleetsim/0.1")
        // An X.509 device authenticated in the TLS handshake: no password.
        var password: [UInt8]?
        if planned.certificate == nil {
            let expiry = UInt64(shard.unixTime()) + 3600
            let token = SASToken.generate(resourceURI: "\(configuration.hostName)/devices/\(id)", key: planned.key, expiry: expiry)
            password = Array(token.description.utf8)
        }
        let connect = MQTTConnect(clientId: id, cleanSession: false, username: userName.description, password: password)
        send(session.connect(connect, now: shard.now()))
    }

    func socket(_ socket: DeviceSocket, received bytes: ArraySlice<UInt8>) {
        decoder.append(bytes)
        let now = shard.now()
        while phase == .connecting || phase == .connected, socket === self.socket {
            let packet: MQTTPacket?
            do {
                packet = try decoder.next()
            } catch {
                return fail("the hub sent a malformed packet: \(error)", class: .other, closing: true)
            }
            guard let packet else { break }
            handle(session.received(packet, now: now), now: now)
        }
        shard.reschedule(self, now: now)
    }

    func socketClosed(_ socket: DeviceSocket, reason: String) {
        guard socket === self.socket else { return }
        self.socket = nil
        session.connectionLost()
        switch phase {
        case .connecting, .connected:
            let wasConnected = phase == .connected
            if !failureRecorded { shard.failed(self, reason: reason, class: .network, during: wasConnected ? nil : .connect) }
            failureRecorded = false
            phase = .waiting
            abandonRequests()
            shard.lost(self, wasConnected: wasConnected, attempts: attempts)
        case .waiting, .done:
            break
        }
    }

    // MARK: Packets from the hub

    private func handle(_ action: MQTTClientSession.ReceiveAction, now: Duration) {
        switch action {
        case .none, .pong, .unsubscribed:
            break
        case .connected(_, let resend):
            phase = .connected
            attempts = 0
            connectedAt = now
            reportedOnConnect = false
            shard.connected(self, after: now - connectStarted)
            for publish in resend { send(.publish(publish)) }
            let filters = behaviour.subscriptions
            if !filters.isEmpty, let subscribe = session.subscribe(filters.map {
                MQTTSubscription(topicFilter: $0.filter(for: identity), qos: $0 == .cloudToDevice ? .atLeastOnce : .atMostOnce)
            }, now: now) {
                send(.subscribe(subscribe))
            }
            if nextSendAt == nil, let telemetry = behaviour.telemetry {
                // The first message somewhere in the first interval, so a fleet that connected together does not
                // send in lockstep.
                nextSendAt = now + shard.randomDuration(upTo: telemetry.interval)
            }
            // A device with nothing to send (--messages 0: a connect storm) is done once connected.
            if behaviour.messageLimit == 0 { return abandon() }
            sendDue(now: now)
        case .subscribed:
            if let report = behaviour.twin.reportOnConnect, !reportedOnConnect {
                reportedOnConnect = true
                sendReported(report, now: now)
            }
        case .acknowledged(_, let sentAt, let next):
            acknowledged += 1
            shard.record(.d2cAck, latency: now - sentAt, count: "d2c.acknowledged")
            if let next { send(.publish(next)) }
            if let limit = behaviour.messageLimit, acknowledged >= limit { abandon() } else { sendDue(now: now) }
        case .message(let publish, let acknowledge):
            deliver(publish, now: now)
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

    private func deliver(_ publish: MQTTPublish, now: Duration) {
        let topic: HubTopic
        do {
            topic = try HubTopic(parsing: publish.topic, identity: identity)
        } catch {
            shard.failed(self, reason: "the hub published on an unknown topic: \(publish.topic)", class: .other, during: nil)
            return
        }
        switch topic {
        case .cloudToDevice(let bag):
            shard.count("c2d.received")
            // PUBACK completes the message: IoT Hub's MQTT has no reject or abandon.
            shard.count("c2d.completed")
            if let value = bag[FleetTimestamps.property] ?? nil, let sent = Int64(value) {
                shard.record(.c2d, latency: shard.sinceWallClock(milliseconds: sent), count: nil)
            }
        case .methodRequest(let name, let requestId):
            shard.count("method.received")
            let handler = behaviour.methods[name]
            let status = handler?.status ?? 404
            let payload: JSONValue = handler?.payload ?? ["message": .string("fleetsim has no handler for method '\(name)'")]
            let response = DeviceTopic.methodResponse(status: status, requestId: requestId).topic(for: identity)
            let body = payload.serializedBytes()
            if let delay = handler?.delay, delay > .zero {
                heldResponses.append((now + delay, response, body))
            } else {
                publishQoS0(response, body, now: now)
                shard.count("method.answered")
            }
        case .desiredPropertiesPatch:
            if let echo = DesiredPatch.received(publish.payload, by: shard), behaviour.twin.echoDesired {
                sendReported(echo, now: now)
            }
        case .twinResponse(let status, let requestId, _):
            guard let place = twinRequests.firstIndex(where: { $0.requestId == requestId }) else { return }
            let request = twinRequests.remove(at: place)
            if (200..<300).contains(status) {
                shard.record(.twin, latency: now - request.sentAt, count: "twin.answered")
            } else {
                shard.fail(.twin, status == 429 ? .throttled : status == 401 ? .unauthorized : .refused)
            }
        case .moduleInput:
            break
        }
    }

    // MARK: Traffic

    /// Hands the session what is due: with a message limit and no interval every planned message (the window
    /// paces them); otherwise one message per interval (± jitter) while the run is sending.
    func sendDue(now: Duration) {
        guard phase == .connected, let telemetry = behaviour.telemetry, var due = nextSendAt else { return }
        let sending = shard.isSending
        while now >= due, sending || behaviour.messageLimit != nil {
            if let limit = behaviour.messageLimit, sent >= limit { break }
            if telemetry.interval == .zero, behaviour.messageLimit == nil,
               session.inFlightCount + session.queuedCount >= shard.configuration.window { break }
            let body = shard.staticBody(group: planned.group) ?? renderer?.bytes(
                elapsed: now, now: shard.wallClockTimestamp(), size: telemetry.size) ?? []
            let topic = shard.telemetryTopic(for: identity, group: planned.group)
            switch session.publish(MQTTPublish(topic: topic, payload: body, qos: .atLeastOnce), now: now) {
            case .send(let publish): send(.publish(publish))
            case .queued: break
            case .refused(let error):
                fail("\(error)", class: .other, closing: false)
                return
            }
            sent += 1
            shard.count("d2c.sent")
            if telemetry.interval > .zero {
                due = due + telemetry.interval + shard.randomJitter(telemetry.jitter)
            }
        }
        nextSendAt = due
    }

    func tick(now: Duration) {
        switch session.tick(now: now) {
        case .none: break
        case .ping: send(.pingReq)
        case .close(let error): return fail("\(error)", class: .timeout, closing: true)
        }
        if phase == .connected, !heldResponses.isEmpty {
            while let first = heldResponses.firstIndex(where: { $0.due <= now }) {
                let response = heldResponses.remove(at: first)
                publishQoS0(response.topic, response.payload, now: now)
                shard.count("method.answered")
            }
        }
        if phase == .connected, !twinRequests.isEmpty,
           let oldest = twinRequests.first, now - oldest.sentAt > shard.configuration.responseTimeout {
            twinRequests.removeFirst()
            shard.fail(.twin, .timeout)
        }
        sendDue(now: now)
    }

    func nextDue(now: Duration) -> Duration? {
        var due = session.nextDeadline
        func consider(_ time: Duration?) {
            if let time { due = min(due ?? time, time) }
        }
        if phase == .connected {
            if behaviour.telemetry != nil, shard.isSending || behaviour.messageLimit != nil,
               behaviour.messageLimit.map({ sent < $0 }) ?? true {
                consider(nextSendAt)
            }
            consider(heldResponses.map(\.due).min())
            consider(twinRequests.first.map { $0.sentAt + shard.configuration.responseTimeout })
            if let duty = behaviour.lifecycle.dutyCycle { consider(connectedAt + duty.connected) }
        }
        return due
    }

    private func sendReported(_ properties: JSONObject, now: Duration) {
        requestCounter &+= 1
        let requestId = String(requestCounter)
        twinRequests.append((requestId, now))
        publishQoS0(DeviceTopic.twinReportedPatch(requestId: requestId).topic(for: identity),
                    JSONValue.object(properties).serializedBytes(), now: now)
    }

    private func publishQoS0(_ topic: String, _ payload: [UInt8], now: Duration) {
        if case .send(let publish) = session.publish(MQTTPublish(topic: topic, payload: payload, qos: .atMostOnce), now: now) {
            send(.publish(publish))
        }
    }

    private func send(_ packet: MQTTPacket) {
        guard let socket else { return }
        do {
            socket.write(try shard.encoder.encode(packet))
        } catch {
            fail("cannot encode \(packet.packetType): \(error)", class: .other, closing: true)
        }
    }

    private func fail(_ reason: String, class errorClass: FleetErrorClass, closing: Bool) {
        shard.failed(self, reason: reason, class: errorClass, during: phase == .connecting ? .connect : .d2cAck)
        failureRecorded = closing
        if closing { socket?.close(reason: reason) }
    }

    /// Twin requests and held method answers die with the connection (the service side times the methods out).
    private func abandonRequests() {
        for _ in twinRequests { shard.fail(.twin, .network) }
        twinRequests.removeAll()
        heldResponses.removeAll()
    }

    // MARK: Lifecycle

    /// Leaves on purpose (duty cycle, churn, a reconnect storm) and comes back at `returnAt`: with DISCONNECT
    /// when `graceful`, else by dropping the socket as a device that lost power would.
    func leave(graceful: Bool, returnAt: Duration) {
        guard phase == .connected || phase == .connecting else { return }
        let was = phase
        if graceful {
            if let packet = session.disconnectKeepingSession() { send(packet) }
        }
        let socket = self.socket
        self.socket = nil
        session.connectionLost()
        socket?.close(reason: graceful ? "duty cycle" : "dropped")
        phase = .waiting
        attempts = 0
        retryAt = returnAt
        abandonRequests()
        shard.left(self, was: was)
    }

    /// Stops: every planned message acknowledged or the run is over (DISCONNECT when connected), or too many
    /// attempts failed.
    func abandon() {
        guard phase != .done else { return }
        let was = phase
        phase = .done
        if was == .connected {
            let (packet, _) = session.disconnect()
            if let packet { send(packet) }
        }
        let socket = self.socket
        self.socket = nil
        socket?.close(reason: "done")
        shard.finished(self, was: was)
    }
}
