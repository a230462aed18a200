import CMosquitto
import Glibc
import IoTHubProtocol
import Logging

/// The engine behind a ``DeviceClient``, confined to its ``DeviceEventLoop``: connection attempts and backoff,
/// token renewal, the outbound queue, subscriptions, twin requests and method dispatch.
///
/// Every method runs on the loop thread; ``DeviceClient`` hops there. No locks.
final class DeviceClientCore: MosquittoConnectionDelegate {
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

    typealias SendContinuation = CheckedContinuation<Void, any Error>
    typealias TwinContinuation = CheckedContinuation<TwinResponse, any Error>

    struct TwinResponse: Sendable {
        var status: Int
        var version: Int64?
        var body: [UInt8]
    }

    private struct TwinRequest {
        var item: OutboundItem
        var continuation: TwinContinuation
        var timer: DeviceLoopTimer
        var acknowledged = false
    }

    private struct SpaceWaiter {
        var item: OutboundItem
        var continuation: SendContinuation
    }

    let loop: DeviceEventLoop
    let identity: DeviceIdentity
    let hostName: String
    let credential: DeviceCredential
    let options: DeviceClientOptions
    let tls: DeviceTLSContext?
    private var logger: Logger

    let states = Broadcast<ConnectionState>(bufferLimit: 256)
    let cloudToDevice = Broadcast<IoTHubMessage>(bufferLimit: 1024, holdsUnheard: true)
    let desiredUpdates = Broadcast<DesiredPropertiesUpdate>(bufferLimit: 1024, holdsUnheard: true)

    private(set) var phase: Phase = .idle
    private(set) var lastState: ConnectionState = .idle
    private var connection: MosquittoConnection?
    private var attempt = 0
    private var attemptsSinceConnected = 0
    private var everConnected = false
    private var retryTimer: DeviceLoopTimer?
    private var renewalTimer: DeviceLoopTimer?
    private var drainTimer: DeviceLoopTimer?
    private var connectTimer: DeviceLoopTimer?
    private var renewing = false
    private var connackCode: Int32?
    private var lastError = "none"
    private var connectWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var tokenGeneration = 0

    private var features: Set<DeviceSubscription> = []
    private var pendingSubscriptions: [Int32: [DeviceSubscription]] = [:]
    /// Features the hub acknowledged (SUBACK) on the current connection.
    private var subscribed: Set<DeviceSubscription> = []
    private var featureWaiters: [DeviceSubscription: [CheckedContinuation<Void, Never>]] = [:]

    private var queue: OutboundQueue
    /// Numbers items and waiters; shared with ``DeviceClient``, which numbers telemetry before it reaches the loop.
    let itemIds = ItemIdentifiers()
    private var senders: [UInt64: SendContinuation] = [:]
    private var spaceWaiters: [SpaceWaiter] = []
    private var twinRequests: [String: TwinRequest] = [:]
    /// Twin requests held back until the hub acknowledges the `$iothub/twin/res/#` subscription (as the official
    /// SDKs do, so that the answer cannot arrive before the subscription is in place).
    private var twinRequestsAwaitingSubscription: [OutboundItem] = []
    private var nextRequestId: UInt64 = 1
    private var methodHandlers: [String: DeviceClient.MethodHandler] = [:]
    private var defaultMethodHandler: DeviceClient.MethodHandler?

    init(loop: DeviceEventLoop, identity: DeviceIdentity, hostName: String, credential: DeviceCredential,
         options: DeviceClientOptions, tls: DeviceTLSContext?) {
        self.loop = loop
        self.identity = identity
        self.hostName = hostName
        self.credential = credential
        self.options = options
        self.tls = tls
        self.queue = OutboundQueue(maximumMessages: options.queue.maximumMessages,
                                   maximumBytes: options.queue.maximumBytes)
        var logger = options.logger
        logger[metadataKey: "device"] = "\(identity.clientId)"
        self.logger = logger
    }

    // MARK: Connection lifecycle

    /// Starts connecting (if not already) and resumes `continuation` once connected, or with the final error.
    func connect(waiter id: UInt64, _ continuation: CheckedContinuation<Void, any Error>) {
        switch phase {
        case .closed:
            continuation.resume(throwing: DeviceClientError.closed)
        case .connected:
            continuation.resume()
        case .connecting, .backingOff:
            connectWaiters[id] = continuation
        case .idle, .stopped:
            connectWaiters[id] = continuation
            attemptsSinceConnected = 0
            startAttempt()
        }
    }

