/// Which delivery outcomes of a cloud-to-device message the sender wants feedback on (`iothub-ack` / `ack`).
public enum C2DAcknowledgement: String, Sendable, Hashable, CaseIterable {
    /// No feedback.
    case none
    /// Feedback when the device completes the message.
    case positive
    /// Feedback when the message is rejected, expires or exceeds its delivery count.
    case negative
    /// Both.
    case full

    /// Whether feedback is due for `status`.
    public func wantsFeedback(for status: C2DFeedbackStatus) -> Bool {
        switch self {
        case .none: false
        case .full: true
        case .positive: status == .success
        case .negative: status != .success
        }
    }
}

/// The outcome reported in C2D feedback records (`statusCode`).
public enum C2DFeedbackStatus: String, Sendable, Hashable, CaseIterable {
    case success = "Success"
    case expired = "Expired"
    case deliveryCountExceeded = "DeliveryCountExceeded"
    case rejected = "Rejected"
    case purged = "Purged"
}

/// The lifecycle state of a cloud-to-device message in a device queue.
public enum C2DMessageState: String, Sendable, Hashable, CaseIterable {
    /// Waiting for delivery.
    case enqueued
    /// Delivered and locked, waiting for complete, reject or abandon (or the lock timeout).
    case invisible
    /// Completed by the device.
    case completed
    /// Rejected, expired or over its delivery count.
    case deadLettered
}

/// What a device does with a locked cloud-to-device message.
public enum C2DDisposition: String, Sendable, Hashable, CaseIterable {
    /// Done: remove it (MQTT PUBACK, AMQP accepted, HTTPS DELETE).
    case complete
    /// Give it back for redelivery (AMQP released/modified, HTTPS abandon).
    case abandon
    /// Dead-letter it (AMQP rejected, HTTPS DELETE ?reject).
    case reject
}

/// IoT Hub's limits for cloud-to-device messages.
public enum C2DLimits {
    /// Pending (enqueued or invisible) messages per device; the next send fails with 403004.
    public static let maximumPendingPerDevice = 50
    /// Default time to live, in seconds (1 hour).
    public static let defaultTimeToLive = 3_600
    /// Maximum time to live, in seconds (2 days).
    public static let maximumTimeToLive = 172_800
    /// How long a delivered message stays locked before it becomes visible again, in seconds.
    public static let lockDuration = 60
    /// Default maximum delivery count before dead-lettering.
    public static let defaultMaximumDeliveryCount = 10
    /// The largest message (64 KiB).
    public static let maximumSize = 65_536
}
