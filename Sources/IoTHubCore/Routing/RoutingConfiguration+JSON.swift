import IoTHubProtocol

/// The JSON form of routing, as the store keeps it and the REST API exchanges it.
extension RoutingConfiguration {
    public var json: JSONValue {
        .object([
            "endpoints": .array(endpoints.map(\.json)),
            "routes": .array(routes.map(\.json)),
            "enrichments": .array(enrichments.map(\.json)),
            "fallbackRoute": .object(["isEnabled": .bool(fallbackEnabled)]),
            "nextStream": .integer(Int64(nextStream)),
        ])
    }

    /// Reads and validates a stored or posted configuration.
    public init(json: JSONValue) throws(HubError) {
        self.init()
        endpoints = try RoutingJSON.array(json, "endpoints").map { value throws(HubError) in try RoutingEndpoint(json: value) }
        routes = try RoutingJSON.array(json, "routes").map { value throws(HubError) in try MessageRoute(json: value) }
        enrichments = try RoutingJSON.array(json, "enrichments").map { value throws(HubError) in try MessageEnrichment(json: value) }
        fallbackEnabled = json["fallbackRoute"]?["isEnabled"]?.boolValue ?? true
        let streams = endpoints.compactMap { endpoint -> Int? in
            if case .eventStream(_, let stream) = endpoint.kind { return stream }
            return nil
        }
        nextStream = max(Int(json["nextStream"]?.int64Value ?? 1), (streams.max() ?? 0) + 1)
        try validate()
    }
}

extension RoutingEndpoint {
    public var json: JSONValue {
        switch kind {
        case .eventStream(let partitions, let stream):
            return .object(["name": .string(name), "type": "eventStream", "partitionCount": .integer(Int64(partitions)),
                            "stream": .integer(Int64(stream))])
        case .storage(let settings):
            return .object([
                "name": .string(name), "type": "storage", "containerName": .string(settings.containerName),
                "encoding": .string(settings.encoding.rawValue), "fileNameFormat": .string(settings.fileNameFormat.text),
                "batchFrequencyInSeconds": .integer(Int64(settings.batchFrequencySeconds)),
                "maxChunkSizeInBytes": .integer(settings.maxChunkSizeBytes),
            ])
        }
    }

    /// An endpoint from JSON: `type` is `eventStream` (with `partitionCount`, default 4) or `storage` (with
    /// `containerName` and optional `encoding`, `fileNameFormat`, `batchFrequencyInSeconds`, `maxChunkSizeInBytes`).
    public init(json: JSONValue) throws(HubError) {
        let name = try RoutingJSON.string(json, "name")
        switch try RoutingJSON.string(json, "type").lowercased() {
        case "eventstream", "eventhub", "eventhubs":
            let partitions = Int(json["partitionCount"]?.int64Value ?? 4)
            self.init(name: name, kind: .eventStream(partitionCount: partitions, stream: Int(json["stream"]?.int64Value ?? 0)))
        case "storage", "storagecontainer", "storagecontainers":
            var settings = StorageEndpointSettings(containerName: try RoutingJSON.string(json, "containerName"))
            if let encoding = json["encoding"]?.stringValue {
                do { settings.encoding = try StorageEncoding(parsing: encoding) } catch {
                    throw HubError(.argumentInvalid, "endpoint '\(name)': \(error)")
                }
            }
            if let format = json["fileNameFormat"]?.stringValue {
                do { settings.fileNameFormat = try StorageFileNameFormat(parsing: format) } catch {
                    throw HubError(.argumentInvalid, "endpoint '\(name)': \(error)")
                }
            }
            if let frequency = json["batchFrequencyInSeconds"]?.int64Value { settings.batchFrequencySeconds = Int(frequency) }
            if let size = json["maxChunkSizeInBytes"]?.int64Value { settings.maxChunkSizeBytes = size }
            self.init(name: name, kind: .storage(settings))
        case let other:
            throw HubError(.argumentInvalid, "endpoint '\(name)': unknown type '\(other)'; use eventStream or storage")
        }
    }
}

extension MessageRoute {
    public var json: JSONValue {
        .object(["name": .string(name), "source": .string(source.rawValue), "condition": .string(condition.text),
                 "endpointNames": .array([.string(endpointName)]), "isEnabled": .bool(isEnabled)])
    }

    /// A route from JSON: `name`, `source`, `condition` (default `true`), `endpointNames` (exactly one, as IoT
    /// Hub requires) and `isEnabled` (default `true`).
    /// - Throws: 400004 with the condition's position and reason when it does not parse.
    public init(json: JSONValue) throws(HubError) {
        let name = try RoutingJSON.string(json, "name")
        let source = try RouteSource(name: try RoutingJSON.string(json, "source"))
        let text = json["condition"]?.stringValue ?? "true"
        let condition: RoutingQuery
        do { condition = try RoutingQuery(parsing: text) } catch {
            throw HubError(.argumentInvalid, "route '\(name)': the condition is invalid at position \(error.offset): \(error.message)")
        }
        let endpoints = json["endpointNames"]?.arrayValue?.compactMap(\.stringValue) ?? json["endpointName"]?.stringValue.map { [$0] } ?? []
        guard endpoints.count == 1 else {
            throw HubError(.argumentInvalid, "route '\(name)' names \(endpoints.count) endpoints; a route has exactly one")
        }
        self.init(name: name, source: source, condition: condition, endpointName: endpoints[0],
                  isEnabled: json["isEnabled"]?.boolValue ?? true)
    }
}

extension MessageEnrichment {
    public var json: JSONValue {
        .object(["key": .string(key), "value": .string(value), "endpointNames": .array(endpointNames.map(JSONValue.string))])
    }

    public init(json: JSONValue) throws(HubError) {
        self.init(key: try RoutingJSON.string(json, "key"), value: try RoutingJSON.string(json, "value"),
                  endpointNames: json["endpointNames"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }
}

enum RoutingJSON {
    static func string(_ json: JSONValue, _ key: String) throws(HubError) -> String {
        guard let value = json[key]?.stringValue else {
            throw HubError(.argumentInvalid, "'\(key)' is missing or not a string")
        }
        return value
    }

    static func array(_ json: JSONValue, _ key: String) throws(HubError) -> [JSONValue] {
        guard let value = json[key] else { return [] }
        guard let array = value.arrayValue else { throw HubError(.argumentInvalid, "'\(key)' is not an array") }
        return array
    }
}
