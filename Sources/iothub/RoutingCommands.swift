import ArgumentParser
import Foundation
import IoTHubProtocol

/// `iothub route add|list|show|update|delete|test|fallback`: message routes, stored in the hub and used for the
/// next message, without a restart.
struct RouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route", abstract: "Manage message routes (source, condition, endpoint).",
        discussion: """
            Sources: DeviceMessages, TwinChangeEvents, DeviceLifecycleEvents, DeviceConnectionStateEvents.
            Conditions use IoT Hub's routing query language: level = 'critical', $body.temperature > 50 (JSON
            bodies with a UTF encoding), $connectionDeviceId = 'd1', $twin.tags.site = 'north'; true takes all.
            Telemetry that matches no route goes to the built-in endpoint (events) while the fallback is on.
            """,
        subcommands: [Add.self, List.self, Show.self, Update.self, Delete.self, Test.self, Fallback.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a route.")
        @Argument(help: "The route's name (letters, digits, '-', '_', '.').") var name: String
        @Option(help: "DeviceMessages, TwinChangeEvents, DeviceLifecycleEvents or DeviceConnectionStateEvents.")
        var source: String = "DeviceMessages"
        @Option(help: "The routing query; true takes every message.") var condition: String = "true"
        @Option(name: .customLong("endpoint-name"), help: "The endpoint: events, or a custom endpoint's name.") var endpoint: String
        @Flag(help: "Add it disabled.") var disabled = false
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            let body: JSONValue = ["source": .string(source), "condition": .string(condition),
                                   "endpointNames": [.string(endpoint)], "isEnabled": .bool(!disabled)]
            try await withHub(hub) { client in
                printJSON(try await client.send(.PUT, "/routing/routes/" + pathSegment(name), body: body.serializedBytes()).body)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the routes as JSON lines.")
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                try printJSONLines(try await client.send(.GET, "/routing/routes").body)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one route.")
        @Argument var name: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in printJSON(try await client.send(.GET, "/routing/routes/" + pathSegment(name)).body) }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a route's source, condition, endpoint or state.")
        @Argument var name: String
        @Option var source: String?
        @Option var condition: String?
        @Option(name: .customLong("endpoint-name")) var endpoint: String?
        @Option(help: "true or false.") var enabled: Bool?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            var patch = JSONObject()
            if let source { patch["source"] = .string(source) }
            if let condition { patch["condition"] = .string(condition) }
            if let endpoint { patch["endpointNames"] = [.string(endpoint)] }
            if let enabled { patch["isEnabled"] = .bool(enabled) }
            guard !patch.isEmpty else { throw ValidationError("give at least one of --source, --condition, --endpoint-name, --enabled") }
            try await withHub(hub) { client in
                printJSON(try await client.send(.PATCH, "/routing/routes/" + pathSegment(name),
                                                body: JSONValue.object(patch).serializedBytes()).body)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a route.")
        @Argument var name: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                _ = try await client.send(.DELETE, "/routing/routes/" + pathSegment(name))
                print("deleted route '\(name)'")
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a route (or every route) on a sample message without sending it.")
        @Argument(help: "A route's name; without one, every route of --source is evaluated.") var name: String?
        @Option(help: "A condition to test instead of a stored route's.") var condition: String?
        @Option var source: String = "DeviceMessages"
        @Option(help: "The message body.") var body: String = ""
        @Option(name: .customLong("app-property"), help: "An application property, key=value (repeatable).")
        var appProperties: [String] = []
        @Option(name: .customLong("system-property"), help: "A system property, e.g. contentType=application/json (repeatable).")
        var systemProperties: [String] = []
        @Option(help: "The sender, for $twin and $connectionDeviceId.") var device: String = "test-device"
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            func pairs(_ items: [String]) throws -> JSONValue {
                var object = JSONObject()
                for item in items {
                    guard let equals = item.firstIndex(of: "=") else { throw ValidationError("'\(item)' is not key=value") }
                    object[String(item[..<equals])] = .string(String(item[item.index(after: equals)...]))
                }
                return .object(object)
            }
            var request: JSONObject = [
                "source": .string(source), "deviceId": .string(device),
                "message": ["body": .string(body), "appProperties": try pairs(appProperties),
                            "systemProperties": try pairs(systemProperties)],
            ]
            if let condition {
                request["routeDefinition"] = ["name": .string(name ?? "test"), "source": .string(source),
                                              "condition": .string(condition), "endpointNames": ["events"]]
            } else if let name {
                request["route"] = .string(name)
            }
            try await withHub(hub) { client in
                printJSON(try await client.send(.POST, "/routing/test", body: JSONValue.object(request).serializedBytes()).body)
            }
        }
    }

    struct Fallback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn the fallback route (unmatched telemetry to events) on or off.")
        @Argument(help: "on or off.") var state: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            guard ["on", "off"].contains(state) else { throw ValidationError("say on or off") }
            let body: JSONValue = ["isEnabled": .bool(state == "on")]
            try await withHub(hub) { client in
                printJSON(try await client.send(.PUT, "/routing/fallback", body: body.serializedBytes()).body)
            }
        }
    }
}

