import IoTHubProtocol
import Logging

/// The protocol-neutral engine behind a ``DeviceClient``: connection attempts and backoff, token renewal, the
/// bounded outbound queue with at-least-once resending, features, twin requests and method dispatch.
///
/// It speaks to the hub only through a ``DeviceTransport`` and reads time only from a ``DeviceClientClock``, so it
/// runs the same over MQTT or another transport, and tests drive it with a fake transport and a manual clock.
/// Every method runs on the clock's thread (the client's loop); ``DeviceClient`` hops there. No locks.
///
/// The parts: this file (lifecycle and transport events), `DeviceClientCore+Outbound.swift` (queue, telemetry,
/// twin requests) and `DeviceClientCore+Inbound.swift` (features, hub-initiated messages, methods).
final class DeviceClientCore: DeviceTransportDelegate {
    enum Phase: Equatable {
        /// `connect()` not called yet.
        case idle
        case connecting(attempt: Int)
        case connected
        /// Waiting before the next attempt.
        case backingOff(attempt: Int)
        /// Gave up (fatal refusal or retries exhausted); `connect()` starts again.
        case stopped
        case closed
    }

    typealias Completion<Value> = (Result<Value, any Error>) -> Void

    struct TwinResponse: Sendable {
        var status: Int
        var version: Int64?
        var body: [UInt8]
    }

    struct TwinRequest {
        var item: OutboundItem
        var completion: Completion<TwinResponse>
        var timer: DeviceLoopTimer
        var acknowledged = false
    }

    struct SpaceWaiter {
        var item: OutboundItem
        var completion: Completion<Void>
    }

    let clock: any DeviceClientClock
    let transport: any DeviceTransport
    let identity: DeviceIdentity
    let credentials: DeviceCredentialSource
    let options: DeviceClientOptions
    var logger: Logger

    let states = Broadcast<ConnectionState>(bufferLimit: 256)
    let cloudToDevice = Broadcast<IoTHubMessage>(bufferLimit: 1024, holdsUnheard: true)
    let desiredUpdates = Broadcast<DesiredPropertiesUpdate>(bufferLimit: 1024, holdsUnheard: true)

    private(set) var phase: Phase = .idle
    private(set) var lastState: ConnectionState = .idle
    /// Between ``DeviceTransport/open()`` and the transport's `disconnected` event.
    private(set) var transportOpen = false
    private var reconnect: ReconnectState
    private var retryTimer: DeviceLoopTimer?
    private var renewalTimer: DeviceLoopTimer?
    private var drainTimer: DeviceLoopTimer?
    private var connectTimer: DeviceLoopTimer?
    /// Sending stopped to reconnect with a fresh token.
    var renewing = false
    private var lastError = "none"
    private var connectWaiters: [UInt64: Completion<Void>] = [:]
    private var closeWaiters: [() -> Void] = []

    var features: Set<DeviceFeature> = []
    /// Features the hub accepted on the current connection.
    var enabled: Set<DeviceFeature> = []
    var featureWaiters: [DeviceFeature: [() -> Void]] = [:]

    var queue: OutboundQueue
    /// Numbers items and waiters; shared with ``DeviceClient``, which numbers telemetry before it reaches the loop.
    let itemIds = ItemIdentifiers()
    var senders: [UInt64: Completion<Void>] = [:]
    var spaceWaiters: [SpaceWaiter] = []
    var twinRequests: [String: TwinRequest] = [:]
    /// Twin requests held back until the hub accepts the twin-response feature (as the official SDKs do, so that
    /// the answer cannot arrive before the subscription is in place).
    var twinRequestsAwaitingFeature: [OutboundItem] = []
    var nextRequestId: UInt64 = 1
    var methodHandlers: [String: DeviceClient.MethodHandler] = [:]
    var defaultMethodHandler: DeviceClient.MethodHandler?

    /// Creates the core and registers `identity` with `transport`, whose events come back here.
    init(identity: DeviceIdentity, hostName: String, credential: DeviceCredential, options: DeviceClientOptions,
         clock: any DeviceClientClock, transport: any DeviceTransport) throws(DeviceClientError) {
        self.clock = clock
        self.transport = transport
        self.identity = identity
        self.credentials = DeviceCredentialSource(credential: credential,
                                                  resource: identity.sasResource(hostName: hostName),
                                                  lifetime: options.sasTokenTTL, clock: clock)
        self.options = options
        self.reconnect = ReconnectState(policy: options.retryPolicy)
        self.queue = OutboundQueue(maximumMessages: options.queue.maximumMessages,
                                   maximumBytes: options.queue.maximumBytes)
        var logger = options.logger
        logger[metadataKey: "device"] = "\(identity.clientId)"
        self.logger = logger
        try transport.register(DeviceTransportRegistration(identity: identity, hostName: hostName,
                                                           credentials: credentials), delegate: self)
    }

