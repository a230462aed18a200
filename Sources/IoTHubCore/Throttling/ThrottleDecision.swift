import IoTHubProtocol

/// What the throttle says about one request: go ahead, wait and then go ahead (traffic shaping), or refuse.
///
/// ```swift
/// switch throttle.admit(.deviceToCloud) {
/// case .allow: accept()
/// case .delay(let wait): try await Task.sleep(for: wait); accept()   // the slot is already reserved
/// case .reject(_, let reason): fail(reason.errorCode)                // 429001, or 403002 for the daily quota
/// }
/// ```
public enum ThrottleDecision: Sendable, Hashable {
    /// Proceed now.
    case allow
    /// Proceed after waiting this long. The capacity is reserved: do not ask again, and do not drop the request
    /// without proceeding, or the reservation is lost for other callers until it refills.
    case delay(Duration)
    /// Refuse the request. `retryAfter` is the earliest time it could be admitted (for the daily quota: the next
    /// 00:00 UTC); nothing was reserved or charged.
    case reject(retryAfter: Duration, reason: ThrottleRejection)

    /// Whether the request may proceed (now or after the delay).
    public var admits: Bool {
        if case .reject = self { return false }
        return true
    }

    /// The hub error that reports a rejection for `operation`, or `nil` when the request is admitted.
    public func error(for operation: ThrottledOperation) -> HubError? {
        guard case .reject(let retryAfter, let reason) = self else { return nil }
        let seconds = Double(retryAfter.components.seconds) + Double(retryAfter.components.attoseconds) * 1e-18
        let retry = "retry after \((seconds * 1000).rounded(.up) / 1000) s"
        return switch reason {
        case .throttled:
            HubError(reason.errorCode,
                     "the \(operation.rawValue) throttle of this hub's tier is exceeded; back off and \(retry)")
        case .dailyQuotaExceeded:
            HubError(reason.errorCode,
                     "the hub's daily message quota is used up; it resets at 00:00 UTC (\(retry)) or add units")
        }
    }
}

/// Why a request was refused.
public enum ThrottleRejection: Sendable, Hashable {
    /// An operation throttle is exceeded beyond its traffic-shaping queue: IoT Hub's `429001 ThrottlingException`.
    case throttled
    /// The daily message quota is used up: IoT Hub's `403002 IotHubQuotaExceeded`, until the next 00:00 UTC.
    case dailyQuotaExceeded

    /// The IoT Hub error code a protocol head reports: ``IoTHubErrorCode/throttlingException`` (HTTP 429) or
    /// ``IoTHubErrorCode/iotHubQuotaExceeded`` (HTTP 403).
    public var errorCode: IoTHubErrorCode {
        switch self {
        case .throttled: .throttlingException
        case .dailyQuotaExceeded: .iotHubQuotaExceeded
        }
    }
}
