import COpenSSL

/// Hashes, HMAC, base64 and random bytes from the system OpenSSL `libcrypto`.
///
/// This file is the only place in `IoTHubProtocol` that touches C pointers; everything above it works with
/// `[UInt8]` and `String`.
///
/// ```swift
/// let mac = LibCrypto.hmacSHA256(key: Array("key".utf8), message: Array("msg".utf8))
/// let text = LibCrypto.base64Encode(mac)
/// ```
public enum LibCrypto {
    /// HMAC-SHA256 of `message` keyed with `key` (32 bytes).
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        // Empty arrays may have no base address; give C a valid pointer with a zero length instead.
        let keyBytes = key.isEmpty ? [0] : key
        let messageBytes = message.isEmpty ? [0] : message
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result: UnsafeMutablePointer<UInt8>? = keyBytes.withUnsafeBytes { (keyBuffer: UnsafeRawBufferPointer) in
            messageBytes.withUnsafeBufferPointer { (messageBuffer: UnsafeBufferPointer<UInt8>) in
                output.withUnsafeMutableBufferPointer { (out: inout UnsafeMutableBufferPointer<UInt8>) in
                    HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(key.count),
                         messageBuffer.baseAddress, message.count, out.baseAddress, &length)
                }
            }
        }
        precondition(result != nil, "HMAC-SHA256 failed inside libcrypto: the OpenSSL installation is broken")
        return Array(output.prefix(Int(length)))
    }

    /// SHA-256 digest (32 bytes).
    public static func sha256(_ data: [UInt8]) -> [UInt8] { digest(data, EVP_sha256()) }

    /// SHA-1 digest (20 bytes), used for X.509 certificate thumbprints.
    public static func sha1(_ data: [UInt8]) -> [UInt8] { digest(data, EVP_sha1()) }

    private static func digest(_ data: [UInt8], _ md: OpaquePointer?) -> [UInt8] {
        let input = data.isEmpty ? [0] : data
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let status: Int32 = input.withUnsafeBytes { (inputBuffer: UnsafeRawBufferPointer) in
            output.withUnsafeMutableBufferPointer { (out: inout UnsafeMutableBufferPointer<UInt8>) in
                EVP_Digest(inputBuffer.baseAddress, data.count, out.baseAddress, &length, md, nil)
            }
        }
        precondition(status == 1, "EVP_Digest failed inside libcrypto: the OpenSSL installation is broken")
        return Array(output.prefix(Int(length)))
    }

    /// `count` cryptographically secure random bytes.
    public static func randomBytes(count: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return output }
        let ok = output.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) == 1 }
        precondition(ok, "RAND_bytes failed: the system random source is unavailable")
        return output
    }

    /// Upper-case hex without separators, as IoT Hub writes certificate thumbprints.
    public static func hexEncode(_ data: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF")
        var text = ""
        text.reserveCapacity(data.count * 2)
        for byte in data {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return text
    }

    /// Standard base64 (RFC 4648 §4, with `=` padding, no line breaks).
    /// Decodes hex text (either case) into bytes, or `nil` when it has an odd length or a non-hex character.
    public static func hexDecode(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = PercentEncoding.hexValue(high), let l = PercentEncoding.hexValue(low)
            else { return nil }
            bytes.append(h << 4 | l)
        }
        return bytes
    }

    public static func base64Encode(_ data: [UInt8]) -> String {
        guard !data.isEmpty else { return "" }
        var output = [UInt8](repeating: 0, count: 4 * ((data.count + 2) / 3) + 1)
        let written = data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                EVP_EncodeBlock(out.baseAddress, input.baseAddress, Int32(input.count))
            }
        }
        return String(decoding: output.prefix(Int(written)), as: UTF8.self)
    }

    /// Decodes standard base64 strictly: only the RFC 4648 alphabet, a length that is a multiple of 4, and `=`
    /// padding only at the end. Returns `nil` for anything else.
    public static func base64Decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        guard !input.isEmpty else { return [] }
        var padding = 0
        for (index, byte) in input.enumerated() {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                if padding > 0 { return nil }
            case UInt8(ascii: "="):
                padding += 1
                if padding > 2 || index < input.count - 2 { return nil }
            default:
                return nil
            }
        }
        var output = [UInt8](repeating: 0, count: input.count / 4 * 3)
        let written = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { out in
                EVP_DecodeBlock(out.baseAddress, source.baseAddress, Int32(source.count))
            }
        }
        guard written >= 0 else { return nil }
        // EVP_DecodeBlock counts the padding as decoded zero bytes.
        return Array(output.prefix(Int(written) - padding))
    }
}
