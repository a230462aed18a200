import Foundation
import IoTHubProtocol
import Logging
import Testing
@testable import IoTHubCore

@Suite("Blob store: uncommitted blocks stay invisible, commits are atomic, the bound holds")
struct BlobStorageTests {
    func store(maximumBytes: Int64 = 1 << 30, root: String = TestProcess.temporaryDirectory() + "/blobs") throws -> BlobStorage {
        try BlobStorage(root: root, maximumBytes: maximumBytes, syncs: false, logger: Logger(label: "test"))
    }

    func staged(_ storage: BlobStorage, _ text: String) throws -> StagingFile {
        let staging = try storage.stagingFile()
        try Array(text.utf8).withUnsafeBytes { raw in try staging.write(raw) }
        return staging
    }

    func contents(_ storage: BlobStorage, _ blob: String) async throws -> String {
        let reader = try await storage.open(container: "c", blob: blob)
        return String(decoding: try reader.read(offset: 0, count: Int(reader.manifest.size)), as: UTF8.self)
    }

    @Test("blocks are invisible until Put Block List; the list decides order; other blocks are dropped")
    func blocksThenCommit() async throws {
        let storage = try store()
        for (id, text) in [("QQ==", "alpha "), ("Qg==", "beta "), ("Qw==", "unused")] {
            try await storage.putBlock(container: "c", blob: "d/f.txt", blockId: id, from: try staged(storage, text))
        }
        await #expect(throws: BlobStorageError.blobNotFound) { _ = try await storage.open(container: "c", blob: "d/f.txt") }
        let lists = try await storage.blockList(container: "c", blob: "d/f.txt")
        #expect(lists.committed.isEmpty && Set(lists.uncommitted.map(\.id)) == ["QQ==", "Qg==", "Qw=="])
        let manifest = try await storage.putBlockList(container: "c", blob: "d/f.txt",
                                                      entries: [.init(id: "Qg==", source: .latest), .init(id: "QQ==", source: .uncommitted)],
                                                      properties: BlobProperties(contentType: "text/plain"))
        #expect(manifest.size == 11 && manifest.blocks.map(\.id) == ["Qg==", "QQ=="])
        #expect(try await contents(storage, "d/f.txt") == "beta alpha ")
        let after = try await storage.blockList(container: "c", blob: "d/f.txt")
        #expect(after.committed.map(\.id) == ["Qg==", "QQ=="] && after.uncommitted.isEmpty)
        #expect(storage.usedBytes == 11 + Int64(try trailerBytes(storage, "d/f.txt")))
        // A committed block can be listed again, and a missing one refuses the whole list.
        try await storage.putBlock(container: "c", blob: "d/f.txt", blockId: "RA==", from: try staged(storage, "delta"))
        await #expect(throws: BlobStorageError.self) {
            _ = try await storage.putBlockList(container: "c", blob: "d/f.txt",
                                               entries: [.init(id: "RA==", source: .latest), .init(id: "Wg==", source: .latest)],
                                               properties: BlobProperties())
        }
        #expect(try await contents(storage, "d/f.txt") == "beta alpha ", "a refused list changes nothing")
        _ = try await storage.putBlockList(container: "c", blob: "d/f.txt",
                                           entries: [.init(id: "QQ==", source: .committed), .init(id: "RA==", source: .latest)],
                                           properties: BlobProperties())
        #expect(try await contents(storage, "d/f.txt") == "alpha delta")
    }

    @Test("a reader keeps the bytes it opened while the blob is replaced")
    func readersSeeOneVersion() async throws {
        let storage = try store()
        _ = try await storage.putBlob(container: "c", blob: "x", from: try staged(storage, "first version"), properties: .init())
        let reader = try await storage.open(container: "c", blob: "x")
        let replaced = try await storage.putBlob(container: "c", blob: "x", from: try staged(storage, "second"), properties: .init())
        #expect(String(decoding: try reader.read(offset: 0, count: 100), as: UTF8.self) == "first version")
        #expect(try await contents(storage, "x") == "second")
        #expect(replaced.properties.contentMD5 == LibCrypto.base64Encode(BlobMD5.of("second")))
    }

    @Test("over the bound: refused while written, nothing left behind, usage unchanged; a restart recounts")
    func quota() async throws {
        let root = TestProcess.temporaryDirectory() + "/blobs"
        let storage = try store(maximumBytes: 1000, root: root)
        _ = try await storage.putBlob(container: "c", blob: "small", from: try staged(storage, "12345"), properties: .init())
        let used = storage.usedBytes
        let staging = try storage.stagingFile()
        #expect(throws: BlobStorageError.overQuota(limit: 1000)) {
            try [UInt8](repeating: 7, count: 2000).withUnsafeBytes { raw in try staging.write(raw) }
        }
        #expect(storage.usedBytes == used)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/tmp").isEmpty)
        await #expect(throws: BlobStorageError.blobNotFound) { _ = try await storage.blockList(container: "c", blob: "big") }
        let reopened = try store(maximumBytes: 1000, root: root)
        #expect(reopened.usedBytes == used)
        #expect(BlobStorageError.overQuota(limit: 1000).description.contains("--storage-max-bytes"))
    }

    @Test("a commit does not count its blocks twice: blocks of more than half the bound still commit")
    func commitWithinBound() async throws {
        let storage = try store(maximumBytes: 2000)
        let text = String(repeating: "x", count: 600)
        for id in ["QQ==", "Qg=="] {
            try await storage.putBlock(container: "c", blob: "big", blockId: id, from: try staged(storage, text))
        }
        let manifest = try await storage.putBlockList(container: "c", blob: "big",
                                                      entries: [.init(id: "QQ==", source: .latest), .init(id: "Qg==", source: .latest)],
                                                      properties: .init())
        #expect(manifest.size == 1200)
        let file = try FileManager.default.attributesOfItem(atPath: storage.blobDirectory("c", "big") + "/blob")[.size] as? Int
        #expect(storage.usedBytes == Int64(file ?? 0), "the bound counts the committed file only")
    }

    func trailerBytes(_ storage: BlobStorage, _ blob: String) throws -> Int {
        let path = storage.blobDirectory("c", blob) + "/blob"
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        return size - 11
    }
}

enum BlobMD5 {
    static func of(_ text: String) -> [UInt8] {
        let digest = StreamingDigest(.md5)
        digest.update(Array(text.utf8))
        return digest.finish()
    }
}
