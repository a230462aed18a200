import Foundation
import Glibc
import IoTHubProtocol
import Logging
import Synchronization

/// The hub's blob store for file uploads: block blobs under the data directory, as Azure's block-blob API sees
/// them.
///
/// Layout under `root` (`{data dir}/blobs`):
/// - `tmp/`: files being written; emptied at start.
/// - `containers/{container}/{sha256(blob name)}/blob`: the committed blob, its bytes followed by its manifest (name,
///   properties, committed block list) and an 8-byte manifest length. Committing writes a new such file in `tmp/`,
///   syncs it, and renames it over the old one: one atomic rename, so a half-committed blob is never visible and a
///   reader that opened the old file keeps reading it whole.
/// - `containers/{container}/{key}/uncommitted/{hex(block id)}`: uncommitted blocks, each written to `tmp/`, synced
///   and renamed into place, so a block is either all there or absent. Invisible to Get Blob.
///
/// Every byte written counts against `maximumBytes` while it is written; a write that would exceed it fails with
/// ``BlobStorageError/overQuota(limit:)`` and leaves nothing behind. Blocking file work runs on the store's own
/// serial queue, never on the caller's executor.
public final class BlobStorage: Sendable {
    public let root: String
    public let maximumBytes: Int64
    let ledger: QuotaLedger
    let syncs: Bool
    private let queue = DispatchQueue(label: "iothub.blob-storage")
    let logger: Logger

