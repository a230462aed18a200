import IoTHubProtocol

/// The hub's message routing, as stored and as `iothub route`/`iothub endpoint` change it: custom endpoints,
/// routes, enrichments and the fallback route. IoT Hub keeps the same things in its `routing` resource
/// properties; the JSON form here follows their names (`endpointNames`, `isEnabled`, `fallbackRoute`).
///
/// A configuration is always valid once built: ``validated()`` is run by every change and by ``init(json:)``.
public struct RoutingConfiguration: Sendable, Hashable {
    /// The custom endpoints (the built-in `events` is implicit).
    public var endpoints: [RoutingEndpoint]
    /// The routes, in the order they were added.
    public var routes: [MessageRoute]
    /// The enrichments, by key.
    public var enrichments: [MessageEnrichment]
    /// Whether telemetry that matches no route goes to the built-in endpoint.
    public var fallbackEnabled: Bool
    /// The next custom event stream's number (streams are never reused, so a deleted endpoint's messages are
    /// never read as a new one's).
    public var nextStream: Int

    /// The built-in endpoint's name in routes and enrichments.
    public static let builtInEndpointName = "events"
    /// Names no custom endpoint may take (IoT Hub reserves them).
    public static let reservedNames: Set<String> = ["events", "operationsmonitoringevents", "filenotifications", "$default"]
    /// IoT Hub's limits per hub.
    public static let maximumCustomEndpoints = 10
    public static let maximumRoutes = 100
    public static let maximumEnrichments = 10

    /// No custom endpoint, no route, no enrichment; the fallback on: every message goes to `events`.
    public init() {
        endpoints = []
        routes = []
        enrichments = []
        fallbackEnabled = true
        nextStream = 1
    }

    /// Whether routing changes nothing: every telemetry message goes to `events` as it is, and no system event
    /// is routed anywhere.
    public var isDefault: Bool { routes.isEmpty && enrichments.isEmpty && fallbackEnabled }

    /// An endpoint by name (without case), the built-in one included.
    public func endpoint(named name: String) -> RoutingEndpoint? {
        if name.lowercased() == Self.builtInEndpointName { return .builtIn }
        return endpoints.first { $0.name.lowercased() == name.lowercased() }
    }

    /// A route by name (without case).
    public func route(named name: String) -> MessageRoute? {
        routes.first { $0.name.lowercased() == name.lowercased() }
    }

    // MARK: Changes

    /// Adds a custom endpoint; an event-stream endpoint gets the next stream number.
    /// - Throws: 409160 when the name is taken, 400004 when it is invalid or the hub has 10 custom endpoints.
    public mutating func add(_ endpoint: RoutingEndpoint) throws(HubError) {
        guard self.endpoint(named: endpoint.name) == nil else {
            throw HubError(.routingResourceAlreadyExists, "an endpoint named '\(endpoint.name)' already exists")
        }
        guard endpoints.count < Self.maximumCustomEndpoints else {
            throw HubError(.argumentInvalid, "the hub already has \(Self.maximumCustomEndpoints) custom endpoints, the most IoT Hub allows; delete one first")
        }
        var endpoint = endpoint
        if case .eventStream(let partitions, _) = endpoint.kind {
            endpoint.kind = .eventStream(partitionCount: partitions, stream: nextStream)
            nextStream += 1
        }
        endpoints.append(endpoint)
        try validate()
    }

