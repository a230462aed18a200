import Glibc
import Synchronization

/// What the hub admits before a connection has authenticated, shared by every device listener (MQTT over TLS,
/// plain MQTT, and later AMQP) so that floods of unauthenticated connections and failed logins stay bounded
/// however they are spread over ports:
/// - at most ``Configuration/maximumUnauthenticatedConnections`` connections may be open and not yet
///   authenticated, and at most ``Configuration/maximumUnauthenticatedPerSource`` of them from one address, so one
///   client cannot take every slot from the others; further ones are closed at once;
/// - sources that keep failing to log in are blocked for a while (``AuthenticationFailureLimiter``);
/// - every listener's open connections count against one file-descriptor budget, so the process keeps
///   descriptors in reserve for its store, logs and the REST API when devices take all they can.
///
/// Counting is lock-free; it costs two atomic operations per connection.
public final class ConnectionAdmission: Sendable {
    /// The bounds; defaults follow from the process's descriptor limit.
    public struct Configuration: Sendable, Hashable {
        /// Connections open and not yet authenticated, over all device listeners.
        public var maximumUnauthenticatedConnections: Int = 2_048
        /// Connections open and not yet authenticated from one source address.
        public var maximumUnauthenticatedPerSource: Int = 1_024
        /// Device connections open at once over all device listeners; `nil`: the process's open-file limit minus
        /// ``fileDescriptorReserve``.
        public var maximumDeviceConnections: Int?
        /// Descriptors kept free of device connections (store, logs, REST connections, TLS files).
        public var fileDescriptorReserve: Int = 1_024
        /// The failed-login budget per source address.
        public var failures = AuthenticationFailureLimiter.Configuration()

        public init() {}

        /// The device-connection bound in force: the explicit one, or the descriptor limit less the reserve.
        public var effectiveMaximumDeviceConnections: Int {
            if let maximumDeviceConnections { return maximumDeviceConnections }
            return max(64, ProcessLimits.openFiles - fileDescriptorReserve)
        }
    }

    /// Why a connection was closed before it could authenticate.
    public enum Refusal: String, Error, Sendable, Hashable, CustomStringConvertible {
        /// Too many connections are waiting to authenticate.
        case tooManyUnauthenticated = "unauthenticated_limit"
        /// Too many connections from this address are waiting to authenticate.
        case tooManyUnauthenticatedFromSource = "unauthenticated_source_limit"
        /// The device listeners hold all the descriptors they may.
        case tooManyConnections = "connection_limit"
        /// The source failed to log in too often.
        case sourceBlocked = "source_blocked"

        public var description: String {
            switch self {
            case .tooManyUnauthenticated: "too many connections have not authenticated yet"
            case .tooManyUnauthenticatedFromSource: "too many connections from this address have not authenticated yet"
            case .tooManyConnections: "the hub holds as many device connections as its descriptor budget allows"
            case .sourceBlocked: "this address failed to log in too often; it may try again in a few seconds"
            }
        }
    }

    public let configuration: Configuration
    /// The failed-login limiter, for heads to record failures in.
    public let failures: AuthenticationFailureLimiter
    private let unauthenticated = Atomic<Int>(0)
    private let open = Atomic<Int>(0)
    private let maximumConnections: Int
    /// Unauthenticated connections per source address (only addresses that have some).
    private let perSource = Mutex<[String: Int]>([:])

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        failures = AuthenticationFailureLimiter(configuration: configuration.failures)
        maximumConnections = configuration.effectiveMaximumDeviceConnections
    }

    /// What an admitted connection holds, to give back through ``authenticated(_:)`` and ``closed(_:authenticated:)``.
    public struct Ticket: Sendable, Hashable {
        /// The source address it was admitted from, when known.
        public let source: String?
    }

    /// Admits a new connection from `source` (its IP address, when known), or says why not. An admitted
    /// connection holds an unauthenticated slot until ``authenticated(_:)`` and a connection slot until
    /// ``closed(_:authenticated:)``; pass `summary` to the log when it is not `nil` (refusals not logged while the
    /// source was blocked).
    public func admit(source: String?, now: ContinuousClock.Instant = .now)
        -> (ticket: Ticket?, refusal: Refusal?, summary: Int?) {
        var summary: Int?
        if let source {
            let (admitted, suppressed) = failures.admits(source, now: now)
            guard admitted else { return (nil, .sourceBlocked, nil) }
            summary = suppressed
        }
        guard open.wrappingAdd(1, ordering: .relaxed).newValue <= maximumConnections else {
            open.wrappingSubtract(1, ordering: .relaxed)
            return (nil, .tooManyConnections, summary)
        }
        guard unauthenticated.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.maximumUnauthenticatedConnections else {
            unauthenticated.wrappingSubtract(1, ordering: .relaxed)
            open.wrappingSubtract(1, ordering: .relaxed)
            return (nil, .tooManyUnauthenticated, summary)
        }
        if let source {
            let limit = configuration.maximumUnauthenticatedPerSource
            let admitted = perSource.withLock { counts in
                let count = counts[source, default: 0]
                guard count < limit else { return false }
                counts[source] = count + 1
                return true
            }
            guard admitted else {
                unauthenticated.wrappingSubtract(1, ordering: .relaxed)
                open.wrappingSubtract(1, ordering: .relaxed)
                return (nil, .tooManyUnauthenticatedFromSource, summary)
            }
        }
        return (Ticket(source: source), nil, summary)
    }

    /// An admitted connection authenticated: it gives back its unauthenticated slots.
    public func authenticated(_ ticket: Ticket) {
        unauthenticated.wrappingSubtract(1, ordering: .relaxed)
        releaseSource(ticket)
    }

    /// An admitted connection closed; `authenticated` says whether it had called ``authenticated(_:)``.
    public func closed(_ ticket: Ticket, authenticated: Bool) {
        if !authenticated {
            unauthenticated.wrappingSubtract(1, ordering: .relaxed)
            releaseSource(ticket)
        }
        open.wrappingSubtract(1, ordering: .relaxed)
    }

    private func releaseSource(_ ticket: Ticket) {
        guard let source = ticket.source else { return }
        perSource.withLock { counts in
            let count = counts[source, default: 1] - 1
            counts[source] = count > 0 ? count : nil
        }
    }

    /// Connections admitted and not yet authenticated.
    public var unauthenticatedConnections: Int { unauthenticated.load(ordering: .relaxed) }
    /// Connections admitted and still open.
    public var openConnections: Int { open.load(ordering: .relaxed) }
}

/// The process's resource limits that bound what the hub may hold.
public enum ProcessLimits {
    /// The soft limit on open files (`RLIMIT_NOFILE`).
    public static var openFiles: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_024 }
        return limit.rlim_cur == rlim_t.max ? Int.max / 2 : Int(limit.rlim_cur)
    }
}
