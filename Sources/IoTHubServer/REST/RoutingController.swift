import Foundation
import Hummingbird
import IoTHubCore
import IoTHubProtocol

/// Message routing over REST (this hub's addition, for `iothub route`, `iothub endpoint` and `iothub enrichment`;
/// IoT Hub manages routing through Azure Resource Manager). Reads need ServiceConnect, changes RegistryWrite;
/// a change takes effect for the next message, without a restart.
/// - `GET /routing`: the whole configuration.
/// - `GET /routing/endpoints`, `PUT` and `DELETE /routing/endpoints/{name}`.
/// - `GET /routing/routes`, `GET`, `PUT` (create), `PATCH` (update) and `DELETE /routing/routes/{name}`.
/// - `GET /routing/enrichments`, `PUT` and `DELETE /routing/enrichments/{key}`.
/// - `PUT /routing/fallback` `{"isEnabled":…}`.
/// - `POST /routing/test`: evaluates the routes (or one route, by name or definition) on a sample message.
struct RoutingController {
    let hub: HubServices

    func register(on router: Router<HubRequestContext>) {
        let routing = hub.routing
        let (read, write) = (router.requiring([.serviceConnect], hub), router.requiring([.registryWrite], hub))
        read.get("routing") { _, _ in Self.json(routing.configuration.json) }

        read.get("routing/endpoints") { _, _ in
            Self.json(.array([RoutingEndpoint.builtIn.json] + routing.configuration.endpoints.map(\.json)))
        }
        write.put("routing/endpoints/:name") { request, context in
            let name = try context.identifier("name")
            var body = try await Self.object(request)
            body["name"] = .string(name)
            let endpoint = try RoutingEndpoint(json: .object(body))
            if case .storage = endpoint.kind, hub.fileUploads == nil {
                throw HubError.invalid("this hub runs without storage, so a storage endpoint could not write its batches; "
                                       + "start it with storage enabled (see `iothub serve --help`)")
            }
            let added = try await routing.change { configuration in
                try configuration.add(endpoint)
                return configuration.endpoint(named: name)!
            }
            return Self.json(added.json, status: .created)
        }
        write.delete("routing/endpoints/:name") { _, context in
            let name = try context.identifier("name")
            let removed = try await routing.change { try $0.deleteEndpoint(named: name) }
            if case .storage = removed.kind {
                let dropped = try await hub.store.clearOutbox(endpoint: removed.name)
                if dropped > 0 {
                    hub.logger.warning("deleted a storage endpoint with unwritten messages", metadata: [
                        "endpoint": "\(removed.name)", "messages": "\(dropped)"])
                }
            }
            return Response(status: .noContent)
        }

        read.get("routing/routes") { _, _ in Self.json(.array(routing.configuration.routes.map(\.json))) }
        read.get("routing/routes/:name") { _, context in
            let name = try context.identifier("name")
            guard let route = routing.configuration.route(named: name) else {
                throw HubError(.routingResourceNotFound, "there is no route '\(name)'; `iothub route list` shows them")
            }
            return Self.json(route.json)
        }
        write.put("routing/routes/:name") { request, context in
            var body = try await Self.object(request)
            body["name"] = .string(try context.identifier("name"))
            let route = try MessageRoute(json: .object(body))
            try await routing.change { try $0.put(route, replacing: false) }
            return Self.json(route.json, status: .created)
        }
        write.patch("routing/routes/:name") { request, context in
            let name = try context.identifier("name")
            let patch = try await Self.object(request)
            guard let current = routing.configuration.route(named: name) else {
                throw HubError(.routingResourceNotFound, "there is no route '\(name)'; add it with `iothub route add`")
            }
            guard case .object(var merged) = current.json else { throw HubError(.serverError, "route JSON") }
            for (key, value) in patch where key != "name" { merged[key] = value }
            let route = try MessageRoute(json: .object(merged))
            try await routing.change { try $0.put(route, replacing: true) }
            return Self.json(route.json)
        }
        write.delete("routing/routes/:name") { _, context in
            let name = try context.identifier("name")
            try await routing.change { try $0.deleteRoute(named: name) }
            return Response(status: .noContent)
        }

        read.get("routing/enrichments") { _, _ in Self.json(.array(routing.configuration.enrichments.map(\.json))) }
        write.put("routing/enrichments/:key") { request, context in
            var body = try await Self.object(request)
            body["key"] = .string(try context.identifier("key"))
            let enrichment = try MessageEnrichment(json: .object(body))
            try await routing.change { try $0.put(enrichment) }
            return Self.json(enrichment.json)
        }
        write.delete("routing/enrichments/:key") { _, context in
            let key = try context.identifier("key")
            try await routing.change { try $0.deleteEnrichment(key: key) }
            return Response(status: .noContent)
        }

        write.put("routing/fallback") { request, _ in
            guard let enabled = try await Self.object(request)["isEnabled"]?.boolValue else {
                throw HubError.invalid("send {\"isEnabled\": true} or {\"isEnabled\": false}")
            }
            try await routing.change { $0.fallbackEnabled = enabled }
            return Self.json(["isEnabled": .bool(enabled)])
        }

        read.post("routing/test") { request, _ in
            Self.json(try await Self.test(try await Self.object(request), routing: routing))
        }
    }