    /// Deletes a custom endpoint. - Throws: 404160 when there is none, 400004 while a route or enrichment uses it.
    public mutating func deleteEndpoint(named name: String) throws(HubError) -> RoutingEndpoint {
        guard let index = endpoints.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
            throw HubError(.routingResourceNotFound, "there is no custom endpoint '\(name)'; `iothub endpoint list` shows them")
        }
        let users = routes.filter { $0.endpointName.lowercased() == name.lowercased() }.map(\.name)
        guard users.isEmpty else {
            throw HubError(.argumentInvalid, "endpoint '\(name)' is used by route(s) \(users.joined(separator: ", ")); delete or change them first")
        }
        let enriched = enrichments.filter { $0.endpointNames.contains { $0.lowercased() == name.lowercased() } }.map(\.key)
        guard enriched.isEmpty else {
            throw HubError(.argumentInvalid, "endpoint '\(name)' is used by enrichment(s) \(enriched.joined(separator: ", ")); delete or change them first")
        }
        return endpoints.remove(at: index)
    }

    /// Adds or replaces a route by name.
    /// - Parameter replacing: `true` to update an existing route (404160 when there is none), `false` to add one
    ///   (409160 when the name is taken).
    public mutating func put(_ route: MessageRoute, replacing: Bool) throws(HubError) {
        let index = routes.firstIndex { $0.name.lowercased() == route.name.lowercased() }
        switch (index, replacing) {
        case (nil, true):
            throw HubError(.routingResourceNotFound, "there is no route '\(route.name)'; add it with `iothub route add`")
        case (.some, false):
            throw HubError(.routingResourceAlreadyExists, "a route named '\(route.name)' already exists; change it with `iothub route update`")
        case (let index?, true):
            routes[index] = route
        case (nil, false):
            guard routes.count < Self.maximumRoutes else {
                throw HubError(.argumentInvalid, "the hub already has \(Self.maximumRoutes) routes, the most IoT Hub allows; delete one first")
            }
            routes.append(route)
        }
        try validate()
    }

    /// Deletes a route. - Throws: 404160 when there is none.
    public mutating func deleteRoute(named name: String) throws(HubError) -> MessageRoute {
        guard let index = routes.firstIndex(where: { $0.name.lowercased() == name.lowercased() }) else {
            throw HubError(.routingResourceNotFound, "there is no route '\(name)'; `iothub route list` shows them")
        }
        return routes.remove(at: index)
    }

    /// Adds or replaces an enrichment by key.
    public mutating func put(_ enrichment: MessageEnrichment) throws(HubError) {
        if let index = enrichments.firstIndex(where: { $0.key == enrichment.key }) {
            enrichments[index] = enrichment
        } else {
            guard enrichments.count < Self.maximumEnrichments else {
                throw HubError(.argumentInvalid, "the hub already has \(Self.maximumEnrichments) enrichments, the most IoT Hub allows; delete one first")
            }
            enrichments.append(enrichment)
        }
        try validate()
    }

    /// Deletes an enrichment. - Throws: 404160 when there is none.
    public mutating func deleteEnrichment(key: String) throws(HubError) -> MessageEnrichment {
        guard let index = enrichments.firstIndex(where: { $0.key == key }) else {
            throw HubError(.routingResourceNotFound, "there is no enrichment '\(key)'")
        }
        return enrichments.remove(at: index)
    }

    /// Checks names, references and limits.
    public func validate() throws(HubError) {
        var names = Set<String>()
        for endpoint in endpoints {
            try RoutingNames.validate(endpoint.name, what: "endpoint")
            guard !Self.reservedNames.contains(endpoint.name.lowercased()) else {
                throw HubError(.argumentInvalid, "'\(endpoint.name)' is reserved for IoT Hub's own endpoints; choose another name")
            }
            guard names.insert(endpoint.name.lowercased()).inserted else {
                throw HubError(.routingResourceAlreadyExists, "two endpoints are named '\(endpoint.name)'")
            }
            try endpoint.kind.validate()
        }
        var routeNames = Set<String>()
        for route in routes {
            try RoutingNames.validate(route.name, what: "route")
            guard routeNames.insert(route.name.lowercased()).inserted else {
                throw HubError(.routingResourceAlreadyExists, "two routes are named '\(route.name)'")
            }
            guard endpoint(named: route.endpointName) != nil else {
                throw HubError(.argumentInvalid, "route '\(route.name)' names endpoint '\(route.endpointName)', which does not exist; "
                               + "add it with `iothub endpoint add` or use 'events'")
            }
        }
        for enrichment in enrichments {
            try enrichment.validate()
            for name in enrichment.endpointNames where endpoint(named: name) == nil {
                throw HubError(.argumentInvalid, "enrichment '\(enrichment.key)' names endpoint '\(name)', which does not exist")
            }
        }
    }
}

/// Route and endpoint names as IoT Hub allows them: 1 to 64 letters, digits, `-`, `_` and `.`.
enum RoutingNames {
    static func validate(_ name: String, what: String) throws(HubError) {
        let scalars = Array(name.unicodeScalars)
        guard (1...64).contains(scalars.count) else {
            throw HubError(.argumentInvalid, "a \(what) name has 1 to 64 characters; '\(name)' has \(scalars.count)")
        }
        guard scalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) })
        else {
            throw HubError(.argumentInvalid, "\(what) name '\(name)': only letters, digits, '-', '_' and '.' are allowed")
        }
    }
}

