import Foundation
import IoTHubProtocol

/// What a provisioning run did: devices provisioned and failed, retries by cause, and how fast.
public struct ProvisioningSummary: Sendable {
    /// One device the registry refused, with IoT Hub's error code name and message.
    public struct Failure: Sendable, Hashable {
        /// The refused device.
        public var deviceId: String
        /// IoT Hub's error code name, e.g. `DeviceAlreadyExists`.
        public var errorCode: String
        /// The registry's message (`errorStatus`), which says what to do.
        public var message: String

        public init(deviceId: String, errorCode: String, message: String) {
            self.deviceId = deviceId
            self.errorCode = errorCode
            self.message = message
        }
    }

    /// Devices asked for.
    public var requested: Int
    /// Devices the registry created or updated (`createOrUpdate`).
    public var provisioned = 0
    /// Devices refused in a bulk result.
    public var failed = 0
    /// The first refusals (at most ``maximumFailuresKept``).
    public var failures: [Failure] = []
    /// Bulk calls answered (each retry counts).
    public var requests = 0
    /// Retries by cause: `"429"`, `"503"`, `"connection"`.
    public var retries: [String: Int] = [:]
    /// Wall time of the run.
    public var duration: Duration = .zero
    /// Why the run stopped early, when it did; the devices not yet sent are neither provisioned nor failed.
    public var stopReason: FleetError?

    /// Failures kept in ``failures``.
    public static let maximumFailuresKept = 20

    /// An empty summary of a run asking for `requested` devices.
    public init(requested: Int) {
        self.requested = requested
    }

    /// Whether every device was provisioned.
    public var isComplete: Bool { provisioned == requested && failed == 0 && stopReason == nil }

    /// Provisioned devices per second over the run.
    public var devicesPerSecond: Double {
        duration > .zero ? Double(provisioned) / duration.seconds : 0
    }

    /// Retries of every cause.
    public var totalRetries: Int { retries.values.reduce(0, +) }

    /// The summary as JSON (for `--json`).
    public var json: JSONValue {
        var retryObject = JSONObject()
        for key in retries.keys.sorted() { retryObject[key] = .integer(Int64(retries[key] ?? 0)) }
        return [
            "benchmark": "provision", "requested": .integer(Int64(requested)),
            "provisioned": .integer(Int64(provisioned)), "failed": .integer(Int64(failed)),
            "requests": .integer(Int64(requests)), "retries": .object(retryObject),
            "seconds": .double(duration.seconds), "devicesPerSecond": .double(devicesPerSecond),
            "complete": .bool(isComplete),
            "failures": .array(failures.map {
                ["deviceId": .string($0.deviceId), "errorCode": .string($0.errorCode), "message": .string($0.message)]
            }),
            "stopReason": stopReason.map { .string($0.description) } ?? .null,
        ]
    }

    /// The summary as text for a terminal.
    public var text: String {
        let retryText = retries.isEmpty ? "none"
            : retries.keys.sorted().map { "\(retries[$0] ?? 0) × \($0)" }.joined(separator: ", ")
        var lines = [
            "provisioning summary",
            "  devices       \(provisioned)/\(requested) created or updated, \(failed) failed",
            "  rate          \(LatencySummary.format(devicesPerSecond)) devices/s over "
                + "\(LatencySummary.format(duration.seconds)) s (\(requests) bulk calls)",
            "  retries       \(retryText)",
        ]
        for failure in failures.prefix(10) {
            lines.append("  failed        \(failure.deviceId): \(failure.errorCode): \(failure.message)")
        }
        if let stopReason { lines.append("  stopped       \(stopReason)") }
        lines.append(isComplete ? "  result        complete" : "  result        INCOMPLETE")
        return lines.joined(separator: "\n")
    }
}

/// A progress report during a provisioning run.
public struct ProvisioningProgress: Sendable {
    /// Devices provisioned so far.
    public var provisioned: Int
    /// Devices refused so far.
    public var failed: Int
    /// Devices asked for.
    public var requested: Int
    /// Retries so far, every cause.
    public var retries: Int
    /// Time since the run began.
    public var elapsed: Duration
    /// Devices provisioned per second since the previous report.
    public var recentDevicesPerSecond: Double

    /// One line for a terminal: `provisioned 120000/1000000 (12.0 %), 11234.50 devices/s, 0 failed, 3 retries`.
    public var text: String {
        let percent = requested > 0 ? Double(provisioned + failed) * 100 / Double(requested) : 100
        return "provisioned \(provisioned)/\(requested) (\(String(format: "%.1f", percent)) %), "
            + "\(LatencySummary.format(recentDevicesPerSecond)) devices/s, \(failed) failed, \(retries) retries, "
            + "\(LatencySummary.format(elapsed.seconds)) s"
    }
}
