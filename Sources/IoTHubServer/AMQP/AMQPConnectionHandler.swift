import CProton
import Foundation
import IoTHubProtocol
import ProtonCodec
import Logging
import NIOCore
import Synchronization

/// One AMQP connection to the hub: Qpid Proton's engine (``ProtonConnectionDriver``) run inside a SwiftNIO
/// handler, as the thin AMQP head over the hub's core services.
///
/// A connection authenticates with SASL (`MSSBCBS` or `ANONYMOUS`, then a CBS `put-token` per identity; `PLAIN`
/// with a SAS token; `EXTERNAL` with the TLS client certificate) and may carry up to
/// ``AMQPEndpointConfiguration/maximumIdentitiesPerConnection`` devices and modules, each with its own token and
/// links. Every link is authorized for its own identity only; when one identity's token expires, its links end
/// and the others' stay. Back ends use the same endpoint with a policy token (C2D sends and feedback).
///
/// All state lives on the channel's event loop. Proton's objects are owned by the driver; the handler keeps
/// `pn_link_t` and `pn_delivery_t` pointers only while the driver lives.
final class AMQPConnectionHandler: ChannelInboundHandler, DeviceSessionHost, TelemetryIngestClient {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The name metrics and logs use for this head ("amqp").
    static let protocolName = "amqp"

    /// Handlers alive in this process: a leak check for tests.
    static let liveHandlers = Atomic<Int>(0)

    let services: HubServices
    let configuration: AMQPEndpointConfiguration
    var logger: Logger
    /// The client certificate chain of the TLS handshake (empty for plain TCP or a peer that sent none).
    let presentedChain: PresentedChain
    /// Where telemetry goes: the event loop's batch (``TelemetryIngestQueue``).
    private let locals: EventLoopLocals
    private(set) var ingestQueue: TelemetryIngestQueue?
    /// Telemetry transfers being stored, by the token their messages were submitted with.
    var pendingDeliveries: [UInt64: PendingTelemetry] = [:]
    var nextIngestToken: UInt64 = 0
    let admission: ConnectionAdmission.Ticket?
    var admissionAuthenticated = false
    private var admissionReleased = false

    /// Set from `handlerAdded` to `handlerRemoved` only (the context holds this handler).
    var context: ChannelHandlerContext?
    let driver: ProtonConnectionDriver
    var closing = false
    private(set) var socketClosed = false
    private var pumping = false
    private var pumpAgain = false
    private var tickTimer: Scheduled<Void>?
    private var tickDeadline: Int64 = 0
    private var openTimer: Scheduled<Void>?
    var feedbackTimer: Scheduled<Void>?

    /// Links by their `pn_link_t`.
    var links: [OpaquePointer: AMQPLink] = [:]
    /// Identities authenticated on this connection.
    var identities: [DeviceIdentity: AMQPIdentity] = [:]
    /// Identities whose authentication is under way, with the links waiting for it.
    var authenticating: [DeviceIdentity: [(OpaquePointer, AMQPLink.Role)]] = [:]
    /// The policy a back end authenticated with, and when its token expires.
    var servicePolicy: AccessPolicy?
    var servicePolicyExpiry: Date?
    /// What the connection's Event Hubs tokens grant: `/{event hub}` or `/{event hub}/consumergroups/{group}`
    /// (lower case), each until its token expires.
    var eventHubGrants: [(path: String, expiry: Date?)] = []
    /// Delivery tags of what the hub sends.
    private var nextTag: UInt64 = 0

    init(services: HubServices, configuration: AMQPEndpointConfiguration, logger: Logger,
         presentedChain: PresentedChain, locals: EventLoopLocals, admission: ConnectionAdmission.Ticket? = nil) {
        self.locals = locals
        self.services = services
        self.configuration = configuration
        self.logger = logger
        self.presentedChain = presentedChain
        self.admission = admission
        driver = ProtonConnectionDriver(idleTimeout: configuration.idleTimeoutMilliseconds,
                                        maximumFrameSize: configuration.maximumFrameSize, containerId: services.hostName)
        Self.liveHandlers.wrappingAdd(1, ordering: .relaxed)
        driver.sasl.onInit = { [unowned self] mechanism, response in saslInit(mechanism: mechanism, response: response) }
    }