/// Where routed messages go.
public struct RoutingEndpoint: Sendable, Hashable {
    /// The name routes and enrichments use (and an event stream's `EntityPath`).
    public var name: String
    /// What it is.
    public var kind: Kind

    /// An event stream or a storage endpoint.
    public enum Kind: Sendable, Hashable {
        /// An event stream read like the built-in endpoint (Event Hubs over AMQP, under its own `EntityPath`).
        /// `stream` is assigned when the endpoint is added.
        case eventStream(partitionCount: Int, stream: Int)
        /// Batches written as blobs into the hub's blob store.
        case storage(StorageEndpointSettings)

        func validate() throws(HubError) {
            switch self {
            case .eventStream(let partitions, _):
                guard (1...32).contains(partitions) else {
                    throw HubError(.argumentInvalid, "an event-stream endpoint has 1 to 32 partitions, not \(partitions)")
                }
            case .storage(let settings):
                try settings.validate()
            }
        }
    }

    /// An endpoint; an event stream's `stream` is assigned by ``RoutingConfiguration/add(_:)``.
    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    /// The built-in endpoint (stream 0); its partition count is the hub's.
    public static let builtIn = RoutingEndpoint(name: RoutingConfiguration.builtInEndpointName,
                                                kind: .eventStream(partitionCount: 0, stream: 0))
}

/// A route: messages of one source that satisfy its condition go to its endpoint.
public struct MessageRoute: Sendable, Hashable {
    /// Unique without case.
    public var name: String
    /// What it takes messages from.
    public var source: RouteSource
    /// The condition in IoT Hub's routing query language; `true` takes every message.
    public var condition: RoutingQuery
    /// The endpoint it sends to: `events` or a custom endpoint.
    public var endpointName: String
    /// A disabled route takes nothing.
    public var isEnabled: Bool

    /// A route.
    public init(name: String, source: RouteSource, condition: RoutingQuery, endpointName: String, isEnabled: Bool = true) {
        self.name = name
        self.source = source
        self.condition = condition
        self.endpointName = endpointName
        self.isEnabled = isEnabled
    }
}

/// An application property added to messages sent to some endpoints: a fixed value, the hub's name
/// (`$iothubname`), or a value from the sender's twin (`$twin.tags.x`, `$twin.properties.desired.x`,
/// `$twin.properties.reported.x`). A twin path the twin does not have adds the path itself, as IoT Hub does.
public struct MessageEnrichment: Sendable, Hashable {
    /// The application property's name.
    public var key: String
    /// A fixed value, `$iothubname`, or a twin path.
    public var value: String
    /// The endpoints whose messages get it.
    public var endpointNames: [String]

    /// An enrichment.
    public init(key: String, value: String, endpointNames: [String]) {
        self.key = key
        self.value = value
        self.endpointNames = endpointNames
    }

    /// The twin path the value names (`["tags", "x"]`), or `nil` for a fixed value.
    public var twinPath: [String]? {
        guard value.hasPrefix("$twin.") else { return nil }
        let path = value.dropFirst("$twin.".count).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard path.count >= 2, path.allSatisfy({ !$0.isEmpty }) else { return nil }
        return path
    }

    func validate() throws(HubError) {
        guard (1...64).contains(key.utf8.count), !key.hasPrefix("$"),
              key.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            throw HubError(.argumentInvalid, "enrichment key '\(key)': 1 to 64 printable ASCII characters, not starting with '$'")
        }
        guard (1...128).contains(value.utf8.count) else {
            throw HubError(.argumentInvalid, "enrichment '\(key)': the value has 1 to 128 characters, not \(value.utf8.count)")
        }
        if value.hasPrefix("$twin.") {
            guard let path = twinPath, path[0] == "tags" || (path[0] == "properties" && path.count >= 3
                                                            && (path[1] == "desired" || path[1] == "reported")) else {
                throw HubError(.argumentInvalid, "enrichment '\(key)': '\(value)' is not a twin path; use $twin.tags.x, "
                               + "$twin.properties.desired.x or $twin.properties.reported.x")
            }
        }
        guard !endpointNames.isEmpty else {
            throw HubError(.argumentInvalid, "enrichment '\(key)' names no endpoint; give at least one (events for the built-in endpoint)")
        }
    }
}
