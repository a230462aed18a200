import FleetSimulation
import Foundation
import IoTHubDevice
import IoTHubProtocol
@testable import IoTHubCore
import Testing

/// The fleet's CA for X.509 groups, and the SDK's TLS context from in-memory PEM that its devices use.
struct FleetCertificateAuthorityTests {
    static let seed = SharedAccessKey(bytes: Array(repeating: 7, count: 32))

    @Test func theSameSeedGivesTheSameCAAndDeviceKeys() throws {
        let first = try FleetCertificateAuthority(seed: Self.seed)
        let again = try FleetCertificateAuthority(seed: Self.seed)
        let other = try FleetCertificateAuthority(seed: .random())
        #expect(first.certificateName == again.certificateName)
        #expect(first.certificateName != other.certificateName)
        #expect(try first.issue(deviceId: "d-1").privateKeyPEM == again.issue(deviceId: "d-1").privateKeyPEM)
        #expect(try first.issue(deviceId: "d-1").privateKeyPEM != first.issue(deviceId: "d-2").privateKeyPEM)
    }

    /// A device certificate issued by one run's CA verifies against another run's CA certificate made from the
    /// same seed (a worker, a shard, or a later run need not copy the CA), and names the device.
    @Test func aDeviceCertificateChainsToTheCAOfTheSameSeed() throws {
        let issuer = try FleetCertificateAuthority(seed: Self.seed)
        let later = try FleetCertificateAuthority(seed: Self.seed)
        let device = try issuer.issue(deviceId: "meter-042")
        let der = try #require(Self.der(device.certificatePEM))
        let verifier = try X509ChainVerifier(trustedPEM: [later.certificatePEM])
        #expect(try verifier.verify(leaf: der, intermediates: [], at: Date()) == "meter-042")
        let stranger = try X509ChainVerifier(trustedPEM: [try FleetCertificateAuthority(seed: .random()).certificatePEM])
        #expect(throws: X509VerificationError.self) { try stranger.verify(leaf: der, intermediates: [], at: Date()) }
    }

    @Test func aTLSContextFromPEMPresentsTheCertificateOrSaysWhatIsWrong() throws {
        let authority = try FleetCertificateAuthority(seed: Self.seed)
        let device = try authority.issue(deviceId: "meter-1")
        let context = try DeviceTLSContext(certificatePEM: device.certificatePEM, privateKeyPEM: device.privateKeyPEM)
        #expect(context.hasClientCertificate)
        let otherKey = try authority.issue(deviceId: "meter-2").privateKeyPEM
        #expect(throws: DeviceClientError.self) {
            try DeviceTLSContext(certificatePEM: device.certificatePEM, privateKeyPEM: otherKey)
        }
        #expect(throws: DeviceClientError.self) {
            try DeviceTLSContext(certificatePEM: "not a certificate", privateKeyPEM: device.privateKeyPEM)
        }
        #expect(throws: DeviceClientError.self) {
            try DeviceTLSContext(certificatePEM: device.certificatePEM, privateKeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        }
    }

    static func der(_ pem: String) -> [UInt8]? {
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return LibCrypto.base64Decode(body)
    }
}
