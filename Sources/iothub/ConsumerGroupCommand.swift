import ArgumentParser
import Foundation
import IoTHubProtocol

/// `iothub consumer-group list|create|delete`: the built-in endpoint's consumer groups, which Event Hubs readers
/// name in their receiver addresses (`$Default` always exists).
struct ConsumerGroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumer-group", abstract: "Manage the built-in endpoint's consumer groups.",
        subcommands: [List.self, Create.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the consumer groups as JSON lines, $Default first.")
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                guard case .array(let groups) = try JSONValue(parsing: try await client.send(.GET, "/eventhub/consumergroups").body)
                else { return }
                for group in groups { print(group.serialized()) }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a consumer group (1 to 50 letters, digits, '.', '-', '_').")
        @Argument var name: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                printJSON(try await client.send(.PUT, "/eventhub/consumergroups/" + pathSegment(name)).body)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a consumer group ($Default cannot be deleted).")
        @Argument var name: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                _ = try await client.send(.DELETE, "/eventhub/consumergroups/" + pathSegment(name))
                print("deleted consumer group '\(name)'")
            }
        }
    }
}
