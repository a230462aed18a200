/// Why a file upload failed, and what to do about it.
///
/// A struct rather than an enum, so that new kinds of failure do not break your `switch` statements: compare
/// ``code``. ``description`` says what to do; ``isResumable`` tells whether calling
/// ``DeviceClient/uploadFile(named:from:options:)-(_,String,_)`` again with the same
/// ``FileUploadOptions/resumeStatePath`` continues where this attempt stopped.
///
/// ```swift
/// do {
///     _ = try await client.uploadFile(named: "log.txt", from: "/var/log/app.log", options: options)
/// } catch let error as FileUploadError where error.isResumable {
///     // The network or the hub went away: try again later with the same resume state file.
/// }
/// ```
public struct FileUploadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case invalidArgument, sourceUnreadable, resumeStateUnusable, hubRefused, storageAuthorizationFailed
            case storageQuotaExceeded, blockTooLarge, tooManyBlocks, storageFailed, transferFailed, tlsFailed
        }

        fileprivate let base: Base

        /// A blob name, block size or identity the upload cannot use: fix the argument.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// The file could not be opened or read, or the byte sequence threw: check the path and permissions.
        public static let sourceUnreadable = Code(base: .sourceUnreadable)
        /// The resume state file cannot be read, written, or belongs to another blob: remove it or choose another.
        public static let resumeStateUnusable = Code(base: .resumeStateUnusable)
        /// The hub refused to start the upload or its notification (see ``FileUploadError/status``).
        public static let hubRefused = Code(base: .hubRefused)
        /// The storage refused the upload's SAS even after the hub issued a new one.
        public static let storageAuthorizationFailed = Code(base: .storageAuthorizationFailed)
        /// The storage is full.
        public static let storageQuotaExceeded = Code(base: .storageQuotaExceeded)
        /// The storage refused a block as too large: lower ``FileUploadOptions/blockSize``.
        public static let blockTooLarge = Code(base: .blockTooLarge)
        /// The content needs more than 50,000 blocks: raise ``FileUploadOptions/blockSize``.
        public static let tooManyBlocks = Code(base: .tooManyBlocks)
        /// The storage answered with another error status (see ``FileUploadError/status``).
        public static let storageFailed = Code(base: .storageFailed)
        /// The network failed and the retries ran out; resumable.
        public static let transferFailed = Code(base: .transferFailed)
        /// TLS verification of the hub or the storage failed: check the trust settings.
        public static let tlsFailed = Code(base: .tlsFailed)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What went wrong, in words.
    public let detail: String
    /// The HTTP status of the refusal, when there was one.
    public let status: Int?
    /// The storage's error code (`AuthenticationFailed`, `BlobNotFound`…), when it sent one.
    public let storageCode: String?
    /// How many attempts were made, for ``Code/transferFailed``.
    public let attempts: Int?

    private init(_ code: Code, _ detail: String, status: Int? = nil, storageCode: String? = nil, attempts: Int? = nil) {
        self.code = code
        self.detail = detail
        self.status = status
        self.storageCode = storageCode
        self.attempts = attempts
    }

    /// Whether calling the upload again with the same resume state file can continue it (the network, the hub or
    /// the storage was away; nothing about the request was wrong).
    public var isResumable: Bool {
        switch code.base {
        case .transferFailed, .storageAuthorizationFailed, .storageQuotaExceeded: true
        case .hubRefused, .storageFailed: (status ?? 0) >= 500 || status == 429 || status == 408
        default: false
        }
    }

    /// An argument the upload cannot use.
    public static func invalidArgument(_ reason: String) -> Self { Self(.invalidArgument, reason) }
    /// The source could not be read.
    public static func sourceUnreadable(_ reason: String) -> Self { Self(.sourceUnreadable, reason) }
    /// The resume state file is unusable.
    public static func resumeStateUnusable(_ reason: String) -> Self { Self(.resumeStateUnusable, reason) }
    /// The hub answered `operation` with `status` and `message`.
    public static func hubRefused(_ operation: String, status: Int, message: String) -> Self {
        Self(.hubRefused, "\(operation): \(message)", status: status)
    }
    /// The storage refused the SAS.
    public static func storageAuthorizationFailed(status: Int, storageCode: String?, message: String) -> Self {
        Self(.storageAuthorizationFailed, message, status: status, storageCode: storageCode)
    }
    /// The storage is over its quota.
    public static func storageQuotaExceeded(status: Int, storageCode: String?, message: String) -> Self {
        Self(.storageQuotaExceeded, message, status: status, storageCode: storageCode)
    }
    /// A block of `size` bytes was refused as too large.
    public static func blockTooLarge(size: Int, message: String) -> Self {
        Self(.blockTooLarge, "\(size) bytes: \(message)", status: 413, storageCode: "RequestBodyTooLarge")
    }
    /// More blocks than the storage allows in one blob.
    public static func tooManyBlocks(limit: Int, blockSize: Int) -> Self {
        Self(.tooManyBlocks, "more than \(limit) blocks of \(blockSize) bytes")
    }
    /// The storage answered `operation` with `status`.
    public static func storageFailed(_ operation: String, status: Int, storageCode: String?, message: String) -> Self {
        Self(.storageFailed, "\(operation): \(message)", status: status, storageCode: storageCode)
    }
    /// The network failed `attempts` times.
    public static func transferFailed(_ reason: String, attempts: Int) -> Self {
        Self(.transferFailed, reason, attempts: attempts)
    }
    /// TLS verification failed.
    public static func tlsFailed(_ reason: String) -> Self { Self(.tlsFailed, reason) }

    public var description: String {
        let storage = storageCode.map { " (\($0))" } ?? ""
        switch code.base {
        case .invalidArgument: return "cannot upload: \(detail)"
        case .sourceUnreadable: return "cannot read the upload's source: \(detail); check the path and its permissions"
        case .resumeStateUnusable:
            return "the resume state file is unusable: \(detail); remove it to start the upload afresh, or pass another path"
        case .hubRefused:
            let advice = switch status ?? 0 {
            case 403 where detail.contains("403006"):
                "the device has too many uploads open (IoT Hub allows 10); notify or abandon one, or wait for its SAS to expire"
            case 401, 403: "check the device's key or token, and that the device is enabled"
            case 404: "check that the device exists and that the hub has file upload (a storage) configured"
            case 400: "check the blob name (no '..', no control characters, at most 1,024 characters)"
            case 429: "the device has too many uploads open (IoT Hub allows 10); finish or abandon one, then retry"
            case 500...: "the hub failed; retry later"
            default: "see the hub's message"
            }
            return "the hub answered \(status ?? 0) to \(detail); \(advice)"
        case .storageAuthorizationFailed:
            return "the storage refused the upload's SAS with \(status ?? 0)\(storage) even after the hub issued a new one: "
                + "\(detail); check the hub's storage account key and clock"
        case .storageQuotaExceeded:
            return "the hub's storage is over its quota (\(status ?? 0)\(storage): \(detail)): free space on the hub or raise "
                + "--storage-max-bytes, then resume"
        case .blockTooLarge:
            return "the storage refused a block as too large (\(detail)); lower FileUploadOptions.blockSize"
        case .tooManyBlocks:
            return "the content needs \(detail); Azure Blob Storage allows 50,000 per blob: raise FileUploadOptions.blockSize"
        case .storageFailed: return "the storage answered \(status ?? 0)\(storage) to \(detail)"
        case .transferFailed:
            return "the transfer failed after \(attempts ?? 0) attempts: \(detail); try again later, with the same resume "
                + "state file to continue where it stopped"
        case .tlsFailed:
            return "TLS verification failed: \(detail); check DeviceClientOptions.trust (the hub's CA file) and the host name"
        }
    }
}

extension FileUploadError.Code {
    /// Matches an error against a code in `catch` clauses: `catch FileUploadError.Code.transferFailed { … }`.
    public static func ~= (pattern: Self, error: any Error) -> Bool {
        (error as? FileUploadError)?.code == pattern
    }
}
