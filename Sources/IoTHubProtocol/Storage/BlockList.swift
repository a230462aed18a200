/// The block lists of Azure's block-blob API: the body of `Put Block List` and the answer of `Get Block List`.
///
/// ```swift
/// let request = try BlockList.parseRequest(Array("<BlockList><Latest>AAA=</Latest></BlockList>".utf8))
/// // [BlockList.Entry(id: "AAA=", source: .latest)]
/// let answer = BlockList.responseXML(committed: [("AAA=", 4)], uncommitted: [])
/// ```
public enum BlockList {
    /// Where `Put Block List` takes a block from.
    public enum Source: String, Sendable, Hashable {
        /// The newest of the uncommitted or committed block with this id.
        case latest = "Latest"
        /// The blob's committed block list.
        case committed = "Committed"
        /// The uncommitted blocks.
        case uncommitted = "Uncommitted"
    }

    /// One `<Latest>`, `<Committed>` or `<Uncommitted>` element.
    public struct Entry: Sendable, Hashable {
        public var id: String
        public var source: Source
        public init(id: String, source: Source) {
            self.id = id
            self.source = source
        }
    }

    /// The most blocks one blob may have (Azure: 50,000 committed).
    public static let maximumBlocks = 50_000

    /// Parses a `Put Block List` body.
    /// - Throws: ``BlockListError`` when it is not a `<BlockList>` of block elements.
    public static func parseRequest(_ bytes: [UInt8]) throws(BlockListError) -> [Entry] {
        var scanner = XMLScanner(bytes: bytes)
        scanner.skipProlog()
        guard scanner.open("BlockList") else { throw .notABlockList }
        var entries: [Entry] = []
        while true {
            scanner.skipWhitespace()
            if scanner.close("BlockList") { break }
            guard let name = scanner.openAny() else { throw .malformed("expected <Latest>, <Committed> or <Uncommitted>") }
            guard let source = Source(rawValue: name) else { throw .malformed("unknown element <\(name)>") }
            guard let text = scanner.text(until: name) else { throw .malformed("unterminated <\(name)>") }
            entries.append(Entry(id: XMLText.unescape(text), source: source))
            guard entries.count <= maximumBlocks else { throw .tooManyBlocks }
        }
        scanner.skipWhitespace()
        guard scanner.atEnd else { throw .malformed("content after </BlockList>") }
        return entries
    }

    /// The `Get Block List` answer.
    public static func responseXML(committed: [(id: String, size: Int64)], uncommitted: [(id: String, size: Int64)],
                                   includeCommitted: Bool = true, includeUncommitted: Bool = true) -> String
    {
        func blocks(_ list: [(id: String, size: Int64)]) -> String {
            list.map { "<Block><Name>\(XMLText.escape($0.id))</Name><Size>\($0.size)</Size></Block>" }.joined()
        }
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
        if includeCommitted { xml += "<CommittedBlocks>" + blocks(committed) + "</CommittedBlocks>" }
        if includeUncommitted { xml += "<UncommittedBlocks>" + blocks(uncommitted) + "</UncommittedBlocks>" }
        return xml + "</BlockList>"
    }

    /// Checks a block id: base64 text that decodes to at most 64 bytes.
    public static func isValidBlockId(_ id: String) -> Bool {
        guard !id.isEmpty, let bytes = LibCrypto.base64Decode(id) else { return false }
        return bytes.count <= 64
    }
}

/// Why a `Put Block List` body was refused.
public enum BlockListError: Error, Sendable, Hashable, CustomStringConvertible {
    case notABlockList
    case malformed(String)
    case tooManyBlocks

    public var description: String {
        switch self {
        case .notABlockList: "the body is not a <BlockList> document"
        case .malformed(let detail): "the block list XML is malformed: \(detail)"
        case .tooManyBlocks: "a blob may have at most \(BlockList.maximumBlocks) blocks"
        }
    }
}

/// XML character escaping for the few documents the storage API exchanges.
public enum XMLText {
    /// Escapes `& < > " '`.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }

    /// Undoes ``escape(_:)`` and numeric character references.
    public static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semicolon]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let digits = entity.hasPrefix("#x") ? (entity.dropFirst(2), 16) : (entity.dropFirst(), 10)
                if entity.hasPrefix("#"), let value = UInt32(digits.0, radix: digits.1), let scalar = Unicode.Scalar(value) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += rest[amp...semicolon]
                }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }
}

/// A forward-only scanner for the flat XML of block lists (no attributes on the elements it reads).
struct XMLScanner {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) {
        // A UTF-8 byte-order mark, which some clients send.
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    var atEnd: Bool { index >= bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    /// Skips `<?xml …?>` and comments.
    mutating func skipProlog() {
        while true {
            skipWhitespace()
            if starts("<?") { skip(past: "?>") } else if starts("<!--") { skip(past: "-->") } else { return }
        }
    }

    func starts(_ text: String) -> Bool {
        let pattern = Array(text.utf8)
        return bytes.count - index >= pattern.count && Array(bytes[index..<index + pattern.count]) == pattern
    }

    mutating func skip(past text: String) {
        let pattern = Array(text.utf8)
        while index < bytes.count {
            if starts(text) { index += pattern.count; return }
            index += 1
        }
    }

    /// `<name>` (attributes are skipped).
    mutating func open(_ name: String) -> Bool {
        skipWhitespace()
        let save = index
        guard openAny() == name else { index = save; return false }
        return true
    }

    /// Any opening tag; its name.
    mutating func openAny() -> String? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "<"), index + 1 < bytes.count,
              bytes[index + 1] != UInt8(ascii: "/") else { return nil }
        var end = index + 1
        while end < bytes.count, !([0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ">"), UInt8(ascii: "/")].contains(bytes[end])) {
            end += 1
        }
        let name = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
        while end < bytes.count, bytes[end] != UInt8(ascii: ">") { end += 1 }
        guard end < bytes.count, bytes[end - 1] != UInt8(ascii: "/") else { return nil }
        index = end + 1
        return name
    }

    /// `</name>`.
    mutating func close(_ name: String) -> Bool {
        skipWhitespace()
        let tag = "</" + name + ">"
        guard starts(tag) else { return false }
        index += tag.utf8.count
        return true
    }

    /// The text up to `</name>`, consuming the closing tag.
    mutating func text(until name: String) -> String? {
        let tag = "</" + name + ">"
        let start = index
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "<") {
                guard starts(tag) else { return nil }
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                index += tag.utf8.count
                return text.trimmingASCIIWhitespace()
            }
            index += 1
        }
        return nil
    }
}
