import Foundation
import IoTHubProtocol
import Logging
import Synchronization

/// Message routing for the whole hub: the current ``RoutingConfiguration`` (kept in the store, changed by
/// `iothub route` and `iothub endpoint` without a restart), routing of ingested records to their endpoints, the
/// custom event streams' ``EventHubService``s, IoT Hub's system events, and the twins that conditions and
/// enrichments read.
///
/// Changes are applied one at a time, saved in the store, then used for the next message. Other hub nodes pick
/// them up with ``refresh()``.
public final class RoutingService: Sendable {
    /// The store setting that holds the configuration's JSON.
    public static let settingKey = "routing"
    /// How long a twin read for routing is used before it is read again (changes made through this process are
    /// seen at once).
    public static let twinCacheLifetime: TimeInterval = 30

    let store: any HubStore
    let signal: EventLogSignal
    let logger: Logger
    let metrics: HubMetrics?
    /// The hub's name, as IoT Hub stamps it in system events' `hubName` and `$iothubname` enrichments.
    public let hubName: String
    /// The built-in endpoint (`events`).
    public let builtIn: EventHubService
    let maximumReceiversPerPartition: Int

    private struct State {
        var table: RoutingTable
        var revision: Int64 = 0
        var streams: [String: EventHubService] = [:]
        var twins: [DeviceIdentity: (twin: JSONValue?, expires: Date)] = [:]
        /// Batches waiting to be routed in order, behind one that waits for twins.
        var pending: [PendingBatch] = []
        var draining = false
    }

    private struct PendingBatch {
        var records: [EventRecord]
        var completion: @Sendable ([EventRecord]) -> Void
    }

    private let state: Mutex<State>
    private let changes = Mutex<Task<Void, Never>?>(nil)
    private let connectionCounter = Atomic<UInt64>(0)

    /// Routing with the default configuration until ``refresh()`` reads the stored one.
    /// - Parameters:
    ///   - builtIn: the built-in endpoint.
    ///   - signal: the event log's append signal (custom streams' receivers wait on it).
    ///   - hubName: the hub's name for system events and `$iothubname`.
    public init(store: any HubStore, builtIn: EventHubService, signal: EventLogSignal, hubName: String, logger: Logger,
                metrics: HubMetrics? = nil, maximumReceiversPerPartition: Int = 5) {
        self.store = store
        self.builtIn = builtIn
        self.signal = signal
        self.hubName = hubName
        self.logger = logger
        self.metrics = metrics
        self.maximumReceiversPerPartition = maximumReceiversPerPartition
        state = Mutex(State(table: RoutingTable(RoutingConfiguration(), hubName: hubName)))
    }

    // MARK: Configuration

    /// The configuration in use.
    public var configuration: RoutingConfiguration { state.withLock { $0.table.configuration } }

    /// Whether routing changes nothing now (no route, no enrichment, the fallback on).
    public var isPassThrough: Bool { state.withLock { $0.table.isPassThrough } }

    /// The table in use.
    public var table: RoutingTable { state.withLock { $0.table } }

    /// Reads the stored configuration and uses it when it changed (another hub node changed it, or at start).
    /// - Throws: when the store cannot be read; a stored configuration that no longer validates is logged and
    ///   the current one kept.
    public func refresh() async throws {
        guard let text = try await store.setting(Self.settingKey) else { return }
        let json: JSONValue
        let configuration: RoutingConfiguration
        do {
            json = try JSONValue(parsing: text)
            configuration = try RoutingConfiguration(json: json)
        } catch {
            return logger.error("the stored routing configuration is invalid; keeping the current one", metadata: ["error": "\(error)"])
        }
        let revision = json["revision"]?.int64Value ?? 0
        let changed = state.withLock { state -> Bool in
            guard revision != state.revision || configuration != state.table.configuration else { return false }
            apply(configuration, revision: revision, to: &state)
            return true
        }
        if changed { logger.info("routing configuration loaded", metadata: summary(configuration)) }
    }

    /// Applies a change to the configuration and saves it; changes run one at a time, in order.
    /// - Returns: what `change` returns.
    /// - Throws: the change's ``HubError`` (nothing changes), or a store error (then nothing is saved and the hub
    ///   keeps the previous configuration).
    @discardableResult
    public func change<Result: Sendable>(_ change: @escaping @Sendable (inout RoutingConfiguration) throws -> Result) async throws -> Result {
        try await serially { [self] in
            var configuration = self.configuration
            let result = try change(&configuration)
            try configuration.validate()
            let revision = state.withLock { $0.revision } + 1
            var json = configuration.json
            if case .object(var object) = json {
                object["revision"] = .integer(revision)
                json = .object(object)
            }
            try await store.saveSetting(Self.settingKey, json.serialized())
            state.withLock { apply(configuration, revision: revision, to: &$0) }
            logger.info("routing configuration changed", metadata: summary(configuration))
            return result
        }
    }

