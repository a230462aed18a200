import IoTHubDevice
import IoTHubProtocol

/// One simulated device of the native AMQP engine: the SDK's AMQP transport for its identity
/// (``AMQPIdentitySession``: its own CBS token, renewed in band, and its links) on a connection it shares with up
/// to 994 others of its shard, and the same behaviour as a native MQTT device, including C2D settlement by the
/// group's disposition mix (complete, reject, abandon), which AMQP can express.
final class NativeAMQPDevice: ShardDevice {
    let index: Int
    let planned: PlannedDevice
    let behaviour: DeviceBehaviour
    unowned let shard: FleetShard
    private let pool: AMQPConnectionPool
    private var session: AMQPIdentitySession?
    /// The TLS context that presents this device's certificate (X.509 devices), made at its first connect.
    private var clientTLS: DeviceTLSContext?
    private(set) var phase = ShardDevicePhase.waiting
    private var connectStarted: Duration = .zero
    private(set) var connectedAt: Duration = .zero
    private var attempts = 0
    private(set) var sent = 0
    private(set) var acknowledged = 0
    var retryAt: Duration?
    private var renderer: PayloadRenderer?
    private var nextSendAt: Duration?
    /// Telemetry deliveries awaiting their disposition, by tag, with their send time.
    private var inFlight: [Int64: (message: IoTHubMessage, sentAt: Duration)] = [:]
    /// Telemetry that was in flight when a connection ended: sent again first on the next one (at least once).
    private var resend: [IoTHubMessage] = []
    private var tokenExpiry: UInt64?
    private var renewing = false
    private var requestCounter: UInt32 = 0
    private var twinRequests: [(requestId: String, sentAt: Duration)] = []
    private var heldResponses: [(due: Duration, requestId: String, status: Int, payload: [UInt8])] = []
    private var reportedOnConnect = false

    init(index: Int, planned: PlannedDevice, behaviour: DeviceBehaviour, shard: FleetShard, pool: AMQPConnectionPool) {
        self.index = index
        self.planned = planned
        self.behaviour = behaviour
        self.shard = shard
        self.pool = pool
        if let telemetry = behaviour.telemetry, !shard.hasStaticBody(group: planned.group) {
            renderer = PayloadRenderer(template: telemetry.payload, seed: UInt64(planned.index))
        }
    }

    var pending: Int { sent - acknowledged }

    // MARK: Connecting

    func connect(now: Duration) {
        guard phase == .waiting else { return }
        phase = .connecting
        attempts += 1
        retryAt = nil
        connectStarted = now
        let configuration = shard.configuration
        let settings = shard.socketSettings(device: index, attempt: attempts)
        do {
            // An X.509 device presents its own certificate, on a connection of its own.
            if let certificate = planned.certificate, clientTLS == nil {
                clientTLS = try configuration.clientTLS(presenting: certificate)
            }
            // A session per connection attempt, so the source address can rotate.
            let session = try AMQPIdentitySession(
                pool: pool, hostName: configuration.hostName, gatewayHostName: configuration.gateway(forDevice: planned.index),
                port: configuration.port, tls: clientTLS ?? configuration.tls, bindAddress: settings.bindAddress,
                deviceId: planned.id, key: planned.key, tokenLifetime: configuration.tokenLifetime,
                connectTimeout: configuration.responseTimeout)
            session.onEvent = { [unowned self, unowned session] event in handle(event, from: session) }
            self.session = session
            session.open()
        } catch {
            shard.failed(self, reason: "\(error)", class: .other, during: .connect)
            phase = .waiting
            shard.lost(self, wasConnected: false, attempts: attempts)
        }
    }

