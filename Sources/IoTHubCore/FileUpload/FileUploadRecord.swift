import Foundation

/// One file upload: the SAS URI a device asked for (`POST /devices/{id}/files`) and, once the device reported,
/// its outcome (`POST /devices/{id}/files/notifications`) and the notification sent to back ends.
public struct FileUploadRecord: Sendable, Hashable {
    /// Where the notification to back ends stands.
    public enum Delivery: String, Sendable, Hashable {
        /// Nothing to deliver: not yet notified, or the device reported a failure.
        case none
        /// Waiting for a back end on `/messages/servicebound/filenotifications`.
        case pending
        /// A back end accepted it.
        case delivered
    }

    /// The device's outcome report.
    public struct Outcome: Sendable, Hashable {
        public var isSuccess: Bool
        public var statusCode: Int
        public var statusDescription: String
        public var notified: Date

        public init(isSuccess: Bool, statusCode: Int, statusDescription: String, notified: Date) {
            self.isSuccess = isSuccess
            self.statusCode = statusCode
            self.statusDescription = statusDescription
            self.notified = notified
        }
    }

    /// The id the device reports the outcome with.
    public var correlationId: String
    public var deviceId: String
    /// The blob's name in its container: `{deviceId}/{blobName}`.
    public var blobName: String
    public var created: Date
    /// When the SAS URI expires; the upload no longer counts as in progress after it.
    public var expiry: Date
    public var outcome: Outcome?
    /// The committed blob's size and last change when the device reported success.
    public var blobSize: Int64?
    public var blobUpdated: Date?
    public var delivery: Delivery
    /// A sequence number, for paging and the order of notifications.
    public var sequenceNumber: Int64

    public init(correlationId: String, deviceId: String, blobName: String, created: Date, expiry: Date,
                outcome: Outcome? = nil, blobSize: Int64? = nil, blobUpdated: Date? = nil, delivery: Delivery = .none,
                sequenceNumber: Int64 = 0)
    {
        self.correlationId = correlationId
        self.deviceId = deviceId
        self.blobName = blobName
        self.created = created
        self.expiry = expiry
        self.outcome = outcome
        self.blobSize = blobSize
        self.blobUpdated = blobUpdated
        self.delivery = delivery
        self.sequenceNumber = sequenceNumber
    }

    /// Whether the upload counts against the device's limit of uploads in progress at `now`.
    public func isActive(at now: Date) -> Bool { outcome == nil && expiry > now }

    /// `in progress`, `expired`, `succeeded` or `failed`.
    public func state(at now: Date) -> String {
        guard let outcome else { return expiry > now ? "in progress" : "expired" }
        return outcome.isSuccess ? "succeeded" : "failed"
    }
}
