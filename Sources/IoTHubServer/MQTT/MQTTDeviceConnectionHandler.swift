import Foundation
import IoTHubProtocol
import Logging
import MQTTCore
import NIOCore
import Synchronization

/// One device's MQTT connection, as IoT Hub runs it: the thin MQTT head over the hub's core services.
///
/// The state machine: CONNECT (validated client id and user name, SAS password) → CONNACK 0, or CONNACK 5 for any
/// authentication failure; then PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, PUBACK and DISCONNECT. Anything IoT Hub
/// does not allow (a packet before CONNECT, a second CONNECT, QoS 2 PUBLISH, a topic that is not one of the
/// device's own, a malformed packet) closes the connection.
///
/// Telemetry is acknowledged only once it is durable, and PUBACKs go out in the order their PUBLISHes came in.
/// All state lives on the channel's event loop; the hub's services reach the connection through its
/// ``HostedDeviceSession``.
///
/// What one connection can make the hub hold is bounded: before authentication only the CONNECT (at most
/// ``MQTTEndpointConfiguration/maximumConnectPacketSize``) is read; after it, the hub stops reading while too much
/// telemetry is waiting for the store, too many twin requests are being processed, or the device does not read
/// what it is sent, and closes a connection whose unread output passes
/// ``MQTTEndpointConfiguration/maximumOutboundBytes``. A SAS session ends when its token expires, as on IoT Hub.
final class MQTTDeviceConnectionHandler: ChannelDuplexHandler, DeviceSessionHost, TelemetryIngestClient,
    ConnectionTimerTarget {
    typealias InboundIn = MQTTPacket
    typealias OutboundIn = MQTTPacket
    typealias OutboundOut = MQTTPacket

    private enum State: Equatable {
        case awaitingConnect
        case authenticating
        case connected
        case closed
    }

    /// The name metrics and logs use for this head ("mqtt").
    static let protocolName = "mqtt"

    /// Handlers alive in this process: a leak check for tests, and what `/metrics` could report.
    static let liveHandlers = Atomic<Int>(0)

    /// What the listener's connections share (services, configuration, per-loop objects, logger).
    private let environment: MQTTConnectionEnvironment
    // Borrowed, not copied: a getter returning the struct retained and released each of its dozen references on
    // every use, several times per message (17% more hub CPU per message in the ingest benchmark).
    private var services: HubServices { _read { yield environment.services } }
    private var configuration: MQTTEndpointConfiguration { _read { yield environment.configuration } }
    /// The listener's logger with this connection's peer and, once known, its identity: built when something is
    /// logged (never per message), so a connection keeps no metadata of its own.
    private var logger: ConnectionLogger {
        ConnectionLogger(base: environment.logger, peer: context?.channel.remoteAddress,
                         identity: identity.deviceId.isEmpty ? nil : identity)
    }
    private var state = State.awaitingConnect
    /// Set once the hub decided to close; packets still buffered are ignored.
    private var closing = false
    /// Set from `handlerAdded` to `handlerRemoved` only: the context holds this handler, so keeping it longer
    /// would make a reference cycle that outlives the connection.
    private var context: ChannelHandlerContext?
    /// Whether this connection holds an admission slot (it was admitted by ``ConnectionAdmission``) and whether
    /// it gave back its unauthenticated slot.
    private let admission: ConnectionAdmission.Ticket?
    private var admissionAuthenticated = false
    private var admissionReleased = false

    // Connection
    private var connectTimer: ConnectionTimerWheel.Timer?
    private var pipelined: [MQTTPacket] = []
    private var identity = DeviceIdentity(deviceId: "")
    private var session: HostedDeviceSession?
    private var will: MQTTWill?
    private var endReason: SessionEndReason?
    private var clientDisconnected = false
    private var lease: DeviceSessionLease?
    /// The client id of the first CONNECT, for ``MQTTEndpointConfiguration/packetObserver`` (set only when observed).
    private var observedClientId: String?
    /// How the device authenticated (stamped on its telemetry as `iothub-connection-auth-method`).
    private var authenticationMethod: EventService.AuthenticationKind = .sas
    /// Stamped on this session's telemetry; set when the device is accepted.
    private var telemetrySource: TelemetrySource?
    /// Where this connection's telemetry goes: its event loop's batch, shared with every connection on the loop.
    private var ingestQueue: TelemetryIngestQueue?
    /// The timer wheel of this connection's event loop (connect timeout, keep-alive, token expiry).
    private var timers: ConnectionTimerWheel?

    // Keep-alive and credential lifetime
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var silenceLimit = TimeAmount.seconds(90)
    private var keepAliveTimer: ConnectionTimerWheel.Timer?
    private var tokenExpiryTimer: ConnectionTimerWheel.Timer?

    // Inbound PUBLISH acknowledgement and backpressure
    private var acknowledgements = MQTTAcknowledgementQueue()
    private var pendingTelemetry = 0
    private var telemetryPaused = false
    private var pendingTwinRequests = 0
    /// Telemetry messages held back by the tier's traffic shaping; reading waits while any is.
    private var shapedTelemetry = 0
    private var readPaused = false
    private var readRequested = false
    private var flushScheduled = false

    // Subscriptions and outbound deliveries
    private var twinResponsesSubscribed = false
    private var cloudToDeviceSubscribed = false
    private var cloudToDevice: MQTTCloudToDeviceWindow
    private var cloudToDeviceTimer: Scheduled<Void>?

    /// The client certificate chain of the TLS handshake (`nil` for plain TCP; empty for a device that sent none).
    private let presentedChain: PresentedChain?

    /// - Parameter admission: the ticket of the hub's ``ConnectionAdmission`` when it admitted the connection; its
    ///   slots are held until the connection authenticates and closes.
    init(environment: MQTTConnectionEnvironment, presentedChain: PresentedChain?,
         admission: ConnectionAdmission.Ticket? = nil) {
        self.environment = environment
        self.presentedChain = presentedChain
        self.admission = admission
        cloudToDevice = MQTTCloudToDeviceWindow(capacity: environment.configuration.cloudToDeviceWindow)
        Self.liveHandlers.wrappingAdd(1, ordering: .relaxed)
    }

    convenience init(services: HubServices, configuration: MQTTEndpointConfiguration, logger: Logger,
                     presentedChain: PresentedChain?, locals: EventLoopLocals,
                     admission: ConnectionAdmission.Ticket? = nil) {
        self.init(environment: MQTTConnectionEnvironment(services: services, configuration: configuration,
                                                         locals: locals, logger: logger),
                  presentedChain: presentedChain, admission: admission)
    }

    deinit {
        Self.liveHandlers.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let locals = environment.locals.on(context.eventLoop)
        ingestQueue = locals.ingest
        timers = locals.timers
        lastActivity = context.eventLoop.now
        if context.channel.isActive { startConnectTimer() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        releaseAdmission()
        // Breaks the handler ⇄ context cycle; callbacks still in flight find no context and do nothing.
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startConnectTimer()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        if let observer = configuration.packetObserver {
            if observedClientId == nil, case .connect(let connect) = packet { observedClientId = connect.clientId }
            observer(observedClientId, packet)
        }
        guard !closing else { return }
        lastActivity = context.eventLoop.now
        switch state {
        case .awaitingConnect:
            guard case .connect(let connect) = packet else {
                return protocolViolation("the first packet must be CONNECT, not \(packet.packetType)")
            }
            handleConnect(connect)
        case .authenticating:
            if case .connect = packet { return protocolViolation("a second CONNECT on one connection") }
            pipelined.append(packet)
            if pipelined.count > configuration.maximumPacketsBeforeConnAck {
                protocolViolation("more than \(configuration.maximumPacketsBeforeConnAck) packets before CONNACK")
            }
        case .connected:
            handleConnected(packet)
        case .closed:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !closing else { return }
        if let decodeError = error as? MQTTDecodeError {
            if state == .awaitingConnect, case .unsupportedProtocolLevel = decodeError {
                return refuseConnection(.unacceptableProtocolVersion, reason: decodeError.description)
            }
            return protocolViolation("malformed packet: \(decodeError)")
        }
        logger.debug("MQTT connection error", metadata: ["error": "\(error)"])
        close()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let wasConnected = state == .connected
        state = .closed
        cancelTimers()
        if wasConnected { sessionEnded() }
        releaseAdmission()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        updateReading()
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if readPaused {
            readRequested = true
        } else {
            context.read()
        }
    }

    private func cancelTimers() {
        cancel(&connectTimer)
        cancel(&keepAliveTimer)
        cancel(&tokenExpiryTimer)
        cloudToDeviceTimer?.cancel()
        cloudToDeviceTimer = nil
    }

    private func releaseAdmission() {
        guard let admission, !admissionReleased else { return }
        admissionReleased = true
        services.admission.closed(admission, authenticated: admissionAuthenticated)
    }

    /// Reads from the socket only while nothing says to wait: authentication in progress, telemetry waiting for
    /// the store, too many twin requests in progress, or a device that does not read what it is sent.
    private func updateReading() {
        guard let context else { return }
        readPaused = state == .authenticating || telemetryPaused || shapedTelemetry > 0
            || pendingTwinRequests >= configuration.maximumPendingTwinRequests || !context.channel.isWritable
        if !readPaused, readRequested {
            readRequested = false
            context.read()
        }
    }

    // MARK: CONNECT

    private func startConnectTimer() {
        guard connectTimer == nil, let timers else { return }
        connectTimer = timers.schedule(.connect, in: configuration.connectTimeout, for: self)
    }

    /// Takes `timer` off the wheel, if it is on it.
    private func cancel(_ timer: inout ConnectionTimerWheel.Timer?) {
        if let scheduled = timer { timers?.cancel(scheduled) }
        timer = nil
    }

    func connectionTimerFired(_ timer: ConnectionTimerWheel.Kind) {
        switch timer {
        case .connect:
            connectTimer = nil
            guard state == .awaitingConnect || state == .authenticating else { return }
            logger.info("closing MQTT connection: no CONNECT within \(configuration.connectTimeout)")
            close()
        case .keepAlive:
            keepAliveTimer = nil
            guard state == .connected, let context else { return }
            if context.eventLoop.now - lastActivity >= silenceLimit {
                logger.info("closing MQTT connection: silent for longer than 1.5 × keep-alive",
                            metadata: ["limit": "\(silenceLimit)"])
                close()
            } else {
                scheduleKeepAliveCheck()
            }
        case .tokenExpiry:
            tokenExpiryTimer = nil
            guard state == .connected else { return }
            services.metrics.error(.iotHubUnauthorized, protocol: Self.protocolName)
            end(.tokenExpired)
        }
    }

    private func handleConnect(_ connect: MQTTConnect) {
        state = .authenticating
        updateReading()
        guard let identity = Self.identity(clientId: connect.clientId) else {
            return refuseConnection(.identifierRejected,
                                    reason: "client id '\(connect.clientId)' is not a valid device id or device/module id")
        }
        self.identity = identity  // named in this connection's log lines from here on
        guard let username = connect.username else {
            return refuseConnection(.notAuthorized, reason: "CONNECT has no user name; IoT Hub needs '{host}/{id}/?api-version=…'")
        }
        let parsed: MQTTUserName
        do { parsed = try MQTTUserName(parsing: username) } catch {
            return refuseConnection(.notAuthorized, reason: error.description)
        }
        guard parsed.identity == identity else {
            return refuseConnection(.notAuthorized,
                                    reason: "user name names '\(parsed.identity)' but the client id is '\(identity)'")
        }
        guard services.authenticator.isHubName(parsed.hostName) else {
            return refuseConnection(.notAuthorized,
                                    reason: "user name names host '\(parsed.hostName)'; this hub is '\(services.hostName)'")
        }
        var password: String?
        if let passwordBytes = connect.password {
            guard let text = String(validating: passwordBytes, as: UTF8.self) else {
                return refuseConnection(.notAuthorized, reason: "the CONNECT password is not UTF-8 text (a SAS token)")
            }
            password = text
        }
        // Without a password, the device authenticates with the client certificate of the TLS handshake.
        let certificate = password == nil ? presentedChain?.presentedCertificate() : nil
        if let will = connect.will {
            guard case .telemetry? = try? DeviceTopic(parsing: will.topic, identity: identity) else {
                return refuseConnection(.notAuthorized,
                                        reason: "will topic '\(will.topic)' is not this device's telemetry topic")
            }
        }
        // The tier's new-connection throttle: shaped connects wait, connects beyond the shaping window and
        // connects while the daily quota is used up are refused with CONNACK 3 (server unavailable), which
        // device SDKs retry with backoff.
        let throttle = services.throttle
        if !throttle.isUnlimited {
            let decision = throttle.decide(.connect)
            switch decision {
            case .allow:
                break
            case .delay(let delay):
                context!.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
                    guard state == .authenticating, !closing else { return }
                    authenticate(connect, identity: identity, password: password, certificate: certificate)
                }
                return
            case .reject:
                return refuseConnection(.serverUnavailable,
                                        reason: decision.error(for: .connect)?.message ?? "throttled")
            }
        }
        authenticate(connect, identity: identity, password: password, certificate: certificate)
    }

    private func authenticate(_ connect: MQTTConnect, identity: DeviceIdentity, password: String?,
                              certificate: PresentedCertificate?) {
        guard let context else { return }
        let authenticator = services.authenticator
        context.eventLoop.makeFutureWithTask { [password] in
            try await authenticator.authenticateDevice(identity, token: password, certificate: certificate)
        }.assumeIsolated().whenComplete { [self] result in
            guard state == .authenticating else { return }
            switch result {
            case .success(let authenticated):
                authenticationMethod = authenticated.method
                accept(connect, identity: identity, record: authenticated.record, tokenExpiry: authenticated.tokenExpiry)
            case .failure(let error):
                if let hubError = error as? HubError { services.metrics.error(hubError.code, protocol: Self.protocolName) }
                refuseConnection(.notAuthorized, reason: "\(error)", failedLogin: true)
            }
        }
    }

    private func accept(_ connect: MQTTConnect, identity: DeviceIdentity, record: DeviceRecord, tokenExpiry: Date?) {
        guard let context else { return }
        self.identity = identity
        telemetrySource = TelemetrySource(identity: identity, authentication: authenticationMethod,
                                          generationId: record.generationId, protocol: Self.protocolName)
        will = connect.will
        silenceLimit = configuration.silenceLimit(keepAlive: connect.keepAlive)
        state = .connected
        cancel(&connectTimer)
        if let admission, !admissionAuthenticated {
            admissionAuthenticated = true
            services.admission.authenticated(admission)
        }
        try? context.pipeline.syncOperations.handler(type: MQTTPacketCodecHandler.self).clientAuthenticated()
        if let tokenExpiry { scheduleTokenExpiry(tokenExpiry) }
        send(.connAck(MQTTConnAck(sessionPresent: false, returnCode: .accepted)))
        let session = HostedDeviceSession(identity: identity, host: self, protocolName: Self.protocolName,
                                          eventLoop: context.eventLoop)
        self.session = session
        lease = services.sessions.opened(session, protocol: Self.protocolName)
        logger.info("device connected", metadata: ["keepAlive": "\(connect.keepAlive)"])
        scheduleKeepAliveCheck()
        let packets = pipelined
        pipelined = []
        for packet in packets where state == .connected {
            handleConnected(packet)
        }
        updateReading()
    }

    /// IoT Hub ends a session whose SAS token expires (MQTT 3.1.1 has no in-band renewal): the device reconnects
    /// with a new token, as the official SDKs do before expiry.
    private func scheduleTokenExpiry(_ expiry: Date) {
        // A token is valid up to and including its `se` second.
        let remaining = max(0, expiry.timeIntervalSinceNow + 1)
        tokenExpiryTimer = timers?.schedule(.tokenExpiry, in: .milliseconds(Int64(remaining * 1000)), for: self)
    }

    private func refuseConnection(_ code: MQTTConnectReturnCode, reason: String, failedLogin: Bool = false) {
        var log = AuthenticationFailureLimiter.FailureLog.log
        if failedLogin, let source = context?.channel.remoteAddress?.ipAddress {
            log = services.admission.failures.recordFailure(source)
        }
        switch log {
        case .log:
            logger.info("MQTT connection refused", metadata: ["returnCode": "\(code)", "reason": "\(reason)"])
        case .blocked:
            logger.warning("MQTT connection refused; this address failed to log in too often and is blocked for a while (further refusals are counted, not logged)",
                           metadata: ["returnCode": "\(code)", "reason": "\(reason)"])
        case .suppressed:
            break
        }
        services.metrics.connection(protocol: Self.protocolName, accepted: false)
        guard let context, !closing else { return }
        state = .closed
        closing = true
        context.writeAndFlush(wrapOutboundOut(.connAck(MQTTConnAck(returnCode: code)))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Parses `d` or `d/m` into a valid identity.
    static func identity(clientId: String) -> DeviceIdentity? {
        let parts = clientId.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        let identity = DeviceIdentity(deviceId: String(parts[0]), moduleId: parts.count == 2 ? String(parts[1]) : nil)
        guard (try? identity.validate()) != nil else { return nil }
        return identity
    }

    // MARK: Connected

    private func handleConnected(_ packet: MQTTPacket) {
        switch packet {
        case .publish(let publish):
            handlePublish(publish)
        case .pubAck(let ack):
            handleCloudToDeviceAcknowledgement(ack.packetId)
        case .subscribe(let subscribe):
            handleSubscribe(subscribe)
        case .unsubscribe(let unsubscribe):
            handleUnsubscribe(unsubscribe)
        case .pingReq:
            send(.pingResp)
        case .disconnect:
            clientDisconnected = true
            close()
        case .connect:
            protocolViolation("a second CONNECT on one connection")
        case .pubRec, .pubRel, .pubComp:
            protocolViolation("\(packet.packetType): IoT Hub supports QoS 0 and 1 only")
        case .connAck, .subAck, .unsubAck, .pingResp:
            protocolViolation("\(packet.packetType) is a server packet")
        }
    }

    private func handlePublish(_ publish: MQTTPublish) {
        guard publish.qos != .exactlyOnce else {
            return protocolViolation("PUBLISH with QoS 2 to '\(publish.topic)': IoT Hub supports QoS 0 and 1 only")
        }
        let topic: DeviceTopic
        do { topic = try DeviceTopic(parsing: publish.topic, identity: identity) } catch {
            return protocolViolation(error.description)
        }
        let ticket = publish.qos == .atLeastOnce ? publish.packetId.map { acknowledgements.enqueue($0) } : nil
        switch topic {
        case .telemetry(let bag):
            shapeTelemetry(IoTHubMessage(body: publish.payload, propertyBag: bag), ticket: ticket)
        case .twinGet(let requestId):
            acknowledge(ticket)
            respondToTwinRequest(requestId, .get)
        case .twinReportedPatch(let requestId):
            acknowledge(ticket)
            respondToTwinRequest(requestId, .patchReported(publish.payload))
        case .methodResponse(let status, let requestId):
            acknowledge(ticket)
            services.methods.complete(DirectMethodResponse(status: status, requestId: requestId, payload: publish.payload),
                                      from: identity)
        }
    }

    /// Applies the tier's device-to-cloud throttle and daily quota before ingesting: a shaped message waits (and
    /// reading with it, so the device is slowed by backpressure), and one beyond the shaping window or the quota
    /// closes the connection without a PUBACK, as IoT Hub ends throttled MQTT connections; the device keeps the
    /// message and sends it again.
    private func shapeTelemetry(_ message: IoTHubMessage, ticket: MQTTAcknowledgementQueue.Ticket?) {
        let throttle = services.throttle
        guard !throttle.isUnlimited, let context else { return ingest(message, ticket: ticket) }
        let decision = throttle.decide(.deviceToCloud)
        switch decision {
        case .allow:
            _ = throttle.meterMessages(bytes: message.body.count)
            ingest(message, ticket: ticket)
        case .delay(let delay):
            shapedTelemetry += 1
            updateReading()
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
                shapedTelemetry -= 1
                guard state == .connected, !closing else { return }
                _ = throttle.meterMessages(bytes: message.body.count)
                ingest(message, ticket: ticket)
                updateReading()
            }
        case .reject:
            let error = decision.error(for: .deviceToCloud) ?? HubError(.throttlingException, "throttled")
            services.metrics.error(error.code, protocol: Self.protocolName)
            logger.warning("closing MQTT connection: telemetry over the hub's tier limits", metadata: ["error": "\(error)"])
            close()
        }
    }

    private func ingest(_ message: IoTHubMessage, ticket: MQTTAcknowledgementQueue.Ticket?) {
        guard let ingestQueue, let telemetrySource else { return }
        if let refusal = ingestQueue.submit(message, from: telemetrySource, client: self,
                                            token: ticket?.number ?? Self.unacknowledgedToken) {
            return refuseTelemetry(refusal)
        }
        pendingTelemetry += 1
        if pendingTelemetry >= configuration.maximumPendingTelemetry, !telemetryPaused {
            telemetryPaused = true
            updateReading()
        }
    }

    /// The token of a QoS 0 message: nothing to acknowledge.
    private static let unacknowledgedToken = UInt64.max

    func telemetryIngested(token: UInt64, result: Result<Void, HubError>) {
        pendingTelemetry -= 1
        if telemetryPaused, pendingTelemetry <= configuration.maximumPendingTelemetry / 2 {
            telemetryPaused = false
            updateReading()
        }
        guard state == .connected else { return }
        switch result {
        case .success:
            if token != Self.unacknowledgedToken { acknowledge(MQTTAcknowledgementQueue.Ticket(number: token)) }
        case .failure(let error):
            refuseTelemetry(error)
        }
    }

    /// No PUBACK: the device keeps the message and sends it again after it reconnects.
    private func refuseTelemetry(_ error: HubError) {
        services.metrics.error(error.code, protocol: Self.protocolName)
        logger.warning("closing MQTT connection: telemetry refused", metadata: ["error": "\(error)"])
        close()
    }

    private func acknowledge(_ ticket: MQTTAcknowledgementQueue.Ticket?) {
        guard let ticket else { return }
        acknowledgements.finish(ticket) { packetId in send(.pubAck(MQTTPubAck(packetId: packetId))) }
    }

    /// Runs a twin request and publishes its answer. At most ``MQTTEndpointConfiguration/maximumPendingTwinRequests``
    /// run at once: reading stops at that many, and a request read beyond it is answered 429 at once. The core
    /// applies the tier's twin throttles (shaped requests wait, holding their place).
    private func respondToTwinRequest(_ requestId: String, _ request: TwinRequest) {
        guard let context else { return }
        guard pendingTwinRequests < configuration.maximumPendingTwinRequests else {
            return publishTwinError(HubError(.throttlingException,
                                             "more than \(configuration.maximumPendingTwinRequests) twin requests in progress "
                                             + "on this connection; wait for the answers before sending more"),
                                    requestId: requestId)
        }
        pendingTwinRequests += 1
        updateReading()
        let (services, identity) = (self.services, self.identity)
        context.eventLoop.makeFutureWithTask {
            await services.answer(request, from: identity, protocol: Self.protocolName)
        }.assumeIsolated().whenSuccess { [self] answer in
            pendingTwinRequests -= 1
            publishTwinResponse(status: answer.status, requestId: requestId, version: answer.version, body: answer.body)
            updateReading()
        }
    }

    private func publishTwinError(_ error: HubError, requestId: String) {
        services.metrics.error(error.code, protocol: Self.protocolName)
        let answer = TwinAnswer(error)
        publishTwinResponse(status: answer.status, requestId: requestId, version: nil, body: answer.body)
    }

    private func publishTwinResponse(status: Int, requestId: String, version: Int64?, body: [UInt8]) {
        guard state == .connected else { return }
        guard twinResponsesSubscribed else {
            logger.debug("twin response dropped: the device is not subscribed to $iothub/twin/res/#",
                         metadata: ["rid": "\(requestId)"])
            return
        }
        let topic = HubTopic.twinResponse(status: status, requestId: requestId, version: version).topic(for: identity)
        send(.publish(MQTTPublish(topic: topic, payload: body)))
    }

    // MARK: SUBSCRIBE

    private func handleSubscribe(_ subscribe: MQTTSubscribe) {
        var granted: [MQTTSubAckReturnCode] = []
        var startCloudToDevice = false
        for subscription in subscribe.subscriptions {
            let kind: DeviceSubscription
            do { kind = try DeviceSubscription(parsing: subscription.topicFilter, identity: identity) } catch {
                return protocolViolation("SUBSCRIBE: \(error)")
            }
            switch kind {
            case .cloudToDevice:
                startCloudToDevice = !cloudToDeviceSubscribed
                cloudToDeviceSubscribed = true
            case .twinResponses:
                twinResponsesSubscribed = true
            case .desiredProperties:
                session?.updateSubscriptions { $0.desiredProperties = true }
            case .methods:
                session?.updateSubscriptions { $0.methods = true }
            case .moduleInputs:
                break  // Module inputs are fed by edge routing, which this hub does not run; nothing arrives there.
            }
            granted.append(MQTTSubAckReturnCode(granted: min(subscription.qos, .atLeastOnce)))
        }
        send(.subAck(MQTTSubAck(packetId: subscribe.packetId, returnCodes: granted)))
        if startCloudToDevice { deliverCloudToDevice() }
    }

    private func handleUnsubscribe(_ unsubscribe: MQTTUnsubscribe) {
        for filter in unsubscribe.topicFilters {
            let kind: DeviceSubscription
            do { kind = try DeviceSubscription(parsing: filter, identity: identity) } catch {
                return protocolViolation("UNSUBSCRIBE: \(error)")
            }
            switch kind {
            case .cloudToDevice: cloudToDeviceSubscribed = false
            case .twinResponses: twinResponsesSubscribed = false
            case .desiredProperties: session?.updateSubscriptions { $0.desiredProperties = false }
            case .methods: session?.updateSubscriptions { $0.methods = false }
            case .moduleInputs: break
            }
        }
        send(.unsubAck(MQTTUnsubAck(packetId: unsubscribe.packetId)))
    }

    // MARK: Requests from the hub's services (via HostedDeviceSession)

    func sendDesiredPropertiesPatch(_ patch: [UInt8], version: Int64, to identity: DeviceIdentity) {
        publishDesiredPropertiesPatch(patch, version: version)
    }

    func sendMethodRequest(_ request: DirectMethodRequest, to identity: DeviceIdentity) {
        publishMethodRequest(request)
    }

    func cloudToDeviceMessagesAvailable(for identity: DeviceIdentity) {
        deliverCloudToDevice()
    }

    func end(_ identity: DeviceIdentity, reason: SessionEndReason) {
        end(reason)
    }

    func publishDesiredPropertiesPatch(_ patch: [UInt8], version: Int64) {
        guard state == .connected, session?.wantsDesiredPropertyUpdates == true else { return }
        let topic = HubTopic.desiredPropertiesPatch(version: version).topic(for: identity)
        send(.publish(MQTTPublish(topic: topic, payload: patch)))
        services.metrics.messageSent(kind: "desired_patch")
    }

    func publishMethodRequest(_ request: DirectMethodRequest) {
        guard state == .connected, session?.acceptsMethods == true else { return }
        let topic = HubTopic.methodRequest(name: request.name, requestId: request.requestId).topic(for: identity)
        send(.publish(MQTTPublish(topic: topic, payload: request.payload)))
    }

    /// Locks and delivers queued C2D messages while the device is subscribed and the window has room.
    func deliverCloudToDevice() {
        guard state == .connected, cloudToDeviceSubscribed, let context else { return }
        // The window's free places are the device's credit, as an AMQP link's credit is.
        let room = cloudToDevice.startFetch(now: context.eventLoop.now, lock: configuration.cloudToDeviceLock)
        guard room > 0 else { return }
        let (service, identity) = (services.cloudToDevice, identity)
        let lock = configuration.cloudToDeviceLock
        context.eventLoop.makeFutureWithTask {
            try await service.lock(identity, maximum: room, lockDuration: Double(lock.nanoseconds) / 1e9)
        }.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let envelopes):
                let again = cloudToDevice.fetched(envelopes.count, requested: room)
                guard state == .connected, cloudToDeviceSubscribed else {
                    return abandon(envelopes.compactMap(\.lockToken))
                }
                for envelope in envelopes {
                    guard let lockToken = envelope.lockToken else { continue }
                    let packetId = cloudToDevice.add(lockToken: lockToken, now: context.eventLoop.now)
                    let topic = HubTopic.cloudToDevice(envelope.message.cloudToDevicePropertyBag).topic(for: identity)
                    send(.publish(MQTTPublish(topic: topic, payload: envelope.message.body, qos: .atLeastOnce,
                                              packetId: packetId)))
                }
                scheduleCloudToDeviceLockCheck()
                if again { deliverCloudToDevice() }
            case .failure(let error):
                _ = cloudToDevice.fetched(0, requested: room)
                logger.warning("cloud-to-device delivery failed; retrying", metadata: ["error": "\(error)"])
                scheduleCloudToDeviceLockCheck(after: .seconds(5))
            }
        }
    }

    private func handleCloudToDeviceAcknowledgement(_ packetId: UInt16) {
        guard let lockToken = cloudToDevice.acknowledge(packetId), let context else {
            logger.debug("PUBACK for no delivery in flight (its lock may have expired)", metadata: ["packetId": "\(packetId)"])
            return
        }
        let (service, identity) = (services.cloudToDevice, identity)
        context.eventLoop.makeFutureWithTask {
            try await service.settle(identity, lockToken: lockToken, disposition: .complete)
        }.assumeIsolated().whenComplete { [self] result in
            if case .failure(let error) = result {
                logger.debug("cloud-to-device completion failed", metadata: ["error": "\(error)"])
            }
            deliverCloudToDevice()
        }
    }

    private func scheduleCloudToDeviceLockCheck(after delay: TimeAmount? = nil) {
        guard cloudToDeviceTimer == nil, let context else { return }
        guard delay != nil || !cloudToDevice.inFlight.isEmpty else { return }
        let wait = delay ?? configuration.cloudToDeviceLock + .seconds(1)
        cloudToDeviceTimer = context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [self] in
            cloudToDeviceTimer = nil
            deliverCloudToDevice()
            scheduleCloudToDeviceLockCheck()
        }
    }

    private func abandon(_ lockTokens: [String]) {
        guard !lockTokens.isEmpty else { return }
        let (service, identity, logger) = (services.cloudToDevice, identity, logger)
        Task {
            for token in lockTokens {
                do { try await service.settle(identity, lockToken: token, disposition: .abandon) } catch {
                    logger.debug("returning a C2D message to the queue failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// Closes the connection on the hub's behalf (takeover, disable, delete, shutdown).
    func end(_ reason: SessionEndReason) {
        guard !closing else { return }
        endReason = reason
        logger.info("closing MQTT connection", metadata: ["reason": "\(reason)"])
        close()
    }

    // MARK: Keep-alive

    private func scheduleKeepAliveCheck() {
        keepAliveTimer = timers?.schedule(.keepAlive, at: lastActivity + silenceLimit, for: self)
    }

    // MARK: Closing

    private func sessionEnded() {
        guard let session else { return }
        if let lease { services.sessions.closed(lease) }
        lease = nil
        session.detach()
        self.session = nil
        abandon(cloudToDevice.removeAll())
        if let will, let telemetrySource, !clientDisconnected, endReason == nil,
           case .telemetry(let bag)? = try? DeviceTopic(parsing: will.topic, identity: identity) {
            var message = IoTHubMessage(body: will.payload, propertyBag: bag)
            message.properties["iothub-MessageType"] = "Will"
            let logger = self.logger
            services.events.ingest(message, from: telemetrySource) { result in
                if case .failure(let error) = result { logger.warning("will message not stored", metadata: ["error": "\(error)"]) }
            }
        }
        logger.info("device disconnected", metadata: [
            "reason": "\(endReason.map(\.description) ?? (clientDisconnected ? "DISCONNECT" : "connection closed"))",
        ])
    }

    private func protocolViolation(_ reason: String) {
        logger.warning("closing MQTT connection: \(reason)")
        services.metrics.error(.argumentInvalid, protocol: Self.protocolName)
        close()
    }

    private func close() {
        guard let context, !closing else { return }
        closing = true
        if state != .connected { state = .closed }
        flushNow()
        context.close(promise: nil)
    }

    // MARK: Writing

    /// Writes a packet; writes made in one event-loop tick share one flush.
    private func send(_ packet: MQTTPacket) {
        guard let context else { return }
        context.write(wrapOutboundOut(packet), promise: nil)
        if !context.channel.isWritable { checkOutboundBacklog(context) }
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute { [self] in flushNow() }
    }

    /// Closes a connection whose device lets more than ``MQTTEndpointConfiguration/maximumOutboundBytes`` pile up
    /// unread (reading from it already stopped at the write buffer's high mark).
    private func checkOutboundBacklog(_ context: ChannelHandlerContext) {
        guard !closing, let buffered = try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes),
              buffered > configuration.maximumOutboundBytes else { return }
        logger.warning("closing MQTT connection: the device does not read what it is sent",
                       metadata: ["bufferedBytes": "\(buffered)", "limit": "\(configuration.maximumOutboundBytes)"])
        services.metrics.error(.throttlingException, protocol: Self.protocolName)
        close()
    }

    private func flushNow() {
        flushScheduled = false
        context?.flush()
    }
}
