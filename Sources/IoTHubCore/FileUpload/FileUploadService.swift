import Foundation
import IoTHubProtocol
import Logging
import Synchronization

/// How the hub runs file uploads: its storage account, container, SAS lifetime and bounds.
public struct FileUploadConfiguration: Sendable, Hashable {
    /// The storage account name the SAS signs over (`/blob/{account}/…`).
    public var accountName = "iothub"
    /// The one container uploads go to.
    public var containerName = "fileupload"
    /// How long a SAS URI from `POST /devices/{id}/files` is valid (IoT Hub's default: one hour).
    public var sasTimeToLive: TimeInterval = 3600
    /// Uploads one device may have in progress (SAS issued, not yet notified or expired); IoT Hub allows 10.
    public var maximumActiveUploadsPerDevice = 10
    /// The most bytes the blob store keeps, committed blobs and uncommitted blocks together.
    public var maximumBytes: Int64 = 10 << 30
    /// The largest body of one Put Block (Azure: 4000 MiB).
    public var maximumBlockBytes: Int64 = 4000 << 20
    /// The largest body of one Put Blob (Azure: 5000 MiB).
    public var maximumPutBlobBytes: Int64 = 5000 << 20

    public init() {}
}

/// What a device gets from `POST /devices/{id}/files`: where to upload, and the id to report the outcome with.
public struct FileUploadGrant: Sendable, Hashable {
    public var correlationId: String
    /// The storage endpoint's host (and port, when not 443) a device must reach.
    public var hostName: String
    public var containerName: String
    /// `{deviceId}/{blobName}`.
    public var blobName: String
    /// `?sv=…&se=…&sr=b&sp=rw&sig=…`.
    public var sasToken: String

    /// `https://{hostName}/{containerName}/{blobName}{sasToken}`, the blob name percent-encoded per segment.
    public var blobURL: String {
        "https://\(hostName)/\(containerName)/" + FileUploadService.encodePath(blobName) + sasToken
    }
}

/// File uploads, protocol-neutral: SAS URIs for devices, the blob store they upload to, their outcome reports,
/// and the notifications back ends receive.
public final class FileUploadService: Sendable {
    public let configuration: FileUploadConfiguration
    public let storage: BlobStorage
    let store: any HubStore
    let accountKey: SharedAccessKey
    let logger: Logger
    private let hostName: Mutex<String>
    /// Notifications out on an attached link in this process, not yet accepted.
    private let taken = Mutex<Set<String>>([])

    public init(configuration: FileUploadConfiguration, storage: BlobStorage, store: any HubStore,
                accountKey: SharedAccessKey, storageHostName: String, logger: Logger)
    {
        self.configuration = configuration
        self.storage = storage
        self.store = store
        self.accountKey = accountKey
        self.logger = logger
        hostName = Mutex(storageHostName)
    }

    /// The storage endpoint's host (and port) in grants; set once the listener's port is known.
    public var storageHostName: String {
        get { hostName.withLock { $0 } }
        set { hostName.withLock { $0 = newValue } }
    }

    // MARK: Devices

    /// `POST /devices/{id}/files`: a SAS URI for `{deviceId}/{blobName}` with read and write permission.
    /// - Throws: ``HubError`` `ArgumentInvalid` for a bad name, `DeviceMaximumActiveFileUploadLimitExceeded`.
    public func beginUpload(deviceId: String, blobName: String, now: Date = Date()) async throws -> FileUploadGrant {
        try Self.validate(blobName: blobName)
        let fullName = deviceId + "/" + blobName
        guard fullName.utf8.count <= 1024 else {
            throw HubError.invalid("the blob name '\(fullName)' is longer than Azure Storage's 1,024 characters; use a shorter blobName")
        }
        let expiry = now.addingTimeInterval(configuration.sasTimeToLive)
        let correlationId = LibCrypto.base64Encode(LibCrypto.randomBytes(count: 24))
        let record = FileUploadRecord(correlationId: correlationId, deviceId: deviceId, blobName: fullName, created: now,
                                      expiry: expiry)
        _ = try await store.beginFileUpload(record, maximumActive: configuration.maximumActiveUploadsPerDevice)
        let sas = BlobServiceSAS.sign(account: configuration.accountName, container: configuration.containerName,
                                      blob: fullName, permissions: [.read, .write],
                                      expiry: Timestamp(secondsSince1970: Int64(expiry.timeIntervalSince1970)),
                                      key: accountKey)
        logger.debug("file upload started", metadata: ["device": "\(deviceId)", "blob": "\(fullName)"])
        return FileUploadGrant(correlationId: correlationId, hostName: storageHostName,
                               containerName: configuration.containerName, blobName: fullName, sasToken: sas.queryString)
    }

