import COpenSSL
import Foundation

/// Verifies an X.509 certificate chain a device presented against trusted CA certificates, with the system OpenSSL
/// (`X509_verify_cert`): signatures, validity periods at a given time, and CA constraints.
///
/// The thin wrapper around OpenSSL's X.509 verification: every C pointer stays in this file.
///
/// ```swift
/// let verifier = try X509ChainVerifier(trustedPEM: [caPEM])
/// let commonName = try verifier.verify(leaf: leafDER, intermediates: [], at: Date())   // "sensor-7"
/// ```
public final class X509ChainVerifier: @unchecked Sendable {
    // @unchecked: `store` is filled in init and only read afterwards; OpenSSL locks an X509_STORE internally, so
    // verifications on many threads may share it.

    /// The trusted CA certificates, parsed once, here, and shared by every verification.
    private let store: OpaquePointer

    /// - Parameter trustedPEM: the trusted CA certificates, PEM (each entry may hold several).
    /// - Throws: ``X509VerificationError/invalidCertificate(_:)`` when a trusted PEM holds no certificate.
    public init(trustedPEM: [String]) throws(X509VerificationError) {
        guard let store = X509_STORE_new() else { throw .invalidCertificate("OpenSSL could not create a store") }
        self.store = store   // from here on, a throw runs deinit, which frees it
        for pem in trustedPEM {
            let certificates = Self.parsePEM(pem)
            defer { certificates.forEach { X509_free($0) } }   // the store holds its own references
            guard !certificates.isEmpty else { throw .invalidCertificate("a trusted CA entry holds no PEM certificate") }
            for certificate in certificates { X509_STORE_add_cert(store, certificate) }
        }
    }

    deinit {
        X509_STORE_free(store)
    }

    /// Verifies `leaf` (DER), helped by `intermediates` (DER, untrusted), up to one of the trusted CAs at `time`.
    /// - Returns: the leaf's subject common name (empty when it has none).
    /// - Throws: ``X509VerificationError`` with OpenSSL's reason (expired, not yet valid, unknown issuer, …).
    public func verify(leaf: [UInt8], intermediates: [[UInt8]], at time: Date) throws(X509VerificationError) -> String {
        guard let leafCertificate = Self.parseDER(leaf) else { throw .invalidCertificate("the leaf is not a DER certificate") }
        defer { X509_free(leafCertificate) }
        guard let untrusted = OPENSSL_sk_new_null() else { throw .invalidCertificate("OpenSSL could not create a stack") }
        var parsedIntermediates: [OpaquePointer] = []
        defer {
            OPENSSL_sk_free(untrusted)
            parsedIntermediates.forEach { X509_free($0) }
        }
        for der in intermediates {
            guard let certificate = Self.parseDER(der) else { throw .invalidCertificate("an intermediate is not a DER certificate") }
            parsedIntermediates.append(certificate)
            OPENSSL_sk_push(untrusted, UnsafeRawPointer(certificate))
        }
        guard let context = X509_STORE_CTX_new() else { throw .invalidCertificate("OpenSSL could not create a context") }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leafCertificate, untrusted) == 1 else {
            throw .invalidCertificate("OpenSSL could not start the verification")
        }
        X509_STORE_CTX_set_time(context, 0, time_t(time.timeIntervalSince1970))
        guard X509_verify_cert(context) == 1 else {
            let code = X509_STORE_CTX_get_error(context)
            let reason = X509_verify_cert_error_string(Int(code)).map { String(cString: $0) } ?? "error \(code)"
            throw .untrusted(reason)
        }
        return Self.commonName(leafCertificate)
    }

    /// The subject common name of a DER certificate.
    public static func commonName(ofDER der: [UInt8]) -> String? {
        guard let certificate = parseDER(der) else { return nil }
        defer { X509_free(certificate) }
        return commonName(certificate)
    }

    private static func commonName(_ certificate: OpaquePointer) -> String {
        guard let name = X509_get_subject_name(certificate) else { return "" }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry),
              let bytes = ASN1_STRING_get0_data(data)
        else { return "" }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(ASN1_STRING_length(data))), as: UTF8.self)
    }

    private static func parseDER(_ der: [UInt8]) -> OpaquePointer? {
        guard !der.isEmpty else { return nil }
        return der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
    }

    private static func parsePEM(_ pem: String) -> [OpaquePointer] {
        var bytes = Array(pem.utf8)
        guard !bytes.isEmpty else { return [] }
        return bytes.withUnsafeMutableBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return [] }
            defer { BIO_free(bio) }
            var certificates: [OpaquePointer] = []
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { certificates.append(certificate) }
            ERR_clear_error()   // the end of the PEM data leaves a "no start line" error behind
            return certificates
        }
    }
}

/// Why a certificate chain was not accepted.
public enum X509VerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Bytes that are not a certificate.
    case invalidCertificate(String)
    /// The chain does not lead to a trusted CA at the given time, with OpenSSL's reason.
    case untrusted(String)

    public var description: String {
        switch self {
        case .invalidCertificate(let reason): "invalid certificate: \(reason)"
        case .untrusted(let reason): "the certificate chain is not trusted: \(reason)"
        }
    }
}
