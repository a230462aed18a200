/// The URL-encoded `k=v&k2=v2` property bag at the end of IoT Hub telemetry and C2D topics.
///
/// Keys and values are encoded like Python's `quote(…, safe="")` and decoded with `%XX` only (`+` stays a plus).
/// A key without `=` has a `nil` value; `k=` has an empty value.
///
/// ```swift
/// let bag = PropertyBag([("$.mid", "42"), ("temp alert", "on")])
/// bag.encoded                              // "%24.mid=42&temp%20alert=on"
/// PropertyBag(decoding: "a=1&flag&b=")     // [("a","1"), ("flag",nil), ("b","")]
/// ```
public struct PropertyBag: Sendable, Hashable, Sequence {
    /// One key and its optional value.
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: String?

        public init(key: String, value: String?) {
            self.key = key
            self.value = value
        }
    }

    /// The entries in wire order.
    public var entries: [Entry]

    /// Creates a bag from ordered pairs.
    public init(_ pairs: [(String, String?)] = []) {
        entries = pairs.map { Entry(key: $0.0, value: $0.1) }
    }

    /// Decodes a property bag (the part of the topic after the last fixed segment).
    public init(decoding text: Substring) {
        self.init(decoding: text.utf8)
    }

    /// Decodes a property bag from its UTF-8 bytes.
    ///
    /// It splits on the bytes of `&` and `=`: in UTF-8 an ASCII byte is always that character, never part of
    /// another, so a combining mark after '=' or '&' cannot hide it (as splitting on grapheme clusters would).
    public init<Bytes: Collection<UInt8>>(decoding bytes: Bytes) {
        var entries: [Entry] = []
        // One allocation for the entries: as many as there are separators, plus one.
        entries.reserveCapacity(bytes.reduce(1) { $1 == UInt8(ascii: "&") ? $0 + 1 : $0 })
        var pairStart = bytes.startIndex
        var equals: Bytes.Index? = nil
        var index = bytes.startIndex
        func finishPair(at end: Bytes.Index) {
            guard pairStart != end else { return }
            if let equals {
                entries.append(Entry(key: PercentEncoding.decodeLenient(bytes[pairStart..<equals]),
                                     value: PercentEncoding.decodeLenient(bytes[bytes.index(after: equals)..<end])))
            } else {
                entries.append(Entry(key: PercentEncoding.decodeLenient(bytes[pairStart..<end]), value: nil))
            }
        }
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "&") {
                finishPair(at: index)
                pairStart = bytes.index(after: index)
                equals = nil
            } else if byte == UInt8(ascii: "="), equals == nil {
                equals = index
            }
            bytes.formIndex(after: &index)
        }
        finishPair(at: index)
        self.entries = entries
    }

    /// The value of the first entry named `key`; `.some(nil)` when the key is present without a value.
    public subscript(key: String) -> String?? {
        guard let entry = entries.first(where: { $0.key == key }) else { return nil }
        return .some(entry.value)
    }

    /// Appends an entry.
    public mutating func append(_ key: String, _ value: String?) {
        entries.append(Entry(key: key, value: value))
    }

    /// The encoded form, without a leading separator.
    public var encoded: String {
        entries.map { entry in
            let key = PercentEncoding.encode(entry.key)
            guard let value = entry.value else { return key }
            return key + "=" + PercentEncoding.encode(value)
        }.joined(separator: "&")
    }

    public var isEmpty: Bool { entries.isEmpty }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }
}