    /// Opens (creating) the store at `root`, counting what it holds.
    /// - Parameter syncs: sync files before acknowledging a write (power-loss safe); `false` survives a killed
    ///   process only.
    public init(root: String, maximumBytes: Int64, syncs: Bool = true, logger: Logger) throws {
        self.root = root
        self.maximumBytes = maximumBytes
        self.syncs = syncs
        self.logger = logger
        let manager = FileManager.default
        try? manager.removeItem(atPath: root + "/tmp")
        for directory in [root + "/tmp", root + "/containers"] {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o700])
        }
        ledger = QuotaLedger(limit: maximumBytes, used: Self.usage(of: root + "/containers"))
    }

    /// Bytes stored now (committed blobs and uncommitted blocks).
    public var usedBytes: Int64 { ledger.used }

    private static func usage(of path: String) -> Int64 {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let item = enumerator.nextObject() as? String {
            var info = stat()
            if stat(path + "/" + item, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { total += Int64(info.st_size) }
        }
        return total
    }

    // MARK: Writing

    /// A new file in `tmp/` for a request body; hand it to ``putBlock(container:blob:blockId:from:)`` or
    /// ``putBlob(container:blob:from:properties:)``, or ``StagingFile/discard()`` it.
    public func stagingFile() throws(BlobStorageError) -> StagingFile {
        try StagingFile(path: root + "/tmp/" + UUID().uuidString, ledger: ledger)
    }

    /// Put Block: stores an uncommitted block, replacing one with the same id.
    public func putBlock(container: String, blob: String, blockId: String, from staging: StagingFile)
        async throws(BlobStorageError)
    {
        try await run { [self] () throws(BlobStorageError) in
            defer { staging.discard() }
            if syncs { try staging.sync() }
            let directory = blobDirectory(container, blob) + "/uncommitted"
            try Self.makeDirectory(directory)
            let target = directory + "/" + Self.hex(blockId)
            let replaced = Self.size(of: target)
            try staging.move(to: target)
            if let replaced { ledger.release(replaced) }
            if syncs { Self.syncDirectory(directory) }
        }
    }

    /// Put Blob: the body becomes the committed blob at once; uncommitted blocks are discarded.
    public func putBlob(container: String, blob: String, from staging: StagingFile, properties: BlobProperties)
        async throws(BlobStorageError) -> BlobManifest
    {
        try await run { [self] () throws(BlobStorageError) in
            defer { staging.discard() }
            let size = staging.bytesWritten
            var manifest = BlobManifest(name: blob, properties: properties, size: size, blocks: [])
            manifest.properties.contentMD5 = manifest.properties.contentMD5 ?? staging.md5Base64()
            try staging.appendTrailer(manifest)
            if syncs { try staging.sync() }
            try commit(staging, container: container, blob: blob)
            return manifest
        }
    }

    /// Put Block List: the listed blocks, in order, become the committed blob; other uncommitted blocks are
    /// discarded.
    /// - Throws: ``BlobStorageError/invalidBlockList(_:)`` naming a block that is not there.
    public func putBlockList(container: String, blob: String, entries: [BlockList.Entry], properties: BlobProperties)
        async throws(BlobStorageError) -> BlobManifest
    {
        try await run { [self] () throws(BlobStorageError) in
            let directory = blobDirectory(container, blob)
            let current = try? Self.readManifest(directory + "/blob")
            var committedOffsets: [String: (offset: Int64, size: Int64)] = [:]
            var offset: Int64 = 0
            for block in current?.blocks ?? [] {
                committedOffsets[block.id] = (offset, block.size)
                offset += block.size
            }
            // Resolve every entry before writing anything.
            var sources: [(path: String, offset: Int64, size: Int64, id: String)] = []
            for entry in entries {
                let uncommitted = directory + "/uncommitted/" + Self.hex(entry.id)
                let uncommittedSize = entry.source == .committed ? nil : Self.size(of: uncommitted)
                if let uncommittedSize {
                    sources.append((uncommitted, 0, uncommittedSize, entry.id))
                } else if entry.source != .uncommitted, let committed = committedOffsets[entry.id] {
                    sources.append((directory + "/blob", committed.offset, committed.size, entry.id))
                } else {
                    throw .invalidBlockList("the block '\(entry.id)' is not \(entry.source == .committed ? "committed" : "uploaded"); upload it with Put Block first")
                }
            }
            // The uncommitted blocks consumed here are deleted once the blob is committed: their bytes are not
            // counted twice while the blob is assembled (the disk briefly holds both).
            var consumed: Int64 = 0
            var counted = Set<String>()
            for source in sources where source.path != directory + "/blob" && counted.insert(source.path).inserted {
                consumed += source.size
            }
            ledger.release(consumed)
            var committed = false
            defer { if !committed { ledger.add(consumed) } }
            let staging = try stagingFile()
            defer { staging.discard() }
            for source in sources { try staging.copy(from: source.path, offset: source.offset, length: source.size) }
            var manifest = BlobManifest(name: blob, properties: properties, size: staging.bytesWritten,
                                        blocks: sources.map { .init(id: $0.id, size: $0.size) })
            if let md5 = properties.contentMD5 { manifest.properties.contentMD5 = md5 }
            try staging.appendTrailer(manifest)
            if syncs { try staging.sync() }
            try commit(staging, container: container, blob: blob, prereleased: Set(counted))
            committed = true
            return manifest
        }
    }

    /// Renames a finished staging file over the blob, then drops the blob's uncommitted blocks (those in
    /// `prereleased` were already taken off the count).
    private func commit(_ staging: StagingFile, container: String, blob: String, prereleased: Set<String> = [])
        throws(BlobStorageError)
    {
        let directory = blobDirectory(container, blob)
        try Self.makeDirectory(directory)
        let target = directory + "/blob"
        let replaced = Self.size(of: target)
        try staging.move(to: target)
        if let replaced { ledger.release(replaced) }
        if syncs { Self.syncDirectory(directory) }
        let uncommitted = directory + "/uncommitted"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: uncommitted)) ?? [] {
            let path = uncommitted + "/" + name
            if let size = Self.size(of: path), unlink(path) == 0, !prereleased.contains(path) { ledger.release(size) }
        }
        rmdir(uncommitted)
    }

    // MARK: Reading

    /// The committed blob's manifest, or `nil` when there is none.
    public func manifest(container: String, blob: String) async -> BlobManifest? {
        try? await run { [self] () throws(BlobStorageError) in try Self.readManifest(blobDirectory(container, blob) + "/blob") }
    }

    /// Get Block List: the committed blocks, and the uncommitted ones in the order they were written.
    /// - Throws: ``BlobStorageError/blobNotFound`` when the blob has neither.
    public func blockList(container: String, blob: String) async throws(BlobStorageError)
        -> (committed: [(id: String, size: Int64)], uncommitted: [(id: String, size: Int64)])
    {
        try await run { [self] () throws(BlobStorageError) in
            let directory = blobDirectory(container, blob)
            let manifest = try? Self.readManifest(directory + "/blob")
            var uncommitted: [(id: String, size: Int64, time: Int)] = []
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory + "/uncommitted")) ?? [] {
                var info = stat()
                guard let id = Self.unhex(name), stat(directory + "/uncommitted/" + name, &info) == 0 else { continue }
                uncommitted.append((id, Int64(info.st_size), info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec))
            }
            guard manifest != nil || !uncommitted.isEmpty else { throw .blobNotFound }
            uncommitted.sort { ($0.time, $0.id) < ($1.time, $1.id) }
            return ((manifest?.blocks ?? []).map { ($0.id, $0.size) }, uncommitted.map { ($0.id, $0.size) })
        }
    }

    /// Opens the committed blob for reading; the reader keeps its bytes even if the blob is replaced meanwhile.
    /// - Throws: ``BlobStorageError/blobNotFound``.
    public func open(container: String, blob: String) async throws(BlobStorageError) -> BlobReader {
        try await run { [self] () throws(BlobStorageError) in
            let path = blobDirectory(container, blob) + "/blob"
            let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw errno == ENOENT ? .blobNotFound : .io("cannot open the blob: \(Self.errorText())") }
            do throws(BlobStorageError) {
                let manifest = try Self.readManifest(descriptor: descriptor)
                return BlobReader(descriptor: descriptor, manifest: manifest)
            } catch {
                close(descriptor)
                throw error
            }
        }
    }

    /// Every committed blob of `container` whose name starts with `prefix`.
    public func list(container: String, prefix: String = "") async -> [BlobManifest] {
        (try? await run { [self] () throws(BlobStorageError) in
            let base = root + "/containers/" + Self.hex(container)
            return ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).compactMap { key in
                try? Self.readManifest(base + "/" + key + "/blob")
            }.filter { $0.name.hasPrefix(prefix) }.sorted { $0.name < $1.name }
        }) ?? []
    }

    /// Whether the blob has a committed version.
    public func committedBlobExists(container: String, blob: String) -> Bool {
        FileManager.default.fileExists(atPath: blobDirectory(container, blob) + "/blob")
    }

    // MARK: Helpers

    func blobDirectory(_ container: String, _ blob: String) -> String {
        root + "/containers/" + Self.hex(container) + "/" + LibCrypto.hexEncode(LibCrypto.sha256(Array(blob.utf8)))
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable () throws(BlobStorageError) -> T)
        async throws(BlobStorageError) -> T
    {
        let result: Result<T, BlobStorageError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(BlobStorageError) { continuation.resume(returning: .success(try body())) } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    static func hex(_ text: String) -> String { LibCrypto.hexEncode(Array(text.utf8)) }

    static func unhex(_ text: String) -> String? {
        LibCrypto.hexDecode(text).flatMap { String(validating: $0, as: UTF8.self) }
    }

    static func size(of path: String) -> Int64? {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : nil
    }

    static func makeDirectory(_ path: String) throws(BlobStorageError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .io("cannot create \(path): \(error.localizedDescription)")
        }
    }

    static func syncDirectory(_ path: String) {
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    static func errorText() -> String { String(cString: strerror(errno)) }

    static func readManifest(_ path: String) throws(BlobStorageError) -> BlobManifest {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .blobNotFound }
        defer { close(descriptor) }
        return try readManifest(descriptor: descriptor)
    }

    /// The manifest at the end of a blob file: `…bytes, manifest JSON, UInt64 little-endian JSON length`.
    static func readManifest(descriptor: Int32) throws(BlobStorageError) -> BlobManifest {
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_size >= 8 else { throw .io("a blob file is truncated") }
        var lengthBytes = [UInt8](repeating: 0, count: 8)
        guard pread(descriptor, &lengthBytes, 8, off_t(info.st_size - 8)) == 8 else { throw .io("cannot read a blob file") }
        let length = lengthBytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length > 0, Int64(length) <= Int64(info.st_size) - 8, length < 64 << 20 else {
            throw .io("a blob file's manifest is damaged")
        }
        var json = [UInt8](repeating: 0, count: Int(length))
        guard pread(descriptor, &json, Int(length), off_t(info.st_size - 8 - Int(length))) == Int(length),
              let manifest = try? JSONDecoder().decode(BlobManifest.self, from: Data(json))
        else { throw .io("a blob file's manifest is damaged") }
        return manifest
    }
}

