import ArgumentParser
import Foundation
import IoTHubProtocol

/// `iothub ca`: CA certificates for X.509 CA-signed devices, with IoT Hub's proof of possession.
struct CACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca", abstract: "Manage CA certificates for X.509 CA-signed devices.",
        discussion: """
            Proof of possession, as IoT Hub does it: `iothub ca upload NAME --file ca.pem`, then `iothub ca code NAME` \
            prints a verification code; sign a certificate with CN=<code> using the CA's key and `iothub ca verify NAME \
            --file proof.pem`. Only verified CAs authenticate devices (CN = device id).
            """,
        subcommands: [Upload.self, List.self, Show.self, Code.self, Verify.self, Delete.self])

    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload (or replace) a CA certificate.")
        @Argument var name: String
        @Option(help: "PEM file of the CA certificate.") var file: String
        @Flag(help: "Mark it verified without the proof of possession (you vouch for the key).") var verified = false
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            let pem = try readFile(file)
            try await withHub(hub) { client in
                let body: JSONValue = ["properties": ["certificate": .string(pem), "isVerified": .bool(verified)]]
                printJSON(try await client.send(.PUT, "/certificates/\(pathSegment(name))", body: body.serializedBytes(),
                                                headers: [("If-Match", "*")]).body)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List CA certificates.")
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in printJSON(try await client.send(.GET, "/certificates").body) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one CA certificate.")
        @Argument var name: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in printJSON(try await client.send(.GET, "/certificates/\(pathSegment(name))").body) }
        }
    }

    struct Code: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new verification code for the proof of possession.")
        @Argument var name: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                let response = try await client.send(.POST, "/certificates/\(pathSegment(name))/generateVerificationCode",
                                                     headers: [("If-Match", "*")])
                guard let code = (try? JSONValue(parsing: response.body))?["properties"]?["verificationCode"]?.stringValue else {
                    throw ValidationError("the hub returned no verification code")
                }
                print(code)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove possession of the CA's key with a certificate signed by it whose CN is the verification code.")
        @Argument var name: String
        @Option(help: "PEM file of the verification certificate.") var file: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            let pem = try readFile(file)
            try await withHub(hub) { client in
                let body: JSONValue = ["certificate": .string(pem)]
                printJSON(try await client.send(.POST, "/certificates/\(pathSegment(name))/verify", body: body.serializedBytes(),
                                                headers: [("If-Match", "*")]).body)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a CA certificate; devices it signed stop connecting.")
        @Argument var name: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                _ = try await client.send(.DELETE, "/certificates/\(pathSegment(name))", headers: [("If-Match", "*")])
                print("deleted \(name)")
            }
        }
    }
}

private func readFile(_ path: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw ValidationError("cannot read \(path): \(error.localizedDescription)")
    }
}
