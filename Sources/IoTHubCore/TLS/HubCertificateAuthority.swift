import Crypto
import Foundation
import IoTHubProtocol
import SwiftASN1
import X509

/// The hub's own certificate authority and TLS server certificate, created in `DIR/tls/` on first start.
///
/// `ca.pem` is the file clients trust (the official SDKs' `server_verification_cert`, `REQUESTS_CA_BUNDLE`, the
/// Swift SDK's CA file). The server certificate names the hub's host name, `localhost` and `127.0.0.1`, and is
/// re-issued from the same CA when the host name changes, so clients keep trusting the same `ca.pem`.
///
/// ```swift
/// let tls = try HubCertificateAuthority.loadOrCreate(directory: dataDir + "/tls", hostName: "localhost")
/// print(tls.caCertificatePath)   // …/tls/ca.pem
/// ```
public struct HubCertificateAuthority: Sendable {
    /// PEM file of the CA certificate clients trust.
    public let caCertificatePath: String
    /// PEM file of the CA's private key (mode 0600).
    public let caKeyPath: String
    /// PEM file of the server certificate followed by the CA certificate.
    public let serverCertificatePath: String
    /// PEM file of the server's private key (mode 0600).
    public let serverKeyPath: String

    /// Reads the CA and server certificate in `directory`, creating whatever is missing or out of date (a server
    /// certificate that does not name `hostName` and every one of `aliases` is issued again by the same CA).
    /// - Parameter aliases: other names the certificate must carry: DNS names, or IPv4 addresses as IP SANs.
    public static func loadOrCreate(directory: String, hostName: String, aliases: [String] = [], now: Date = Date()) throws
        -> HubCertificateAuthority {
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let authority = HubCertificateAuthority(
            caCertificatePath: directory + "/ca.pem", caKeyPath: directory + "/ca.key",
            serverCertificatePath: directory + "/server.pem", serverKeyPath: directory + "/server.key")

        let caKey: P256.Signing.PrivateKey
        let caCertificate: Certificate
        if fileManager.fileExists(atPath: authority.caCertificatePath), fileManager.fileExists(atPath: authority.caKeyPath) {
            caKey = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: authority.caKeyPath, encoding: .utf8))
            caCertificate = try Certificate(pemEncoded: String(contentsOfFile: authority.caCertificatePath, encoding: .utf8))
        } else {
            caKey = P256.Signing.PrivateKey()
            caCertificate = try makeCA(key: caKey, now: now)
            try writeSecret(caKey.pemRepresentation, to: authority.caKeyPath)
            try caCertificate.serializeAsPEM().pemString.write(toFile: authority.caCertificatePath, atomically: true, encoding: .utf8)
        }

        var names: [GeneralName] = []
        for name in [hostName, "localhost", "127.0.0.1"] + aliases {
            let general = Self.generalName(name)
            if !names.contains(general) { names.append(general) }
        }
        if try !serverCertificateIsCurrent(authority, names: names, ca: caCertificate, now: now) {
            let serverKey = P256.Signing.PrivateKey()
            let server = try makeServerCertificate(key: serverKey, hostName: hostName, names: names, ca: caCertificate,
                                                   caKey: caKey, now: now)
            try writeSecret(serverKey.pemRepresentation, to: authority.serverKeyPath)
            let chain = try server.serializeAsPEM().pemString + "\n" + caCertificate.serializeAsPEM().pemString + "\n"
            try chain.write(toFile: authority.serverCertificatePath, atomically: true, encoding: .utf8)
        }
        return authority
    }

    /// Issues a client certificate for a device (X.509 CA authentication), signed by this CA.
    public func issueDeviceCertificate(deviceId: String, validDays: Int = 365, now: Date = Date()) throws
        -> (certificatePEM: String, keyPEM: String)
    {
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: caKeyPath, encoding: .utf8))
        let ca = try Certificate(pemEncoded: String(contentsOfFile: caCertificatePath, encoding: .utf8))
        let key = P256.Signing.PrivateKey()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(validDays) * 86_400),
            issuer: ca.subject, subject: try DistinguishedName { CommonName(deviceId) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.clientAuth])
                SubjectKeyIdentifier(keyIdentifier: ArraySlice(Self.keyIdentifier(key.publicKey)))
                AuthorityKeyIdentifier(keyIdentifier: try ca.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: .init(caKey))
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    private static func makeCA(key: P256.Signing.PrivateKey, now: Date) throws -> Certificate {
        let name = try DistinguishedName {
            OrganizationName("swift-iot-hub")
            CommonName("swift-iot-hub local CA")
        }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 1))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(keyIdentifier: ArraySlice(keyIdentifier(key.publicKey)))
            },
            issuerPrivateKey: .init(key))
    }

    /// A DNS name, or an IP SAN for a dotted-quad IPv4 address.
    static func generalName(_ name: String) -> GeneralName {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let octets = parts.compactMap { UInt8($0) }
        if parts.count == 4, octets.count == 4 { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(octets))) }
        return .dnsName(name.lowercased())
    }

    private static func makeServerCertificate(key: P256.Signing.PrivateKey, hostName: String, names: [GeneralName],
                                              ca: Certificate, caKey: P256.Signing.PrivateKey, now: Date) throws -> Certificate {
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(2 * 365 * 86_400),
            issuer: ca.subject, subject: try DistinguishedName { CommonName(hostName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
                SubjectKeyIdentifier(keyIdentifier: ArraySlice(keyIdentifier(key.publicKey)))
                AuthorityKeyIdentifier(keyIdentifier: try ca.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: .init(caKey))
    }

    /// Whether the server certificate exists, was issued by `ca`, carries every one of `names` and is valid for 30
    /// more days.
    private static func serverCertificateIsCurrent(_ authority: HubCertificateAuthority, names wanted: [GeneralName],
                                                   ca: Certificate, now: Date) throws -> Bool {
        guard FileManager.default.fileExists(atPath: authority.serverKeyPath),
              let pem = try? String(contentsOfFile: authority.serverCertificatePath, encoding: .utf8),
              let first = pem.components(separatedBy: "-----END CERTIFICATE-----").first,
              let server = try? Certificate(pemEncoded: first + "-----END CERTIFICATE-----\n")
        else { return false }
        guard server.issuer == ca.subject, server.notValidAfter > now.addingTimeInterval(30 * 86_400),
              let names = try server.extensions.subjectAlternativeNames
        else { return false }
        return wanted.allSatisfy { names.contains($0) }
    }

    /// The SHA-1 and SHA-256 thumbprints (upper-case hex of the DER) of a PEM certificate, as IoT Hub registers them.
    public static func thumbprints(ofPEM pem: String) throws -> (sha1: String, sha256: String) {
        let der = try CertificateService.parse(pem).der
        return (LibCrypto.hexEncode(LibCrypto.sha1(der)), LibCrypto.hexEncode(LibCrypto.sha256(der)))
    }

    /// SHA-1 of the public key, as RFC 5280 §4.2.1.2 suggests for key identifiers.
    private static func keyIdentifier(_ key: P256.Signing.PublicKey) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: key.x963Representation))
    }

    private static func writeSecret(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