    /// `POST /devices/{id}/files/notifications`: records the device's outcome; a success with a committed blob
    /// becomes a notification for back ends.
    @discardableResult
    public func finishUpload(deviceId: String, correlationId: String, isSuccess: Bool, statusCode: Int,
                             statusDescription: String, now: Date = Date()) async throws -> FileUploadRecord
    {
        guard let record = try await store.fileUpload(correlationId: correlationId), record.deviceId == deviceId else {
            throw HubError.invalid("no file upload with correlationId '\(correlationId)' for device '\(deviceId)'; report the correlationId POST /devices/\(deviceId)/files returned")
        }
        var blob: (size: Int64, updated: Date)?
        if isSuccess {
            if let manifest = await storage.manifest(container: configuration.containerName, blob: record.blobName) {
                blob = (manifest.size, manifest.lastModified)
            } else {
                logger.warning("a device reported a successful upload of a blob that is not committed; no notification is sent",
                               metadata: ["device": "\(deviceId)", "blob": "\(record.blobName)"])
            }
        }
        let outcome = FileUploadRecord.Outcome(isSuccess: isSuccess, statusCode: statusCode,
                                               statusDescription: statusDescription, notified: now)
        return try await store.finishFileUpload(correlationId: correlationId, deviceId: deviceId, outcome: outcome, blob: blob)
    }

    // MARK: Blob endpoint

    /// Checks the SAS of a blob request.
    public func authorize(container: String, blob: String, query: Substring, needs: BlobSASPermissions,
                          now: Date = Date()) throws(BlobSASError)
    {
        let sas = try BlobServiceSAS(query: query)
        try sas.verify(account: configuration.accountName, container: container, blob: blob, key: accountKey,
                       now: Timestamp(secondsSince1970: Int64(now.timeIntervalSince1970)), requires: needs)
    }

    /// A read-only SAS URL for a stored blob, for `iothub files download` and back ends.
    public func readURL(blobName: String, timeToLive: TimeInterval = 3600, now: Date = Date()) -> String {
        let sas = BlobServiceSAS.sign(account: configuration.accountName, container: configuration.containerName,
                                      blob: blobName, permissions: [.read],
                                      expiry: Timestamp(secondsSince1970: Int64(now.timeIntervalSince1970 + timeToLive)),
                                      key: accountKey)
        return "https://\(storageHostName)/\(configuration.containerName)/" + Self.encodePath(blobName) + sas.queryString
    }

    // MARK: Back ends

    /// Uploads, oldest first, after `sequenceNumber`, optionally of one device.
    public func uploads(deviceId: String? = nil, after sequenceNumber: Int64 = 0, limit: Int = 1000) async throws
        -> [FileUploadRecord]
    {
        try await store.fileUploads(deviceId: deviceId, after: sequenceNumber, limit: limit)
    }

    public func upload(correlationId: String) async throws -> FileUploadRecord? {
        try await store.fileUpload(correlationId: correlationId)
    }

    /// Takes up to `maximum` notifications for an attached link; settle each with ``settleNotification(_:accepted:)``.
    public func takeNotifications(maximum: Int) async throws -> [FileUploadRecord] {
        let excluded = taken.withLock { $0 }
        let records = try await store.pendingFileNotifications(excluding: excluded, limit: maximum)
        return taken.withLock { set in
            records.filter { set.insert($0.correlationId).inserted }
        }
    }

    /// A back end accepted a notification (it is delivered) or did not (it goes back to pending).
    public func settleNotification(_ correlationId: String, accepted: Bool) async {
        if accepted {
            do { try await store.markFileNotificationsDelivered([correlationId]) } catch {
                logger.warning("recording a delivered file notification failed", metadata: ["error": "\(error)"])
            }
        }
        _ = taken.withLock { $0.remove(correlationId) }
    }

    /// The JSON IoT Hub delivers on `/messages/servicebound/filenotifications`.
    public func notificationJSON(_ record: FileUploadRecord) -> [UInt8] {
        let blobURI = "https://\(storageHostName)/\(configuration.containerName)/" + Self.encodePath(record.blobName)
        return JSONValue.object([
            "deviceId": .string(record.deviceId),
            "blobUri": .string(blobURI),
            "blobName": .string(record.blobName),
            "lastUpdatedTime": .string(Timestamps.iso8601(record.blobUpdated ?? record.created)),
            "blobSizeInBytes": .integer(record.blobSize ?? 0),
            "enqueuedTimeUtc": .string(Timestamps.iso8601(record.outcome?.notified ?? record.created)),
        ]).serializedBytes()
    }

    // MARK: Names

    /// A blob name a device may ask for: 1–1,024 characters, no control characters, no empty, `.` or `..` path
    /// segment, no leading `/` or `\`.
    static func validate(blobName: String) throws(HubError) {
        guard !blobName.isEmpty else { throw HubError.invalid("blobName is empty; name the file to upload") }
        guard !blobName.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }) else {
            throw HubError.invalid("blobName '\(blobName)' contains a control character or a backslash")
        }
        let segments = blobName.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw HubError.invalid("blobName '\(blobName)' has an empty, '.' or '..' path segment; use a name such as 'logs/today.txt'")
        }
    }

    /// Percent-encodes a blob name for a URL path, keeping `/`.
    public static func encodePath(_ name: String) -> String {
        PercentEncoding.encode(name, safe: "/-_.~")
    }
}
