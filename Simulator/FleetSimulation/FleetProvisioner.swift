import Foundation
import IoTHubProtocol
import Logging

/// Creates (or updates) the fleet's devices in the hub's identity registry through the service REST API, with
/// bulk calls (`POST /devices`, 100 devices each) several at a time, paced and retried
/// (see ``ProvisioningOptions``).
///
/// Every device gets SAS keys it does not have to read back: its primary and secondary key are both
/// `base64(HMAC-SHA256(seed, deviceId))`, the Device Provisioning Service's group-enrollment derivation
/// (``SharedAccessKey/derivedDeviceKey(registrationId:)``). The import mode is `createOrUpdate`, so provisioning
/// again with the same seed changes nothing a device relies on, and a device provisioned once can connect later
/// with ``derivedKeys(for:seed:)`` without the registry being called.
///
/// ```swift
/// var options = ProvisioningOptions()
/// options.concurrency = 16
/// let provisioner = try FleetProvisioner(connectionString: owner, endpoint: "http://127.0.0.1:8080", caFile: nil,
///                                        options: options)
/// let seed = SharedAccessKey.random()
/// let summary = await provisioner.run((0..<100_000).map { "sim-\($0)" }, seed: seed) { print($0.text) }
/// print(summary.text)
/// ```
public struct FleetProvisioner: Sendable {
    /// A shared access policy connection string with RegistryWrite (`iothubowner` or `registryReadWrite`).
    public let connectionString: ConnectionString
    /// The REST endpoint, `https://{HostName}` unless given (`http://127.0.0.1:PORT` for a plain HTTP port).
    public let endpoint: String
    public let caFile: String?
    /// Concurrency, pacing, retries and the seed.
    public var options: ProvisioningOptions
    /// Where retries and stops are logged.
    public var logger = Logger(label: "fleetsim.provision")
    /// Devices to create as CA-signed X.509 devices (IoT Hub's `certificateAuthority` type) rather than with SAS
    /// keys; upload their CA with ``uploadCertificateAuthority(_:)`` first.
    public var certificateAuthorityDevices: Set<String> = []

    /// - Throws: ``FleetError/invalidConfiguration(_:)`` for a connection string that is not a policy's, an
    ///   endpoint that is not `http://` or `https://`, or options out of range.
    public init(connectionString: String, endpoint: String?, caFile: String?,
                options: ProvisioningOptions = ProvisioningOptions()) throws(FleetError) {
        do {
            self.connectionString = try ConnectionString(parsing: connectionString)
        } catch {
            throw .invalidConfiguration("the service connection string is malformed: \(error)")
        }
        guard self.connectionString.kind == .policy else {
            throw .invalidConfiguration("provisioning needs a shared access policy connection string with RegistryWrite "
                                        + "(HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…)")
        }
        self.endpoint = endpoint ?? "https://\(self.connectionString.hostName)"
        guard self.endpoint.hasPrefix("http://") || self.endpoint.hasPrefix("https://") else {
            throw .invalidConfiguration("the endpoint '\(self.endpoint)' must start with http:// or https://")
        }
        self.caFile = caFile
        try options.validate()
        self.options = options
    }

    /// Creates or updates `deviceIds` with SAS keys derived from `seed` (else ``ProvisioningOptions/seed``, else a
    /// new random one); returns each device's primary key.
    /// - Throws: ``FleetError`` when the registry refused a call or a device, or the hub stayed unavailable.
    public func provision(_ deviceIds: [String], seed: SharedAccessKey? = nil) async throws -> [String: String] {
        let seed = seed ?? options.seed ?? .random()
        let summary = await run(deviceIds, seed: seed)
        if let stopReason = summary.stopReason { throw stopReason }
        if summary.failed > 0 {
            let first = summary.failures.first.map { "\($0.deviceId): \($0.errorCode): \($0.message)" } ?? "?"
            throw FleetError.devicesNotProvisioned(failed: summary.failed, of: summary.requested, firstError: first)
        }
        return Self.derivedKeys(for: deviceIds, seed: seed)
    }

    /// Provisions `deviceIds` with keys derived from `seed` and reports what happened, failures included.
    /// - Parameter progress: called about every ``ProvisioningOptions/progressInterval`` while the run lasts.
    public func run(_ deviceIds: [String], seed: SharedAccessKey,
                    progress: (@Sendable (ProvisioningProgress) -> Void)? = nil) async -> ProvisioningSummary {
        let transport = HTTPBulkRegistryTransport(endpoint: endpoint, connectionString: connectionString,
                                                  caFile: caFile, connections: options.concurrency,
                                                  timeout: options.requestTimeout)
        var run = ProvisioningRun(options: options, transport: transport, clock: SystemProvisioningClock(),
                                  logger: logger)
        run.certificateAuthorityDevices = certificateAuthorityDevices
        let summary = await run.run(deviceIds, seed: seed, progress: progress)
        await transport.shutdown()
        if let stopReason = summary.stopReason { logger.error("provisioning stopped: \(stopReason)") }
        return summary
    }

    /// The primary keys provisioning with `seed` gives `deviceIds`, without calling the registry.
    public static func derivedKeys(for deviceIds: [String], seed: SharedAccessKey) -> [String: String] {
        var keys: [String: String] = [:]
        keys.reserveCapacity(deviceIds.count)
        for deviceId in deviceIds { keys[deviceId] = seed.derivedDeviceKey(registrationId: deviceId).base64 }
        return keys
    }
}
