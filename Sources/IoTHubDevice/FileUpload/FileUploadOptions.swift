/// How ``DeviceClient/uploadFile(named:from:options:)-(_,String,_)`` splits, retries, reports and resumes an upload.
///
/// ```swift
/// var options = FileUploadOptions()
/// options.blockSize = 1 << 20                              // 1 MiB blocks: less memory, more requests
/// options.resumeStatePath = "/var/lib/app/upload.state"    // survive a reboot half way
/// options.progress = { print("\($0.bytesDone) of \($0.totalBytes ?? 0) bytes") }
/// ```
public struct FileUploadOptions: Sendable {
    /// Azure Blob Storage's largest block: 4,000 MiB.
    public static let maximumBlockSize = 4000 << 20
    /// Azure Blob Storage's most blocks in one blob.
    public static let maximumBlockCount = 50_000

    /// Bytes per block (4 MiB unless set; 1 byte to ``maximumBlockSize``). The upload holds about one block in
    /// memory whatever the file's size, and a blob holds at most ``maximumBlockCount`` blocks, so a 4 MiB block
    /// size allows about 195 GiB. A resumed upload keeps the block size it started with.
    public var blockSize: Int = 4 << 20
    /// How each request to the storage and the hub retries after a network failure or a 5xx/429 answer: the
    /// policy's ``RetryPolicy/maximumAttempts`` counts retries after the first try (`nil`: until cancelled).
    public var retryPolicy = RetryPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(20), multiplier: 2,
                                         jitter: 0.2, maximumAttempts: 5)
    /// Called after each block is sent or found already stored, and once before the first (on the uploading
    /// task: keep it short).
    public var progress: (@Sendable (FileUploadProgress) -> Void)?
    /// A file of your choosing where the upload keeps what it needs to continue after a failure or a restart of
    /// the process (blob, storage URL, correlation id, block size; a few hundred bytes of JSON, replaced
    /// atomically). When the file exists the upload resumes: it sends only the blocks the storage lacks. It is
    /// deleted once the upload succeeds. `nil`: no resuming.
    public var resumeStatePath: String?

    public init(blockSize: Int = 4 << 20, resumeStatePath: String? = nil,
                progress: (@Sendable (FileUploadProgress) -> Void)? = nil) {
        self.blockSize = blockSize
        self.resumeStatePath = resumeStatePath
        self.progress = progress
    }
}
