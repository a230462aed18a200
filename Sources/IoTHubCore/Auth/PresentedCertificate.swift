import Foundation
import IoTHubProtocol

/// A client certificate a device presented in the TLS handshake, as the protocol-agnostic core sees it: the leaf's
/// DER bytes and validity period (the protocol head extracts them; the core decides).
public struct PresentedCertificate: Sendable, Hashable {
    /// The leaf certificate, DER.
    public var der: [UInt8]
    public var notBefore: Date
    public var notAfter: Date
    /// The rest of the chain the device sent (DER, leaf's issuer first), untrusted: help for chain building.
    public var intermediates: [[UInt8]]

    public init(der: [UInt8], notBefore: Date, notAfter: Date, intermediates: [[UInt8]] = []) {
        self.der = der
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.intermediates = intermediates
    }

    /// SHA-1 thumbprint, upper-case hex (as IoT Hub shows and stores thumbprints).
    public var sha1Thumbprint: String { LibCrypto.hexEncode(LibCrypto.sha1(der)) }
    /// SHA-256 thumbprint, upper-case hex.
    public var sha256Thumbprint: String { LibCrypto.hexEncode(LibCrypto.sha256(der)) }
}
