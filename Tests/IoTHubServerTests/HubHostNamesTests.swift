import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// A hub answering to several names (`iothub serve --hostname localhost --hostname 127.0.0.1 --hostname hub.lan`).
@Suite("hub host names: aliases, the remembered names, the printed host, the data directory's CA")
struct HubHostNamesTests {
    @Test("tokens, user names and addresses may name any alias; another host is still refused")
    func aliasesAuthenticate() async throws {
        let store = try SQLiteHubStore(path: TestProcess.temporaryDirectory() + "/hub.sqlite", durability: .normal)
        defer { store.close() }
        let key = SharedAccessKey.random()
        _ = try await store.createDevice(DeviceRecord(identity: DeviceIdentity(deviceId: "d1"),
                                                      authentication: .sas(primaryKey: key, secondaryKey: .random())), twin: "{}")
        let policies = AccessPolicy.defaults()
        let auth = HubAuthenticator(hostName: "localhost", store: store, policies: policies, aliases: ["127.0.0.1", "Hub.LAN"])
        let expiry = UInt64(Date().timeIntervalSince1970) + 600
        for host in ["localhost", "127.0.0.1", "hub.lan"] {
            let token = SASToken.generate(resourceURI: "\(host)/devices/d1", key: key, expiry: expiry).description
            _ = try await auth.authenticateDevice(DeviceIdentity(deviceId: "d1"), token: token)
            let owner = policies[0]
            let service = SASToken.generate(resourceURI: host, key: owner.primaryKey, expiry: expiry, keyName: owner.name)
            try auth.authorizeService(service.description, requires: .registryRead, resource: "/devices")
        }
        let other = SASToken.generate(resourceURI: "other.lan/devices/d1", key: key, expiry: expiry).description
        await #expect(throws: HubError.self) { _ = try await auth.authenticateDevice(DeviceIdentity(deviceId: "d1"), token: other) }
        #expect(auth.isHubName("HUB.lan") && !auth.isHubName("other.lan"))
        #expect(try AMQPNodeAddress(parsing: "amqps://127.0.0.1:5671/devices/d1/messages/events", hostName: "localhost",
                                    aliases: ["127.0.0.1"]) == .telemetry(DeviceIdentity(deviceId: "d1")))
        #expect(throws: AMQPAddressError.self) {
            try AMQPNodeAddress(parsing: "amqps://other.lan/devices/d1/messages/events", hostName: "localhost", aliases: ["127.0.0.1"])
        }
    }

    @Test("printed connection strings carry a dotted name (the C SDK refuses localhost); the names are remembered")
    func printedHostAndMemory() throws {
        var configuration = HubConfiguration(dataDirectory: TestProcess.temporaryDirectory(), hostName: "localhost")
        #expect(configuration.connectionHostName == "localhost")
        configuration.hostNameAliases = ["127.0.0.1", "hub.lan"]
        #expect(configuration.connectionHostName == "127.0.0.1")
        configuration.hostName = "hub.lan"
        #expect(configuration.connectionHostName == "hub.lan")
        let directory = TestProcess.temporaryDirectory()
        #expect(HubHostNames.remembered(dataDirectory: directory).isEmpty)
        HubHostNames.remember(["hub.lan", "localhost", "HUB.LAN", "127.0.0.1"], dataDirectory: directory)
        #expect(HubHostNames.remembered(dataDirectory: directory) == ["hub.lan", "localhost", "127.0.0.1"])
    }

    @Test("the server certificate names every alias, IP addresses as IP SANs; a new alias re-issues it")
    func certificateNames() throws {
        let directory = TestProcess.temporaryDirectory() + "/tls"
        let tls = try HubCertificateAuthority.loadOrCreate(directory: directory, hostName: "localhost", aliases: ["hub.lan"])
        let before = try String(contentsOfFile: tls.serverCertificatePath, encoding: .utf8)
        _ = try HubCertificateAuthority.loadOrCreate(directory: directory, hostName: "localhost", aliases: ["hub.lan", "10.1.2.3"])
        #expect(try String(contentsOfFile: tls.serverCertificatePath, encoding: .utf8) != before)
        for (flag, name) in [("-verify_hostname", "hub.lan"), ("-verify_ip", "10.1.2.3"), ("-verify_ip", "127.0.0.1"),
                             ("-verify_hostname", "localhost")] {
            let verify = try TestProcess.run("/usr/bin/openssl", ["verify", "-CAfile", tls.caCertificatePath, flag, name,
                                                                   tls.serverCertificatePath])
            #expect(verify.status == 0, "\(name): \(verify.output)")
        }
    }

    @Test("with IOTHUB_CONNECTION_STRING set and --data-dir given, the verbs trust the data directory's CA")
    func environmentConnectionStringTrustsDataDirectoryCA() async throws {
        let hub = try await RunningHub.start()
        let result: Result<(Int32, String), any Error>
        do {
            let run = try await TestProcess.runOffPool(
                "/usr/bin/env", ["-u", "IOTHUB_CA_FILE", "IOTHUB_CONNECTION_STRING=\(hub.ownerConnectionString)",
                                 CommandLineTests.binary, "device", "list", "--data-dir", hub.server.configuration.dataDirectory])
            result = .success((run.status, run.output))
        } catch {
            result = .failure(error)
        }
        await hub.stop()
        let (status, output) = try result.get()
        #expect(status == 0, "\(output)")
    }
}