    private func handle(_ event: AMQPIdentitySession.Event, from session: AMQPIdentitySession) {
        guard session === self.session else { return }
        let now = shard.now()
        defer { shard.reschedule(self, now: now) }
        switch event {
        case .connected(let expiry):
            phase = .connected
            attempts = 0
            connectedAt = now
            tokenExpiry = expiry
            reportedOnConnect = false
            shard.connected(self, after: now - connectStarted)
            if behaviour.receivesCloudToDevice { session.enable(.cloudToDevice) }
            if !behaviour.methods.isEmpty { session.enable(.methods) }
            if behaviour.usesTwin {
                session.enable(.twinResponses)
                session.enable(.desiredProperties)
            }
            if nextSendAt == nil, let telemetry = behaviour.telemetry {
                nextSendAt = now + shard.randomDuration(upTo: telemetry.interval)
            }
            sendDue(now: now)
        case .disconnected(let kind, let detail):
            guard phase == .connecting || phase == .connected else { return }
            let wasConnected = phase == .connected
            let errorClass: FleetErrorClass = switch kind {
            case .unauthorized: .unauthorized
            case .throttled: .throttled
            case .requested, .closedByHub, .network: .network
            }
            shard.failed(self, reason: detail, class: errorClass, during: wasConnected ? nil : .connect)
            phase = .waiting
            dropRequests()
            shard.lost(self, wasConnected: wasConnected, attempts: attempts)
        case .acknowledged(let tag):
            guard let flight = inFlight.removeValue(forKey: tag) else { return }
            acknowledged += 1
            shard.record(.d2cAck, latency: now - flight.sentAt, count: "d2c.acknowledged")
            if let limit = behaviour.messageLimit, acknowledged >= limit { return abandon() }
            sendDue(now: now)
        case .featureEnabled(let feature, let accepted):
            if !accepted { shard.failed(self, reason: "the hub refused the \(feature) link", class: .refused, during: nil) }
            if feature == .twinResponses, accepted, let report = behaviour.twin.reportOnConnect, !reportedOnConnect {
                reportedOnConnect = true
                sendReported(report, now: now)
            }
        case .twinResponse(let requestId, let status, _):
            guard let place = twinRequests.firstIndex(where: { $0.requestId == requestId }) else { return }
            let request = twinRequests.remove(at: place)
            if (200..<300).contains(status) {
                shard.record(.twin, latency: now - request.sentAt, count: "twin.answered")
            } else {
                shard.fail(.twin, status == 429 ? .throttled : status == 401 ? .unauthorized : .refused)
            }
        case .desiredPatch(let body):
            if let echo = DesiredPatch.received(body, by: shard), behaviour.twin.echoDesired { sendReported(echo, now: now) }
        case .methodRequest(let name, let requestId, _):
            shard.count("method.received")
            let handler = behaviour.methods[name]
            let payload: JSONValue = handler?.payload ?? ["message": .string("fleetsim has no handler for method '\(name)'")]
            let response = (now + (handler?.delay ?? .zero), requestId, handler?.status ?? 404, payload.serializedBytes())
            if response.0 > now { heldResponses.append(response) } else { answer(response.1, response.2, response.3) }
        case .cloudToDevice(let message, let tag):
            shard.count("c2d.received")
            if let value = message.properties[FleetTimestamps.property], let sent = Int64(value) {
                shard.record(.c2d, latency: shard.sinceWallClock(milliseconds: sent), count: nil)
            }
            guard let tag else { return }
            let settlement = shard.settlement(behaviour.cloudToDevice)
            session.settle(tag, settlement)
            shard.count(settlement == .complete ? "c2d.completed" : settlement == .reject ? "c2d.rejected" : "c2d.abandoned")
        case .tokenRenewed(let expiry):
            renewing = false
            tokenExpiry = expiry
            shard.count("token.renewed")
        }
    }

    // MARK: Traffic

    func sendDue(now: Duration) {
        guard phase == .connected, let telemetry = behaviour.telemetry, var due = nextSendAt, let session else { return }
        while !resend.isEmpty, inFlight.count < shard.configuration.window {
            let message = resend.removeFirst()
            guard let tag = session.send(message) else { return }
            inFlight[tag] = (message, now)
        }
        let sending = shard.isSending
        while now >= due, sending || behaviour.messageLimit != nil, inFlight.count < shard.configuration.window {
            if let limit = behaviour.messageLimit, sent >= limit { break }
            var message = IoTHubMessage(body: shard.staticBody(group: planned.group) ?? renderer?.bytes(
                elapsed: now, now: shard.wallClockTimestamp(), size: telemetry.size) ?? [], properties: telemetry.properties)
            message.systemProperties.contentType = "application/json"
            message.systemProperties.contentEncoding = "utf-8"
            if shard.configuration.stampTelemetry {
                message.properties[FleetTimestamps.property] = String(FleetShard.wallMilliseconds())
            }
            guard let tag = session.send(message) else { break }
            inFlight[tag] = (message, now)
            sent += 1
            shard.count("d2c.sent")
            if telemetry.interval > .zero {
                due = due + telemetry.interval + shard.randomJitter(telemetry.jitter)
            } else if behaviour.messageLimit == nil {
                break
            }
        }
        nextSendAt = due
    }

