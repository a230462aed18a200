import Foundation
@testable import IoTHubDevice
import IoTHubProtocol
import IoTHubTestSupport
import Testing
@testable import IoTHubServer

/// X.509 self-signed authentication: certificates made by `openssl` during the test, registered by thumbprint.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct X509DeviceTests {
    /// A certificate and key made by `openssl`, and the certificate's thumbprints.
    struct Credential {
        let certificate: String
        let key: String
        let sha1: String
        let sha256: String

        static func make(commonName: String, in directory: String, passphrase: String? = nil) throws -> Credential {
            let base = "\(directory)/\(commonName)-\(UUID().uuidString.prefix(8))"
            var keyArguments = ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", base + ".key"]
            if let passphrase { keyArguments += ["-aes256", "-pass", "pass:\(passphrase)"] }
            try openssl(keyArguments)
            var requestArguments = ["req", "-new", "-x509", "-key", base + ".key", "-subj", "/CN=\(commonName)", "-days", "2",
                                    "-out", base + ".pem"]
            if let passphrase { requestArguments += ["-passin", "pass:\(passphrase)"] }
            try openssl(requestArguments)
            try openssl(["x509", "-in", base + ".pem", "-outform", "DER", "-out", base + ".der"])
            let der = [UInt8](try Data(contentsOf: URL(fileURLWithPath: base + ".der")))
            return Credential(certificate: base + ".pem", key: base + ".key",
                              sha1: LibCrypto.hexEncode(LibCrypto.sha1(der)),
                              sha256: LibCrypto.hexEncode(LibCrypto.sha256(der)))
        }

        private static func openssl(_ arguments: [String]) throws {
            try OpenSSLTool.run(arguments)
        }
    }

    private func options(_ hub: LocalHub, _ transport: TransportKind = .mqtt) -> DeviceClientOptions {
        var options = DeviceClientOptions()
        options.transport = transport.transport
        options.amqpPort = hub.amqpsPort
        options.port = hub.mqttsPort
        options.trust = .caFile(hub.caPath)
        options.operationTimeout = .seconds(20)
        options.retryPolicy = RetryPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1))
        return options
    }

    private func register(_ deviceId: String, primary: String?, secondary: String? = nil, on hub: LocalHub) async throws {
        _ = try await hub.services.registry.create(.init(
            identity: DeviceIdentity(deviceId: deviceId),
            authentication: .selfSigned(primaryThumbprint: primary, secondaryThumbprint: secondary)))
    }

    /// Over MQTT, and over AMQP (TLS client certificate + SASL EXTERNAL, no put-token).
    @Test(arguments: TransportKind.allCases)
    func selfSignedCertificateByThumbprint(_ transport: TransportKind) async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let credential = try Credential.make(commonName: "x509-a", in: hub.directory)
        try await register("x509-a", primary: credential.sha256, on: hub)
        let client = try DeviceClient(hostName: "localhost", deviceId: "x509-a", certificateFile: credential.certificate,
                                      privateKeyFile: credential.key, options: options(hub, transport))
        try await client.connect()
        try await client.send(IoTHubMessage(text: "signed"))
        let version = try await client.updateReportedProperties(["auth": "x509"])
        #expect(version >= 1)
        await client.close()
        let events = try await hub.events(for: "x509-a")
        #expect(events.count == 1)
        #expect(events.first?.message.systemProperties.connectionAuthMethod?.contains("x509Certificate") == true)

        // The SHA-1 thumbprint as the secondary works as well.
        let second = try Credential.make(commonName: "x509-b", in: hub.directory)
        try await register("x509-b", primary: credential.sha256, secondary: second.sha1, on: hub)
        let other = try DeviceClient(hostName: "localhost", deviceId: "x509-b", certificateFile: second.certificate,
                                     privateKeyFile: second.key, options: options(hub, transport))
        try await other.connect()
        await other.close()

        // An SSL_CTX configured elsewhere (here: by another context, which then goes away) works the same.
        var external: DeviceTLSContext? = try DeviceTLSContext(trust: .caFile(hub.caPath), certificateFile: credential.certificate,
                                                               privateKeyFile: credential.key)
        let wrapped = DeviceTLSContext(sslContext: external!.context)
        external = nil   // the wrapper holds its own reference to the SSL_CTX
        let fromContext = try DeviceClient(hostName: "localhost", deviceId: "x509-a", x509Context: wrapped, options: options(hub, transport))
        try await fromContext.connect()
        try await fromContext.send(IoTHubMessage(text: "from an SSL_CTX"))
        await fromContext.close()
        #expect(try await hub.events(for: "x509-a").count == 2)
        await hub.stop()
    }

    @Test func swappedThumbprintIsRefusedWithoutRetries() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let registered = try Credential.make(commonName: "x509-c", in: hub.directory)
        let presented = try Credential.make(commonName: "x509-c", in: hub.directory)
        try await register("x509-c", primary: registered.sha256, on: hub)
        let client = try DeviceClient(hostName: "localhost", deviceId: "x509-c", certificateFile: presented.certificate,
                                      privateKeyFile: presented.key, options: options(hub))
        let recorder = await StateRecorder(client)
        await #expect(throws: DeviceClientError.self) { try await client.connect() }
        #expect(await recorder.wait { $0.contains { if case .disconnected(.unauthorized) = $0 { true } else { false } } })
        await client.close()

        // A SAS device cannot connect with a certificate instead of its token.
        _ = try await hub.createDevice("sas-only")
        let impostor = try DeviceClient(hostName: "localhost", deviceId: "sas-only", certificateFile: presented.certificate,
                                        privateKeyFile: presented.key, options: options(hub))
        await #expect(throws: DeviceClientError.self) { try await impostor.connect() }
        await impostor.close()
        // Nor can a certificate registered for one device connect as another.
        try await register("x509-d", primary: registered.sha256, on: hub)
        let wrongDevice = try DeviceClient(hostName: "localhost", deviceId: "x509-d", certificateFile: presented.certificate,
                                           privateKeyFile: presented.key, options: options(hub))
        await #expect(throws: DeviceClientError.self) { try await wrongDevice.connect() }
        await wrongDevice.close()
        await hub.stop()
    }

    /// A certificate for CN=`commonName` signed by the hub's own CA, written to files.
    private func issued(_ commonName: String, by hub: LocalHub, now: Date = Date(), days: Int = 2) throws -> (certificate: String, key: String) {
        let pair = try hub.server.data.tls.issueDeviceCertificate(deviceId: commonName, validDays: days, now: now)
        let base = hub.directory + "/\(commonName)-\(UUID().uuidString.prefix(8))"
        try pair.certificatePEM.write(toFile: base + ".pem", atomically: true, encoding: .utf8)
        try pair.keyPEM.write(toFile: base + ".key", atomically: true, encoding: .utf8)
        return (base + ".pem", base + ".key")
    }

    private func registerCASigned(_ deviceId: String, on hub: LocalHub) async throws {
        _ = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: deviceId),
                                                         authentication: .certificateAuthority))
    }

    @Test func caSignedCertificateWithTheDeviceIdAsCommonName() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        try await registerCASigned("ca-dev-1", on: hub)
        let good = try issued("ca-dev-1", by: hub)
        let client = try DeviceClient(hostName: "localhost", deviceId: "ca-dev-1", certificateFile: good.certificate,
                                      privateKeyFile: good.key, options: options(hub))
        try await client.connect()
        try await client.send(IoTHubMessage(text: "ca-signed"))
        await client.close()
        let events = try await hub.events(for: "ca-dev-1")
        #expect(events.first?.message.systemProperties.connectionAuthMethod?.contains("x509CA") == true)

        // Refused: another device's certificate (CN mismatch), an expired one, one not valid yet, and a
        // self-signed one (wrong chain).
        let otherName = try issued("ca-dev-2", by: hub)
        let expired = try issued("ca-dev-1", by: hub, now: Date().addingTimeInterval(-10 * 86_400), days: 1)
        let notYetValid = try issued("ca-dev-1", by: hub, now: Date().addingTimeInterval(5 * 86_400), days: 1)
        let selfSigned = try Credential.make(commonName: "ca-dev-1", in: hub.directory)
        for (certificate, key) in [(otherName.certificate, otherName.key), (expired.certificate, expired.key),
                                   (notYetValid.certificate, notYetValid.key), (selfSigned.certificate, selfSigned.key)] {
            var refusedOptions = options(hub)
            refusedOptions.retryPolicy = .never
            let refused = try DeviceClient(hostName: "localhost", deviceId: "ca-dev-1", certificateFile: certificate,
                                           privateKeyFile: key, options: refusedOptions)
            await #expect(throws: DeviceClientError.self) { try await refused.connect() }
            await refused.close()
        }
        #expect(try await hub.events(for: "ca-dev-1").count == 1)
        await hub.stop()
    }

    @Test func uploadedCAOnlyAfterProofOfPossessionAndUntilDeleted() async throws {
        let hub = try await LocalHub.start()
        defer { hub.removeData() }
        let dir = hub.directory
        func run(_ arguments: [String]) throws { try OpenSSLTool.run(arguments) }
        func key(_ name: String) throws {
            try run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "\(dir)/\(name).key"])
        }
        func sign(_ commonName: String, file: String) throws {
            try key(file)
            try run(["req", "-new", "-key", "\(dir)/\(file).key", "-subj", "/CN=\(commonName)", "-out", "\(dir)/\(file).csr"])
            try run(["x509", "-req", "-in", "\(dir)/\(file).csr", "-CA", "\(dir)/lab-ca.pem", "-CAkey", "\(dir)/lab-ca.key",
                     "-CAcreateserial", "-days", "2", "-out", "\(dir)/\(file).pem"])
        }
        try key("lab-ca")
        try run(["req", "-new", "-x509", "-key", "\(dir)/lab-ca.key", "-subj", "/CN=lab-ca", "-days", "3",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-out", "\(dir)/lab-ca.pem"])
        try sign("lab-dev-1", file: "device")
        try await registerCASigned("lab-dev-1", on: hub)
        func attempt() async -> Bool {
            var refusedOptions = options(hub)
            refusedOptions.retryPolicy = .never
            guard let client = try? DeviceClient(hostName: "localhost", deviceId: "lab-dev-1", certificateFile: "\(dir)/device.pem",
                                                 privateKeyFile: "\(dir)/device.key", options: refusedOptions) else { return false }
            defer { Task { await client.close() } }
            do { try await client.connect() } catch { return false }
            return true
        }
        let certificates = hub.services.certificates
        let uploaded = try await certificates.upload("lab-ca", certificate: try String(contentsOfFile: "\(dir)/lab-ca.pem", encoding: .utf8),
                                                     ifMatch: nil)
        #expect(await attempt() == false)   // uploaded, not yet verified
        let coded = try await certificates.generateVerificationCode("lab-ca", ifMatch: uploaded.etag)
        try sign(try #require(coded.verificationCode), file: "proof")
        _ = try await certificates.verify("lab-ca", proof: try String(contentsOfFile: "\(dir)/proof.pem", encoding: .utf8),
                                          ifMatch: coded.etag)
        #expect(await attempt() == true)
        try await certificates.delete("lab-ca", ifMatch: nil)
        #expect(await attempt() == false)   // revoked by deletion
        await hub.stop()
    }

    @Test func encryptedKeysAndBadFilesFailClearly() async throws {
        let directory = NSTemporaryDirectory() + "x509-files-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let encrypted = try Credential.make(commonName: "enc", in: directory, passphrase: "s3cret")
        let plain = try Credential.make(commonName: "plain", in: directory)
        _ = try DeviceTLSContext(certificateFile: encrypted.certificate, privateKeyFile: encrypted.key, passphrase: "s3cret")
        #expect(throws: DeviceClientError.self) {
            try DeviceTLSContext(certificateFile: encrypted.certificate, privateKeyFile: encrypted.key, passphrase: "wrong")
        }
        #expect(throws: DeviceClientError.self) {
            try DeviceTLSContext(certificateFile: encrypted.certificate, privateKeyFile: encrypted.key)
        }
        #expect(throws: DeviceClientError.self) {
            try DeviceTLSContext(certificateFile: plain.certificate, privateKeyFile: encrypted.key, passphrase: "s3cret")
        }
        #expect(throws: DeviceClientError.self) {
            try DeviceTLSContext(certificateFile: directory + "/missing.pem", privateKeyFile: plain.key)
        }
        var plainOptions = DeviceClientOptions()
        plainOptions.plainTCPPort = 1883
        #expect(throws: DeviceClientError.self) {
            try DeviceClient(hostName: "h", deviceId: "d", certificateFile: plain.certificate, privateKeyFile: plain.key,
                             options: plainOptions)
        }
    }
}
