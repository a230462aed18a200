import AsyncHTTPClient
import Foundation
import IoTHubProtocol
import NIOCore
import NIOSSL

/// ``BulkRegistryTransport`` over AsyncHTTPClient: `POST {endpoint}/devices?api-version=2021-04-12`, signed with the
/// policy's SAS token, on a pool of up to `connections` HTTP/1.1 connections.
package final class HTTPBulkRegistryTransport: BulkRegistryTransport {
    private let http: HTTPClient
    private let url: String
    private let connectionString: ConnectionString
    private let timeout: Duration

    /// - Parameter caFile: a CA to trust for HTTPS (`nil`: the system trust store).
    package init(endpoint: String, connectionString: ConnectionString, caFile: String?, connections: Int,
                 timeout: Duration) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) }
        tls.minimumTLSVersion = .tlsv12
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        // AsyncHTTPClient keeps trying to connect for a waiting request until this passes: a refused connection
        // is an attempt of the retry policy after 5 s, not the default 10.
        configuration.timeout.connect = .seconds(5)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, connections)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        url = endpoint + "/devices?api-version=2021-04-12"
        self.connectionString = connectionString
        self.timeout = timeout
    }

    /// Closes the connections; call once, after the last ``post(_:)``.
    package func shutdown() async {
        try? await http.shutdown()
    }

    package func post(_ body: [UInt8]) async throws(BulkRegistryTransportError) -> BulkRegistryResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: try token())
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(body)
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
            let bytes = Array(buffer: try await response.body.collect(upTo: 4 << 20))
            return BulkRegistryResponse(status: Int(response.status.code),
                                        retryAfter: response.headers.first(name: "Retry-After"), body: bytes)
        } catch is CancellationError {
            throw .cancelled
        } catch let error as NIOSSLError {
            throw .permanent("TLS failed: \(error); pass --ca-file with the hub's CA")
        } catch let error as HTTPClientError where error == .invalidURL || error == .emptyHost {
            throw .permanent("the endpoint \(url) is unusable: \(error)")
        } catch {
            throw .connection("\(error)")
        }
    }

    private func token() throws(BulkRegistryTransportError) -> String {
        guard let keyName = connectionString.sharedAccessKeyName, let text = connectionString.sharedAccessKey,
              let key = try? SharedAccessKey(base64: text) else {
            throw .permanent("the service connection string has no usable policy key")
        }
        return SASToken.generate(resourceURI: connectionString.hostName, key: key,
                                 expiry: UInt64(Date().timeIntervalSince1970) + 3600, keyName: keyName,
                                 style: .serviceSDK).description
    }
}

extension Duration {
    /// The duration in whole nanoseconds (for NIO's `TimeAmount`).
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