    func tick(now: Duration) {
        guard phase == .connected else { return }
        // Renew the token in band when four fifths of its life are gone.
        if let expiry = tokenExpiry, !renewing {
            let lifetime = UInt64(max(1, shard.configuration.tokenLifetime.components.seconds))
            if UInt64(shard.unixTime()) + lifetime / 5 >= expiry {
                renewing = true
                session?.renewToken()
            }
        }
        while let first = heldResponses.firstIndex(where: { $0.due <= now }) {
            let response = heldResponses.remove(at: first)
            answer(response.requestId, response.status, response.payload)
        }
        if let oldest = twinRequests.first, now - oldest.sentAt > shard.configuration.responseTimeout {
            twinRequests.removeFirst()
            shard.fail(.twin, .timeout)
        }
        sendDue(now: now)
    }

    func nextDue(now: Duration) -> Duration? {
        guard phase == .connected else { return now + shard.configuration.responseTimeout }
        var due: Duration?
        func consider(_ time: Duration?) {
            if let time { due = min(due ?? time, time) }
        }
        if !resend.isEmpty { consider(now) }
        if behaviour.telemetry != nil, shard.isSending || behaviour.messageLimit != nil,
           behaviour.messageLimit.map({ sent < $0 }) ?? true, inFlight.count < shard.configuration.window {
            consider(nextSendAt)
        }
        consider(heldResponses.map(\.due).min())
        consider(twinRequests.first.map { $0.sentAt + shard.configuration.responseTimeout })
        if let duty = behaviour.lifecycle.dutyCycle { consider(connectedAt + duty.connected) }
        if let expiry = tokenExpiry, !renewing {
            let lifetime = UInt64(max(1, shard.configuration.tokenLifetime.components.seconds))
            let renewAt = Int64(expiry) - Int64(lifetime / 5)
            consider(now + .seconds(max(0, renewAt - Int64(shard.unixTime()))))
        }
        return due
    }

    private func answer(_ requestId: String, _ status: Int, _ payload: [UInt8]) {
        guard session?.respond(requestId: requestId, status: status, payload: payload) != nil else { return }
        shard.count("method.answered")
    }

    private func sendReported(_ properties: JSONObject, now: Duration) {
        requestCounter &+= 1
        let requestId = String(requestCounter)
        guard session?.patchReported(requestId: requestId, body: JSONValue.object(properties).serializedBytes()) != nil
        else { return }
        twinRequests.append((requestId, now))
    }

    private func dropRequests() {
        for _ in twinRequests { shard.fail(.twin, .network) }
        twinRequests.removeAll()
        heldResponses.removeAll()
        renewing = false
        resend = inFlight.sorted { $0.key < $1.key }.map(\.value.message) + resend
        inFlight.removeAll()
    }

    // MARK: Lifecycle

    func leave(graceful: Bool, returnAt: Duration) {
        guard phase == .connected || phase == .connecting else { return }
        let was = phase
        phase = .waiting
        attempts = 0
        retryAt = returnAt
        let session = self.session
        self.session = nil
        if graceful { session?.close() } else { session?.abort(reason: "dropped") }
        dropRequests()
        shard.left(self, was: was)
    }

    /// Stops: every planned message acknowledged, the run is over, or too many attempts failed.
    func abandon() {
        guard phase != .done else { return }
        let was = phase
        phase = .done
        let session = self.session
        self.session = nil
        session?.close()
        shard.finished(self, was: was)
    }
}
