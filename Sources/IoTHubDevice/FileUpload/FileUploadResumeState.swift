import Glibc
import IoTHubProtocol

/// What an interrupted upload needs to continue, even in another process: the blob, the storage URL pieces the hub
/// gave, its correlation id and the block size. Kept as a small JSON file at
/// ``FileUploadOptions/resumeStatePath``, replaced atomically (written beside it, then renamed over it).
struct FileUploadResumeState: Sendable, Hashable {
    static let formatVersion: Int64 = 1

    /// The name the device asked for (`{"blobName": …}`).
    var requestedName: String
    var target: BlobUploadTarget
    var blockSize: Int

    init(requestedName: String, target: BlobUploadTarget, blockSize: Int) {
        self.requestedName = requestedName
        self.target = target
        self.blockSize = blockSize
    }

    // MARK: JSON

    var serialized: [UInt8] {
        let object: JSONObject = [
            "version": .integer(Self.formatVersion),
            "requestedName": .string(requestedName),
            "correlationId": .string(target.correlationId),
            "hostName": .string(target.hostName),
            "containerName": .string(target.containerName),
            "blobName": .string(target.blobName),
            "sasToken": .string(target.sasToken),
            "blockSize": .integer(Int64(blockSize)),
        ]
        return JSONValue.object(object).serializedBytes()
    }

    /// Parses a state file's bytes.
    /// - Throws: ``FileUploadError/resumeStateUnusable(_:)`` naming what is wrong.
    init(parsing bytes: [UInt8]) throws(FileUploadError) {
        guard let object = (try? JSONValue(parsing: bytes))?.objectValue else {
            throw .resumeStateUnusable("it is not a JSON object")
        }
        guard object["version"]?.int64Value == Self.formatVersion else {
            throw .resumeStateUnusable("it has format version \(object["version"].map { "\($0)" } ?? "none"), "
                                       + "this SDK reads \(Self.formatVersion)")
        }
        func string(_ key: String) throws(FileUploadError) -> String {
            guard let value = object[key]?.stringValue else { throw .resumeStateUnusable("'\(key)' is missing") }
            return value
        }
        guard let blockSize = object["blockSize"]?.int64Value, blockSize > 0,
              blockSize <= Int64(FileUploadOptions.maximumBlockSize) else {
            throw .resumeStateUnusable("'blockSize' is missing or out of range")
        }
        self.init(requestedName: try string("requestedName"),
                  target: BlobUploadTarget(correlationId: try string("correlationId"), hostName: try string("hostName"),
                                           containerName: try string("containerName"), blobName: try string("blobName"),
                                           sasToken: try string("sasToken")),
                  blockSize: Int(blockSize))
    }

    // MARK: The file

    /// The state at `path`, or `nil` when there is no such file.
    /// - Throws: ``FileUploadError/resumeStateUnusable(_:)`` when it cannot be read or parsed.
    static func load(from path: String) throws(FileUploadError) -> FileUploadResumeState? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw .resumeStateUnusable("cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw .resumeStateUnusable("cannot read '\(path)': \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            bytes += chunk[0..<count]
            guard bytes.count <= 1 << 20 else { throw .resumeStateUnusable("'\(path)' is over 1 MiB: not a state file") }
        }
        do {
            return try FileUploadResumeState(parsing: bytes)
        } catch {
            throw .resumeStateUnusable("'\(path)': \(error.detail)")
        }
    }

    /// Writes the state to `path` atomically: to `path.tmp`, flushed to disk, then renamed over `path`.
    /// - Throws: ``FileUploadError/resumeStateUnusable(_:)`` when the directory is not writable.
    func save(to path: String) throws(FileUploadError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw .resumeStateUnusable("cannot write '\(temporary)': \(String(cString: strerror(errno)))")
        }
        let bytes = serialized
        var written = 0
        while written < bytes.count {
            let remaining = Array(bytes[written...])
            let count = write(fd, remaining, remaining.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw .resumeStateUnusable("cannot write '\(temporary)': \(reason)")
            }
            written += count
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .resumeStateUnusable("cannot replace '\(path)': \(reason)")
        }
    }

    /// Removes the state file (after the upload succeeded); a missing file is fine.
    static func remove(at path: String) {
        unlink(path)
    }
}