/// `iothub endpoint add|list|delete`: custom routing endpoints: event streams read like the built-in endpoint
/// (their own `EntityPath`), and storage endpoints that write batches into the hub's blob store.
struct EndpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoint", abstract: "Manage custom routing endpoints.",
        subcommands: [Add.self, List.self, Delete.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an event-stream or storage endpoint.",
            discussion: """
                An event stream is read with any Event Hubs client: the connection string of
                `iothub connection-string --eventhub` with EntityPath set to the endpoint's name.
                A storage endpoint writes a blob per partition into CONTAINER every --batch-frequency seconds (or
                at --chunk-size bytes), named by --file-name-format.
                """)
        @Argument var name: String
        @Option(help: "eventStream or storage.") var type: String = "eventStream"
        @Option(help: "Event stream: partitions (1 to 32).") var partitions: Int = 4
        @Option(help: "Storage: the blob container.") var container: String?
        @Option(help: "Storage: avro or json.") var encoding: String = "avro"
        @Option(help: "Storage: the blob name format.") var fileNameFormat: String = "{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}"
        @Option(help: "Storage: seconds between batches (60 to 720).") var batchFrequency: Int = 300
        @Option(help: "Storage: bytes that end a batch early (10485760 to 524288000).") var chunkSize: Int64 = 314_572_800
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            var body: JSONObject = ["type": .string(type)]
            if type.lowercased() == "storage" {
                guard let container else { throw ValidationError("a storage endpoint needs --container") }
                body["containerName"] = .string(container)
                body["encoding"] = .string(encoding)
                body["fileNameFormat"] = .string(fileNameFormat)
                body["batchFrequencyInSeconds"] = .integer(Int64(batchFrequency))
                body["maxChunkSizeInBytes"] = .integer(chunkSize)
            } else {
                body["partitionCount"] = .integer(Int64(partitions))
            }
            try await withHub(hub) { client in
                printJSON(try await client.send(.PUT, "/routing/endpoints/" + pathSegment(name),
                                                body: JSONValue.object(body).serializedBytes()).body)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the endpoints as JSON lines, events first.")
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                try printJSONLines(try await client.send(.GET, "/routing/endpoints").body)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a custom endpoint no route or enrichment uses.")
        @Argument var name: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                _ = try await client.send(.DELETE, "/routing/endpoints/" + pathSegment(name))
                print("deleted endpoint '\(name)'")
            }
        }
    }
}

/// `iothub enrichment add|list|delete`: application properties added to messages sent to some endpoints.
struct EnrichmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrichment", abstract: "Manage message enrichments.",
        subcommands: [Add.self, List.self, Delete.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or replace an enrichment: a fixed value, $iothubname, or $twin.tags.x / $twin.properties.desired.x.")
        @Argument var key: String
        @Option var value: String
        @Option(name: .customLong("endpoint-name"), help: "An endpoint it applies to (repeatable); events is the built-in one.")
        var endpoints: [String]
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            let body: JSONValue = ["value": .string(value), "endpointNames": .array(endpoints.map(JSONValue.string))]
            try await withHub(hub) { client in
                printJSON(try await client.send(.PUT, "/routing/enrichments/" + pathSegment(key), body: body.serializedBytes()).body)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the enrichments as JSON lines.")
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                try printJSONLines(try await client.send(.GET, "/routing/enrichments").body)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an enrichment.")
        @Argument var key: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                _ = try await client.send(.DELETE, "/routing/enrichments/" + pathSegment(key))
                print("deleted enrichment '\(key)'")
            }
        }
    }
}
