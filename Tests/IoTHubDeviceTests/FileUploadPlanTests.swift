import IoTHubProtocol
import Testing
@testable import IoTHubDevice

/// Block ids and the pure plan of which blocks an upload sends.
@Suite struct FileUploadPlanTests {
    private func bytes(_ seed: UInt8, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) &+ seed } }

    @Test func blockIdsAreDeterministicFixedLengthAndDependOnIndexAndBytes() throws {
        let block = bytes(1, 1000)
        let id = BlockIdentifier(index: 3, bytes: block)
        #expect(id == BlockIdentifier(index: 3, bytes: block))
        #expect(id.value.utf8.count == 32)
        #expect(BlockIdentifier(index: 0, bytes: [1]).value.utf8.count == 32)
        #expect(BlockIdentifier(index: 49_999, bytes: bytes(9, 4 << 20)).value.utf8.count == 32)
        #expect(BlockIdentifier(index: 4, bytes: block) != id)
        var changed = block
        changed[500] ^= 1
        #expect(BlockIdentifier(index: 3, bytes: changed) != id)
        // Index (big-endian) then the SHA-256 prefix.
        let raw = try #require(LibCrypto.base64Decode(id.value))
        #expect(raw.prefix(4) == [0, 0, 0, 3])
        #expect(Array(raw.dropFirst(4)) == Array(LibCrypto.sha256(block).prefix(20)))
        // The URL form carries no raw base64 specials.
        #expect(!id.percentEncoded.contains("+") && !id.percentEncoded.contains("/") && !id.percentEncoded.contains("="))
        #expect(try PercentEncoding.decode(id.percentEncoded) == id.value)
    }

    @Test func freshPlanSendsEveryBlockAndCommitsThemInOrder() throws {
        var plan = FileUploadPlan(blockSize: 10, stored: nil, totalBytes: 25)
        var actions: [FileUploadPlan.Action] = []
        for (index, count) in [10, 10, 5].enumerated() {
            let block = bytes(UInt8(index), count)
            let action = try plan.next(count: count, sha256: LibCrypto.sha256(block))
            actions.append(action)
            if case .send(let id) = action { plan.sent(id, bytes: count) }
        }
        #expect(actions.allSatisfy { if case .send = $0 { true } else { false } })
        #expect(plan.commitList.count == 3)
        #expect(plan.progress == FileUploadProgress(bytesSent: 25, bytesSkipped: 0, totalBytes: 25, blocksSent: 3,
                                                    blocksSkipped: 0))
        #expect(FileUploadPlan.blockCount(totalBytes: 25, blockSize: 10) == 3)
        #expect(FileUploadPlan.blockCount(totalBytes: 0, blockSize: 10) == 0)
    }

    @Test func resumedPlanSkipsOnlyBlocksStoredWithTheSameIdAndSize() throws {
        let blocks = [bytes(0, 10), bytes(1, 10), bytes(2, 10), bytes(3, 4)]
        let ids = blocks.enumerated().map { BlockIdentifier(index: $0.offset, bytes: $0.element) }
        // Block 0 committed, block 1 uncommitted, block 2 stored under its id but with another size (a torn
        // write would not have this id, but the plan must not trust it), block 3 missing; plus a stranger.
        let stored = BlobBlockList(committed: [.init(name: ids[0].value, size: 10)],
                                   uncommitted: [.init(name: ids[1].value, size: 10), .init(name: ids[2].value, size: 9),
                                                 .init(name: "c3RyYW5nZXI=", size: 10)])
        var plan = FileUploadPlan(blockSize: 10, stored: stored, totalBytes: 34)
        var actions: [FileUploadPlan.Action] = []
        for block in blocks {
            let action = try plan.next(count: block.count, sha256: LibCrypto.sha256(block))
            if case .send(let id) = action { plan.sent(id, bytes: block.count) }
            actions.append(action)
        }
        #expect(actions == [.skip(ids[0]), .skip(ids[1]), .send(ids[2]), .send(ids[3])])
        #expect(plan.commitList == ids)
        #expect(plan.progress.blocksSkipped == 2 && plan.progress.bytesSkipped == 20)
        #expect(plan.progress.blocksSent == 2 && plan.progress.bytesSent == 14)
        #expect(plan.progress.bytesDone == 34)
    }

    @Test func changedContentIsSentAgainEvenWhereTheOldBlockIsStored() throws {
        let old = bytes(0, 10)
        let stored = BlobBlockList(uncommitted: [.init(name: BlockIdentifier(index: 0, bytes: old).value, size: 10)])
        var plan = FileUploadPlan(blockSize: 10, stored: stored, totalBytes: nil)
        var new = old
        new[0] ^= 0xFF
        let action = try plan.next(count: 10, sha256: LibCrypto.sha256(new))
        #expect(action == .send(BlockIdentifier(index: 0, bytes: new)))
    }

    @Test func block50001IsRefusedWithAdvice() throws {
        var plan = FileUploadPlan(blockSize: 1, stored: nil, totalBytes: nil)
        let digest = LibCrypto.sha256([0])
        for _ in 0..<FileUploadOptions.maximumBlockCount { _ = try plan.next(count: 1, sha256: digest) }
        let error = #expect(throws: FileUploadError.self) { _ = try plan.next(count: 1, sha256: digest) }
        #expect(error?.code == .tooManyBlocks)
        #expect(error?.description.contains("raise FileUploadOptions.blockSize") == true)
    }

    @Test func commitBodyListsEveryIdAsLatest() {
        let ids = [BlockIdentifier(index: 0, bytes: [1]), BlockIdentifier(index: 1, bytes: [2])]
        let body = String(decoding: BlobBlockList.commitBody(ids), as: UTF8.self)
        #expect(body == #"<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>\#(ids[0].value)</Latest>"#
                + "<Latest>\(ids[1].value)</Latest></BlockList>")
        // The hub's own parser reads it back.
        let parsed = try? BlockList.parseRequest(BlobBlockList.commitBody(ids))
        #expect(parsed?.map(\.id) == ids.map(\.value))
        #expect(String(decoding: BlobBlockList.commitBody([]), as: UTF8.self).hasSuffix("<BlockList></BlockList>"))
    }
}
