/// Why a fleet run, or provisioning its devices, could not start or finish. Each case says what to do.
public enum FleetError: Error, Sendable, CustomStringConvertible {
    /// An option or connection string is unusable; the text names it.
    case invalidConfiguration(String)
    /// The registry refused a bulk call as a whole (not device by device), e.g. 401 without RegistryWrite.
    case provisioningFailed(status: Int, body: String)
    /// A bulk call still failed after every retry the policy allows: the hub is overloaded or unreachable.
    case provisioningRetriesExhausted(attempts: Int, lastFailure: String)
    /// Some devices were refused one by one in the bulk results (the registry's error for the first of them).
    case devicesNotProvisioned(failed: Int, of: Int, firstError: String)
    /// The task provisioning ran in was cancelled; what was sent before is provisioned.
    case cancelled

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "invalid fleet configuration: \(reason)"
        case .provisioningFailed(let status, let body):
            "creating the fleet's devices failed with HTTP \(status): \(body.prefix(500))"
        case .provisioningRetriesExhausted(let attempts, let lastFailure):
            "a bulk registry call failed \(attempts) times (last: \(lastFailure)); the hub is overloaded or "
                + "unreachable: check it, or lower --concurrency or --rate"
        case .devicesNotProvisioned(let failed, let total, let firstError):
            "\(failed) of \(total) devices were not provisioned (first: \(firstError)); fix that and run again: "
                + "provisioning is idempotent"
        case .cancelled: "provisioning was cancelled; run it again to finish (it is idempotent)"
        }
    }
}
