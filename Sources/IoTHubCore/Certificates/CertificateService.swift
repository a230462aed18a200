import Foundation
import IoTHubProtocol
import Logging
import SwiftASN1
import X509

/// CA certificates for X.509 CA-signed devices, with IoT Hub's proof-of-possession flow: upload a CA, ask for a
/// verification code, sign a certificate whose CN is that code with the CA's key, and upload it to verify. Only
/// verified CAs (and the hub's own CA) authenticate devices.
public struct CertificateService: Sendable {
    let store: any HubStore
    let logger: Logger

    public init(store: any HubStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Every CA certificate.
    public func list() async throws -> [CACertificateRecord] { try await store.caCertificates() }

    /// One CA certificate. - Throws: 404050.
    public func get(_ name: String) async throws -> CACertificateRecord {
        guard let record = try await store.caCertificates().first(where: { $0.name == name }) else {
            throw HubError(.certificateNotFound, "no CA certificate named '\(name)'")
        }
        return record
    }

    /// Registers (or replaces) a CA certificate, unverified unless `verified` (IoT Hub allows marking a CA verified
    /// at upload). - Throws: 400004 for a bad name or a certificate that is not a CA; 412002 for a stale etag.
    public func upload(_ name: String, certificate text: String, verified: Bool = false, ifMatch: String?,
                       now: Date = Date()) async throws -> CACertificateRecord {
        try Self.validateName(name)
        let parsed = try Self.parse(text)
        guard case .isCertificateAuthority? = try? parsed.certificate.extensions.basicConstraints else {
            throw HubError.invalid("the certificate is not a CA certificate (it needs basicConstraints CA:TRUE); "
                                   + "upload the CA that signs the devices")
        }
        let existing = try await store.caCertificates().first { $0.name == name }
        let record = CACertificateRecord(
            name: name, pem: parsed.pem, subject: parsed.certificate.subject.description,
            thumbprint: LibCrypto.hexEncode(LibCrypto.sha1(parsed.der)),
            expiry: parsed.certificate.notValidAfter, isVerified: verified, verificationCode: nil,
            etag: Self.newETag(), created: existing?.created ?? now, updated: now)
        let saved = try await store.saveCACertificate(record, condition: ETagCondition(ifMatch: ifMatch))
        logger.info("CA certificate uploaded", metadata: ["name": "\(name)", "subject": "\(record.subject)"])
        return saved
    }

    /// Issues a new verification code for the proof of possession. - Throws: 404050, 412002.
    public func generateVerificationCode(_ name: String, ifMatch: String?, now: Date = Date()) async throws -> CACertificateRecord {
        var record = try await get(name)
        record.verificationCode = LibCrypto.hexEncode(LibCrypto.randomBytes(count: 16))
        record.etag = Self.newETag()
        record.updated = now
        return try await store.saveCACertificate(record, condition: ETagCondition(ifMatch: ifMatch))
    }

    /// Completes the proof of possession: `proof` must be signed by the CA (chain to it) and carry the current
    /// verification code as its CN. - Throws: 400004 saying what is wrong, 404050, 412002.
    public func verify(_ name: String, proof text: String, ifMatch: String?, now: Date = Date()) async throws -> CACertificateRecord {
        var record = try await get(name)
        guard let code = record.verificationCode else {
            throw HubError.invalid("no verification code for '\(name)'; call generateVerificationCode first")
        }
        let proof = try Self.parse(text)
        let commonName: String
        do {
            commonName = try X509ChainVerifier(trustedPEM: [record.pem]).verify(leaf: proof.der, intermediates: [], at: now)
        } catch {
            throw HubError.invalid("the verification certificate is not signed by '\(name)': \(error)")
        }
        guard commonName == code else {
            throw HubError.invalid("the verification certificate's CN is '\(commonName)', not the verification code '\(code)'")
        }
        record.isVerified = true
        record.verificationCode = nil
        record.etag = Self.newETag()
        record.updated = now
        let saved = try await store.saveCACertificate(record, condition: ETagCondition(ifMatch: ifMatch))
        logger.info("CA certificate verified", metadata: ["name": "\(name)"])
        return saved
    }

    /// Removes a CA; devices it signed can no longer connect. - Throws: 404050, 412002.
    public func delete(_ name: String, ifMatch: String?) async throws {
        try await store.deleteCACertificate(named: name, condition: ETagCondition(ifMatch: ifMatch))
        logger.info("CA certificate deleted", metadata: ["name": "\(name)"])
    }

    static func validateName(_ name: String) throws {
        guard (1...64).contains(name.count),
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" }),
              name.allSatisfy(\.isASCII)
        else {
            throw HubError.invalid("a certificate name is 1 to 64 ASCII letters, digits, '-' or '_', not '\(name)'")
        }
    }

    /// Parses PEM, or base64 DER without PEM armour (as `.cer` files hold it).
    static func parse(_ text: String) throws -> (certificate: Certificate, pem: String, der: [UInt8]) {
        var pem = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !pem.hasPrefix("-----BEGIN") {
            let compact = pem.filter { !$0.isWhitespace }
            guard LibCrypto.base64Decode(compact) != nil else {
                throw HubError.invalid("the certificate is neither PEM nor base64 DER")
            }
            var lines = ["-----BEGIN CERTIFICATE-----"]
            var rest = Substring(compact)
            while !rest.isEmpty {
                lines.append(String(rest.prefix(64)))
                rest = rest.dropFirst(64)
            }
            lines.append("-----END CERTIFICATE-----")
            pem = lines.joined(separator: "\n")
        }
        do {
            let certificate = try Certificate(pemEncoded: pem)
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return (certificate, pem + "\n", serializer.serializedBytes)
        } catch {
            throw HubError.invalid("the certificate cannot be parsed: \(error)")
        }
    }

    static func newETag() -> String {
        LibCrypto.base64Encode(LibCrypto.randomBytes(count: 9))
    }
}
