/// The time source provisioning paces and backs off with: elapsed time since the run began, and sleeping.
///
/// Production uses ``SystemProvisioningClock``; tests pass a clock whose `sleep` only records and advances, so
/// backoff and pacing are checked without waiting.
package protocol ProvisioningClock: Sendable {
    /// Time since the clock was made (monotonic).
    func elapsed() -> Duration
    /// Suspends the caller for `duration`. - Throws: `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// ``ProvisioningClock`` on `ContinuousClock`.
package struct SystemProvisioningClock: ProvisioningClock {
    private let start = ContinuousClock.now

    package init() {}

    package func elapsed() -> Duration { ContinuousClock.now - start }

    package func sleep(for duration: Duration) async throws {
        guard duration > .zero else { return }
        try await Task.sleep(for: duration)
    }
}
