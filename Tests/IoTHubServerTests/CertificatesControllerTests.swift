import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IoTHubProtocol
import IoTHubTestSupport
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// CA certificates over REST with IoT Hub's proof of possession; CAs and proofs made by `openssl` in the test.
@Suite("REST: CA certificates and proof of possession")
struct CertificatesControllerTests {
    /// Keys and certificates in a scratch directory.
    struct Bench {
        let directory = TestProcess.temporaryDirectory()

        func root(_ name: String) throws {
            try OpenSSLTool.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", path(name, "key")])
            try OpenSSLTool.run(["req", "-new", "-x509", "-key", path(name, "key"), "-subj", "/CN=\(name)", "-days", "3",
                                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                                 "-out", path(name, "pem")])
        }

        /// A leaf for CN=`commonName` signed by CA `issuer`, written as `file`.
        func leaf(_ commonName: String, by issuer: String, file: String) throws {
            try OpenSSLTool.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", path(file, "key")])
            try OpenSSLTool.run(["req", "-new", "-key", path(file, "key"), "-subj", "/CN=\(commonName)", "-out", path(file, "csr")])
            try OpenSSLTool.run(["x509", "-req", "-in", path(file, "csr"), "-CA", path(issuer, "pem"), "-CAkey", path(issuer, "key"),
                                 "-CAcreateserial", "-days", "2", "-out", path(file, "pem")])
        }

        func path(_ name: String, _ ext: String) -> String { "\(directory)/\(name).\(ext)" }
        func pem(_ name: String) throws -> String { try String(contentsOfFile: path(name, "pem"), encoding: .utf8) }
    }

    @Test("upload, verification code, proof, list, delete; wrong proofs, stale etags and bad input are refused")
    func proofOfPossession() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let bench = Bench()
        try bench.root("fleet-ca")
        try bench.root("other-ca")
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            func call(_ method: HTTPRequest.Method, _ path: String, _ body: JSONValue? = nil, ifMatch: String? = nil,
                      policy: String = "iothubowner") async throws -> (status: HTTPResponse.Status, json: JSONValue?) {
                var headers: HTTPFields = [.authorization: hub.token(policy)]
                if let ifMatch { headers[.ifMatch] = "\"\(ifMatch)\"" }
                return try await client.execute(uri: path, method: method, headers: headers,
                                                body: body.map { ByteBuffer(string: $0.serialized()) }) { response in
                    (response.status, try? JSONValue(parsing: Array(buffer: response.body)))
                }
            }
            let upload: JSONValue = ["properties": ["certificate": .string(try bench.pem("fleet-ca"))]]
            let uploaded = try await call(.put, "/certificates/fleet-ca", upload)
            #expect(uploaded.status == .ok)
            #expect(uploaded.json?["properties"]?["isVerified"] == false)
            #expect(uploaded.json?["properties"]?["subject"] == "CN=fleet-ca")
            let etag = try #require(uploaded.json?["etag"]?.stringValue)

            // Refusals: read-only policy, stale etag, bad name, not a certificate, not a CA.
            #expect(try await call(.put, "/certificates/x", upload, policy: "registryRead").status == .unauthorized)
            #expect(try await call(.post, "/certificates/fleet-ca/generateVerificationCode", ifMatch: "stale").status == .preconditionFailed)
            #expect(try await call(.put, "/certificates/bad%20name", upload).status == .badRequest)
            #expect(try await call(.put, "/certificates/junk", ["properties": ["certificate": "hello"]]).status == .badRequest)
            try bench.leaf("not-a-ca", by: "other-ca", file: "leaf")
            #expect(try await call(.put, "/certificates/leaf", ["properties": ["certificate": .string(try bench.pem("leaf"))]])
                .status == .badRequest)
            #expect(try await call(.post, "/certificates/fleet-ca/verify", ["certificate": .string(try bench.pem("leaf"))],
                                   ifMatch: etag).status == .badRequest)   // no code yet

            let coded = try await call(.post, "/certificates/fleet-ca/generateVerificationCode", ifMatch: etag)
            #expect(coded.status == .ok)
            let code = try #require(coded.json?["properties"]?["verificationCode"]?.stringValue)
            let codedETag = try #require(coded.json?["etag"]?.stringValue)

            // A proof with the right CN but signed by another CA, and one signed by the CA with another CN, fail.
            try bench.leaf(code, by: "other-ca", file: "forged")
            try bench.leaf("not-the-code", by: "fleet-ca", file: "wrong-cn")
            for file in ["forged", "wrong-cn"] {
                let failed = try await call(.post, "/certificates/fleet-ca/verify", ["certificate": .string(try bench.pem(file))],
                                            ifMatch: codedETag)
                #expect(failed.status == .badRequest, "\(file)")
            }
            try bench.leaf(code, by: "fleet-ca", file: "proof")
            let verified = try await call(.post, "/certificates/fleet-ca/verify", ["certificate": .string(try bench.pem("proof"))],
                                          ifMatch: codedETag)
            #expect(verified.status == .ok)
            #expect(verified.json?["properties"]?["isVerified"] == true)

            let list = try await call(.get, "/certificates", policy: "registryRead")
            #expect(list.json?["value"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["fleet-ca"])
            #expect(try await call(.delete, "/certificates/fleet-ca", ifMatch: "*").status == .ok)
            let gone = try await call(.get, "/certificates/fleet-ca")
            #expect(gone.status == .notFound)
            #expect(gone.json?["errorCode"] == 404050)
        }
    }
}
