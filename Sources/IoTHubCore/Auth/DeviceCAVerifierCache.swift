import IoTHubProtocol
import Synchronization

/// The chain verifier for CA-signed devices, built once per set of trusted CAs instead of on every CONNECT.
///
/// The trusted set (the hub's own CA plus the verified CAs of the store) is read at each authentication, so an
/// upload, verification or deletion takes effect at the next CONNECT: a different set builds a new verifier.
final class DeviceCAVerifierCache: Sendable {
    private let current = Mutex<(trustedPEM: [String], verifier: X509ChainVerifier)?>(nil)

    /// The verifier for `trustedPEM`, reused while the set stays the same.
    /// - Throws: ``X509VerificationError`` when a trusted PEM holds no certificate.
    func verifier(trusting trustedPEM: [String]) throws(X509VerificationError) -> X509ChainVerifier {
        if let cached = current.withLock({ $0 }), cached.trustedPEM == trustedPEM { return cached.verifier }
        let verifier = try X509ChainVerifier(trustedPEM: trustedPEM)
        current.withLock { $0 = (trustedPEM, verifier) }
        return verifier
    }
}
