import Foundation
import IoTHubProtocol
import MQTTCore
import NIOCore
import NIOEmbedded
import NIOSSL
@testable import IoTHubCore
@testable import IoTHubServer

/// The hub's production MQTT pipeline (codec + connection handler) on an `NIOAsyncTestingChannel`, driven with
/// bytes in and bytes out, for byte-exact handler tests without sockets.
final class MQTTTestConnection: @unchecked Sendable {
    let channel: NIOAsyncTestingChannel
    private var decoder = MQTTStreamDecoder()

    static func open(_ hub: TestHub, configuration: MQTTEndpointConfiguration = MQTTEndpointConfiguration()) async throws
        -> MQTTTestConnection {
        let channel = NIOAsyncTestingChannel()
        let services = hub.services
        let initialized = try await channel.testingEventLoop.executeInContext {
            MQTTListener.initialize(channel, services: services, tls: nil, configuration: configuration,
                                    locals: EventLoopLocals(events: services.events), logger: services.logger)
        }
        try await initialized.get()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).get()
        return MQTTTestConnection(channel: channel)
    }

    /// The production handlers after TLS, with `chain` as the client certificate chain the handshake presented.
    static func open(_ hub: TestHub, presenting chain: [NIOSSLCertificate]) async throws -> MQTTTestConnection {
        let channel = NIOAsyncTestingChannel()
        let services = hub.services
        let presented = PresentedChain()
        presented.record(chain)
        try await channel.testingEventLoop.executeInContext {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(MQTTPacketCodecHandler(maximumPacketSize: MQTTStreamDecoder.defaultMaximumPacketSize))
            try pipeline.addHandler(MQTTDeviceConnectionHandler(services: services, configuration: MQTTEndpointConfiguration(),
                                                                logger: services.logger, presentedChain: presented,
                                                                locals: EventLoopLocals(events: services.events)))
        }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40000)).get()
        return MQTTTestConnection(channel: channel)
    }

    private init(channel: NIOAsyncTestingChannel) {
        self.channel = channel
    }

    /// Sends a packet as the device would.
    func send(_ packet: MQTTPacket) async throws {
        try await sendBytes(try packet.encoded())
    }

    /// Sends raw bytes.
    func sendBytes(_ bytes: [UInt8]) async throws {
        guard channel.isActive else { return }
        try await channel.writeInbound(ByteBuffer(bytes: bytes))
        await channel.testingEventLoop.run()
    }

    /// Runs the loop until `condition` holds or `timeout` passes (async work completes on other threads).
    func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            await channel.testingEventLoop.run()
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(2))
        }
        return false
    }

    /// The next bytes the hub writes (one write), or `nil` after `timeout`.
    func nextWrite(timeout: Duration = .seconds(10)) async throws -> [UInt8]? {
        var bytes: [UInt8]?
        _ = try await eventually(timeout: timeout) {
            if var buffer = try await channel.readOutbound(as: ByteBuffer.self) {
                bytes = buffer.readBytes(length: buffer.readableBytes)
                return true
            }
            return false
        }
        return bytes
    }

    /// The next packet the hub sends, or `nil` after `timeout`.
    func nextPacket(timeout: Duration = .seconds(10)) async throws -> MQTTPacket? {
        if let packet = try decoder.next() { return packet }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let bytes = try await nextWrite(timeout: deadline - ContinuousClock.now) else { return nil }
            decoder.append(bytes)
            if let packet = try decoder.next() { return packet }
        }
        return nil
    }

    /// Whether the hub closed the connection within `timeout`.
    func closed(timeout: Duration = .seconds(10)) async throws -> Bool {
        try await eventually(timeout: timeout) { !channel.isActive }
    }

    /// Whether the hub wrote nothing and kept the connection open for `period`.
    func quiet(for period: Duration = .milliseconds(200)) async throws -> Bool {
        let wrote = try await eventually(timeout: period) {
            try await channel.readOutbound(as: ByteBuffer.self) != nil || !channel.isActive
        }
        return !wrote
    }
}

/// A registered device on a ``TestHub`` with what it needs to connect.
struct TestDevice {
    let identity: DeviceIdentity
    let key: SharedAccessKey
    let hostName: String

    static func create(_ id: String, on hub: TestHub, moduleId: String? = nil) async throws -> TestDevice {
        let identity = DeviceIdentity(deviceId: id, moduleId: moduleId)
        let record = try await hub.services.registry.create(.init(identity: identity))
        guard case .sas(let primary, _) = record.authentication else { fatalError("not a SAS device") }
        return TestDevice(identity: identity, key: primary, hostName: hub.services.hostName)
    }

    func token(ttl: Int = 3600, key: SharedAccessKey? = nil) -> String {
        SASToken.generate(resourceURI: identity.sasResource(hostName: hostName).uri, key: key ?? self.key,
                          expiry: UInt64(Int(Date().timeIntervalSince1970) + ttl)).description
    }

    var userName: String { "\(hostName)/\(identity.clientId)/?api-version=2021-04-12&DeviceClientType=test" }

    func connect(keepAlive: UInt16 = 60, token: String? = nil, will: MQTTWill? = nil) -> MQTTPacket {
        .connect(MQTTConnect(clientId: identity.clientId, cleanSession: false, keepAlive: keepAlive, username: userName,
                             password: Array((token ?? self.token()).utf8), will: will))
    }
}
