/// A symmetric key for signing SAS tokens: the base64 text from a connection string, decoded.
///
/// ```swift
/// let key = try SharedAccessKey(base64: "c2VjcmV0")
/// let fresh = SharedAccessKey.random()
/// print(fresh.base64)
/// ```
public struct SharedAccessKey: Sendable, Hashable, CustomStringConvertible {
    /// The raw key bytes (the HMAC key).
    public let bytes: [UInt8]

    /// Decodes a base64 key.
    /// - Throws: ``SASTokenError/invalidKey`` when the text is not standard base64 or is empty.
    public init(base64: String) throws(SASTokenError) {
        guard let bytes = LibCrypto.base64Decode(base64), !bytes.isEmpty else { throw .invalidKey }
        self.bytes = bytes
    }

    /// Wraps raw key bytes.
    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// A new random key of `length` bytes (IoT Hub generates 32-byte keys).
    public static func random(length: Int = 32) -> SharedAccessKey {
        SharedAccessKey(bytes: LibCrypto.randomBytes(count: length))
    }

    /// The key as base64 text, as it appears in connection strings.
    public var base64: String { LibCrypto.base64Encode(bytes) }

    /// HMAC-SHA256 of `message` under this key, base64-encoded: the `sig` of a SAS token before URL-encoding.
    public func sign(_ message: String) -> String {
        LibCrypto.base64Encode(LibCrypto.hmacSHA256(key: bytes, message: Array(message.utf8)))
    }

    /// Derives a device key from a group enrollment key, as the Device Provisioning Service does:
    /// `base64(HMAC-SHA256(groupKey, registrationId))`.
    public func derivedDeviceKey(registrationId: String) -> SharedAccessKey {
        SharedAccessKey(bytes: LibCrypto.hmacSHA256(key: bytes, message: Array(registrationId.utf8)))
    }

    /// Redacted, so keys never end up in logs.
    public var description: String { "SharedAccessKey(\(bytes.count) bytes)" }
}