    private func serially<Result: Sendable>(_ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        let task = changes.withLock { previous -> Task<Result, Error> in
            let waitFor = previous
            let task = Task { _ = await waitFor?.value; return try await body() }
            previous = Task { _ = try? await task.value }
            return task
        }
        return try await task.value
    }

    private func apply(_ configuration: RoutingConfiguration, revision: Int64, to state: inout State) {
        state.table = RoutingTable(configuration, hubName: hubName)
        state.revision = revision
        var streams: [String: EventHubService] = [:]
        for endpoint in configuration.endpoints {
            guard case .eventStream(let partitions, let stream) = endpoint.kind else { continue }
            let key = endpoint.name.lowercased()
            if let existing = state.streams[key], existing.stream == stream, existing.partitioner.count == partitions {
                streams[key] = existing
            } else {
                streams[key] = EventHubService(name: endpoint.name, stream: stream, partitioner: EventHubPartitioner(count: partitions),
                                               signal: signal, store: store, createdAt: Date(), logger: logger,
                                               maximumReceiversPerPartition: maximumReceiversPerPartition)
            }
        }
        state.streams = streams
    }

    private func summary(_ configuration: RoutingConfiguration) -> Logger.Metadata {
        ["endpoints": "\(configuration.endpoints.count)", "routes": "\(configuration.routes.count)",
         "enrichments": "\(configuration.enrichments.count)", "fallback": "\(configuration.fallbackEnabled)"]
    }

    // MARK: Event streams

    /// The event stream an Event Hubs client names (`EntityPath`, without case): the built-in endpoint by its
    /// event hub name, or a custom event-stream endpoint by its endpoint name.
    public func eventStream(named name: String) -> EventHubService? {
        if builtIn.isNamed(name) { return builtIn }
        return state.withLock { $0.streams[name.lowercased()] }
    }

    /// The names readers can use, the built-in endpoint's first.
    public var eventStreamNames: [String] {
        [builtIn.name] + state.withLock { $0.streams.values.map(\.name).sorted() }
    }

    /// ``eventStreamNames`` quoted for a refusal: `'myhub', 'hot'`.
    public var eventStreamList: String {
        eventStreamNames.map { "'\($0)'" }.joined(separator: ", ")
    }

    // MARK: Routing

