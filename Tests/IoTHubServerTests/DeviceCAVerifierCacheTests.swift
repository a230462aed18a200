import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("CA verifier cache")
struct DeviceCAVerifierCacheTests {
    @Test("one verifier per set of trusted CAs: reused while the set stays, rebuilt when a CA comes or goes")
    func reuseAndRebuild() throws {
        let bench = CertificatesControllerTests.Bench()
        try bench.root("hub-ca")
        try bench.root("fleet-ca")
        try bench.leaf("dev-1", by: "fleet-ca", file: "dev-1")
        let (hubCA, fleetCA) = (try bench.pem("hub-ca"), try bench.pem("fleet-ca"))
        let leaf = try CertificateService.parse(try bench.pem("dev-1")).der
        let cache = DeviceCAVerifierCache()

        let first = try cache.verifier(trusting: [hubCA])
        #expect(try cache.verifier(trusting: [hubCA]) === first)
        #expect(throws: X509VerificationError.self) { try first.verify(leaf: leaf, intermediates: [], at: Date()) }

        // A verified upload changes the set: the new verifier trusts the fleet CA.
        let withFleet = try cache.verifier(trusting: [hubCA, fleetCA])
        #expect(withFleet !== first)
        #expect(try withFleet.verify(leaf: leaf, intermediates: [], at: Date()) == "dev-1")
        #expect(try cache.verifier(trusting: [hubCA, fleetCA]) === withFleet)

        // Deleting it changes the set back: the device is refused again.
        let afterDelete = try cache.verifier(trusting: [hubCA])
        #expect(afterDelete !== withFleet)
        #expect(throws: X509VerificationError.self) { try afterDelete.verify(leaf: leaf, intermediates: [], at: Date()) }

        // A broken entry is an error and does not replace the working verifier.
        #expect(throws: X509VerificationError.self) { try cache.verifier(trusting: [hubCA, "not a certificate"]) }
        #expect(try cache.verifier(trusting: [hubCA]) === afterDelete)
    }
}
