import Foundation
import Synchronization
import IoTHubCore
import IoTHubProtocol
import Testing
@testable import IoTHubDevice
@testable import IoTHubServer

/// File uploads against the companion hub in this process: real TLS (the hub's CA), its HTTPS device API and its
/// blob storage endpoint. Every upload is checked by the SHA-256 of the bytes the hub stored.
@Suite(.serialized, .timeLimit(.minutes(3))) struct FileUploadIntegrationTests {
    /// A hub, one device, and a client of it over TLS.
    final class Fixture {
        let hub: LocalHub
        let deviceId: String
        let client: DeviceClient
        let directory: String

        init(_ name: String = "uploader") async throws {
            hub = try await LocalHub.start()
            deviceId = "\(name)-\(UUID().uuidString.prefix(8).lowercased())"
            let key = try await hub.createDevice(deviceId)
            var options = hub.tlsOptions()
            options.httpsPort = hub.httpsPort
            options.logger.logLevel = .warning
            client = try DeviceClient(hostName: "localhost", deviceId: deviceId, sharedAccessKey: key, options: options)
            directory = hub.directory + "/device-side"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }

        func finish() async {
            await client.close()
            await hub.stop()
            hub.removeData()
        }

        var uploads: FileUploadService {
            get throws { try #require(hub.services.fileUploads, "the test hub runs without storage") }
        }

        /// The SHA-256 and size of the blob the hub stored, read back in 1 MiB pieces.
        func stored(_ blobName: String) async throws -> (sha256: [UInt8], size: Int64) {
            let uploads = try uploads
            let reader = try await uploads.storage.open(container: uploads.configuration.containerName, blob: blobName)
            let digest = StreamingDigest(.sha256)
            var offset: Int64 = 0
            while offset < reader.manifest.size {
                let piece = try reader.read(offset: offset, count: Int(min(1 << 20, reader.manifest.size - offset)))
                #expect(!piece.isEmpty)
                digest.update(piece)
                offset += Int64(piece.count)
            }
            return (digest.finish(), reader.manifest.size)
        }

        /// The hub's record of the upload `correlationId`.
        func record(_ correlationId: String) async throws -> FileUploadRecord? {
            try await uploads.upload(correlationId: correlationId)
        }

        /// Writes `bytes` to a file in the fixture's directory and returns its path.
        func file(_ name: String, _ bytes: [UInt8]) throws -> String {
            let path = directory + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    /// Runs `body` with a fresh fixture, stopping its hub afterwards whatever happens.
    static func withFixture(_ body: (Fixture) async throws -> Void) async throws {
        let fixture = try await Fixture()
        do {
            try await body(fixture)
        } catch {
            await fixture.finish()
            throw error
        }
        await fixture.finish()
    }

    /// Deterministic pseudo-random bytes (xorshift), cheap for tens of megabytes.
    static func content(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
        var state = seed
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            var word = state
            for _ in 0..<8 where index < count {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }

    static func fastRetries(_ attempts: Int = 2) -> RetryPolicy {
        RetryPolicy(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50), jitter: 0, maximumAttempts: attempts)
    }

    @Test(arguments: [(0, 1000), (1, 1000), (2500, 1000), (3000, 1000)])
    func smallFilesAreStoredExactly(size: Int, blockSize: Int) async throws {
        try await Self.withFixture { fixture in
            let bytes = Self.content(size)
            let path = try fixture.file("small-\(size).bin", bytes)
            var options = FileUploadOptions(blockSize: blockSize)
            options.retryPolicy = Self.fastRetries()
            let result = try await fixture.client.uploadFile(named: "small/\(size).bin", from: path, options: options)
            #expect(result.blobName == "\(fixture.deviceId)/small/\(size).bin")
            #expect(result.size == Int64(size))
            #expect(result.sha256 == LibCrypto.sha256(bytes))
            #expect(result.blocksSent == (size + blockSize - 1) / blockSize && result.blocksSkipped == 0)
            let stored = try await fixture.stored(result.blobName)
            #expect(stored.size == Int64(size) && stored.sha256 == LibCrypto.sha256(bytes))
            let record = try #require(try await fixture.record(result.correlationId))
            #expect(record.outcome?.isSuccess == true)
        }
    }

    @Test func largeFileInManyBlocksWithProgress() async throws {
        try await Self.withFixture { fixture in
            let bytes = Self.content(24 << 20, seed: 42)
            let path = try fixture.file("large.bin", bytes)
            let reports = ProgressLog()
            var options = FileUploadOptions(blockSize: 1 << 20)
            options.progress = { reports.append($0) }
            let result = try await fixture.client.uploadFile(named: "large.bin", from: path, options: options)
            #expect(result.size == 24 << 20 && result.blocksSent == 24 && result.blocksSkipped == 0)
            #expect(result.sha256 == LibCrypto.sha256(bytes))
            let stored = try await fixture.stored(result.blobName)
            #expect(stored.sha256 == result.sha256 && stored.size == result.size)
            let log = reports.all
            #expect(log.count == 25)   // once before the first block, then after each
            #expect(log.first == FileUploadProgress(totalBytes: 24 << 20))
            #expect(log.last == FileUploadProgress(bytesSent: 24 << 20, totalBytes: 24 << 20, blocksSent: 24))
            #expect(zip(log, log.dropFirst()).allSatisfy { $0.bytesSent < $1.bytesSent })
        }
    }

    @Test func asyncSequenceOfUnevenChunks() async throws {
        try await Self.withFixture { fixture in
            let bytes = Self.content(3_000_017, seed: 7)
            let chunks = AsyncStream<[UInt8]> { continuation in
                var offset = 0
                var size = 1
                while offset < bytes.count {
                    let end = min(bytes.count, offset + size)
                    continuation.yield(Array(bytes[offset..<end]))
                    offset = end
                    size = size * 3 % 700_001 + 1
                }
                continuation.finish()
            }
            let result = try await fixture.client.uploadFile(named: "stream.bin", from: chunks,
                                                             options: FileUploadOptions(blockSize: 256 << 10))
            #expect(result.size == Int64(bytes.count) && result.blocksSent == 12)
            #expect(result.sha256 == LibCrypto.sha256(bytes))
            #expect(try await fixture.stored(result.blobName).sha256 == result.sha256)
        }
    }

    /// The hub stops after 8 of 24 blocks; the upload fails as resumable, keeps its state file, and a new call
    /// (from the file this time) after the hub is back sends only the 16 missing blocks.
    @Test func resumesAfterTheHubWasCutMidUpload() async throws {
        try await Self.withFixture { fixture in
            let bytes = Self.content(24 << 20, seed: 1234)
            let statePath = fixture.directory + "/resume.json"
            let reports = ProgressLog()
            var options = FileUploadOptions(blockSize: 1 << 20, resumeStatePath: statePath)
            options.retryPolicy = Self.fastRetries()
            options.progress = { reports.append($0) }

            let (chunks, feed) = AsyncStream<[UInt8]>.makeStream()
            let client = fixture.client
            let upload = Task { try await client.uploadFile(named: "resumable.bin", from: chunks, options: options) }
            // 8.5 MiB: eight blocks go out, the ninth waits for bytes.
            feed.yield(Array(bytes[0..<(8 << 20) + (512 << 10)]))
            #expect(await reports.wait { $0.blocksSent == 8 })
            #expect(FileManager.default.fileExists(atPath: statePath))
            await fixture.hub.stop()
            feed.yield(Array(bytes[((8 << 20) + (512 << 10))...]))
            feed.finish()
            let failure = await upload.result
            guard case .failure(let error) = failure, let uploadError = error as? FileUploadError else {
                Issue.record("the upload should fail while the hub is down, not \(failure)")
                return
            }
            #expect(uploadError.code == .transferFailed && uploadError.isResumable)
            #expect(uploadError.description.contains("resume"))
            #expect(FileManager.default.fileExists(atPath: statePath))

            try await fixture.hub.restart()
            let path = try fixture.file("resumable.bin", bytes)
            var again = FileUploadOptions(blockSize: 4 << 20, resumeStatePath: statePath)   // the state's 1 MiB wins
            again.retryPolicy = Self.fastRetries()
            let result = try await fixture.client.uploadFile(named: "resumable.bin", from: path, options: again)
            #expect(result.blocksSkipped == 8 && result.blocksSent == 16)
            #expect(result.size == 24 << 20 && result.sha256 == LibCrypto.sha256(bytes))
            let stored = try await fixture.stored(result.blobName)
            #expect(stored.sha256 == result.sha256 && stored.size == result.size)
            #expect(!FileManager.default.fileExists(atPath: statePath))
        }
    }

    /// A state file whose SAS the storage refuses: the upload asks the hub for a new SAS and completes.
    @Test func refusedSASIsRenewedWithTheHub() async throws {
        try await Self.withFixture { fixture in
            let bytes = Self.content(5000, seed: 5)
            let path = try fixture.file("renew.bin", bytes)
            let statePath = fixture.directory + "/renew.json"
            let original = try await startedState(fixture, name: "renew.bin", path: path, statePath: statePath)
            var tampered = original
            tampered.target.sasToken = tampered.target.sasToken.replacing("sig=", with: "sig=AAAA")
            try tampered.save(to: statePath)

            let result = try await fixture.client.uploadFile(named: "renew.bin", from: path,
                                                             options: FileUploadOptions(blockSize: 1000, resumeStatePath: statePath))
            #expect(result.correlationId != original.target.correlationId)
            #expect(result.sha256 == LibCrypto.sha256(bytes))
            #expect(try await fixture.stored(result.blobName).sha256 == result.sha256)
        }
    }

    /// The storage refuses the SAS and the hub refuses a new one (the device was deleted): a typed error that
    /// names the hub's status and what to check.
    @Test func refusedSASWithoutRenewalIsATypedError() async throws {
        try await Self.withFixture { fixture in
            let path = try fixture.file("refused.bin", Self.content(5000))
            let statePath = fixture.directory + "/refused.json"
            var state = try await startedState(fixture, name: "refused.bin", path: path, statePath: statePath)
            state.target.sasToken = state.target.sasToken.replacing("sig=", with: "sig=AAAA")
            try state.save(to: statePath)
            try await fixture.hub.services.registry.delete(DeviceIdentity(deviceId: fixture.deviceId), condition: .any)

            let error = await #expect(throws: FileUploadError.self) {
                try await fixture.client.uploadFile(named: "refused.bin", from: path,
                                                    options: FileUploadOptions(blockSize: 1000, resumeStatePath: statePath))
            }
            #expect(error?.code == .hubRefused)
            #expect([401, 403, 404].contains(error?.status ?? 0))
            #expect(error?.description.contains("POST /files") == true)
        }
    }

    @Test func unknownTrustIsATLSError() async throws {
        try await Self.withFixture { fixture in
            var options = fixture.hub.tlsOptions()
            options.httpsPort = fixture.hub.httpsPort
            options.trust = .system   // the hub's CA is not in the system store
            let key = try await fixture.hub.createDevice(fixture.deviceId + "-sys")
            let client = try DeviceClient(hostName: "localhost", deviceId: fixture.deviceId + "-sys", sharedAccessKey: key,
                                          options: options)
            let path = try fixture.file("tls.bin", [1, 2, 3])
            let error = await #expect(throws: FileUploadError.self) {
                try await client.uploadFile(named: "tls.bin", from: path)
            }
            #expect(error?.code == .tlsFailed)
            await client.close()
        }
    }

    /// Starts an upload whose block source fails after the hub granted the SAS, leaving a state file behind.
    private func startedState(_ fixture: Fixture, name: String, path: String, statePath: String) async throws
        -> FileUploadResumeState
    {
        let failing = AsyncThrowingStream<[UInt8], any Error> { $0.finish(throwing: CancellationError()) }
        _ = try? await fixture.client.uploadFile(named: name, from: failing,
                                                 options: FileUploadOptions(blockSize: 1000, resumeStatePath: statePath))
        return try #require(try FileUploadResumeState.load(from: statePath))
    }
}

/// Progress reports collected from the upload's task, and awaited by the test as they come.
final class ProgressLog: Sendable {
    private let reports = Mutex<[FileUploadProgress]>([])
    private let stream: AsyncStream<FileUploadProgress>
    private let continuation: AsyncStream<FileUploadProgress>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream()
    }

    func append(_ progress: FileUploadProgress) {
        reports.withLock { $0.append(progress) }
        continuation.yield(progress)
    }

    var all: [FileUploadProgress] { reports.withLock { $0 } }

    /// Waits for a report that satisfies `condition` (one waiter at a time).
    func wait(_ condition: (FileUploadProgress) -> Bool) async -> Bool {
        for await progress in stream where condition(progress) { return true }
        return false
    }
}
