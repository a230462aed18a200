import Glibc

/// Time, timers and hops for a client core: its ``DeviceEventLoop`` in a client, a manual clock in tests.
///
/// Everything the core does with time goes through this, so tests can move time by hand and see each timer fire
/// without sleeping.
protocol DeviceClientClock: Sendable {
    /// Wall-clock seconds since 1970 (SAS token expiries are in these).
    func unixTime() -> UInt64
    /// Runs `work` on the core's thread after `delay`; cancel the timer to skip it.
    @discardableResult
    func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) -> DeviceLoopTimer
    /// Runs `work` on the core's thread soon (to come back from a task).
    func execute(_ work: @escaping @Sendable () -> Void)
}

extension DeviceEventLoop: DeviceClientClock {
    func unixTime() -> UInt64 { UInt64(time(nil)) }
}