    /// Stops waiting in `connect()` after the operation timeout; the client keeps trying in the background.
    func connectTimedOut(waiter id: UInt64) {
        guard let waiter = connectWaiters.removeValue(forKey: id) else { return }
        waiter.resume(throwing: DeviceClientError.timeout("connecting (last error: \(lastError))"))
    }

    private func startAttempt() {
        guard phase != .closed else { return }
        attempt = attemptsSinceConnected + 1
        attemptsSinceConnected = attempt
        phase = .connecting(attempt: attempt)
        report(.connecting(attempt: attempt))
        connackCode = nil
        tokenGeneration += 1
        let generation = tokenGeneration
        switch credential {
        case .key(let key, let keyName):
            let expiry = UInt64(time(nil)) + UInt64(max(1, options.sasTokenTTL.components.seconds))
            let token = SASToken.generate(resource: identity.sasResource(hostName: hostName), key: key,
                                          expiry: expiry, keyName: keyName)
            open(password: token.description, expiry: expiry)
        case .token(let token):
            open(password: token, expiry: (try? SASToken(parsing: token))?.expiry)
        case .x509:
            open(password: nil, expiry: nil)
        case .provider(let provider):
            let box = LoopHandoff(self)
            let ttl = options.sasTokenTTL
            Task {
                let result: Result<String, any Error>
                do { result = .success(try await provider(ttl)) } catch { result = .failure(error) }
                box.value.loop.execute {
                    let core = box.value
                    guard core.tokenGeneration == generation, case .connecting = core.phase else { return }
                    switch result {
                    case .success(let token):
                        core.open(password: token, expiry: (try? SASToken(parsing: token))?.expiry)
                    case .failure(let error):
                        core.attemptFailed(.networkError("the token provider failed: \(error)"), detail: "\(error)")
                    }
                }
            }
        }
    }

    private func open(password: String?, expiry: UInt64?) {
        let settings = MosquittoConnection.Settings(
            clientId: identity.clientId,
            username: MQTTUserName(hostName: hostName, identity: identity, clientType: options.productInfo,
                                   modelId: options.modelId).description,
            password: password, host: options.gatewayHostName ?? hostName, port: options.plainTCPPort ?? options.port,
            keepAlive: options.keepAlive, bindAddress: options.bindAddress, tls: tls,
            maximumInFlight: options.maximumInFlight)
        let connection: MosquittoConnection
        do {
            connection = try MosquittoConnection(settings: settings, loop: loop)
        } catch {
            return attemptFailed(.networkError("\(error)"), detail: "\(error)")
        }
        connection.delegate = self
        self.connection = connection
        scheduleRenewal(expiry: expiry)
        let box = LoopHandoff(self)
        connectTimer = loop.schedule(after: options.connectTimeout) {
            let core = box.value
            guard case .connecting = core.phase, let connection = core.connection else { return }
            connection.abort(reason: "no CONNACK within \(core.options.connectTimeout)")
        }
        connection.connect()
    }

    private func scheduleRenewal(expiry: UInt64?) {
        renewalTimer?.cancel()
        renewalTimer = nil
        guard let expiry else { return }
        let now = UInt64(time(nil))
        guard expiry > now else { return }
        let lifetime = Double(expiry - now)
        let delay = Duration.milliseconds(Int64(lifetime * min(max(options.tokenRenewalPoint, 0.05), 0.99) * 1000))
        let box = LoopHandoff(self)
        renewalTimer = loop.schedule(after: delay) { box.value.beginRenewal() }
    }

    /// The token is close to expiry: stop sending, let in-flight messages be acknowledged, then reconnect with a
    /// fresh token. Queued messages, subscriptions and handlers carry over.
    private func beginRenewal() {
        guard phase == .connected, !renewing, connection != nil else { return }
        if case .token = credential {
            // A fixed token cannot be renewed; the hub will drop the connection when it expires.
            logger.warning("the SAS token from the connection string expires now and cannot be renewed")
            return
        }
        renewing = true
        logger.debug("renewing the SAS token")
        if queue.inFlight.isEmpty {
            finishRenewalDrain()
        } else {
            let box = LoopHandoff(self)
            drainTimer = loop.schedule(after: .seconds(10)) { box.value.finishRenewalDrain() }
        }
    }

    private func finishRenewalDrain() {
        drainTimer?.cancel()
        drainTimer = nil
        guard renewing, let connection else { return }
        report(.disconnected(.expiredToken))
        connection.disconnect()
    }

