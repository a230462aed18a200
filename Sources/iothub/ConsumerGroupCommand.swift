import ArgumentParser
import Foundation
import IoTHubProtocol

/// `iothub consumer-group list|create|delete`: the built-in endpoint's consumer groups (or a custom event-stream
/// endpoint's, with `--event-hub`), which Event Hubs readers name in their receiver addresses (`$Default` always
/// exists).
struct ConsumerGroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer-group", abstract: "Manage the built-in endpoint's consumer groups.",
        subcommands: [List.self, Create.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the consumer groups as JSON lines, $Default first.")
        @Option(name: .customLong("event-hub"), help: "A custom event-stream endpoint instead of the built-in one.")
        var eventHub: String?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                try printJSONLines(try await client.send(.GET, "/eventhub/consumergroups" + query(eventHub)).body)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a consumer group (1 to 50 letters, digits, '.', '-', '_').")
        @Argument var name: String
        @Option(name: .customLong("event-hub"), help: "A custom event-stream endpoint instead of the built-in one.")
        var eventHub: String?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                printJSON(try await client.send(.PUT, "/eventhub/consumergroups/" + pathSegment(name) + query(eventHub)).body)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a consumer group ($Default cannot be deleted).")
        @Argument var name: String
        @Option(name: .customLong("event-hub"), help: "A custom event-stream endpoint instead of the built-in one.")
        var eventHub: String?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                _ = try await client.send(.DELETE, "/eventhub/consumergroups/" + pathSegment(name) + query(eventHub))
                print("deleted consumer group '\(name)'")
            }
        }
    }
}

/// `?eventHub=NAME` for a custom event stream, nothing for the built-in endpoint.
private func query(_ eventHub: String?) -> String {
    eventHub.map { "?eventHub=" + PercentEncoding.encode($0) } ?? ""
}
