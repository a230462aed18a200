import Foundation
import IoTHubServer
import IoTHubTestSupport
import Testing

/// Chains made by `openssl` for each test: root CA → (intermediate CA →) leaf.
@Suite("X.509 chain verification")
struct X509ChainVerifierTests {
    /// A scratch directory with an `openssl` runner.
    struct Workbench {
        let directory: String

        init() throws {
            directory = NSTemporaryDirectory() + "x509-chain-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                .write(toFile: directory + "/ca.ext", atomically: true, encoding: .utf8)
        }

        func openssl(_ arguments: [String]) throws {
            try OpenSSLTool.run(arguments)
        }

        private func key(_ name: String) throws {
            try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "\(directory)/\(name).key"])
        }

        /// A self-signed root CA.
        func root(_ name: String) throws {
            try key(name)
            try openssl(["req", "-new", "-x509", "-key", "\(directory)/\(name).key", "-subj", "/CN=\(name)", "-days", "3",
                         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                         "-out", "\(directory)/\(name).pem"])
        }

        /// A certificate for CN=`name` signed by `issuer`, a CA itself when `isCA`.
        func issue(_ name: String, by issuer: String, isCA: Bool = false, days: Int = 2) throws {
            try key(name)
            try openssl(["req", "-new", "-key", "\(directory)/\(name).key", "-subj", "/CN=\(name)", "-out", "\(directory)/\(name).csr"])
            var arguments = ["x509", "-req", "-in", "\(directory)/\(name).csr", "-CA", "\(directory)/\(issuer).pem",
                             "-CAkey", "\(directory)/\(issuer).key", "-CAcreateserial", "-days", "\(days)",
                             "-out", "\(directory)/\(name).pem"]
            if isCA { arguments += ["-extfile", "\(directory)/ca.ext"] }
            try openssl(arguments)
        }

        func pem(_ name: String) throws -> String {
            try String(contentsOfFile: "\(directory)/\(name).pem", encoding: .utf8)
        }

        func der(_ name: String) throws -> [UInt8] {
            try openssl(["x509", "-in", "\(directory)/\(name).pem", "-outform", "DER", "-out", "\(directory)/\(name).der"])
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name).der")))
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test("a leaf signed by the trusted root verifies and gives its CN; outside its validity it does not")
    func directChain() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        try bench.root("root")
        try bench.issue("sensor-7", by: "root")
        let verifier = try X509ChainVerifier(trustedPEM: [try bench.pem("root")])
        let leaf = try bench.der("sensor-7")
        #expect(try verifier.verify(leaf: leaf, intermediates: [], at: Date()) == "sensor-7")
        #expect(X509ChainVerifier.commonName(ofDER: leaf) == "sensor-7")
        #expect(throws: X509VerificationError.self) {
            try verifier.verify(leaf: leaf, intermediates: [], at: Date().addingTimeInterval(10 * 86_400))
        }
        #expect(throws: X509VerificationError.self) {
            try verifier.verify(leaf: leaf, intermediates: [], at: Date().addingTimeInterval(-10 * 86_400))
        }
    }

    @Test("an intermediate CA helps only when the device sends it; another root is not trusted")
    func intermediatesAndForeignRoots() throws {
        let bench = try Workbench()
        defer { bench.remove() }
        try bench.root("root")
        try bench.root("other-root")
        try bench.issue("intermediate", by: "root", isCA: true)
        try bench.issue("cam-1", by: "intermediate")
        try bench.issue("cam-2", by: "other-root")
        let verifier = try X509ChainVerifier(trustedPEM: [try bench.pem("root")])
        let leaf = try bench.der("cam-1")
        #expect(try verifier.verify(leaf: leaf, intermediates: [try bench.der("intermediate")], at: Date()) == "cam-1")
        #expect(throws: X509VerificationError.self) { try verifier.verify(leaf: leaf, intermediates: [], at: Date()) }
        #expect(throws: X509VerificationError.self) {
            try verifier.verify(leaf: try bench.der("cam-2"), intermediates: [], at: Date())
        }
        // A leaf is no CA: a certificate "signed" by cam-1 does not chain through it.
        try bench.issue("rogue", by: "cam-1")
        #expect(throws: X509VerificationError.self) {
            try verifier.verify(leaf: try bench.der("rogue"), intermediates: [leaf, try bench.der("intermediate")], at: Date())
        }
    }

    @Test("one verifier serves verifications on many threads at once, with the same answers")
    func sharedAcrossThreads() async throws {
        let bench = try Workbench()
        defer { bench.remove() }
        try bench.root("root")
        try bench.root("other-root")
        try bench.issue("sensor-1", by: "root")
        try bench.issue("stranger", by: "other-root")
        let verifier = try X509ChainVerifier(trustedPEM: [try bench.pem("root")])
        let (good, bad) = (try bench.der("sensor-1"), try bench.der("stranger"))
        let results = await withTaskGroup(of: (accepted: Int, refused: Int).self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var counts = (accepted: 0, refused: 0)
                    for _ in 0..<200 {
                        if (try? verifier.verify(leaf: good, intermediates: [], at: Date())) == "sensor-1" { counts.accepted += 1 }
                        if (try? verifier.verify(leaf: bad, intermediates: [], at: Date())) == nil { counts.refused += 1 }
                    }
                    return counts
                }
            }
            return await group.reduce(into: (accepted: 0, refused: 0)) { $0.accepted += $1.accepted; $0.refused += $1.refused }
        }
        #expect(results.accepted == 1600 && results.refused == 1600)
    }

    @Test("garbage is a typed error, not a crash")
    func garbage() throws {
        #expect(throws: X509VerificationError.self) { try X509ChainVerifier(trustedPEM: ["not a certificate"]) }
        let bench = try Workbench()
        defer { bench.remove() }
        try bench.root("root")
        let verifier = try X509ChainVerifier(trustedPEM: [try bench.pem("root")])
        #expect(throws: X509VerificationError.self) { try verifier.verify(leaf: [], intermediates: [], at: Date()) }
        #expect(throws: X509VerificationError.self) { try verifier.verify(leaf: [0x30, 0x03, 1, 2, 3], intermediates: [], at: Date()) }
        #expect(throws: X509VerificationError.self) {
            try verifier.verify(leaf: try bench.der("root"), intermediates: [[0xFF]], at: Date())
        }
        #expect(X509ChainVerifier.commonName(ofDER: [1, 2, 3]) == nil)
    }
}
