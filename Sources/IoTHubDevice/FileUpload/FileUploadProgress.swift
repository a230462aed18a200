/// How far an upload is, as ``FileUploadOptions/progress`` reports it.
public struct FileUploadProgress: Sendable, Hashable, CustomStringConvertible {
    /// Bytes sent to the storage in this call.
    public var bytesSent: Int64
    /// Bytes of blocks the storage already held (from an earlier, interrupted attempt), not sent again.
    public var bytesSkipped: Int64
    /// The content's size, when known (a file's size; `nil` for a byte sequence).
    public var totalBytes: Int64?
    /// Blocks sent in this call.
    public var blocksSent: Int
    /// Blocks the storage already held.
    public var blocksSkipped: Int

    public init(bytesSent: Int64 = 0, bytesSkipped: Int64 = 0, totalBytes: Int64? = nil, blocksSent: Int = 0,
                blocksSkipped: Int = 0) {
        self.bytesSent = bytesSent
        self.bytesSkipped = bytesSkipped
        self.totalBytes = totalBytes
        self.blocksSent = blocksSent
        self.blocksSkipped = blocksSkipped
    }

    /// Bytes done: sent or skipped.
    public var bytesDone: Int64 { bytesSent + bytesSkipped }

    public var description: String {
        let total = totalBytes.map { " of \($0)" } ?? ""
        return "\(bytesDone)\(total) bytes (\(blocksSent) blocks sent, \(blocksSkipped) already stored)"
    }
}