    deinit {
        Self.liveHandlers.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        ingestQueue = locals.on(context.eventLoop).ingest
        if let remote = context.channel.remoteAddress { logger[metadataKey: "peer"] = "\(remote)" }
        if context.channel.isActive { startOpenTimer(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        releaseAdmission()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if let remote = context.channel.remoteAddress { logger[metadataKey: "peer"] = "\(remote)" }
        startOpenTimer(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !socketClosed else { return }
        var buffer = unwrapInboundIn(data)
        if !driver.read(&buffer), buffer.readableBytes > 0 {
            logger.debug("AMQP input after the connection closed its input; dropped",
                         metadata: ["bytes": "\(buffer.readableBytes)"])
        }
        pump()
    }

    func channelInactive(context: ChannelHandlerContext) {
        socketClosed = true
        cancelTimers()
        driver.socketClosed()
        pump()
        for identity in Array(identities.keys) { releaseIdentity(identity, reason: nil) }
        authenticating.removeAll()
        releaseAdmission()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("AMQP connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable,
           let buffered = try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes),
           buffered > configuration.maximumOutboundBytes {
            logger.warning("closing AMQP connection: the peer does not read what it is sent",
                           metadata: ["bufferedBytes": "\(buffered)"])
            services.metrics.error(.throttlingException, protocol: Self.protocolName)
            context.close(promise: nil)
        }
        context.fireChannelWritabilityChanged()
    }

    private func cancelTimers() {
        tickTimer?.cancel()
        openTimer?.cancel()
        feedbackTimer?.cancel()
        tickTimer = nil
        openTimer = nil
        feedbackTimer = nil
        for state in identities.values {
            state.expiryTimer?.cancel()
            state.expiryTimer = nil
        }
    }

    private func releaseAdmission() {
        guard let admission, !admissionReleased else { return }
        admissionReleased = true
        services.admission.closed(admission, authenticated: admissionAuthenticated)
    }

    /// The connection authenticated something (its first identity, or a back end): its unauthenticated
    /// admission slot is given back.
    func markAuthenticated() {
        guard let admission, !admissionAuthenticated else { return }
        admissionAuthenticated = true
        services.admission.authenticated(admission)
    }

    private func startOpenTimer(_ context: ChannelHandlerContext) {
        guard openTimer == nil else { return }
        openTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.connectTimeout) { [self] in
            openTimer = nil
            guard pn_connection_state(driver.connection) & PN_LOCAL_ACTIVE == 0 else { return }
            logger.info("closing AMQP connection: SASL and open not done within \(configuration.connectTimeout)")
            closeConnection(condition: "amqp:connection:forced", description: "no AMQP open within the connect timeout")
        }
    }

    // MARK: Driving Proton

    /// Handles every Proton event, writes what Proton produced, and schedules Proton's next timer. Re-entrant
    /// calls (from an event handler) run once more at the end instead of nesting.
    func pump() {
        guard let context else { return }
        guard !pumping else {
            pumpAgain = true
            return
        }
        pumping = true
        defer { pumping = false }
        repeat {
            pumpAgain = false
            while let event = driver.nextEvent() { handle(event) }
            var output = context.channel.allocator.buffer(capacity: 0)
            if driver.takeOutput(into: &output) > 0 {
                context.writeAndFlush(wrapOutboundOut(output), promise: nil)
            }
        } while pumpAgain || driver.hasEvent
        if driver.isWriteClosed, !socketClosed {
            if !closing { logClosure() }
            closing = true
            context.close(promise: nil)
            return
        }
        scheduleTick(context)
    }

    private func nowMilliseconds(_ context: ChannelHandlerContext) -> Int64 {
        Int64(context.eventLoop.now.uptimeNanoseconds / 1_000_000)
    }

    private func scheduleTick(_ context: ChannelHandlerContext) {
        let deadline = driver.tick(nowMilliseconds: nowMilliseconds(context))
        guard deadline > 0, deadline != tickDeadline || tickTimer == nil else { return }
        tickTimer?.cancel()
        tickDeadline = deadline
        let delay = max(0, deadline - nowMilliseconds(context))
        tickTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [self] in
            tickTimer = nil
            tickDeadline = 0
            pump()
        }
    }

    private func logClosure() {
        let condition = pn_transport_condition(driver.transport)
        if let condition, pn_condition_is_set(condition) {
            let name = pn_condition_get_name(condition).map { String(cString: $0) } ?? ""
            let description = pn_condition_get_description(condition).map { String(cString: $0) } ?? ""
            logger.info("AMQP connection closed", metadata: ["condition": "\(name)", "description": "\(description)"])
        } else {
            logger.debug("AMQP connection closed")
        }
    }

    private func handle(_ event: OpaquePointer) {
        switch pn_event_type(event) {
        case PN_CONNECTION_REMOTE_OPEN:
            let connection = pn_event_connection(event)
            if pn_connection_state(connection) & PN_LOCAL_UNINIT != 0 { pn_connection_open(connection) }
            openTimer?.cancel()
            openTimer = nil
        case PN_CONNECTION_REMOTE_CLOSE:
            pn_connection_close(pn_event_connection(event))
        case PN_SESSION_REMOTE_OPEN:
            let session = pn_event_session(event)
            if pn_session_state(session) & PN_LOCAL_UNINIT != 0 { pn_session_open(session) }
        case PN_SESSION_REMOTE_CLOSE:
            pn_session_close(pn_event_session(event))
        case PN_LINK_REMOTE_OPEN:
            if let link = pn_event_link(event) { linkAttached(link) }
        case PN_LINK_REMOTE_CLOSE, PN_LINK_REMOTE_DETACH:
            if let link = pn_event_link(event) { linkDetached(link) }
        case PN_LINK_FLOW:
            if let link = pn_event_link(event), let state = links[link] { creditChanged(state) }
        case PN_DELIVERY:
            if let delivery = pn_event_delivery(event) { deliveryEvent(delivery) }
        case PN_TRANSPORT_ERROR:
            closing = true
            logClosure()
        default:
            break
        }
    }

    /// Closes the whole connection with an error condition.
    func closeConnection(condition: String, description: String) {
        let local = pn_connection_condition(driver.connection)
        cproton_condition_set(local, condition, description)
        pn_connection_close(driver.connection)
        pump()
    }

    // MARK: Sending

    /// Sends `message` on `link` (pre-settled unless `settled` is false) and returns its delivery tag.
    @discardableResult
    func send(_ message: AMQPMessage, on link: AMQPLink, settled: Bool = true) -> UInt64 {
        nextTag &+= 1
        ProtonLinkIO.send(ProtonMessageCodec.encode(message), on: link.link, tag: nextTag, settled: settled)
        return nextTag
    }

    /// The delivery tag the hub gave a delivery it sent.
    static func tag(of delivery: OpaquePointer) -> UInt64? {
        ProtonLinkIO.tag(of: delivery)
    }

    /// Settles a delivery the hub received with `outcome`, with an error condition for a rejection.
    func settle(_ delivery: OpaquePointer, on link: AMQPLink, outcome: UInt64, condition: (String, String)? = nil) {
        guard !link.closed, !socketClosed else { return }
        if let (name, description) = condition {
            cproton_condition_set(pn_disposition_condition(pn_delivery_local(delivery)), name, description)
        }
        pn_delivery_update(delivery, outcome)
        pn_delivery_settle(delivery)
    }

    /// Reads a whole delivery; `nil` while it is still partial.
    func readDelivery(_ delivery: OpaquePointer, link: OpaquePointer) -> [UInt8]? {
        ProtonLinkIO.read(delivery, on: link)
    }
}

extension AMQPConnectionHandler {
    /// Runs `operation` off the event loop and hands its result back on it, unless the connection went away.
    func perform<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T,
                              then body: @escaping (Result<T, any Error>) -> Void) {
        guard let context else { return }
        context.eventLoop.makeFutureWithTask(operation).assumeIsolated().whenComplete { [self] result in
            guard self.context != nil, !socketClosed else { return }
            body(result)
            pump()
        }
    }
}
