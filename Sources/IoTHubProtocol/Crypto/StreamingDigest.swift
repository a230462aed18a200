import COpenSSL

/// An incremental message digest (MD5 or SHA-256) over data that arrives in pieces, on libcrypto's `EVP_MD_CTX`.
///
/// ```swift
/// let digest = StreamingDigest(.sha256)
/// digest.update(Array("hello ".utf8))
/// digest.update(Array("world".utf8))
/// print(LibCrypto.hexEncode(digest.finish()))
/// ```
public final class StreamingDigest {
    /// The algorithm.
    public enum Algorithm: Sendable {
        /// MD5: Azure Storage's `Content-MD5`.
        case md5
        /// SHA-256.
        case sha256
    }

    private let context: OpaquePointer

    public init(_ algorithm: Algorithm) {
        guard let context = EVP_MD_CTX_new() else {
            preconditionFailure("EVP_MD_CTX_new failed: out of memory")
        }
        self.context = context
        let status = EVP_DigestInit_ex(context, algorithm == .md5 ? EVP_md5() : EVP_sha256(), nil)
        precondition(status == 1, "EVP_DigestInit_ex failed inside libcrypto: the OpenSSL installation is broken")
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds bytes.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    /// Adds bytes.
    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything added; the digest cannot be updated afterwards.
    public func finish() -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        output.withUnsafeMutableBufferPointer { out in _ = EVP_DigestFinal_ex(context, out.baseAddress, &length) }
        return Array(output.prefix(Int(length)))
    }
}
