extension HubThrottle {
    /// Admits one request of a request/response head (REST, and later AMQP's request links) as IoT Hub does:
    /// within the limit at once, above it after the shaping delay, beyond the shaping window not at all. Messages
    /// the operation carries are charged to the daily quota (`messageBytes`, in its chunks) once admitted.
    /// - Throws: ``HubError`` 429001 ThrottlingException or 403002 IotHubQuotaExceeded, saying when to retry.
    public func admitRequest(_ operation: ThrottledOperation, cost: Int = 1, messageBytes: Int? = nil) async throws {
        guard !isUnlimited else { return }
        if operation.isChargedAgainstDailyQuota, let error = checkDailyQuota().error(for: operation) { throw error }
        let decision = admit(operation, cost: cost)
        switch decision {
        case .allow: break
        case .delay(let delay): try await Task.sleep(for: delay)
        case .reject: throw decision.error(for: operation)!
        }
        if operation.isChargedAgainstDailyQuota { _ = meterMessages(bytes: messageBytes ?? 0) }
    }
}
