/// The variable-length "remaining length" integer of the fixed header (MQTT 3.1.1 §2.2.3): seven bits per
/// byte, least significant group first, high bit set on every byte but the last, at most four bytes.
enum MQTTRemainingLength {
    /// 268,435,455: the largest value four bytes can hold.
    static let maximum = 268_435_455

    /// How many bytes `value` takes (1 to 4). `value` must be in `0...maximum`.
    @inline(__always)
    static func byteCount(of value: Int) -> Int {
        switch value {
        case ..<128: 1
        case ..<16_384: 2
        case ..<2_097_152: 3
        default: 4
        }
    }

    /// Appends the encoding of `value` (which must be in `0...maximum`) to `buffer`.
    @inline(__always)
    static func write(_ value: Int, into buffer: inout [UInt8]) {
        var rest = value
        repeat {
            var byte = UInt8(truncatingIfNeeded: rest & 0x7F)
            rest >>= 7
            if rest > 0 { byte |= 0x80 }
            buffer.append(byte)
        } while rest > 0
    }

    /// The outcome of reading a remaining length from the start of a buffer.
    enum ParseResult: Equatable {
        /// The value and the number of bytes it took.
        case complete(value: Int, byteCount: Int)
        /// All available bytes had the continuation bit set and fewer than four were seen.
        case needMoreBytes
        /// The fourth byte had the continuation bit set.
        case malformed
    }

    /// Reads a remaining length from `bytes[start..<end]`. Non-minimal encodings (e.g. `0x80 0x00` for 0) are
    /// accepted: MQTT 3.1.1, unlike MQTT 5, does not forbid them.
    @inline(__always)
    static func parse(_ bytes: [UInt8], from start: Int, to end: Int) -> ParseResult {
        var value = 0
        var shift = 0
        var index = start
        while index < end {
            let byte = bytes[index]
            value |= Int(byte & 0x7F) << shift
            index += 1
            if byte & 0x80 == 0 { return .complete(value: value, byteCount: index - start) }
            if index - start == 4 { return .malformed }
            shift += 7
        }
        return .needMoreBytes
    }
}