    /// Closes for good: fails everything pending with ``DeviceClientError/closed``; resumes when the connection
    /// is gone (after a DISCONNECT, or at once when there is none).
    func close(_ continuation: CheckedContinuation<Void, Never>?) {
        if phase == .closed {
            if let continuation {
                if connection == nil { continuation.resume() } else { closeWaiters.append(continuation) }
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
        guard let connection else {
            continuation?.resume()
            return
        }
        if let continuation { closeWaiters.append(continuation) }
        connection.disconnect()
        let box = LoopHandoff(self)
        loop.schedule(after: .seconds(2)) {
            box.value.connection?.abort(reason: "closed")
        }
    }

    // MARK: MosquittoConnectionDelegate

    func mosquittoConnected(_ connection: MosquittoConnection, returnCode: Int32) {
        guard connection === self.connection else { return }
        guard returnCode == 0 else {
            connackCode = returnCode
            return
        }
        connectTimer?.cancel()
        connectTimer = nil
        guard phase != .closed else { return connection.disconnect() }
        phase = .connected
        attemptsSinceConnected = 0
        everConnected = true
        renewing = false
        report(.connected)
        for (_, waiter) in connectWaiters { waiter.resume() }
        connectWaiters.removeAll()
        subscribe(features)
        pump()
    }

    func mosquittoPublished(_ connection: MosquittoConnection, messageId: Int32) {
        guard connection === self.connection, let item = queue.acknowledge(messageId) else { return }
        switch item.kind {
        case .telemetry:
            senders.removeValue(forKey: item.id)?.resume()
        case .twinRequest(let requestId):
            twinRequests[requestId]?.acknowledged = true
        case .methodResponse:
            break
        }
        admitWaiters()
        if renewing {
            if queue.inFlight.isEmpty { finishRenewalDrain() }
        } else {
            pump()
        }
    }

    func mosquittoSubscribed(_ connection: MosquittoConnection, messageId: Int32, granted: [Int32]) {
        guard connection === self.connection, let subscriptions = pendingSubscriptions.removeValue(forKey: messageId)
        else { return }
        for (subscription, code) in zip(subscriptions, granted) {
            if code == 0x80 {
                logger.error("the hub refused the subscription \(subscription.filter(for: identity))")
            } else {
                subscribed.insert(subscription)
            }
            resumeFeatureWaiters(subscription)
            if subscription == .twinResponses { releaseHeldTwinRequests() }
        }
    }

    func mosquittoReceived(_ connection: MosquittoConnection, topic: String, payload: [UInt8]) {
        guard connection === self.connection else { return }
        let hubTopic: HubTopic
        do {
            hubTopic = try HubTopic(parsing: topic, identity: identity)
        } catch {
            logger.warning("ignoring a message on an unexpected topic: \(error)")
            return
        }
        switch hubTopic {
        case .cloudToDevice(let bag):
            if cloudToDevice.yield(IoTHubMessage(body: payload, propertyBag: bag)) {
                logger.warning("a cloud-to-device message was dropped: the app is not reading them fast enough")
            }
        case .twinResponse(let status, let requestId, let version):
            guard let request = twinRequests.removeValue(forKey: requestId) else { return }
            request.timer.cancel()
            _ = queue.remove(id: request.item.id)
            request.continuation.resume(returning: TwinResponse(status: status, version: version, body: payload))
        case .desiredPropertiesPatch(let version):
            guard var patch = (try? JSONValue(parsing: payload))?.objectValue else {
                logger.warning("ignoring a desired-properties patch that is not a JSON object")
                return
            }
            let bodyVersion = patch.removeValue(forKey: "$version")?.int64Value
            desiredUpdates.yield(DesiredPropertiesUpdate(version: bodyVersion ?? version ?? 0, patch: patch))
        case .methodRequest(let name, let requestId):
            dispatchMethod(name: name, requestId: requestId, payload: payload)
        case .moduleInput:
            break
        }
    }

    func mosquittoFinished(_ connection: MosquittoConnection, code: Int32, reason: String) {
        guard connection === self.connection else { return }
        self.connection = nil
        connectTimer?.cancel()
        connectTimer = nil
        renewalTimer?.cancel()
        renewalTimer = nil
        drainTimer?.cancel()
        drainTimer = nil
        pendingSubscriptions.removeAll()
        subscribed.removeAll()
        resumeFeatureWaiters(nil)
        returnInFlight()
        // The next connection subscribes before it sends anything, so held requests can simply queue.
        if !twinRequestsAwaitingSubscription.isEmpty, phase != .closed { releaseHeldTwinRequests() }
        if phase == .closed {
            for waiter in closeWaiters { waiter.resume() }
            closeWaiters.removeAll()
            return
        }
        let wasConnected = phase == .connected
        if renewing {
            renewing = false
            attemptsSinceConnected = 0
            return startAttempt()
        }
        if let connack = connackCode {
            let text = MosquittoConnection.describeConnAck(connack)
            switch connack {
            case 4, 5: return attemptFailed(.unauthorized(text), detail: text, fatal: true)
            case 3: return attemptFailed(.throttled, detail: text)
            default: return attemptFailed(.networkError(text), detail: text)
            }
        }
        if wasConnected, code == MOSQ_ERR_CONN_LOST.rawValue || code == MOSQ_ERR_SUCCESS.rawValue {
            return attemptFailed(.closedByHub, detail: reason)
        }
        attemptFailed(.networkError(reason), detail: reason)
    }

    // MARK: Failures and retries

    private func attemptFailed(_ reason: DisconnectReason, detail: String, fatal: Bool = false) {
        guard phase != .closed else { return }
        lastError = detail
        connection = nil
        report(.disconnected(reason))
        let policy = options.retryPolicy
        if fatal && !policy.retryUnauthorized {
            logger.error("the hub refused the connection: \(detail); not retrying")
            return stop(with: .unauthorized(detail))
        }
        if let maximum = policy.maximumAttempts, attemptsSinceConnected >= maximum + (everConnected ? 0 : 1) {
            report(.disconnected(.retriesExhausted(attempts: attemptsSinceConnected)))
            return stop(with: .retriesExhausted(attempts: attemptsSinceConnected, lastError: detail))
        }
        let delay = policy.delay(beforeAttempt: max(1, attemptsSinceConnected), random: Double.random(in: 0..<1))
        logger.info("reconnecting in \(delay): \(reason)")
        phase = .backingOff(attempt: attemptsSinceConnected)
        let box = LoopHandoff(self)
        retryTimer = loop.schedule(after: delay) {
            let core = box.value
            guard case .backingOff = core.phase else { return }
            core.startAttempt()
        }
    }

    /// Gives up: everything waiting fails with `error`; a later `connect()` starts over.
    private func stop(with error: DeviceClientError) {
        phase = .stopped
        failEverything(with: error)
    }

    private func failEverything(with error: DeviceClientError) {
        twinRequestsAwaitingSubscription.removeAll()
        for (_, waiter) in connectWaiters { waiter.resume(throwing: error) }
        connectWaiters.removeAll()
        for item in queue.removeAll() {
            senders.removeValue(forKey: item.id)?.resume(throwing: error)
        }
        for waiter in spaceWaiters { waiter.continuation.resume(throwing: error) }
        spaceWaiters.removeAll()
        for (_, request) in twinRequests {
            request.timer.cancel()
            request.continuation.resume(throwing: error)
        }
        twinRequests.removeAll()
        for (_, sender) in senders { sender.resume(throwing: error) }
        senders.removeAll()
    }

    /// After a connection ends: unacknowledged messages go back to the front of the queue; twin requests whose
    /// answer was lost are sent again; method responses are dropped (the hub stopped waiting for them).
    private func returnInFlight() {
        queue.requeueInFlight()
        _ = queue.removeWaiting { $0.kind == .methodResponse }
        let lost = twinRequests.values.filter(\.acknowledged).sorted { $0.item.id > $1.item.id }
        for request in lost {
            queue.requeue(request.item)
            if case .twinRequest(let requestId) = request.item.kind { twinRequests[requestId]?.acknowledged = false }
        }
        admitWaiters()
    }

    private func report(_ state: ConnectionState) {
        guard state != lastState else { return }
        lastState = state
        states.yield(state)
    }

    // MARK: Outbound

    /// Why a new operation cannot be taken now, if it cannot: not started, closed, or given up.
    private var refusal: DeviceClientError? {
        switch phase {
        case .closed: .closed
        case .idle: .notConnected
        case .stopped: .retriesExhausted(attempts: attemptsSinceConnected, lastError: lastError)
        case .connecting, .connected, .backingOff: nil
        }
    }

    /// Queues telemetry; `continuation` resumes at PUBACK or with the reason it will never be sent.
    func send(topic: String, payload: [UInt8], id: UInt64, continuation: SendContinuation) {
        if let refusal { return continuation.resume(throwing: refusal) }
        let item = OutboundItem(id: id, topic: topic, payload: payload, kind: .telemetry)
        if !spaceWaiters.isEmpty, options.queue.policy == .wait {
            return spaceWaiters.append(SpaceWaiter(item: item, continuation: continuation))
        }
        switch queue.enqueue(item, evictOldest: options.queue.policy == .dropOldest) {
        case .queued:
            senders[id] = continuation
        case .queuedEvicting(let evicted):
            senders[id] = continuation
            failEvicted(evicted)
        case .full:
            switch options.queue.policy {
            case .wait:
                spaceWaiters.append(SpaceWaiter(item: item, continuation: continuation))
            case .failFast, .dropOldest:
                continuation.resume(throwing: DeviceClientError.queueFull(messages: queue.count, bytes: queue.bytes))
            }
            return
        }
        pump()
    }

    /// The sender of `id` gave up (task cancelled): take the message out if it has not gone out yet.
    func cancelSend(id: UInt64) {
        if let index = spaceWaiters.firstIndex(where: { $0.item.id == id }) {
            spaceWaiters.remove(at: index).continuation.resume(throwing: CancellationError())
            return
        }
        guard let continuation = senders.removeValue(forKey: id) else { return }
        _ = queue.remove(id: id)
        continuation.resume(throwing: CancellationError())
        admitWaiters()
    }

    private func failEvicted(_ item: OutboundItem) {
        let error = DeviceClientError.queueFull(messages: queue.count, bytes: queue.bytes)
        switch item.kind {
        case .telemetry: senders.removeValue(forKey: item.id)?.resume(throwing: error)
        case .twinRequest(let requestId): failTwinRequest(requestId, with: error)
        case .methodResponse: break
        }
    }

    private func admitWaiters() {
        while let first = spaceWaiters.first, queue.hasRoom(for: first.item.size) {
            spaceWaiters.removeFirst()
            _ = queue.enqueue(first.item, evictOldest: false)
            senders[first.item.id] = first.continuation
        }
    }

    /// Hands waiting items to the connection while the in-flight window has room.
    private func pump() {
        guard phase == .connected, !renewing, let connection else { return }
        while queue.inFlight.count < max(1, options.maximumInFlight), let item = queue.next() {
            switch connection.publish(topic: item.topic, payload: item.payload, qos: 1) {
            case .success(let messageId):
                queue.sent(item, messageId: messageId)
            case .failure(let error):
                queue.putBack(item)
                logger.debug("publish failed, waiting for the connection to recover: \(error)")
                return
            }
        }
    }

    // MARK: Subscriptions

    /// Turns on a feature: subscribes now when connected, and again after every reconnect. `continuation`
    /// resumes once the hub has acknowledged the subscription (at once when not connected: the subscription then
    /// goes out right after the next CONNACK, before anything else).
    func enable(_ subscription: DeviceSubscription, then continuation: CheckedContinuation<Void, Never>? = nil) {
        guard phase != .closed else {
            continuation?.resume()
            return
        }
        let isNew = features.insert(subscription).inserted
        guard phase == .connected, !subscribed.contains(subscription) else {
            continuation?.resume()
            return
        }
        if let continuation { featureWaiters[subscription, default: []].append(continuation) }
        if isNew { subscribe([subscription]) }
    }

    /// Queues the twin requests that waited for the twin-response subscription (also when the hub refused it: the
    /// requests then time out with a clear error rather than wait for ever).
    private func releaseHeldTwinRequests() {
        let held = twinRequestsAwaitingSubscription
        twinRequestsAwaitingSubscription.removeAll()
        for item in held {
            guard case .twinRequest(let requestId) = item.kind, twinRequests[requestId] != nil else { continue }
            enqueueTwinRequest(item, requestId: requestId)
        }
        pump()
    }

    private func resumeFeatureWaiters(_ subscription: DeviceSubscription?) {
        if let subscription {
            for waiter in featureWaiters.removeValue(forKey: subscription) ?? [] { waiter.resume() }
        } else {
            for (_, waiters) in featureWaiters { waiters.forEach { $0.resume() } }
            featureWaiters.removeAll()
        }
    }

    private func subscribe(_ subscriptions: Set<DeviceSubscription>) {
        guard let connection else { return }
        // One SUBSCRIBE per filter, in a fixed order, as the official SDKs do.
        let ordered = DeviceSubscription.allCases.filter(subscriptions.contains)
        for subscription in ordered {
            if case .success(let messageId) = connection.subscribe(subscription.filter(for: identity), qos: 1) {
                pendingSubscriptions[messageId] = [subscription]
            }
        }
    }

    // MARK: Twins

    /// Sends a twin request (GET when `reported` is nil, else a reported-properties PATCH).
    func twinRequest(reported: [UInt8]?, continuation: TwinContinuation) {
        if let refusal { return continuation.resume(throwing: refusal) }
        enable(.twinResponses)
        let requestId = String(nextRequestId)
        nextRequestId += 1
        let topic = reported == nil ? DeviceTopic.twinGet(requestId: requestId) : .twinReportedPatch(requestId: requestId)
        let item = OutboundItem(id: itemIds.make(), topic: topic.topic(for: identity), payload: reported ?? [],
                                kind: .twinRequest(requestId: requestId))
        let box = LoopHandoff(self)
        let timeout = options.operationTimeout
        let timer = loop.schedule(after: timeout) {
            box.value.failTwinRequest(requestId, with: DeviceClientError.timeout("the twin request (no answer in \(timeout))"))
        }
        twinRequests[requestId] = TwinRequest(item: item, continuation: continuation, timer: timer)
        if phase == .connected, !subscribed.contains(.twinResponses) {
            twinRequestsAwaitingSubscription.append(item)
        } else {
            enqueueTwinRequest(item, requestId: requestId)
        }
        pump()
    }

    /// Queues twin request `requestId` (registered in `twinRequests`); fails it when the queue is full.
    private func enqueueTwinRequest(_ item: OutboundItem, requestId: String) {
        switch queue.enqueue(item, evictOldest: options.queue.policy == .dropOldest) {
        case .queued: break
        case .queuedEvicting(let evicted): failEvicted(evicted)
        case .full: failTwinRequest(requestId, with: DeviceClientError.queueFull(messages: queue.count, bytes: queue.bytes))
        }
    }

    /// Ends twin request `requestId` with `error`, taking it out of the queue if it still waits there.
    private func failTwinRequest(_ requestId: String, with error: any Error) {
        guard let request = twinRequests.removeValue(forKey: requestId) else { return }
        request.timer.cancel()
        _ = queue.remove(id: request.item.id)
        request.continuation.resume(throwing: error)
    }

    // MARK: Methods

    func setMethodHandler(_ name: String?, _ handler: DeviceClient.MethodHandler?,
                          then continuation: CheckedContinuation<Void, Never>) {
        guard phase != .closed else { return continuation.resume() }
        if let name { methodHandlers[name] = handler } else { defaultMethodHandler = handler }
        if handler != nil { enable(.methods, then: continuation) } else { continuation.resume() }
    }

    private func dispatchMethod(name: String, requestId: String, payload: [UInt8]) {
        let value: JSONValue = payload.isEmpty ? .null : ((try? JSONValue(parsing: payload)) ?? .string(String(decoding: payload, as: UTF8.self)))
        let call = DirectMethodCall(name: name, payload: value)
        let box = LoopHandoff(self)
        guard let handler = methodHandlers[name] ?? defaultMethodHandler else {
            logger.warning("no handler for direct method '\(name)'; answering 404")
            let body: JSONValue = .object(["message": .string("the device has no handler for method '\(name)'")])
            return respond(status: 404, requestId: requestId, payload: body)
        }
        Task {
            let result = await handler(call)
            box.value.loop.execute {
                box.value.respond(status: result.status, requestId: requestId, payload: result.payload)
            }
        }
    }

    private func respond(status: Int, requestId: String, payload: JSONValue) {
        guard phase != .closed else { return }
        let item = OutboundItem(id: itemIds.make(),
                                topic: DeviceTopic.methodResponse(status: status, requestId: requestId).topic(for: identity),
                                payload: payload.serializedBytes(), kind: .methodResponse)
        // A method response is small and time-critical: it bypasses the queue bound rather than fail.
        queue.requeue(item)
        pump()
    }
}

/// How a client proves its identity to the hub.
enum DeviceCredential: Sendable {
    /// A device or module key; the client makes and renews tokens.
    case key(SharedAccessKey, keyName: String?)
    /// A fixed token (from a connection string's `SharedAccessSignature`); cannot be renewed.
    case token(String)
    /// A callback that returns a fresh token for the requested lifetime.
    case provider(@Sendable (Duration) async throws -> String)
    /// An X.509 client certificate in the TLS context: no password, nothing to renew.
    case x509
}
