/// One HTTPS request for ``UnsafeCurlWorker``: the hub's file-upload endpoints or a blob storage operation.
struct HTTPSRequest: Sendable {
    enum Method: String, Sendable {
        case get = "GET", put = "PUT", post = "POST"
    }

    var method: Method
    /// The whole URL, `https://host[:port]/path?query`.
    var url: String
    /// Header lines, `Name: value`.
    var headers: [String] = []
    /// The body (sent with `Content-Length`; empty for none).
    var body: [UInt8] = []
    /// How the connection is verified, and whether it presents a client certificate.
    var tls: HTTPSTLSSettings
    /// How long connecting (TCP and TLS) may take.
    var connectTimeout: Duration = .seconds(30)
    /// The transfer fails when no byte moves for this long (a stalled link), however long the whole transfer takes.
    var stallTimeout: Duration = .seconds(60)
    /// Whether the connection closes after this request instead of staying in the worker's cache for the next:
    /// for the last request to a host (an idle TLS connection costs the device memory and the server a socket).
    var closesConnection = false
    /// Responses longer than this fail (a block list of 50,000 blocks is about 5 MB).
    var maximumResponseBytes = 16 << 20
}

/// TLS for one request: verification is always on; only where trust comes from, and the client identity, vary.
struct HTTPSTLSSettings: Sendable {
    /// A PEM file of CAs (`CURLOPT_CAINFO`); `nil` for the system store or ``context``'s store.
    var caFile: String?
    /// A context whose trust store the connection adopts (an application's own `SSL_CTX`), when set.
    var context: DeviceTLSContext?
    /// Whether the connection verifies with ``context``'s trust store instead of ``caFile`` or the system store.
    var adoptsTrustStore = false
    /// Whether the connection presents ``context``'s client certificate and key (X.509 devices, to the hub only).
    /// Such connections are never reused by another request, so one device's identity never serves another's.
    var presentsClientCertificate = false
}

/// The status and body of an HTTPS response.
struct HTTPSResponse: Sendable {
    var status: Int
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Why an HTTPS request got no response.
struct HTTPSTransportError: Error, Sendable, CustomStringConvertible {
    /// libcurl's `CURLcode`.
    var code: Int
    /// libcurl's message for it, with the detail from its error buffer.
    var message: String

    /// The peer or the trust store is the problem, not the network: retrying will not help.
    var isTLSVerificationFailure: Bool {
        // CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE,
        // CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR.
        [60, 58, 59, 77, 82, 83].contains(code)
    }

    var description: String { "\(message) (curl error \(code))" }
}
