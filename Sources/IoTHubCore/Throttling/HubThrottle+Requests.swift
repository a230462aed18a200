extension HubThrottle {
    /// The decision for one operation: refused while the daily quota is used up (for the operations it charges,
    /// and for connects, which IoT Hub drops then), else the operation's throttle.
    public func decide(_ operation: ThrottledOperation, cost: Int = 1) -> ThrottleDecision {
        if operation.isChargedAgainstDailyQuota || operation == .connect {
            let quota = checkDailyQuota()
            guard quota.admits else { return quota }
        }
        return admit(operation, cost: cost)
    }

    /// Admits one request of a request/response head (REST, and later AMQP's request links) as IoT Hub does:
    /// within the limit at once, above it after the shaping delay, beyond the shaping window not at all. Messages
    /// the operation carries are charged to the daily quota (`messageBytes`, in its chunks) once admitted.
    /// - Throws: ``HubError`` 429001 ThrottlingException or 403002 IotHubQuotaExceeded, saying when to retry.
    public func admitRequest(_ operation: ThrottledOperation, cost: Int = 1, messageBytes: Int? = nil) async throws {
        guard !isUnlimited else { return }
        let decision = decide(operation, cost: cost)
        switch decision {
        case .allow: break
        case .delay(let delay): try await Task.sleep(for: delay)
        case .reject: throw decision.error(for: operation)!
        }
        if operation.isChargedAgainstDailyQuota { _ = meterMessages(bytes: messageBytes ?? 0) }
    }
}
