/// Rewrites an outgoing AMQP 1.0 byte stream so that `open`, `begin`, `attach` and `transfer` performatives carry
/// every field, trailing nulls included.
///
/// The AMQP specification lets an encoder drop trailing null fields, and Qpid Proton does. The pure-Python AMQP
/// stack of the official `azure-eventhub` package reads those performatives by position and fails on a shorter
/// list ("list index out of range"). Explicit nulls mean the same to every other peer, so the hub pads these
/// four performatives on every connection.
///
/// The stream is the protocol headers (`AMQP` + 4 bytes, for SASL and for AMQP) and frames; bytes may arrive in
/// any pieces, and an incomplete frame waits for the rest.
///
/// ```swift
/// var padding = AMQPPerformativePadding()
/// var out: [UInt8] = []
/// padding.process(bytesFromProton, into: &out)   // write `out` to the socket
/// ```
public struct AMQPPerformativePadding: Sendable {
    private var pending: [UInt8] = []

    /// Field counts of the performatives that are padded, by descriptor code.
    static let fieldCounts: [UInt8: Int] = [0x10: 10, 0x11: 8, 0x12: 14, 0x14: 11]

    /// Fields whose default is not null, written out when absent or null (the Python stack compares them):
    /// open's `max-frame-size` (uint 4294967295) and `channel-max` (ushort 65535), begin's `handle-max` (uint
    /// 4294967295).
    static let defaults: [UInt8: [Int: [UInt8]]] = [
        0x10: [2: [0x70, 0xFF, 0xFF, 0xFF, 0xFF], 3: [0x60, 0xFF, 0xFF]],
        0x11: [4: [0x70, 0xFF, 0xFF, 0xFF, 0xFF]],
    ]

    public init() {}

    /// Bytes held back because the frame they start is not complete yet.
    public var pendingCount: Int { pending.count }

    /// Appends `input`'s complete frames (padded) to `output`; an incomplete tail is kept for the next call.
    public mutating func process(_ input: [UInt8], into output: inout [UInt8]) {
        if pending.isEmpty {
            let used = Self.processFrames(input, into: &output)
            if used < input.count { pending.append(contentsOf: input[used...]) }
        } else {
            pending.append(contentsOf: input)
            let used = Self.processFrames(pending, into: &output)
            pending.removeFirst(used)
        }
    }

    /// Processes whole frames and headers from the start of `bytes`; returns how many bytes it used.
    private static func processFrames(_ bytes: [UInt8], into output: inout [UInt8]) -> Int {
        var offset = 0
        output.reserveCapacity(output.count + bytes.count + 64)
        while bytes.count - offset >= 8 {
            // A protocol header: "AMQP", protocol id, major, minor, revision.
            if bytes[offset] == 0x41, bytes[offset + 1] == 0x4D, bytes[offset + 2] == 0x51, bytes[offset + 3] == 0x50 {
                output.append(contentsOf: bytes[offset..<(offset + 8)])
                offset += 8
                continue
            }
            let size = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard size >= 8 else {
                // Not a frame: pass the rest through untouched (Proton never writes this).
                output.append(contentsOf: bytes[offset...])
                return bytes.count
            }
            guard bytes.count - offset >= size else { break }
            // Only the four padded performatives are copied out and looked at; the rest (flow, disposition,
            // heartbeats, SASL) go through as they are.
            let code = offset + Int(bytes[offset + 4]) * 4 + 2
            if bytes[offset + 5] == 0, code < offset + size, fieldCounts[bytes[code]] != nil {
                let frame = Array(bytes[offset..<(offset + size)])
                if !pad(frame, into: &output) { output.append(contentsOf: frame) }
            } else {
                output.append(contentsOf: bytes[offset..<(offset + size)])
            }
            offset += size
        }
        return offset
    }

