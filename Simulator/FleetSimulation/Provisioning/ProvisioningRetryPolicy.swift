import Foundation

/// How provisioning retries a bulk call the hub could not take: HTTP 429 (throttled), 503 (unavailable) and
/// connection failures, with exponential backoff and jitter, honouring a `Retry-After` the hub sends.
///
/// Attempt *n* (1 for the first retry) waits a random time between half and all of
/// `min(maximumDelay, initialDelay × 2ⁿ⁻¹)` ("equal jitter": spread out, never much shorter than planned). A
/// `Retry-After` replaces that with the hub's wait plus up to `initialDelay` of jitter.
///
/// ```swift
/// var policy = ProvisioningRetryPolicy()
/// policy.maximumAttempts = 20   // patient, for a hub on a throttled tier
/// policy.delay(beforeRetry: 3, retryAfter: nil)   // between 200 and 400 ms
/// ```
public struct ProvisioningRetryPolicy: Sendable, Hashable {
    /// The backoff before the first retry (before jitter).
    public var initialDelay: Duration = .milliseconds(100)
    /// The longest backoff (before jitter).
    public var maximumDelay: Duration = .seconds(10)
    /// Attempts of one bulk call, the first included; then the run stops with
    /// ``FleetError/provisioningRetriesExhausted(attempts:lastFailure:)``.
    public var maximumAttempts: Int = 12

    public init() {}

    /// HTTP statuses worth retrying: 429 ThrottlingException and 503 Service Unavailable.
    public static let retriedStatuses: Set<Int> = [429, 503]

    /// The wait before retry number `retry` (1, 2, …).
    /// - Parameter retryAfter: the hub's `Retry-After`, when it sent one.
    public func delay(beforeRetry retry: Int, retryAfter: Duration?) -> Duration {
        var random = SystemRandomNumberGenerator()
        return delay(beforeRetry: retry, retryAfter: retryAfter, using: &random)
    }

    /// ``delay(beforeRetry:retryAfter:)`` with a chosen random number generator.
    public func delay(beforeRetry retry: Int, retryAfter: Duration?,
                      using random: inout some RandomNumberGenerator) -> Duration {
        let initial = max(initialDelay.seconds, 0)
        if let retryAfter {
            return retryAfter + .seconds(Double.random(in: 0...initial, using: &random))
        }
        let planned = min(maximumDelay.seconds, initial * pow(2, Double(min(max(retry, 1), 62) - 1)))
        return .seconds(Double.random(in: (planned / 2)...max(planned, planned / 2), using: &random))
    }

    /// Reads a `Retry-After` header: delay seconds (`2`, `0.5`) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`).
    /// - Returns: `nil` for a missing or unreadable header; never negative.
    public static func retryAfter(_ header: String?, now: Date = Date()) -> Duration? {
        guard let text = header?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Double(text), seconds.isFinite { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return .seconds(max(0, date.timeIntervalSince(now)))
    }
}
