import AsyncHTTPClient
import Foundation
import IoTHubProtocol
import NIOCore
import NIOHTTP1
import NIOSSL

/// The hub's service REST API as the simulator's service side uses it: direct methods, desired-property patches,
/// C2D sends and the telemetry stream, authenticated with a shared access policy (ServiceConnect, and
/// RegistryWrite for twin patches).
public final class ServiceClient: Sendable {
    public let connectionString: ConnectionString
    /// `https://{HostName}` unless given (`http://127.0.0.1:PORT` for a plain HTTP port).
    public let endpoint: String
    let http: HTTPClient
    private let key: SharedAccessKey
    private let keyName: String
    static let apiVersion = "2021-04-12"

    public init(connectionString: ConnectionString, endpoint: String?, caFile: String?, connections: Int = 64) throws(FleetError) {
        guard connectionString.kind == .policy, let keyName = connectionString.sharedAccessKeyName,
              let keyText = connectionString.sharedAccessKey, let key = try? SharedAccessKey(base64: keyText)
        else {
            throw .invalidConfiguration("the service side needs a shared access policy connection string "
                                        + "(HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…)")
        }
        self.connectionString = connectionString
        self.endpoint = endpoint ?? "https://\(connectionString.hostName)"
        self.key = key
        self.keyName = keyName
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) }
        tls.minimumTLSVersion = .tlsv12
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// A service SAS token valid for an hour.
    func token() -> String {
        SASToken.generate(resourceURI: connectionString.hostName, key: key,
                          expiry: UInt64(Date().timeIntervalSince1970) + 3600, keyName: keyName,
                          style: .serviceSDK).description
    }

    /// A request to `path` (with the API version) with the service token.
    func request(_ path: String, method: HTTPMethod, body: [UInt8]? = nil, query: String = "") -> HTTPClientRequest {
        var request = HTTPClientRequest(url: "\(endpoint)/\(path)?api-version=\(Self.apiVersion)\(query)")
        request.method = method
        request.headers.add(name: "Authorization", value: token())
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        return request
    }

    /// Sends `request` and returns its status and body (at most 1 MiB).
    func execute(_ request: HTTPClientRequest, timeout: Duration) async throws -> (status: Int, body: [UInt8]) {
        let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
        let body = Array(buffer: try await response.body.collect(upTo: 1 << 20))
        return (Int(response.status.code), body)
    }

    /// The failure class of an HTTP status.
    static func errorClass(status: Int) -> FleetErrorClass {
        switch status {
        case 429: .throttled
        case 401, 403: .unauthorized
        case 408, 504: .timeout
        case 400..<500: .refused
        default: .other
        }
    }

    static func errorClass(_ error: any Error) -> FleetErrorClass {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .timeout
        }
        return .network
    }
}
