import Foundation
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("hub certificate authority")
struct HubCertificateAuthorityTests {
    @Test("first start creates a CA and a server certificate that openssl verifies for the host name")
    func create() throws {
        let directory = TestProcess.temporaryDirectory() + "/tls"
        let tls = try HubCertificateAuthority.loadOrCreate(directory: directory, hostName: "hub.test")
        let verify = try TestProcess.run("/usr/bin/openssl", ["verify", "-CAfile", tls.caCertificatePath,
                                                               "-verify_hostname", "hub.test", tls.serverCertificatePath])
        #expect(verify.status == 0, "\(verify.output)")
        let localhost = try TestProcess.run("/usr/bin/openssl", ["verify", "-CAfile", tls.caCertificatePath,
                                                                  "-verify_ip", "127.0.0.1", tls.serverCertificatePath])
        #expect(localhost.status == 0, "\(localhost.output)")
        let wrong = try TestProcess.run("/usr/bin/openssl", ["verify", "-CAfile", tls.caCertificatePath,
                                                              "-verify_hostname", "other.test", tls.serverCertificatePath])
        #expect(wrong.status != 0)
        let keyMode = try FileManager.default.attributesOfItem(atPath: tls.serverKeyPath)[.posixPermissions] as? Int
        #expect(keyMode == 0o600)
        let caKeyMode = try FileManager.default.attributesOfItem(atPath: tls.caKeyPath)[.posixPermissions] as? Int
        #expect(caKeyMode == 0o600)
    }

    @Test("a restart keeps the CA; a new host name re-issues only the server certificate")
    func reuse() throws {
        let directory = TestProcess.temporaryDirectory() + "/tls"
        let first = try HubCertificateAuthority.loadOrCreate(directory: directory, hostName: "localhost")
        let ca = try String(contentsOfFile: first.caCertificatePath, encoding: .utf8)
        let server = try String(contentsOfFile: first.serverCertificatePath, encoding: .utf8)
        _ = try HubCertificateAuthority.loadOrCreate(directory: directory, hostName: "localhost")
        #expect(try String(contentsOfFile: first.caCertificatePath, encoding: .utf8) == ca)
        #expect(try String(contentsOfFile: first.serverCertificatePath, encoding: .utf8) == server)
        _ = try HubCertificateAuthority.loadOrCreate(directory: directory, hostName: "hub.lan")
        #expect(try String(contentsOfFile: first.caCertificatePath, encoding: .utf8) == ca)
        #expect(try String(contentsOfFile: first.serverCertificatePath, encoding: .utf8) != server)
        let verify = try TestProcess.run("/usr/bin/openssl", ["verify", "-CAfile", first.caCertificatePath,
                                                               "-verify_hostname", "hub.lan", first.serverCertificatePath])
        #expect(verify.status == 0, "\(verify.output)")
    }

    @Test("device certificates carry CN = device id and chain to the CA")
    func deviceCertificate() throws {
        let directory = TestProcess.temporaryDirectory()
        let tls = try HubCertificateAuthority.loadOrCreate(directory: directory, hostName: "localhost")
        let issued = try tls.issueDeviceCertificate(deviceId: "sensor-7")
        try issued.certificatePEM.write(toFile: directory + "/device.pem", atomically: true, encoding: .utf8)
        let verify = try TestProcess.run("/usr/bin/openssl", ["verify", "-CAfile", tls.caCertificatePath,
                                                               "-purpose", "sslclient", directory + "/device.pem"])
        #expect(verify.status == 0, "\(verify.output)")
        let subject = try TestProcess.run("/usr/bin/openssl", ["x509", "-noout", "-subject", "-in", directory + "/device.pem"])
        #expect(subject.output.contains("CN = sensor-7"))
    }
}
