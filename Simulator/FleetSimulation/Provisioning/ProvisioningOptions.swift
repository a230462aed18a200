import IoTHubProtocol

/// How ``FleetProvisioner`` drives the registry: how many bulk calls at once, how fast, how it retries, and which
/// seed the device keys come from.
///
/// ```swift
/// var options = ProvisioningOptions()
/// options.concurrency = 16              // bulk calls in flight
/// options.devicesPerSecond = 5_000      // pace below a throttled hub's limit
/// options.seed = try SharedAccessKey(base64: savedSeed)   // the same keys on every run
/// let provisioner = try FleetProvisioner(connectionString: owner, endpoint: nil, caFile: nil, options: options)
/// ```
public struct ProvisioningOptions: Sendable {
    /// Bulk calls in flight at once (and HTTP connections to the hub).
    public var concurrency: Int = 8
    /// Devices per second across every call, at most; `nil` is as fast as the hub answers.
    public var devicesPerSecond: Double?
    /// Devices per bulk call (IoT Hub takes at most 100).
    public var devicesPerCall: Int = 100
    /// Retries of calls the hub throttled (429), could not take (503), or that lost their connection.
    public var retry = ProvisioningRetryPolicy()
    /// How long one call may take before it counts as a connection failure (and is retried).
    public var requestTimeout: Duration = .seconds(60)
    /// The key every device key is derived from (see ``FleetProvisioner``); `nil` takes a new random one per
    /// ``FleetProvisioner/provision(_:seed:)`` call.
    public var seed: SharedAccessKey?
    /// How often ``FleetProvisioner/run(_:seed:progress:)`` reports progress.
    public var progressInterval: Duration = .seconds(1)

    public init() {}

    /// Checks the numbers. - Throws: ``FleetError/invalidConfiguration(_:)`` naming the option.
    public func validate() throws(FleetError) {
        guard concurrency >= 1 else { throw .invalidConfiguration("the provisioning concurrency must be at least 1") }
        guard (1...100).contains(devicesPerCall) else {
            throw .invalidConfiguration("a bulk registry call carries 1 to 100 devices, not \(devicesPerCall)")
        }
        if let devicesPerSecond, !(devicesPerSecond > 0 && devicesPerSecond.isFinite) {
            throw .invalidConfiguration("the provisioning rate must be a positive number of devices per second")
        }
        guard retry.maximumAttempts >= 1 else { throw .invalidConfiguration("a bulk call needs at least 1 attempt") }
    }
}