    // MARK: Connection lifecycle

    /// Starts connecting (if not already) and completes once connected, or with the final error.
    func connect(waiter id: UInt64, _ completion: @escaping Completion<Void>) {
        switch phase {
        case .closed:
            completion(.failure(DeviceClientError.closed))
        case .connected:
            completion(.success(()))
        case .connecting, .backingOff:
            connectWaiters[id] = completion
        case .idle, .stopped:
            connectWaiters[id] = completion
            reconnect.reset()
            startAttempt()
        }
    }

    /// Stops waiting in `connect()` after the operation timeout; the client keeps trying in the background.
    func connectTimedOut(waiter id: UInt64) {
        guard let waiter = connectWaiters.removeValue(forKey: id) else { return }
        waiter(.failure(DeviceClientError.timeout("connecting (last error: \(lastError))")))
    }

    private func startAttempt() {
        guard phase != .closed, !transportOpen else { return }
        let attempt = reconnect.beginAttempt()
        phase = .connecting(attempt: attempt)
        report(.connecting(attempt: attempt))
        transportOpen = true
        let box = LoopHandoff(self)
        let timeout = options.connectTimeout
        connectTimer = clock.schedule(after: timeout) {
            let core = box.value
            guard case .connecting = core.phase, core.transportOpen else { return }
            core.transport.abort(reason: "the hub did not accept the connection within \(timeout)")
        }
        // Last: the transport may report a failure at once.
        transport.open()
    }

    private func scheduleRenewal(expiry: UInt64?) {
        renewalTimer?.cancel()
        renewalTimer = nil
        guard let expiry else { return }
        let now = clock.unixTime()
        guard expiry > now else { return }
        let lifetime = Double(expiry - now)
        let delay = Duration.milliseconds(Int64(lifetime * min(max(options.tokenRenewalPoint, 0.05), 0.99) * 1000))
        let box = LoopHandoff(self)
        renewalTimer = clock.schedule(after: delay) { box.value.beginRenewal() }
    }

    /// The token is close to expiry: the transport renews it in band, or the core stops sending, lets in-flight
    /// operations be acknowledged and reconnects with a fresh token. Queue, features and handlers carry over.
    private func beginRenewal() {
        guard phase == .connected, !renewing, transportOpen else { return }
        guard credentials.isRenewable else {
            // A fixed token cannot be renewed; the hub will drop the connection when it expires.
            logger.warning("the SAS token from the connection string expires now and cannot be renewed")
            return
        }
        logger.debug("renewing the SAS token")
        switch transport.renewCredentials() {
        case .inBand:
            break
        case .reconnect:
            renewing = true
            if queue.inFlight.isEmpty {
                finishRenewalDrain()
            } else {
                let box = LoopHandoff(self)
                drainTimer = clock.schedule(after: .seconds(10)) { box.value.finishRenewalDrain() }
            }
        }
    }

    func finishRenewalDrain() {
        drainTimer?.cancel()
        drainTimer = nil
        guard renewing, transportOpen else { return }
        report(.disconnected(.expiredToken))
        transport.close()
    }

    /// Closes for good: fails everything pending with ``DeviceClientError/closed``; calls `completion` when the
    /// connection is gone (after the transport closed it, or at once when there is none).
    func close(_ completion: (() -> Void)?) {
        if phase == .closed {
            if let completion {
                if transportOpen { closeWaiters.append(completion) } else { completion() }
            }
            return
        }
        phase = .closed
        for timer in [retryTimer, renewalTimer, drainTimer, connectTimer] { timer?.cancel() }
        failEverything(with: .closed)
        report(.disconnected(.closed))
        states.finish()
        cloudToDevice.finish()
        desiredUpdates.finish()
        methodHandlers.removeAll()
        defaultMethodHandler = nil
        resumeFeatureWaiters(nil)
        guard transportOpen else {
            completion?()
            return
        }
        if let completion { closeWaiters.append(completion) }
        let box = LoopHandoff(self)
        clock.schedule(after: .seconds(2)) {
            if box.value.transportOpen { box.value.transport.abort(reason: "closed") }
        }
        transport.close()
    }

    // MARK: Transport events

    func transport(_ transport: any DeviceTransport, emitted event: DeviceTransportEvent) {
        guard transport === self.transport else { return }
        switch event {
        case .connected(let expiry): connected(credentialExpiry: expiry)
        case .disconnected(let disconnect): disconnected(disconnect)
        case .acknowledged(let tag): acknowledged(tag)
        case .featureEnabled(let feature, let accepted): featureEnabled(feature, accepted: accepted)
        case .twinResponse(let requestId, let status, let version, let body):
            twinResponded(requestId: requestId, TwinResponse(status: status, version: version, body: body))
        case .desiredPatch(let version, let body): desiredPatch(version: version, body: body)
        case .methodRequest(let name, let requestId, let payload):
            dispatchMethod(name: name, requestId: requestId, payload: payload)
        case .cloudToDevice(let message, let tag): received(message, tag: tag)
        case .credentialsRenewed(let expiry):
            scheduleRenewal(expiry: expiry)
        }
    }

