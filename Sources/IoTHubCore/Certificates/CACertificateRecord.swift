import Foundation

/// A CA certificate registered in the hub for X.509 CA-signed devices, with its proof-of-possession state.
public struct CACertificateRecord: Sendable, Hashable {
    /// The name it is registered under.
    public var name: String
    /// The certificate, PEM.
    public var pem: String
    /// Its subject, as text (`CN=…`).
    public var subject: String
    /// SHA-1 thumbprint, upper-case hex.
    public var thumbprint: String
    public var expiry: Date
    /// Whether its owner proved possession of the private key; only verified CAs authenticate devices.
    public var isVerified: Bool
    /// The code the owner must put in the CN of a certificate signed with the CA's key (after
    /// `generateVerificationCode`).
    public var verificationCode: String?
    public var etag: String
    public var created: Date
    public var updated: Date

    public init(name: String, pem: String, subject: String, thumbprint: String, expiry: Date, isVerified: Bool,
                verificationCode: String?, etag: String, created: Date, updated: Date) {
        self.name = name
        self.pem = pem
        self.subject = subject
        self.thumbprint = thumbprint
        self.expiry = expiry
        self.isVerified = isVerified
        self.verificationCode = verificationCode
        self.etag = etag
        self.created = created
        self.updated = updated
    }
}
