import IoTHubProtocol

/// A routing configuration compiled for ingest: which endpoints each message goes to, with the enrichments of
/// each, as store records. Pure: ``RoutingService`` keeps the current table and fetches twins when it needs them.
public struct RoutingTable: Sendable {
    public let configuration: RoutingConfiguration
    /// Whether a condition or an enrichment reads the sender's twin.
    public let needsTwin: Bool
    /// The names the enabled conditions read (``QueryExpression/fieldRoots``): a message's document holds only these.
    let referencedNames: Set<String>
    /// Whether every telemetry message goes to the built-in endpoint unchanged (no route, no enrichment, the
    /// fallback on): ingest then skips routing altogether.
    public let isPassThrough: Bool
    let hubName: String
    let targets: [String: Target]
    let routesBySource: [RouteSource: [CompiledRoute]]

    /// An enabled route as ingest evaluates it: its condition and its endpoint's key.
    struct CompiledRoute: Sendable {
        let condition: QueryExpression
        let endpoint: String
    }

    /// An endpoint as records for it are made.
    struct Target: Sendable {
        let name: String
        let destination: Destination
        let enrichments: [MessageEnrichment]

        enum Destination: Sendable {
            case stream(Int, EventHubPartitioner?)
            case storage
        }
    }

    /// - Parameter hubName: the hub's name, for `$iothubname` enrichments.
    public init(_ configuration: RoutingConfiguration, hubName: String) {
        self.configuration = configuration
        self.hubName = hubName
        var targets: [String: Target] = [:]
        func enrichments(of name: String) -> [MessageEnrichment] {
            configuration.enrichments.filter { $0.endpointNames.contains { $0.lowercased() == name.lowercased() } }
        }
        targets[RoutingConfiguration.builtInEndpointName] = Target(
            name: RoutingConfiguration.builtInEndpointName, destination: .stream(0, nil),
            enrichments: enrichments(of: RoutingConfiguration.builtInEndpointName))
        for endpoint in configuration.endpoints {
            let destination: Target.Destination
            switch endpoint.kind {
            case .eventStream(let partitions, let stream): destination = .stream(stream, EventHubPartitioner(count: partitions))
            case .storage: destination = .storage
            }
            targets[endpoint.name.lowercased()] = Target(name: endpoint.name, destination: destination,
                                                         enrichments: enrichments(of: endpoint.name))
        }
        self.targets = targets
        routesBySource = Dictionary(grouping: configuration.routes.filter(\.isEnabled), by: \.source).mapValues { routes in
            routes.map { CompiledRoute(condition: $0.condition.condition, endpoint: $0.endpointName.lowercased()) }
        }
        referencedNames = configuration.routes.filter(\.isEnabled).reduce(into: Set<String>()) { $0.formUnion($1.condition.condition.fieldRoots) }
        needsTwin = referencedNames.contains("$twin") || configuration.enrichments.contains { $0.twinPath != nil }
        isPassThrough = configuration.isDefault
    }

    /// Whether messages from `source` go anywhere (system events are made only when a route takes them).
    public func routes(_ source: RouteSource) -> Bool {
        source == .deviceMessages ? (configuration.fallbackEnabled || routesBySource[source] != nil) : routesBySource[source] != nil
    }

    /// The names of the endpoints `record` goes to: every enabled route of its source whose condition it meets
    /// (an endpoint once however many routes name it), else `events` for telemetry while the fallback is on.
    public func endpoints(for record: EventRecord, twin: JSONValue?) -> [String] {
        endpoints(for: message(record, twin: twin), source: record.source)
    }

    /// What the enabled conditions see of a record: the names they read (``referencedNames``), the body parsed
    /// only for `$body`.
    func message(_ record: EventRecord, twin: JSONValue?) -> RoutingMessage {
        RoutingMessage(body: record.body, applicationProperties: (try? JSONStringMembers.parse(record.properties)) ?? [],
                       systemProperties: (try? JSONStringMembers.parse(record.system)) ?? [], twin: twin,
                       reading: referencedNames)
    }

    /// The endpoint keys a message of `source` goes to.
    func endpoints(for message: RoutingMessage, source: RouteSource) -> [String] {
        var names: [String] = []
        if let routes = routesBySource[source] {
            for index in routes.indices where !names.contains(routes[index].endpoint)
                && routes[index].condition.evaluate(on: message.document) == .bool(true) {
                names.append(routes[index].endpoint)
            }
        }
        if names.isEmpty, source == .deviceMessages, configuration.fallbackEnabled {
            names.append(RoutingConfiguration.builtInEndpointName)
        }
        return names
    }

    /// The records to store for `record`: one per endpoint it goes to, enriched for that endpoint; none when it
    /// goes nowhere (IoT Hub drops it).
    public func route(_ record: EventRecord, twin: JSONValue?) -> [EventRecord] {
        if isPassThrough { return record.source == .deviceMessages ? [record] : [] }
        return records(record, to: endpoints(for: record, twin: twin), twin: twin)
    }

    /// `record` as stored for each of the endpoints `names` (keys from ``endpoints(for:twin:)``).
    func records(_ record: EventRecord, to names: [String], twin: JSONValue?) -> [EventRecord] {
        names.compactMap { name in
            guard let target = targets[name] else { return nil }
            var routed = record
            switch target.destination {
            case .stream(let stream, let partitioner):
                routed.destination = .stream(stream)
                if let partitioner { routed.partition = partitioner.partition(for: record.identity.deviceId) }
            case .storage:
                routed.destination = .storage(target.name)
            }
            if !target.enrichments.isEmpty { routed.properties = enriched(record.properties, target.enrichments, twin: twin) }
            return routed
        }
    }

    /// The application properties with `enrichments` set (an enrichment replaces a property of the same key).
    func enriched(_ properties: [UInt8], _ enrichments: [MessageEnrichment], twin: JSONValue?) -> [UInt8] {
        var members = (try? JSONStringMembers.parse(properties)) ?? []
        for enrichment in enrichments {
            let value = self.value(of: enrichment, twin: twin)
            members.removeAll { $0.0 == enrichment.key }
            members.append((enrichment.key, value))
        }
        var bytes: [UInt8] = []
        JSONStringMembers.write(members, to: &bytes)
        return bytes
    }

    /// An enrichment's value for a sender: the hub's name, the twin's value (a string as it is, anything else as
    /// JSON), or, when the twin has no such value, the text itself.
    func value(of enrichment: MessageEnrichment, twin: JSONValue?) -> String {
        if enrichment.value.lowercased() == "$iothubname" { return hubName }
        guard let path = enrichment.twinPath else { return enrichment.value }
        var node = twin
        for part in path { node = node?[part] }
        switch node {
        case .string(let text)?: return text
        case let value? where !value.isNull: return value.serialized()
        default: return enrichment.value
        }
    }
}
