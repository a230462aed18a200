import Foundation
import CLinuxSystem
import Glibc
import IoTHubProtocol

/// A file in the blob store's `tmp/` being written with a request body. Every write is counted against the
/// store's quota first; a failed or abandoned staging file is removed and its bytes given back.
///
/// Writes are plain `write(2)` calls into the page cache; the store syncs the file before it makes it visible.
public final class StagingFile: @unchecked Sendable {
    // @unchecked: one request task writes it, then hands it to the store's queue, never both at once.
    let path: String
    private var descriptor: Int32
    private let ledger: QuotaLedger
    private(set) var bytesWritten: Int64 = 0
    private var reserved: Int64 = 0
    private let md5 = StreamingDigest(.md5)
    private var moved = false

    init(path: String, ledger: QuotaLedger) throws(BlobStorageError) {
        self.path = path
        self.ledger = ledger
        descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .io("cannot create a staging file: \(BlobStorage.errorText())") }
    }

    deinit { discard() }

    /// Appends bytes.
    /// - Throws: ``BlobStorageError/overQuota(limit:)`` or ``BlobStorageError/diskFull``; the file is discarded.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(BlobStorageError) {
        try append(bytes, digesting: true)
    }

    private func append(_ bytes: UnsafeRawBufferPointer, digesting: Bool) throws(BlobStorageError) {
        guard !bytes.isEmpty, let base = bytes.baseAddress else { return }
        guard ledger.reserve(Int64(bytes.count)) else {
            discard()
            throw .overQuota(limit: ledger.limit)
        }
        reserved += Int64(bytes.count)
        if digesting { md5.update(bytes) }
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, base + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                let full = errno == ENOSPC || errno == EDQUOT
                let reason = BlobStorage.errorText()
                discard()
                throw full ? .diskFull : .io("writing a staging file failed: \(reason)")
            }
            offset += written
        }
        bytesWritten += Int64(bytes.count)
    }

    /// Appends `length` bytes of another file from `offset`, in the kernel (`copy_file_range`).
    func copy(from source: String, offset: Int64, length: Int64) throws(BlobStorageError) {
        let input = Glibc.open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .io("cannot open a block: \(BlobStorage.errorText())") }
        defer { close(input) }
        guard ledger.reserve(length) else {
            discard()
            throw .overQuota(limit: ledger.limit)
        }
        reserved += length
        var sourceOffset = Int64(offset)
        var remaining = length
        var buffer: [UInt8] = []
        while remaining > 0 {
            let copied = cls_copy_file_range(input, &sourceOffset, descriptor, nil, UInt(min(remaining, 1 << 30)))
            if copied > 0 {
                remaining -= Int64(copied)
                continue
            }
            if copied < 0, errno == EINTR { continue }
            if copied < 0, errno == ENOSPC || errno == EDQUOT {
                discard()
                throw .diskFull
            }
            // Not supported here (or a short source): copy through memory.
            if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: 1 << 20) }
            let chunk = Int(min(remaining, Int64(buffer.count)))
            let read = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, chunk, off_t(sourceOffset)) }
            guard read > 0 else { throw .io("a block file is shorter than its list says") }
            let failure: BlobStorageError? = buffer.withUnsafeBytes { raw in
                var done = 0
                while done < read {
                    let written = Glibc.write(descriptor, raw.baseAddress! + done, read - done)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return errno == ENOSPC ? .diskFull : .io("writing a blob failed: \(BlobStorage.errorText())")
                    }
                    done += written
                }
                return nil
            }
            if let failure {
                discard()
                throw failure
            }
            sourceOffset += Int64(read)
            remaining -= Int64(read)
        }
        bytesWritten += length
    }

    private var finishedMD5: String?

    /// Base64 MD5 of the bytes written with ``write(_:)`` (call it once all are written).
    public func md5Base64() -> String {
        if let finishedMD5 { return finishedMD5 }
        let text = LibCrypto.base64Encode(md5.finish())
        finishedMD5 = text
        return text
    }

    /// The body bytes written so far.
    public var size: Int64 { bytesWritten }

    /// Appends the manifest and its length (the committed-blob file format).
    func appendTrailer(_ manifest: BlobManifest) throws(BlobStorageError) {
        guard var json = try? JSONEncoder().encode(manifest) else { throw .io("cannot encode a blob manifest") }
        let length = UInt64(json.count)
        for shift in stride(from: 0, to: 64, by: 8) { json.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        let before = bytesWritten
        try json.withUnsafeBytes { raw in Result { () throws(BlobStorageError) in try append(raw, digesting: false) } }.get()
        bytesWritten = before
    }

    func sync() throws(BlobStorageError) {
        guard fsync(descriptor) == 0 else {
            let full = errno == ENOSPC || errno == EDQUOT
            let reason = BlobStorage.errorText()
            discard()
            throw full ? .diskFull : .io("syncing a file failed: \(reason)")
        }
    }

    /// Renames the file to `target`; its bytes stay counted as the store's.
    func move(to target: String) throws(BlobStorageError) {
        guard descriptor >= 0 else { throw .io("the staging file was discarded") }
        close(descriptor)
        descriptor = -1
        guard rename(path, target) == 0 else {
            let reason = BlobStorage.errorText()
            unlink(path)
            ledger.release(reserved)
            moved = true
            throw .io("cannot move a file into place: \(reason)")
        }
        moved = true
    }

    /// Removes the file (unless it was moved into place) and gives its bytes back.
    public func discard() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        guard !moved else { return }
        moved = true
        unlink(path)
        ledger.release(reserved)
        reserved = 0
    }
}

/// An open committed blob: reads any range of its bytes, even after the blob was replaced.
public final class BlobReader: Sendable {
    private let descriptor: Int32
    public let manifest: BlobManifest

    init(descriptor: Int32, manifest: BlobManifest) {
        self.descriptor = descriptor
        self.manifest = manifest
    }

    deinit { close(descriptor) }

    /// Up to `count` bytes from `offset` (within the blob's size).
    public func read(offset: Int64, count: Int) throws(BlobStorageError) -> [UInt8] {
        let available = max(0, min(Int64(count), manifest.size - offset))
        guard available > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(available))
        var done = 0
        while done < bytes.count {
            let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(offset) + off_t(done)) }
            if read < 0, errno == EINTR { continue }
            guard read > 0 else { throw .io("reading a blob failed: \(BlobStorage.errorText())") }
            done += read
        }
        return bytes
    }
}