    private func connected(credentialExpiry: UInt64?) {
        guard transportOpen else { return }
        connectTimer?.cancel()
        connectTimer = nil
        guard phase != .closed else { return transport.close() }
        phase = .connected
        reconnect.connected()
        renewing = false
        report(.connected)
        for (_, waiter) in connectWaiters { waiter(.success(())) }
        connectWaiters.removeAll()
        scheduleRenewal(expiry: credentialExpiry)
        // Features first, in a fixed order, before anything else goes out.
        for feature in DeviceFeature.allCases where features.contains(feature) { transport.enable(feature) }
        pump()
    }

    private func disconnected(_ disconnect: DeviceTransportDisconnect) {
        guard transportOpen else { return }
        transportOpen = false
        for timer in [connectTimer, renewalTimer, drainTimer] { timer?.cancel() }
        connectTimer = nil
        renewalTimer = nil
        drainTimer = nil
        enabled.removeAll()
        resumeFeatureWaiters(nil)
        returnInFlight()
        // The next connection enables features before it sends anything, so held requests can simply queue.
        if !twinRequestsAwaitingFeature.isEmpty, phase != .closed { releaseHeldTwinRequests() }
        if phase == .closed {
            for waiter in closeWaiters { waiter() }
            closeWaiters.removeAll()
            return
        }
        let wasConnected = phase == .connected
        if renewing {
            renewing = false
            reconnect.reset()
            return startAttempt()
        }
        let detail = disconnect.detail
        switch disconnect.kind {
        case .unauthorized: attemptFailed(.unauthorized(detail), detail: detail, unauthorized: true)
        case .throttled: attemptFailed(.throttled, detail: detail)
        case .closedByHub where wasConnected: attemptFailed(.closedByHub, detail: detail)
        case .closedByHub, .networkError, .requested: attemptFailed(.networkError(detail), detail: detail)
        }
    }

    // MARK: Failures and retries

    private func attemptFailed(_ reason: DisconnectReason, detail: String, unauthorized: Bool = false) {
        guard phase != .closed else { return }
        lastError = detail
        report(.disconnected(reason))
        switch reconnect.afterFailure(unauthorized: unauthorized, random: Double.random(in: 0..<1)) {
        case .stopUnauthorized:
            logger.error("the hub refused the connection: \(detail); not retrying")
            stop(with: .unauthorized(detail))
        case .giveUp(let attempts):
            report(.disconnected(.retriesExhausted(attempts: attempts)))
            stop(with: .retriesExhausted(attempts: attempts, lastError: detail))
        case .retry(let delay):
            logger.info("reconnecting in \(delay): \(reason)")
            phase = .backingOff(attempt: reconnect.attemptsSinceConnected)
            let box = LoopHandoff(self)
            retryTimer = clock.schedule(after: delay) {
                let core = box.value
                guard case .backingOff = core.phase else { return }
                core.startAttempt()
            }
        }
    }

    /// Gives up: everything waiting fails with `error`; a later `connect()` starts over.
    private func stop(with error: DeviceClientError) {
        phase = .stopped
        failEverything(with: error)
    }

    private func failEverything(with error: DeviceClientError) {
        twinRequestsAwaitingFeature.removeAll()
        for (_, waiter) in connectWaiters { waiter(.failure(error)) }
        connectWaiters.removeAll()
        for item in queue.removeAll() {
            senders.removeValue(forKey: item.id)?(.failure(error))
        }
        for waiter in spaceWaiters { waiter.completion(.failure(error)) }
        spaceWaiters.removeAll()
        for (_, request) in twinRequests {
            request.timer.cancel()
            request.completion(.failure(error))
        }
        twinRequests.removeAll()
        for (_, sender) in senders { sender(.failure(error)) }
        senders.removeAll()
    }

    func report(_ state: ConnectionState) {
        guard state != lastState else { return }
        lastState = state
        states.yield(state)
    }

    /// Why a new operation cannot be taken now, if it cannot: not started, closed, or given up.
    var refusal: DeviceClientError? {
        switch phase {
        case .closed: .closed
        case .idle: .notConnected
        case .stopped: .retriesExhausted(attempts: reconnect.attemptsSinceConnected, lastError: lastError)
        case .connecting, .connected, .backingOff: nil
        }
    }

    /// Whether operations may go to the transport now.
    var canSend: Bool { phase == .connected && !renewing && transportOpen }
}
