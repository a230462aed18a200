/// The HTTP step of provisioning: sends one bulk registry call (`POST /devices`, a JSON array of operations) and
/// returns the hub's answer. ``HTTPBulkRegistryTransport`` is the real one; tests answer in process.
package protocol BulkRegistryTransport: Sendable {
    /// Sends `body` and returns the response.
    /// - Throws: ``BulkRegistryTransportError`` when no response came.
    func post(_ body: [UInt8]) async throws(BulkRegistryTransportError) -> BulkRegistryResponse
}

/// The hub's answer to a bulk registry call.
package struct BulkRegistryResponse: Sendable {
    /// The HTTP status.
    package var status: Int
    /// The `Retry-After` header, when present.
    package var retryAfter: String?
    /// The body (IoT Hub's bulk result, or an error document).
    package var body: [UInt8]

    package init(status: Int, retryAfter: String? = nil, body: [UInt8] = []) {
        self.status = status
        self.retryAfter = retryAfter
        self.body = body
    }
}

/// Why a bulk registry call got no response.
package enum BulkRegistryTransportError: Error, Sendable, CustomStringConvertible {
    /// The connection failed, closed or timed out: worth retrying.
    case connection(String)
    /// A failure retrying does not mend (TLS trust, a malformed endpoint).
    case permanent(String)
    /// The run was cancelled.
    case cancelled

    package var description: String {
        switch self {
        case .connection(let reason): "connection failed: \(reason)"
        case .permanent(let reason): reason
        case .cancelled: "cancelled"
        }
    }
}
