/// Serializes the tests that load the whole machine or measure the whole process: the 10,000-device AMQP scale
/// test, 1,000 clients on one loop, and the RSS-growth test. `swift test` runs suites in parallel in one process,
/// and an RSS measurement that overlaps a scale test sees its growth (seen in CI as +145 MiB); a timing-sensitive
/// test that overlaps one can miss its deadline.
///
/// An exclusive `flock(2)` on `/tmp/iothub-heavy-tests.lock`, so it also serializes separate test processes.
/// Take it before ``FixedPortsFileLock`` (never while holding that one), so the two cannot deadlock.
public enum HeavyTestLock {
    public static let path = "/tmp/iothub-heavy-tests.lock"

    /// Runs `body` while holding the lock, and releases it however `body` ends.
    public static func exclusively<T: Sendable>(timeout: Duration = .seconds(1200),
                                                _ body: () async throws -> T) async throws -> T {
        let lock = try await FixedPortsFileLock.acquire(path: path, timeout: timeout)
        defer { lock.release() }
        return try await body()
    }

    /// Takes the lock for a caller that cannot pass a closure (for example one whose result is not `Sendable`);
    /// call ``FixedPortsFileLock/release()`` on the result when done.
    public static func acquire(timeout: Duration = .seconds(1200)) async throws -> FixedPortsFileLock {
        try await FixedPortsFileLock.acquire(path: path, timeout: timeout)
    }
}
