import AsyncHTTPClient
import Foundation
import IoTHubProtocol
import IoTHubServer
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import NIOSSL

/// A small client for the hub's REST API, used by the admin verbs. Finds the hub from `--connection-string`, else
/// `IOTHUB_CONNECTION_STRING`, else the local data directory (the `iothubowner` policy and `tls/ca.pem`).
struct HubClient {
    let connectionString: ConnectionString
    let endpoint: String
    let http: HTTPClient

    init(options: HubClientOptions) async throws {
        let environment = ProcessInfo.processInfo.environment
        var caFile = options.caFile ?? environment["IOTHUB_CA_FILE"]
        // The data directory's CA, trusted besides the system's when no CA is named (a connection string from the
        // environment for the local hub, whose certificate the system does not trust).
        var additionalCA: String?
        if caFile == nil {
            let path = options.data.dataDirectory + "/tls/ca.pem"
            if FileManager.default.fileExists(atPath: path) { additionalCA = path }
        }
        if let text = options.connectionString ?? environment["IOTHUB_CONNECTION_STRING"] {
            connectionString = try ConnectionString(parsing: text)
        } else {
            let configuration = options.data.configuration()
            guard FileManager.default.fileExists(atPath: configuration.databasePath) else {
                throw HubClientError("no hub found: pass --connection-string, set IOTHUB_CONNECTION_STRING, or start `iothub serve --data-dir \(configuration.dataDirectory)`")
            }
            let store = try SQLiteHubStore(path: configuration.databasePath)
            defer { store.close() }
            guard let owner = try await store.policies().first(where: { $0.name == "iothubowner" }) else {
                throw HubClientError("the hub in \(configuration.dataDirectory) has no iothubowner policy")
            }
            connectionString = owner.connectionString(hostName: configuration.connectionHostName)
            if caFile == nil, FileManager.default.fileExists(atPath: configuration.tlsDirectory + "/ca.pem") {
                caFile = configuration.tlsDirectory + "/ca.pem"
            }
        }
        guard connectionString.kind == .policy else {
            throw HubClientError("the connection string must be a shared access policy's (HostName=…;SharedAccessKeyName=…;SharedAccessKey=…)")
        }
        endpoint = options.endpoint ?? "https://\(connectionString.hostName)"
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) } else if let additionalCA {
            tls.additionalTrustRoots = [.file(additionalCA)]
        }
        tls.minimumTLSVersion = .tlsv12
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(330))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async {
        try? await http.shutdown()
    }

    private func token() throws -> String {
        guard let keyName = connectionString.sharedAccessKeyName, let key = connectionString.sharedAccessKey else {
            throw HubClientError("the connection string has no policy key")
        }
        return SASToken.generate(resourceURI: connectionString.hostName, key: try SharedAccessKey(base64: key),
                                 expiry: UInt64(Date().timeIntervalSince1970) + 3600, keyName: keyName).description
    }

    /// Sends a request and returns the status and body; IoT Hub error bodies become a readable error.
    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws
        -> (status: Int, body: [UInt8])
    {
        var request = HTTPClientRequest(url: endpoint + path + (path.contains("?") ? "&" : "?") + "api-version=2021-04-12")
        request.method = method
        request.headers.add(name: "Authorization", value: try token())
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await http.execute(request, timeout: .seconds(330))
        let bytes = Array(buffer: try await response.body.collect(upTo: 16 << 20))
        guard (200..<300).contains(Int(response.status.code)) else {
            let message = (try? JSONValue(parsing: bytes))?["Message"]?.stringValue ?? String(decoding: bytes, as: UTF8.self)
            throw HubClientError("\(response.status.code): \(message)")
        }
        return (Int(response.status.code), bytes)
    }

    /// Streams a response body line by line.
    func streamLines(_ path: String, _ handle: (String) throws -> Void) async throws {
        var request = HTTPClientRequest(url: endpoint + path)
        request.headers.add(name: "Authorization", value: try token())
        let response = try await http.execute(request, timeout: .hours(24 * 365))
        guard response.status.code == 200 else {
            let bytes = Array(buffer: try await response.body.collect(upTo: 1 << 20))
            throw HubClientError("\(response.status.code): \(String(decoding: bytes, as: UTF8.self))")
        }
        var pending: [UInt8] = []
        for try await chunk in response.body {
            pending += Array(buffer: chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                // Empty lines are the stream's heartbeats.
                if newline > pending.startIndex { try handle(String(decoding: pending[..<newline], as: UTF8.self)) }
                pending.removeSubrange(...newline)
            }
        }
    }
}

struct HubClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