    /// Writes `frame` padded when it is an AMQP frame of a padded performative with missing fields; `false` leaves
    /// writing it as is to the caller.
    private static func pad(_ frame: [UInt8], into output: inout [UInt8]) -> Bool {
        let dataOffset = Int(frame[4]) * 4
        guard frame[5] == 0, dataOffset >= 8, frame.count >= dataOffset + 4,
              frame[dataOffset] == 0x00, frame[dataOffset + 1] == 0x53,
              let fields = fieldCounts[frame[dataOffset + 2]] else { return false }
        let listStart = dataOffset + 3
        let count: Int
        let elementsStart: Int
        let listEnd: Int
        switch frame[listStart] {
        case 0x45:
            (count, elementsStart, listEnd) = (0, listStart + 1, listStart + 1)
        case 0xC0:
            guard frame.count >= listStart + 3 else { return false }
            let size = Int(frame[listStart + 1])
            (count, elementsStart, listEnd) = (Int(frame[listStart + 2]), listStart + 3, listStart + 2 + size)
        case 0xD0:
            guard frame.count >= listStart + 9 else { return false }
            let size = Int(frame[listStart + 1]) << 24 | Int(frame[listStart + 2]) << 16
                | Int(frame[listStart + 3]) << 8 | Int(frame[listStart + 4])
            let items = Int(frame[listStart + 5]) << 24 | Int(frame[listStart + 6]) << 16
                | Int(frame[listStart + 7]) << 8 | Int(frame[listStart + 8])
            (count, elementsStart, listEnd) = (items, listStart + 9, listStart + 5 + size)
        default:
            return false
        }
        guard listEnd <= frame.count, elementsStart <= listEnd else { return false }
        let code = frame[dataOffset + 2]
        let defaulted = defaults[code] ?? [:]
        // The fields as encoded, then nulls up to the full count, then the defaults for null ones.
        var items: [ArraySlice<UInt8>] = []
        var position = elementsStart
        for _ in 0..<count {
            guard let end = valueEnd(frame, at: position, limit: listEnd) else { return false }
            items.append(frame[position..<end])
            position = end
        }
        guard position == listEnd else { return false }
        let needsDefault = defaulted.keys.contains { $0 >= items.count || items[$0] == [0x40] }
        guard count < fields || needsDefault else { return false }
        while items.count < fields { items.append([0x40]) }
        for (index, value) in defaulted where items[index] == [0x40] { items[index] = ArraySlice(value) }
        let contentSize = items.reduce(0) { $0 + $1.count }
        var list: [UInt8] = []
        if contentSize + 1 <= 255 {
            list = [0xC0, UInt8(contentSize + 1), UInt8(items.count)]
        } else {
            let size = contentSize + 4
            list = [0xD0, UInt8(truncatingIfNeeded: size >> 24), UInt8(truncatingIfNeeded: size >> 16),
                    UInt8(truncatingIfNeeded: size >> 8), UInt8(truncatingIfNeeded: size), 0, 0, 0, UInt8(items.count)]
        }
        for item in items { list.append(contentsOf: item) }
        let newSize = listStart + list.count + (frame.count - listEnd)
        output.append(UInt8(truncatingIfNeeded: newSize >> 24))
        output.append(UInt8(truncatingIfNeeded: newSize >> 16))
        output.append(UInt8(truncatingIfNeeded: newSize >> 8))
        output.append(UInt8(truncatingIfNeeded: newSize))
        output.append(contentsOf: frame[4..<listStart])
        output.append(contentsOf: list)
        output.append(contentsOf: frame[listEnd...])
        return true
    }

    /// Where the AMQP value starting at `position` ends; `nil` when it runs past `limit` or is malformed.
    static func valueEnd(_ bytes: [UInt8], at position: Int, limit: Int) -> Int? {
        guard position < limit else { return nil }
        let constructor = bytes[position]
        if constructor == 0x00 {
            // A described value: descriptor, then the value.
            guard let descriptorEnd = valueEnd(bytes, at: position + 1, limit: limit) else { return nil }
            return valueEnd(bytes, at: descriptorEnd, limit: limit)
        }
        func length(_ width: Int) -> Int? {
            guard position + 1 + width <= limit else { return nil }
            var value = 0
            for index in 0..<width { value = value << 8 | Int(bytes[position + 1 + index]) }
            return value
        }
        let end: Int?
        switch constructor >> 4 {
        case 0x4: end = position + 1
        case 0x5: end = position + 2
        case 0x6: end = position + 3
        case 0x7: end = position + 5
        case 0x8: end = position + 9
        case 0x9: end = position + 17
        case 0xA, 0xC, 0xE: end = length(1).map { position + 2 + $0 }
        case 0xB, 0xD, 0xF: end = length(4).map { position + 5 + $0 }
        default: end = nil
        }
        guard let end, end <= limit else { return nil }
        return end
    }
}
