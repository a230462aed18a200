/// Which blocks an upload sends: a pure state machine fed with each block of the content as it is read.
///
/// For each block it returns an ``Action``: ``Action/skip(_:)`` when the storage already holds a block of that
/// id and size (``BlockIdentifier`` ids carry a hash of the bytes, so the same id means the same bytes), otherwise
/// ``Action/send(_:)``. The handler executes the action and reports ``sent(_:bytes:)``; at the end,
/// ``commitList`` is the `Put Block List` in order. It also keeps the progress counters and enforces Azure's
/// 50,000-block limit before anything is sent for the block over it.
struct FileUploadPlan: Sendable {
    enum Action: Sendable, Hashable {
        case send(BlockIdentifier)
        case skip(BlockIdentifier)
    }

    let blockSize: Int
    private let stored: [String: Int64]
    /// Every block's id so far, in order.
    private(set) var commitList: [BlockIdentifier] = []
    private(set) var progress: FileUploadProgress

    /// - Parameters:
    ///   - stored: what the storage holds for the blob (from `Get Block List`), when resuming.
    ///   - totalBytes: the content's size, when known.
    init(blockSize: Int, stored: BlobBlockList?, totalBytes: Int64?) {
        self.blockSize = blockSize
        self.stored = stored?.sizesByName ?? [:]
        self.progress = FileUploadProgress(totalBytes: totalBytes)
    }

    /// The block count `totalBytes` needs at `blockSize` (an empty blob has none).
    static func blockCount(totalBytes: Int64, blockSize: Int) -> Int {
        Int((totalBytes + Int64(blockSize) - 1) / Int64(blockSize))
    }

    /// The next block of the content: `count` bytes whose SHA-256 is `sha256`.
    /// - Throws: ``FileUploadError/tooManyBlocks(limit:blockSize:)`` for block 50,001.
    mutating func next(count: Int, sha256: [UInt8]) throws(FileUploadError) -> Action {
        precondition(count > 0 && count <= blockSize, "a block is 1...blockSize bytes")
        guard commitList.count < FileUploadOptions.maximumBlockCount else {
            throw .tooManyBlocks(limit: FileUploadOptions.maximumBlockCount, blockSize: blockSize)
        }
        let id = BlockIdentifier(index: commitList.count, sha256: sha256)
        commitList.append(id)
        if stored[id.value] == Int64(count) {
            progress.blocksSkipped += 1
            progress.bytesSkipped += Int64(count)
            return .skip(id)
        }
        return .send(id)
    }

    /// The storage accepted block `id` of `bytes` bytes.
    mutating func sent(_ id: BlockIdentifier, bytes: Int) {
        progress.blocksSent += 1
        progress.bytesSent += Int64(bytes)
    }
}
