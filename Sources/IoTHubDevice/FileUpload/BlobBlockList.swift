/// The blocks a blob holds, from the storage's `Get Block List` answer
/// (`<BlockList><CommittedBlocks><Block><Name>…</Name><Size>…</Size></Block>…</CommittedBlocks>
/// <UncommittedBlocks>…</UncommittedBlocks></BlockList>`), and the `Put Block List` body the upload sends.
struct BlobBlockList: Sendable, Hashable {
    struct Block: Sendable, Hashable {
        var name: String
        var size: Int64
    }

    var committed: [Block] = []
    var uncommitted: [Block] = []

    /// Every block the storage holds for the blob, by id: a committed block and an uncommitted one of the same
    /// id carry the same bytes when the ids are ``BlockIdentifier``s.
    var sizesByName: [String: Int64] {
        var sizes: [String: Int64] = [:]
        for block in committed + uncommitted { sizes[block.name] = block.size }
        return sizes
    }

    /// Parses a `Get Block List` body.
    /// - Throws: ``FileUploadError/storageFailed(_:status:storageCode:message:)`` for a body that is not a block list.
    init(parsing bytes: [UInt8]) throws(FileUploadError) {
        let text = Substring(String(decoding: bytes, as: UTF8.self))
        guard StorageXML.firstElement("BlockList", in: text) != nil || text.contains("<BlockList") else {
            throw .storageFailed("Get Block List", status: 200, storageCode: nil,
                                 message: "the answer is not a block list: \(text.prefix(200))")
        }
        committed = try Self.blocks(in: StorageXML.firstElement("CommittedBlocks", in: text))
        uncommitted = try Self.blocks(in: StorageXML.firstElement("UncommittedBlocks", in: text))
    }

    init(committed: [Block] = [], uncommitted: [Block] = []) {
        self.committed = committed
        self.uncommitted = uncommitted
    }

    private static func blocks(in section: Substring?) throws(FileUploadError) -> [Block] {
        guard let section else { return [] }
        var blocks: [Block] = []
        for element in StorageXML.elements("Block", in: section) {
            guard let name = StorageXML.firstElement("Name", in: element),
                  let sizeText = StorageXML.firstElement("Size", in: element),
                  let size = Int64(sizeText.filter { !$0.isWhitespace }) else {
                throw .storageFailed("Get Block List", status: 200, storageCode: nil,
                                     message: "a block without a name or size: \(element.prefix(200))")
            }
            blocks.append(Block(name: StorageXML.unescape(name), size: size))
        }
        return blocks
    }

    /// The `Put Block List` body that commits `ids` in order, each as `Latest` (the newest version of the id,
    /// uncommitted or committed).
    static func commitBody(_ ids: [BlockIdentifier]) -> [UInt8] {
        var text = #"<?xml version="1.0" encoding="utf-8"?><BlockList>"#
        text.reserveCapacity(text.utf8.count + ids.count * 50)
        for id in ids { text += "<Latest>\(id.value)</Latest>" }
        text += "</BlockList>"
        return Array(text.utf8)
    }
}
