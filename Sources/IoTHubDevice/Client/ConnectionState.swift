/// Where a ``DeviceClient``'s connection stands, as reported by ``DeviceClient/connectionStates``.
public enum ConnectionState: Sendable, Hashable, CustomStringConvertible {
    /// Not connected yet, or closed before connecting.
    case idle
    /// Opening a connection (attempt counts from 1 after each disconnect).
    case connecting(attempt: Int)
    /// Connected and authenticated.
    case connected
    /// Not connected, and why; the client reconnects unless the reason is final.
    case disconnected(DisconnectReason)

    public var description: String {
        switch self {
        case .idle: "idle"
        case .connecting(let attempt): "connecting (attempt \(attempt))"
        case .connected: "connected"
        case .disconnected(let reason): "disconnected: \(reason)"
        }
    }
}

/// Why a ``DeviceClient`` is not connected.
public enum DisconnectReason: Sendable, Hashable, CustomStringConvertible {
    /// The SAS token reached its renewal point; the client reconnects with a fresh one.
    case expiredToken
    /// The hub refused the credentials, or the device is disabled; final unless the retry policy says otherwise.
    case unauthorized(String)
    /// The network failed (DNS, TCP, TLS, keep-alive).
    case networkError(String)
    /// The hub is throttling or unavailable (MQTT's CONNACK 3).
    case throttled
    /// The hub closed the connection (another connection took over, device deleted, hub restart).
    case closedByHub
    /// The retry policy gave up.
    case retriesExhausted(attempts: Int)
    /// ``DeviceClient/close()`` was called.
    case closed

    /// Whether the client stops reconnecting after this.
    public var isFinal: Bool {
        switch self {
        case .retriesExhausted, .closed: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .expiredToken: "token renewal"
        case .unauthorized(let reason): "unauthorized (\(reason))"
        case .networkError(let reason): "network error (\(reason))"
        case .throttled: "throttled by the hub"
        case .closedByHub: "closed by the hub"
        case .retriesExhausted(let attempts): "retries exhausted after \(attempts) attempts"
        case .closed: "closed"
        }
    }
}