/// Counts the store's bytes against its limit; safe from any thread.
final class QuotaLedger: Sendable {
    let limit: Int64
    private let usedBytes: Mutex<Int64>

    init(limit: Int64, used: Int64) {
        self.limit = limit
        usedBytes = Mutex(used)
    }

    var used: Int64 { usedBytes.withLock { $0 } }

    func reserve(_ bytes: Int64) -> Bool {
        usedBytes.withLock { used in
            guard used + bytes <= limit else { return false }
            used += bytes
            return true
        }
    }

    /// Counts bytes back without checking the limit (undoing a release).
    func add(_ bytes: Int64) {
        usedBytes.withLock { $0 += bytes }
    }

    func release(_ bytes: Int64) {
        usedBytes.withLock { $0 = max(0, $0 - bytes) }
    }
}

/// Why the blob store refused an operation.
public enum BlobStorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Storing this would exceed the configured bound.
    case overQuota(limit: Int64)
    /// The disk is full.
    case diskFull
    case blobNotFound
    case invalidBlockList(String)
    case io(String)

    /// The storage error this is answered with.
    public var storageError: StorageErrorCode {
        switch self {
        case .overQuota, .diskFull: .accountOverQuota
        case .blobNotFound: .blobNotFound
        case .invalidBlockList: .invalidBlockList
        case .io: .internalError
        }
    }

    public var description: String {
        switch self {
        case .overQuota(let limit):
            "the hub's file storage is full (its bound is \(limit) bytes); delete uploaded files or start the hub with a larger --storage-max-bytes"
        case .diskFull: "the disk under the hub's data directory is full; free space there and retry"
        case .blobNotFound: "The specified blob does not exist."
        case .invalidBlockList(let detail): "The specified block list is invalid: \(detail)"
        case .io(let detail): "the hub's file storage failed: \(detail)"
        }
    }
}
