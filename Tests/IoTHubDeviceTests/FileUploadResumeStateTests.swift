import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubDevice

/// The resume state file, the hub's upload target, and the block sources.
@Suite struct FileUploadResumeStateTests {
    private let target = BlobUploadTarget(correlationId: "corr-1", hostName: "localhost:10443", containerName: "uploads",
                                          blobName: "dev 1/logs/a+b.txt",
                                          sasToken: "?sv=2021-08-06&se=2030-01-02T03%3A04%3A05Z&sr=b&sp=rw&sig=abc%3D")

    private func temporaryPath() -> String {
        NSTemporaryDirectory() + "file-upload-state-\(UUID().uuidString).json"
    }

    @Test func stateFileRoundTripsAtomically() throws {
        let path = temporaryPath()
        defer { unlink(path) }
        #expect(try FileUploadResumeState.load(from: path) == nil)
        let state = FileUploadResumeState(requestedName: "logs/a+b.txt", target: target, blockSize: 1 << 20)
        try state.save(to: path)
        #expect(try FileUploadResumeState.load(from: path) == state)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        // Replacing keeps one well-formed file.
        var renewed = state
        renewed.target.correlationId = "corr-2"
        try renewed.save(to: path)
        #expect(try FileUploadResumeState.load(from: path)?.target.correlationId == "corr-2")
        FileUploadResumeState.remove(at: path)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func malformedStateFilesAreRefusedWithAdvice() throws {
        let path = temporaryPath()
        defer { unlink(path) }
        for text in ["not json", #"{"version":2}"#, #"{"version":1,"requestedName":"a"}"#] {
            try Array(text.utf8).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
            let error = #expect(throws: FileUploadError.self) { try FileUploadResumeState.load(from: path) }
            #expect(error?.code == .resumeStateUnusable)
            #expect(error?.description.contains("remove it") == true)
        }
        let unwritable = #expect(throws: FileUploadError.self) {
            try FileUploadResumeState(requestedName: "a", target: target, blockSize: 1).save(to: "/nonexistent-dir/state")
        }
        #expect(unwritable?.code == .resumeStateUnusable)
    }

    @Test func targetURLsAndExpiry() throws {
        #expect(target.url() == "https://localhost:10443/uploads/dev%201/logs/a%2Bb.txt" + target.sasToken)
        #expect(target.url("comp=blocklist") == "https://localhost:10443/uploads/dev%201/logs/a%2Bb.txt"
                + target.sasToken + "&comp=blocklist")
        let expiry = try #require(target.expiry)
        #expect(expiry == Timestamp(iso8601: "2030-01-02T03:04:05Z")?.secondsSince1970)
        #expect(!target.sasExpires(now: expiry - 120))
        #expect(target.sasExpires(now: expiry - 30))
        let parsed = try BlobUploadTarget(parsing: Array("""
            {"correlationId":"c","hostName":"h:1","containerName":"k","blobName":"d/n","sasToken":"sv=1&se=x"}
            """.utf8))
        #expect(parsed.sasToken == "?sv=1&se=x" && parsed.expiry == nil && !parsed.sasExpires(now: 0))
        let missing = #expect(throws: FileUploadError.self) {
            try BlobUploadTarget(parsing: Array(#"{"correlationId":"c"}"#.utf8))
        }
        #expect(missing?.code == .hubRefused)
    }

    @Test func chunkSequencesAreCutIntoFullBlocks() async throws {
        let chunks = [[UInt8](repeating: 1, count: 3), [], [2, 2, 2, 2, 2, 2, 2], [3], [UInt8](repeating: 4, count: 25)]
        let stream = AsyncStream<[UInt8]> { continuation in
            for chunk in chunks { continuation.yield(chunk) }
            continuation.finish()
        }
        var reader = ChunkSequenceBlockReader(stream)
        var blocks: [[UInt8]] = []
        while true {
            let block = try await reader.nextBlock(maximumBytes: 10)
            if block.isEmpty { break }
            blocks.append(block)
        }
        #expect(blocks.map(\.count) == [10, 10, 10, 6])
        #expect(blocks.flatMap { $0 } == chunks.flatMap { $0 })
    }

    @Test func filesAreReadInBlocks() async throws {
        let path = temporaryPath()
        defer { unlink(path) }
        let content = (0..<1_000_003).map { UInt8(truncatingIfNeeded: $0 * 31) }
        try content.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
        let reader = try FileBlockReader(path: path)
        #expect(reader.totalBytes == 1_000_003)
        var read: [UInt8] = []
        var counts: [Int] = []
        while true {
            let block = try await reader.nextBlock(maximumBytes: 300_000)
            if block.isEmpty { break }
            counts.append(block.count)
            read += block
        }
        #expect(counts == [300_000, 300_000, 300_000, 100_003])
        #expect(read == content)
        let missing = #expect(throws: FileUploadError.self) { try FileBlockReader(path: path + ".missing") }
        #expect(missing?.code == .sourceUnreadable)
    }
}
