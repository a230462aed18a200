/// The reconnect policy's bookkeeping, pure: counts attempts and decides, after each failure, whether to retry
/// and after how long. The client core executes the decisions.
struct ReconnectState {
    /// What to do after a failed attempt.
    enum Decision: Equatable {
        /// Wait `delay`, then try again.
        case retry(after: Duration)
        /// The hub refused the credentials and the policy does not retry that.
        case stopUnauthorized
        /// The policy's attempts are used up.
        case giveUp(attempts: Int)
    }

    let policy: RetryPolicy
    /// Attempts since the last accepted connection (or since `connect()`).
    private(set) var attemptsSinceConnected = 0
    private(set) var everConnected = false

    init(policy: RetryPolicy) {
        self.policy = policy
    }

    /// Counts a new attempt; returns its number (from 1).
    mutating func beginAttempt() -> Int {
        attemptsSinceConnected += 1
        return attemptsSinceConnected
    }

    /// Starts counting again (`connect()` after giving up, or a reconnect for a fresh token).
    mutating func reset() {
        attemptsSinceConnected = 0
    }

    /// The hub accepted a connection.
    mutating func connected() {
        attemptsSinceConnected = 0
        everConnected = true
    }

    /// The decision after the current attempt failed; `unauthorized` when the hub refused the credentials.
    /// `random` (0..<1) spreads the delay by the policy's jitter.
    func afterFailure(unauthorized: Bool, random: Double) -> Decision {
        if unauthorized && !policy.retryUnauthorized { return .stopUnauthorized }
        // Before the first accepted connection, the first attempt is not a retry.
        if let maximum = policy.maximumAttempts, attemptsSinceConnected >= maximum + (everConnected ? 0 : 1) {
            return .giveUp(attempts: attemptsSinceConnected)
        }
        return .retry(after: policy.delay(beforeAttempt: max(1, attemptsSinceConnected), random: random))
    }
}
