import IoTHubProtocol

/// A block's id in the blob's block list: base64 of the block's index (4 bytes, big-endian) followed by the first
/// 20 bytes of the SHA-256 of its bytes; always 32 characters, as Azure requires every id of a blob to have the
/// same length.
///
/// The id is deterministic: the same bytes at the same position give the same id in every attempt and every
/// process, so a resumed upload finds in the storage's block list exactly the blocks it need not send again (an
/// id the storage holds means it holds these bytes).
struct BlockIdentifier: Sendable, Hashable, CustomStringConvertible {
    /// The id as the block list carries it (base64).
    let value: String

    init(index: Int, sha256: [UInt8]) {
        precondition(index >= 0 && index <= Int(UInt32.max) && sha256.count >= 20)
        let raw: [UInt8] = [UInt8(truncatingIfNeeded: index >> 24), UInt8(truncatingIfNeeded: index >> 16),
                            UInt8(truncatingIfNeeded: index >> 8), UInt8(truncatingIfNeeded: index)]
            + sha256.prefix(20)
        value = LibCrypto.base64Encode(raw)
    }

    /// The id for block `index` holding `bytes`.
    init(index: Int, bytes: [UInt8]) {
        self.init(index: index, sha256: LibCrypto.sha256(bytes))
    }

    /// The id as a URL query value (`blockid=`): base64's `+`, `/` and `=` percent-encoded.
    var percentEncoded: String { PercentEncoding.encode(value) }

    var description: String { value }
}
