import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The official azure-iot-device package with its X509 credential object against the hub's MQTT/TLS endpoint:
/// a registered self-signed certificate connects and sends; an unregistered one is refused.
@Suite("interop: azure-iot-device with X.509", .serialized)
struct X509InteropTests {
    @Test("self-signed certificate by thumbprint: accepted when registered, refused otherwise")
    func selfSigned() async throws {
        let hub = try await RunningHub.start()
        let directory = TestProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outcome: Result<([String: Any], [String: Any], StoredEvent?), any Error>
        do {
            let good = try await Self.certificate("x509-py", directory: directory)
            let bad = try await Self.certificate("x509-py", directory: directory)
            _ = try await hub.server.services.registry.create(.init(
                identity: DeviceIdentity(deviceId: "x509-py"),
                authentication: .selfSigned(primaryThumbprint: good.thumbprint, secondaryThumbprint: nil)))
            let accepted = try await Python.runJSON("device_sdk_x509.py", ["x509-py", good.pem, good.key, hub.caPath],
                                                    caPath: hub.caPath)
            let refused = try await Python.runJSON("device_sdk_x509.py", ["x509-py", bad.pem, bad.key, hub.caPath],
                                                   caPath: hub.caPath)
            let events = try await hub.server.services.events.events(after: 0, deviceId: "x509-py")
            outcome = .success((accepted, refused, events.first))
        } catch {
            outcome = .failure(error)
        }
        await hub.stop()
        let (accepted, refused, event) = try outcome.get()
        #expect(accepted["connected"] as? Bool == true && accepted["sent"] as? Bool == true, "\(accepted)")
        #expect(refused["connected"] as? Bool == false && refused["error"] is String, "\(refused)")
        #expect(event?.message.properties["via"] == "python-x509")
        #expect(event?.message.systemProperties.connectionAuthMethod?.contains("x509Certificate") == true)
    }

    @Test("CA-signed certificate (the hub's CA, CN = device id): accepted; another device's: refused")
    func caSigned() async throws {
        let hub = try await RunningHub.start()
        let directory = TestProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outcome: Result<([String: Any], [String: Any]), any Error>
        do {
            _ = try await hub.server.services.registry.create(.init(identity: DeviceIdentity(deviceId: "x509-py-ca"),
                                                                    authentication: .certificateAuthority))
            var files: [String: (String, String)] = [:]
            for name in ["x509-py-ca", "someone-else"] {
                let pair = try hub.server.data.tls.issueDeviceCertificate(deviceId: name, validDays: 2)
                let base = directory + "/" + name
                try pair.certificatePEM.write(toFile: base + ".pem", atomically: true, encoding: .utf8)
                try pair.keyPEM.write(toFile: base + ".key", atomically: true, encoding: .utf8)
                files[name] = (base + ".pem", base + ".key")
            }
            let own = try #require(files["x509-py-ca"]), other = try #require(files["someone-else"])
            let accepted = try await Python.runJSON("device_sdk_x509.py", ["x509-py-ca", own.0, own.1, hub.caPath],
                                                    caPath: hub.caPath)
            let refused = try await Python.runJSON("device_sdk_x509.py", ["x509-py-ca", other.0, other.1, hub.caPath],
                                                   caPath: hub.caPath)
            outcome = .success((accepted, refused))
        } catch {
            outcome = .failure(error)
        }
        await hub.stop()
        let (accepted, refused) = try outcome.get()
        #expect(accepted["connected"] as? Bool == true && accepted["sent"] as? Bool == true, "\(accepted)")
        #expect(refused["connected"] as? Bool == false, "\(refused)")
    }

    /// A self-signed EC certificate for CN=`commonName` and its SHA-256 thumbprint, made by `openssl`.
    static func certificate(_ commonName: String, directory: String) async throws -> (pem: String, key: String, thumbprint: String) {
        let base = "\(directory)/\(UUID().uuidString)"
        for arguments in [
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", base + ".key"],
            ["req", "-new", "-x509", "-key", base + ".key", "-subj", "/CN=\(commonName)", "-days", "2", "-out", base + ".pem"],
            ["x509", "-in", base + ".pem", "-outform", "DER", "-out", base + ".der"],
        ] {
            let result = try await TestProcess.runOffPool("/usr/bin/openssl", arguments)
            guard result.status == 0 else { throw HubError.invalid("openssl failed: \(result.output)") }
        }
        let der = [UInt8](try Data(contentsOf: URL(fileURLWithPath: base + ".der")))
        return (base + ".pem", base + ".key", LibCrypto.hexEncode(LibCrypto.sha256(der)))
    }
}
