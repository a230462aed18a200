import Foundation
import NIOConcurrencyHelpers
import NIOSSL

/// The certificate chain a device presented in the TLS handshake, kept by the TLS handler's verification callback
/// for the MQTT handler, which decides at CONNECT (NIOSSL only keeps the leaf once it accepted the chain).
final class PresentedChain: Sendable {
    private let certificates = NIOLockedValueBox<[NIOSSLCertificate]>([])

    /// Records the chain, leaf first.
    func record(_ chain: [NIOSSLCertificate]) {
        certificates.withLockedValue { $0 = chain }
    }

    /// The chain as the core sees it, or `nil` when the device presented none.
    func presentedCertificate() -> PresentedCertificate? {
        let chain = certificates.withLockedValue { $0 }
        guard let leaf = chain.first, let der = try? leaf.toDERBytes() else { return nil }
        return PresentedCertificate(
            der: der, notBefore: Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore)),
            notAfter: Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter)),
            intermediates: chain.dropFirst().compactMap { try? $0.toDERBytes() })
    }
}
