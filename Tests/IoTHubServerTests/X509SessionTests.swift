import Foundation
import IoTHubProtocol
import MQTTCore
import NIOSSL
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// A device authenticated by certificate gets exactly the rights of its identity: it cannot publish or subscribe
/// as another device, and its certificate does not open another device's session.
@Suite("MQTT device endpoint: X.509 sessions")
struct X509SessionTests {
    /// A self-signed certificate made by `openssl`.
    static func certificate(_ commonName: String) async throws -> NIOSSLCertificate {
        let base = TestProcess.temporaryDirectory() + "/cert"
        for arguments in [
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", base + ".key"],
            ["req", "-new", "-x509", "-key", base + ".key", "-subj", "/CN=\(commonName)", "-days", "2", "-out", base + ".pem"],
        ] {
            let result = try await TestProcess.runOffPool("/usr/bin/openssl", arguments)
            guard result.status == 0 else { throw HubError.invalid("openssl failed: \(result.output)") }
        }
        return try NIOSSLCertificate.fromPEMFile(base + ".pem")[0]
    }

    /// CONNECT without a password, as an X.509 device sends it.
    static func connect(_ deviceId: String) -> MQTTPacket {
        .connect(MQTTConnect(clientId: deviceId, cleanSession: false, keepAlive: 60,
                             username: "hub.test/\(deviceId)/?api-version=2021-04-12", password: nil))
    }

    static func register(_ deviceId: String, thumbprintOf certificate: NIOSSLCertificate, on hub: TestHub) async throws {
        let thumbprint = LibCrypto.hexEncode(LibCrypto.sha256(try certificate.toDERBytes()))
        _ = try await hub.services.registry.create(.init(
            identity: DeviceIdentity(deviceId: deviceId),
            authentication: .selfSigned(primaryThumbprint: thumbprint, secondaryThumbprint: nil)))
    }

    @Test("publishing or subscribing as another device closes the connection", arguments: [
        MQTTPacket.publish(MQTTPublish(topic: "devices/victim/messages/events/", payload: [1], qos: .atLeastOnce, packetId: 1)),
        MQTTPacket.subscribe(MQTTSubscribe(packetId: 2, subscriptions: [
            MQTTSubscription(topicFilter: "devices/victim/messages/devicebound/#", qos: .atLeastOnce),
        ])),
    ])
    func foreignTopics(_ packet: MQTTPacket) async throws {
        let hub = try TestHub()
        let certificate = try await Self.certificate("cam-1")
        try await Self.register("cam-1", thumbprintOf: certificate, on: hub)
        _ = try await TestDevice.create("victim", on: hub)
        let connection = try await MQTTTestConnection.open(hub, presenting: [certificate])
        try await connection.send(Self.connect("cam-1"))
        #expect(try await connection.nextWrite() == MQTTDeviceConnectionHandlerTests.connAckAccepted)
        try await connection.send(packet)
        #expect(try await connection.closed())
        #expect(try await hub.services.events.events(after: 0, deviceId: nil).isEmpty)
    }

    @Test("a certificate registered for one device does not open another device's session")
    func certificateForAnotherDevice() async throws {
        let hub = try TestHub()
        let certificate = try await Self.certificate("cam-1")
        try await Self.register("cam-1", thumbprintOf: certificate, on: hub)
        try await Self.register("cam-2", thumbprintOf: try await Self.certificate("cam-2"), on: hub)
        _ = try await TestDevice.create("sas-dev", on: hub)
        for target in ["cam-2", "sas-dev", "unknown"] {
            let connection = try await MQTTTestConnection.open(hub, presenting: [certificate])
            try await connection.send(Self.connect(target))
            #expect(try await connection.nextWrite() == MQTTDeviceConnectionHandlerTests.connAckNotAuthorized, "\(target)")
            #expect(try await connection.closed())
        }
        // And no certificate at all (plain TCP, or none sent) with no password is refused too.
        let bare = try await MQTTTestConnection.open(hub, presenting: [])
        try await bare.send(Self.connect("cam-1"))
        #expect(try await bare.nextWrite() == MQTTDeviceConnectionHandlerTests.connAckNotAuthorized)
    }
}