    /// The records to store for `records`: one per endpoint each goes to (see ``RoutingTable/route(_:twin:)``).
    ///
    /// Completions run in the order of the calls, so batches reach the store in ingest order (a device's messages
    /// stay in order). `completion` runs at once unless the table reads twins that are not cached, or an earlier
    /// batch is still waiting for its twins; then the batches wait in a queue that one task drains.
    public func route(_ records: [EventRecord], completion: @escaping @Sendable ([EventRecord]) -> Void) {
        let table = self.table
        let now = Date()
        let ready = state.withLock { state -> [DeviceIdentity: JSONValue?]? in
            guard state.pending.isEmpty, !state.draining else { return nil }
            guard table.needsTwin else { return [:] }
            var cached: [DeviceIdentity: JSONValue?] = [:]
            for record in records where cached[record.identity] == nil {
                guard let twin = Self.cachedTwin(record.identity, at: now, in: state) else { return nil }
                cached[record.identity] = twin
            }
            return cached
        }
        if let ready { return completion(records.flatMap { table.route($0, twin: ready[$0.identity] ?? nil) }) }
        let startDrainer = state.withLock { state -> Bool in
            state.pending.append(PendingBatch(records: records, completion: completion))
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDrainer { Task { await drainPending() } }
    }

    /// Routes queued batches one at a time, reading the twins they need.
    private func drainPending() async {
        while true {
            let next = state.withLock { state -> PendingBatch? in
                guard !state.pending.isEmpty else {
                    state.draining = false
                    return nil
                }
                return state.pending.removeFirst()
            }
            guard let batch = next else { return }
            let table = self.table
            var twins: [DeviceIdentity: JSONValue?] = [:]
            if table.needsTwin {
                let now = Date()
                for record in batch.records where twins[record.identity] == nil {
                    let cached = state.withLock { Self.cachedTwin(record.identity, at: now, in: $0) }
                    if let cached { twins[record.identity] = cached } else { twins[record.identity] = await twin(record.identity, now: now) }
                }
            }
            batch.completion(batch.records.flatMap { table.route($0, twin: twins[$0.identity] ?? nil) })
        }
    }

    /// A twin cached and not yet expired at `now` (itself `nil` when the identity has none), or `nil` when it must
    /// be read.
    private static func cachedTwin(_ identity: DeviceIdentity, at now: Date, in state: State) -> JSONValue?? {
        guard let entry = state.twins[identity], entry.expires > now else { return nil }
        return .some(entry.twin)
    }

    /// The sender's twin as conditions see it (`tags`, `properties.desired`, `properties.reported`), cached.
    func twin(_ identity: DeviceIdentity, now: Date) async -> JSONValue? {
        var twin: JSONValue?
        do {
            if let (_, document) = try await store.twin(identity) { twin = try JSONValue(parsing: document) }
        } catch {
            logger.warning("routing could not read a twin; its conditions see none", metadata: ["device": "\(identity)", "error": "\(error)"])
        }
        let value = twin
        state.withLock { state in
            if state.twins.count > 100_000 { state.twins.removeAll(keepingCapacity: true) }
            state.twins[identity] = (value, now.addingTimeInterval(Self.twinCacheLifetime))
        }
        return twin
    }

    /// Forgets a cached twin (it changed).
    public func twinChanged(_ identity: DeviceIdentity) {
        state.withLock { _ = $0.twins.removeValue(forKey: identity) }
    }

    // MARK: Testing routes

    /// What would happen to a sample message, without sending it: for each route of the message's source,
    /// whether it matches; the endpoints it would go to; and the application properties each endpoint would get.
    public func test(_ record: EventRecord, route: MessageRoute? = nil) async -> RouteTestResult {
        var configuration = self.configuration
        if let route {
            configuration.routes.removeAll { $0.name.lowercased() == route.name.lowercased() }
            configuration.routes.insert(route, at: 0)
        }
        let table = RoutingTable(configuration, hubName: hubName)
        let twin = table.needsTwin ? await self.twin(record.identity, now: Date()) : nil
        let message = table.message(record, twin: twin)
        let routes = configuration.routes.filter { $0.source == record.source && (route == nil || $0.name == route?.name) }
        let matches = routes.map { (route: $0.name, matched: $0.isEnabled && $0.condition.matches(message), enabled: $0.isEnabled) }
        let keys = table.endpoints(for: message, source: record.source)
        let properties = keys.compactMap { key -> (endpoint: String, properties: [String: String])? in
            guard let target = table.targets[key], let routed = table.records(record, to: [key], twin: twin).first else { return nil }
            return (target.name, Dictionary((try? JSONStringMembers.parse(routed.properties)) ?? [], uniquingKeysWith: { $1 }))
        }
        let endpoints = keys.map { table.targets[$0]?.name ?? $0 }
        return RouteTestResult(routes: matches, endpoints: endpoints, properties: properties,
                               fallback: matches.allSatisfy { !$0.matched } && endpoints == [RoutingConfiguration.builtInEndpointName])
    }

    // MARK: System events

    /// Whether a route takes events of `source` (a system event is made only then).
    public func routes(_ source: RouteSource) -> Bool { table.routes(source) }

    /// Stores a system event for every endpoint a route sends it to; logs and drops it when the store fails (no
    /// client waits for a system event).
    public func publish(_ event: SystemEvent) {
        guard routes(event.source) else { return }
        let record = event.record(hubName: hubName, partition: builtIn.partitioner.partition(for: event.identity.deviceId))
        route([record]) { [self] routed in
            guard !routed.isEmpty else { return }
            store.appendEvents(routed) { [self] result in
                switch result {
                case .success(let sequences):
                    signal.appended(sequences.upperBound)
                    metrics?.systemEventsRouted(routed.count, source: event.source.rawValue)
                case .failure(let error):
                    logger.error("a system event was not stored", metadata: ["source": "\(event.source.rawValue)",
                                                                             "device": "\(event.identity)", "error": "\(error)"])
                }
            }
        }
    }

    /// The next connection-state sequence number: IoT Hub's 64 hexadecimal digits, increasing for every
    /// connection event of this hub (time first, so they also increase across restarts and hub nodes).
    public func nextConnectionSequenceNumber(at time: Date) -> String {
        let ticks = UInt64(max(0, time.timeIntervalSince1970) * 10_000_000)
        let counter = connectionCounter.add(1, ordering: .relaxed).newValue
        return Self.hex(0) + Self.hex(ticks) + Self.hex(counter) + Self.hex(1)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}

/// What ``RoutingService/test(_:route:)`` found.
public struct RouteTestResult: Sendable {
    /// Each route of the message's source: whether it matched, and whether it is enabled.
    public var routes: [(route: String, matched: Bool, enabled: Bool)]
    /// The endpoints the message would go to.
    public var endpoints: [String]
    /// The application properties each endpoint would get (with its enrichments).
    public var properties: [(endpoint: String, properties: [String: String])]
    /// Whether only the fallback route would take it.
    public var fallback: Bool
}
