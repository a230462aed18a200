/// A minimal writer of Avro Object Container Files (Apache Avro 1.11, "Object Container Files"), uncompressed
/// (`avro.codec` = `null`): what IoT Hub writes to a storage endpoint by default.
///
/// A file is a ``header`` (the magic `Obj\u{1}`, a metadata map with `avro.codec` and `avro.schema`, and the
/// 16-byte sync marker) followed by data blocks, each one the object count, the byte size of the serialized
/// objects, the objects, and the sync marker again. Objects are serialized by the caller with ``AvroBinary``,
/// in the field order of the schema. Blocks may be appended to a file over time, so a blob can grow block by block.
///
/// ```swift
/// let marker = try AvroSyncMarker(LibCrypto.randomBytes(count: 16))
/// let writer = AvroContainerWriter(schema: #"{"type":"string"}"#, syncMarker: marker)
/// var hello: [UInt8] = []
/// AvroBinary.appendString("hello", to: &hello)
/// let file = writer.file(objects: [hello])     // header + one block holding one string
/// ```
public struct AvroContainerWriter: Sendable, Hashable {
    /// The four bytes every container file starts with: `O`, `b`, `j`, 1.
    public static let magic: [UInt8] = [0x4F, 0x62, 0x6A, 0x01]

    /// The writer's schema, as JSON text (stored verbatim under `avro.schema`).
    public let schema: String
    /// The marker that ends the header and every block.
    public let syncMarker: AvroSyncMarker

    /// A writer for objects of `schema` (JSON text; not parsed or checked here).
    public init(schema: String, syncMarker: AvroSyncMarker) {
        self.schema = schema
        self.syncMarker = syncMarker
    }

    /// The file header: magic, metadata (`avro.codec` = `null`, then `avro.schema`) and the sync marker.
    public var header: [UInt8] {
        var out = Self.magic
        AvroBinary.appendMap([("avro.codec", Array("null".utf8)), ("avro.schema", Array(schema.utf8))], to: &out) {
            AvroBinary.appendBytes($1, to: &$0)
        }
        out += syncMarker.bytes
        return out
    }

    /// One data block holding `objects` (each already serialized with ``AvroBinary``); empty for no objects, since
    /// a block of zero objects says nothing.
    public func block(objects: [[UInt8]]) -> [UInt8] {
        guard !objects.isEmpty else { return [] }
        let size = objects.reduce(0) { $0 + $1.count }
        var out: [UInt8] = []
        out.reserveCapacity(size + 36)
        AvroBinary.appendLong(Int64(objects.count), to: &out)
        AvroBinary.appendLong(Int64(size), to: &out)
        for object in objects { out += object }
        out += syncMarker.bytes
        return out
    }

    /// A whole file: the header and, when there are objects, one block holding all of them.
    public func file(objects: [[UInt8]]) -> [UInt8] {
        header + block(objects: objects)
    }
}

/// The 16 bytes that separate an Avro container file's blocks. Random per file, so a reader can find block
/// boundaries; pass fixed bytes only in tests.
public struct AvroSyncMarker: Sendable, Hashable {
    /// Exactly 16 bytes.
    public let bytes: [UInt8]

    /// - Throws: ``AvroContainerError`` unless `bytes` has exactly 16 bytes.
    public init(_ bytes: [UInt8]) throws(AvroContainerError) {
        guard bytes.count == 16 else {
            throw AvroContainerError(message: "an Avro sync marker has exactly 16 bytes, not \(bytes.count): "
                + "pass 16 random bytes (LibCrypto.randomBytes(count: 16))")
        }
        self.bytes = bytes
    }
}

/// Why an Avro container could not be set up; ``message`` says what to change.
public struct AvroContainerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong and what to do instead.
    public let message: String
    public var description: String { message }
}

/// Avro's binary encoding of the values the container writer needs (Apache Avro 1.11, "Binary Encoding"). Each
/// function appends to a buffer, so a record is built by appending its fields in schema order.
///
/// ```swift
/// var out: [UInt8] = []
/// AvroBinary.appendLong(-65, to: &out)          // [0x81, 0x01]: zig-zag, then 7 bits a byte, low group first
/// AvroBinary.appendString("hi", to: &out)       // [0x04, 0x68, 0x69]: the length as a long, then UTF-8
/// AvroBinary.appendUnionBranch(1, to: &out)     // [0x02]: the branch index as a long
/// AvroBinary.appendStringMap([("a", "b")], to: &out)  // [0x02, 0x02, 0x61, 0x02, 0x62, 0x00]
/// ```
public enum AvroBinary {
    /// `value` zig-zag mapped (0, -1, 1, -2, … → 0, 1, 2, 3, …), as the unsigned number the varint carries.
    public static func zigZag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value &<< 1) ^ (value >> 63))
    }

    /// An Avro `long` (and `int`, which encodes the same way): zig-zag, then a varint of 7-bit groups, lowest
    /// first, the high bit set on every byte but the last. One to ten bytes.
    public static func appendLong(_ value: Int64, to out: inout [UInt8]) {
        var rest = zigZag(value)
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    /// An Avro `bytes`: the length as a long, then the bytes.
    public static func appendBytes(_ bytes: some Collection<UInt8>, to out: inout [UInt8]) {
        appendLong(Int64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    /// An Avro `string`: the UTF-8 length as a long, then the UTF-8 bytes.
    public static func appendString(_ text: String, to out: inout [UInt8]) {
        appendBytes(text.utf8, to: &out)
    }

    /// The branch of a union value, before the value itself: the zero-based index into the union's types, as a
    /// long (`["null","bytes"]`: 0 for null, which has no value bytes, and 1 for bytes).
    public static func appendUnionBranch(_ index: Int, to out: inout [UInt8]) {
        appendLong(Int64(index), to: &out)
    }

    /// An Avro `map` as a single block: the entry count, each key (a string) followed by its value as
    /// `appendValue` writes it, then the zero count that ends the map. An empty map is the zero count alone.
    /// Keys should be unique; a reader keeps the last of duplicates.
    public static func appendMap<Value>(_ entries: [(key: String, value: Value)], to out: inout [UInt8],
                                        appendValue: (inout [UInt8], Value) -> Void) {
        if !entries.isEmpty {
            appendLong(Int64(entries.count), to: &out)
            for (key, value) in entries {
                appendString(key, to: &out)
                appendValue(&out, value)
            }
        }
        out.append(0)
    }

    /// An Avro `{"type":"map","values":"string"}` as a single block (see ``appendMap(_:to:appendValue:)``).
    public static func appendStringMap(_ entries: [(key: String, value: String)], to out: inout [UInt8]) {
        appendMap(entries, to: &out) { appendString($1, to: &$0) }
    }
}
