/// Turns a byte stream into ``MQTTPacket`` values, for either direction (sans-IO: you feed it bytes, it never
/// reads a socket).
///
/// Feed whatever the transport delivers with `append(_:)` (one byte, half a packet,
/// or many packets at once), then call ``next()`` until it returns `nil`, which means "need more bytes".
///
/// ```swift
/// var decoder = MQTTStreamDecoder(maximumPacketSize: 262_144 + 4096)
/// func received(_ chunk: [UInt8]) throws {
///     decoder.append(chunk)
///     while let packet = try decoder.next() {
///         handle(packet)
///     }
/// }
/// ```
///
/// **Errors close the connection.** When ``next()`` throws, the stream is no longer trustworthy: MQTT 3.1.1
/// requires the receiver to close the network connection (§4.8). The decoder is then *poisoned*: it drops its
/// buffer, ignores further input, and every later ``next()`` rethrows the same error (see ``failure``).
///
/// **Size limit.** ``maximumPacketSize`` (fixed header included) is checked as soon as the remaining length is
/// known, before any of the body is buffered, so a peer announcing a 200 MB packet is refused after at most
/// five bytes. Fixed-size packets (e.g. PUBACK, PINGREQ) announcing a longer body are refused just as early.
///
/// **Cost.** Decoding is O(total bytes): consumed bytes are skipped with a read index and the buffer is
/// compacted only when the consumed prefix is at least ``compactionThreshold`` bytes and at least half the
/// buffer, or dropped outright once everything has been consumed. The buffer is never reserved ahead of the
/// bytes that actually arrived, and once it is empty its storage is kept only if no larger than
/// ``maximumRetainedCapacity`` — so millions of idle decoders stay small.
public struct MQTTStreamDecoder: Sendable {
    /// 266,240 bytes (256 KiB + 4 KiB): room for a 256 KiB application message plus a long topic name and the
    /// headers. 256 KiB is the message size limit of Azure IoT Hub; hubs and devices set their own limit.
    public static let defaultMaximumPacketSize = 262_144 + 4096

    /// The consumed prefix must reach this many bytes (and half the buffer) before it is compacted away.
    public static let compactionThreshold = 4096

    /// The largest packet accepted, in bytes including the fixed header. Larger packets throw
    /// ``MQTTDecodeError/packetTooLarge(size:limit:)``. May be changed between packets.
    public var maximumPacketSize: Int

    /// When the buffer has been fully consumed, its storage is kept for reuse only if its capacity is at most
    /// this many bytes; otherwise it is released.
    public var maximumRetainedCapacity: Int

    /// The error that poisoned this decoder, or `nil` while it is healthy.
    public private(set) var failure: MQTTDecodeError?

    private var buffer: [UInt8] = []
    private var readIndex = 0

    /// Bytes moved by compaction over the decoder's lifetime (for tests of the linear-cost guarantee).
    private(set) var bytesMovedByCompaction = 0

    /// The capacity of the internal buffer (for tests of the memory-release policy).
    var bufferCapacity: Int { buffer.capacity }

    /// Creates a decoder.
    /// - Parameters:
    ///   - maximumPacketSize: the largest packet accepted, fixed header included; defaults to
    ///     ``defaultMaximumPacketSize``.
    ///   - maximumRetainedCapacity: see ``maximumRetainedCapacity``; defaults to 16 KiB.
    public init(maximumPacketSize: Int = MQTTStreamDecoder.defaultMaximumPacketSize, maximumRetainedCapacity: Int = 16_384) {
        self.maximumPacketSize = maximumPacketSize
        self.maximumRetainedCapacity = maximumRetainedCapacity
    }

    /// The number of received bytes not yet returned as packets.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    // MARK: Input

    /// Appends received bytes. Ignored once the decoder is poisoned.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        guard failure == nil else { return }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes (fast path for arrays). Ignored once the decoder is poisoned.
    public mutating func append(_ bytes: [UInt8]) {
        guard failure == nil else { return }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes (fast path for array slices). Ignored once the decoder is poisoned.
    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        guard failure == nil else { return }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// Appends received bytes from raw memory, e.g. a transport's receive buffer. The bytes are copied; the
    /// pointer is not retained. Ignored once the decoder is poisoned.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    private mutating func compactIfWorthwhile() {
        guard readIndex > 0 else { return }
        if readIndex == buffer.count {
            releaseConsumedBuffer()
        } else if readIndex >= Self.compactionThreshold && readIndex >= buffer.count - readIndex {
            bytesMovedByCompaction += buffer.count - readIndex
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }

    /// Frees the buffer's storage if every byte received has been returned as a packet, so that a connection
    /// waiting for its next packet holds no buffer. A transport calls it after draining ``next()``.
    public mutating func releaseStorageIfDrained() {
        guard readIndex == buffer.count, buffer.capacity > 0 else { return }
        buffer = []
        readIndex = 0
    }

    private mutating func releaseConsumedBuffer() {
        buffer.removeAll(keepingCapacity: buffer.capacity <= maximumRetainedCapacity)
        readIndex = 0
    }

    // MARK: Output

    /// Returns the next complete packet, or `nil` if more bytes are needed.
    ///
    /// - Throws: ``MQTTDecodeError`` if the stream violates MQTT 3.1.1 or the size limit. The decoder is then
    ///   poisoned: the connection must be closed, and every later call rethrows the same error.
    public mutating func next() throws(MQTTDecodeError) -> MQTTPacket? {
        if let failure { throw failure }
        do throws(MQTTDecodeError) {
            return try decodeNext()
        } catch {
            failure = error
            buffer = []
            readIndex = 0
            throw error
        }
    }

    private mutating func decodeNext() throws(MQTTDecodeError) -> MQTTPacket? {
        let available = buffer.count - readIndex
        guard available > 0 else { return nil }
        let firstByte = buffer[readIndex]
        let type = try MQTTPacketParser.packetType(ofFirstByte: firstByte)

        let remainingLength: Int
        let lengthByteCount: Int
        switch MQTTRemainingLength.parse(buffer, from: readIndex + 1, to: buffer.count) {
        case .needMoreBytes:
            return nil
        case .malformed:
            throw .malformedRemainingLength
        case let .complete(value, byteCount):
            remainingLength = value
            lengthByteCount = byteCount
        }
        let packetSize = 1 + lengthByteCount + remainingLength
        guard packetSize <= maximumPacketSize else {
            throw .packetTooLarge(size: packetSize, limit: maximumPacketSize)
        }
        try MQTTPacketParser.checkRemainingLength(remainingLength, of: type)
        guard available >= packetSize else { return nil }

        let bodyStart = readIndex + 1 + lengthByteCount
        let packet = try MQTTPacketParser.parse(
            firstByte: firstByte, bytes: buffer, body: bodyStart..<(bodyStart + remainingLength))
        readIndex += packetSize
        if readIndex == buffer.count { releaseConsumedBuffer() }
        return packet
    }
}
