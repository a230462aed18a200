/// An operation IoT Hub rate-limits, each with its own throttle ("IoT Hub quotas and throttling", operation
/// throttles). Throttles are independent: exhausting one leaves the others untouched.
///
/// The raw value is the `operation` label of the `iothub_throttle_*` metrics.
///
/// ```swift
/// let cost = ThrottledOperation.methodInvoke.cost(payloadBytes: 6_000)   // 2 (4 KB meter)
/// switch throttle.admit(.methodInvoke, cost: cost) { … }
/// ```
public enum ThrottledOperation: String, Sendable, Hashable, CaseIterable {
    /// A new device or module connection (MQTT/AMQP CONNECT); the rate of new connections, not their number.
    case connect
    /// A device-to-cloud send: telemetry on any protocol. Counted per message, whatever its size.
    case deviceToCloud = "device_to_cloud"
    /// A cloud-to-device message sent by the service.
    case cloudToDeviceSend = "cloud_to_device_send"
    /// A cloud-to-device receive by a device polling over HTTPS (MQTT and AMQP deliveries are not throttled).
    case cloudToDeviceReceive = "cloud_to_device_receive"
    /// A device or module twin read, from the device or from the service.
    case twinRead = "twin_read"
    /// A device or module twin update: reported patches from the device, service patches and replacements.
    case twinUpdate = "twin_update"
    /// A direct method invocation. Its cost is the request payload in 4 KB chunks (``cost(payloadBytes:)``).
    case methodInvoke = "method_invoke"
    /// An identity registry operation: create, get, list, update, delete; a bulk request costs one per identity.
    case registry
    /// A file upload initiation (the device asks for a storage SAS URI).
    case fileUploadInitiate = "file_upload_initiate"
    /// A query (`POST /devices/query`).
    case query
    /// A jobs operation: create, update, list, delete.
    case job
    /// A per-device operation a job performs: a twin update or a method invocation.
    case jobDevice = "job_device"
    /// A configuration or edge deployment operation: create, update, list, delete.
    case configuration

    /// The size of the meter direct methods are throttled in: a payload of 0 to 4 KB counts 1, 4 to 8 KB counts 2.
    public static let methodMeterBytes = 4 * 1024

    /// The throttle cost of one request with `payloadBytes` of payload: for ``methodInvoke`` the payload in 4 KB
    /// chunks (at least one, "throttling is based on request payload size only"); 1 for every other operation.
    public func cost(payloadBytes: Int) -> Int {
        guard self == .methodInvoke else { return 1 }
        return max(1, (max(0, payloadBytes) + Self.methodMeterBytes - 1) / Self.methodMeterBytes)
    }

    /// Whether IoT Hub charges this operation against the daily message quota ("Azure IoT Hub billing
    /// information", charges per operation). Charged: device-to-cloud and cloud-to-device messages, twin reads and
    /// updates, direct methods (request and response), file upload initiations, queries (by result size) and jobs'
    /// per-device operations. Not charged: connections, identity registry operations, jobs operations,
    /// configuration operations, and HTTPS receives (the message is charged once, when it is sent).
    public var isChargedAgainstDailyQuota: Bool {
        switch self {
        case .deviceToCloud, .cloudToDeviceSend, .twinRead, .twinUpdate, .methodInvoke, .fileUploadInitiate, .query,
             .jobDevice:
            true
        case .connect, .cloudToDeviceReceive, .registry, .job, .configuration:
            false
        }
    }

    /// The position of this case in ``allCases``: the index of its bucket.
    var ordinal: Int {
        switch self {
        case .connect: 0
        case .deviceToCloud: 1
        case .cloudToDeviceSend: 2
        case .cloudToDeviceReceive: 3
        case .twinRead: 4
        case .twinUpdate: 5
        case .methodInvoke: 6
        case .registry: 7
        case .fileUploadInitiate: 8
        case .query: 9
        case .job: 10
        case .jobDevice: 11
        case .configuration: 12
        }
    }
}
