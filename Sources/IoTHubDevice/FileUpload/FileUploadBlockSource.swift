import Glibc

/// Where an upload's bytes come from, one block at a time: the content is never held whole.
protocol FileUploadBlockSource {
    /// The content's size, when known before reading it.
    var totalBytes: Int64? { get }
    /// The next `maximumBytes` bytes (fewer only at the end); empty once the content is exhausted.
    mutating func nextBlock(maximumBytes: Int) async throws -> [UInt8]
}

/// Reads a file block by block with `read(2)`.
final class FileBlockReader: FileUploadBlockSource {
    private let fd: Int32
    private let path: String
    let totalBytes: Int64?
    private var chunk = [UInt8](repeating: 0, count: 256 << 10)

    /// Opens `path` for reading.
    /// - Throws: ``FileUploadError/sourceUnreadable(_:)`` naming the path and the system's reason.
    init(path: String) throws(FileUploadError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .sourceUnreadable("cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .sourceUnreadable("cannot stat '\(path)': \(reason)")
        }
        guard (info.st_mode & S_IFMT) != S_IFDIR else {
            close(fd)
            throw .sourceUnreadable("'\(path)' is a directory; upload a file")
        }
        self.fd = fd
        self.path = path
        self.totalBytes = (info.st_mode & S_IFMT) == S_IFREG ? Int64(info.st_size) : nil
    }

    deinit { close(fd) }

    func nextBlock(maximumBytes: Int) async throws -> [UInt8] {
        var block: [UInt8] = []
        block.reserveCapacity(totalBytes.map { Int(min(Int64(maximumBytes), max(0, $0))) } ?? maximumBytes)
        while block.count < maximumBytes {
            let wanted = min(chunk.count, maximumBytes - block.count)
            let count = read(fd, &chunk, wanted)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw FileUploadError.sourceUnreadable("cannot read '\(path)': \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            block += chunk[0..<count]
        }
        return block
    }
}

/// Cuts an `AsyncSequence` of byte chunks of any sizes into blocks.
struct ChunkSequenceBlockReader<Chunks: AsyncSequence>: FileUploadBlockSource where Chunks.Element == [UInt8] {
    private var iterator: Chunks.AsyncIterator
    private var pending: [UInt8] = []
    private var exhausted = false
    var totalBytes: Int64? { nil }

    init(_ chunks: Chunks) {
        iterator = chunks.makeAsyncIterator()
    }

    mutating func nextBlock(maximumBytes: Int) async throws -> [UInt8] {
        while pending.count < maximumBytes && !exhausted {
            let chunk: [UInt8]?
            do {
                chunk = try await iterator.next()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw FileUploadError.sourceUnreadable("the byte sequence threw: \(error)")
            }
            guard let chunk else {
                exhausted = true
                break
            }
            pending += chunk
        }
        guard pending.count > maximumBytes else {
            defer { pending = [] }
            return pending
        }
        let block = Array(pending[0..<maximumBytes])
        pending.removeFirst(maximumBytes)
        return block
    }
}