    /// `POST /routing/test`: `{"route": name}` or `{"routeDefinition": {source, condition, endpointNames}}` or
    /// neither (every route), with `{"message": {"body", "appProperties", "systemProperties"}, "source", "deviceId",
    /// "moduleId"}`. Answers which routes matched, the endpoints and each endpoint's application properties.
    static func test(_ body: JSONObject, routing: RoutingService) async throws -> JSONValue {
        var route: MessageRoute?
        if let name = body["route"]?.stringValue {
            guard let found = routing.configuration.route(named: name) else {
                throw HubError(.routingResourceNotFound, "there is no route '\(name)'; `iothub route list` shows them")
            }
            route = found
        } else if case .object(var definition)? = body["routeDefinition"] {
            if definition["name"] == nil { definition["name"] = "test" }
            route = try MessageRoute(json: .object(definition))
        }
        let source = try route?.source ?? RouteSource(name: body["source"]?.stringValue ?? RouteSource.deviceMessages.rawValue)
        let message = body["message"]?.objectValue ?? [:]
        let text: String
        switch message["body"] {
        case .string(let string)?: text = string
        case let value? where !value.isNull: text = value.serialized()
        default: text = ""
        }
        func strings(_ key: String) -> [(String, String)] {
            (message[key]?.objectValue ?? [:]).map { ($0.key, $0.value.stringValue ?? $0.value.serialized()) }
        }
        let deviceId = body["deviceId"]?.stringValue ?? "test-device"
        let identity = DeviceIdentity(deviceId: deviceId, moduleId: body["moduleId"]?.stringValue)
        var system = strings("systemProperties").map { (MessageSystemNames.wireName($0.0), $0.1) }
        system.append(("iothub-connection-device-id", deviceId))
        if let moduleId = identity.moduleId { system.append(("iothub-connection-module-id", moduleId)) }
        system.append(("iothub-message-source", source.messageSource))
        var properties: [UInt8] = []
        JSONStringMembers.write(strings("appProperties"), to: &properties)
        var systemBytes: [UInt8] = []
        JSONStringMembers.write(system, to: &systemBytes)
        let record = EventRecord(identity: identity, enqueuedMilliseconds: Date().milliseconds,
                                 body: Array(text.utf8), properties: properties, system: systemBytes, source: source)
        let result = await routing.test(record, route: route)
        return .object([
            "result": .string(result.routes.contains { $0.matched } ? "true" : "false"),
            "routes": .array(result.routes.map { .object(["name": .string($0.route), "matched": .bool($0.matched),
                                                          "isEnabled": .bool($0.enabled)]) }),
            "endpoints": .array(result.endpoints.map(JSONValue.string)),
            "fallback": .bool(result.fallback),
            "properties": .object(JSONObject(result.properties.map { entry in
                (entry.endpoint, JSONValue.object(JSONObject(entry.properties.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
            })),
        ])
    }

    static func object(_ request: Request) async throws -> JSONObject {
        let bytes = try await request.bodyBytes(limit: 1 << 20)
        guard !bytes.isEmpty else { return [:] }
        let value: JSONValue
        do { value = try JSONValue(parsing: bytes) } catch { throw HubError.invalid("the body is not valid JSON: \(error)") }
        guard case .object(let object) = value else { throw HubError.invalid("the body must be a JSON object") }
        return object
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        JSONResponse.raw(value.serializedBytes(), status: status)
    }
}

/// System property names as `iothub route test` accepts them: IoT Hub's wire names, or the routing query's
/// (`contentType`, `$contentEncoding`).
enum MessageSystemNames {
    static let aliases: [String: String] = [
        "contenttype": "content-type", "contentencoding": "content-encoding", "messageid": "message-id",
        "correlationid": "correlation-id", "userid": "user-id", "connectiondeviceid": "iothub-connection-device-id",
        "connectionmoduleid": "iothub-connection-module-id",
    ]

    static func wireName(_ name: String) -> String {
        let key = name.hasPrefix("$") ? String(name.dropFirst()) : name
        return aliases[key.lowercased()] ?? name
    }
}
