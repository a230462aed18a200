import Crypto
import Foundation
import IoTHubProtocol
import SwiftASN1
import X509

/// The fleet's own certificate authority for X.509 groups (IoT Hub's `certificateAuthority` devices): its key,
/// and every device's key, are derived from the run's seed, so a worker, a shard on another machine or a later run
/// with the same seed issues certificates the hub accepts without anything being copied around. Provisioning
/// uploads the CA certificate (marked verified) under ``certificateName``; each device then presents a certificate
/// whose common name is its id, issued by this CA.
///
/// ```swift
/// let authority = try FleetCertificateAuthority(seed: seed)
/// let device = try authority.issue(deviceId: "meter-001")
/// let tls = try DeviceTLSContext(trust: .caFile(hubCA), certificatePEM: device.certificatePEM,
///                                privateKeyPEM: device.privateKeyPEM)
/// ```
public struct FleetCertificateAuthority: Sendable {
    /// A device's certificate and key, PEM.
    public struct DeviceCertificate: Sendable {
        public var certificatePEM: String
        public var privateKeyPEM: String
    }

    private let key: P256.Signing.PrivateKey
    private let subject: DistinguishedName
    private let keyIdentifier: [UInt8]
    private let seed: SharedAccessKey
    /// The CA certificate, PEM: the same subject and key for the same seed.
    public let certificatePEM: String
    /// The name the CA goes by in the hub's certificates (`PUT /certificates/{name}`).
    public let certificateName: String

    public init(seed: SharedAccessKey, now: Date = Date()) throws {
        self.seed = seed
        let key = try Self.derivedKey(seed: seed, label: "fleetsim-ca")
        let fingerprint = String(LibCrypto.hexEncode(LibCrypto.sha256(Array(key.publicKey.derRepresentation))).prefix(12))
        let subject = try DistinguishedName {
            OrganizationName("swift-iot-hub fleetsim")
            CommonName("fleetsim CA \(fingerprint)")
        }
        let keyIdentifier = Array(LibCrypto.sha1(Array(key.publicKey.x963Representation)))
        self.key = key
        self.subject = subject
        self.keyIdentifier = keyIdentifier
        certificateName = "fleetsim-\(fingerprint)"
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-86_400), notValidAfter: now.addingTimeInterval(5 * 365 * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(keyIdentifier: ArraySlice(keyIdentifier))
            },
            issuerPrivateKey: .init(key))
        certificatePEM = try certificate.serializeAsPEM().pemString
    }

    /// A certificate for `deviceId` (its common name), valid from a day ago for `validDays`, with the device's
    /// derived key.
    public func issue(deviceId: String, validDays: Int = 30, now: Date = Date()) throws -> DeviceCertificate {
        let deviceKey = try Self.derivedKey(seed: seed, label: "fleetsim-device:" + deviceId)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(deviceKey.publicKey),
            notValidBefore: now.addingTimeInterval(-86_400), notValidAfter: now.addingTimeInterval(Double(validDays) * 86_400),
            issuer: subject, subject: try DistinguishedName { CommonName(deviceId) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
                AuthorityKeyIdentifier(keyIdentifier: ArraySlice(keyIdentifier))
            },
            issuerPrivateKey: .init(key))
        return DeviceCertificate(certificatePEM: try certificate.serializeAsPEM().pemString,
                                 privateKeyPEM: deviceKey.pemRepresentation)
    }

    /// A P-256 key from HMAC-SHA256(seed, label), hashed again in the rare case it is not a valid scalar.
    static func derivedKey(seed: SharedAccessKey, label: String) throws -> P256.Signing.PrivateKey {
        var material = LibCrypto.hmacSHA256(key: seed.bytes, message: Array(label.utf8))
        for _ in 0..<8 {
            if let key = try? P256.Signing.PrivateKey(rawRepresentation: material) { return key }
            material = LibCrypto.sha256(material)
        }
        throw FleetError.invalidConfiguration("cannot derive a P-256 key for \(label) from the seed")
    }
}
