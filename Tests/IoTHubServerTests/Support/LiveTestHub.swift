import Foundation
import IoTHubProtocol
import Logging
@testable import IoTHubServer

/// A whole hub in this process on free ports (plain MQTT, MQTT over TLS, HTTPS and plain HTTP), with a
/// configuration the test adjusts, for tests that need real sockets.
final class LiveTestHub: Sendable {
    let server: HubServer
    let task: Task<Void, Error>
    let mqttPort: Int
    let httpPort: Int
    /// The plain AMQP port.
    let amqpPort: Int

    static func start(_ adjust: (inout HubConfiguration) -> Void = { _ in }) async throws -> LiveTestHub {
        let ports = try RawTCPConnection.freePorts(5)
        var configuration = HubConfiguration(dataDirectory: TestProcess.temporaryDirectory(), hostName: "hub.test",
                                             mqttsPort: ports[0], httpsPort: ports[1], plainMQTTPort: ports[2],
                                             plainHTTPPort: ports[3])
        configuration.amqpsPort = 0
        configuration.plainAMQPPort = ports[4]
        adjust(&configuration)
        var logger = Logger(label: "live-test-hub")
        logger.logLevel = .error
        let server = try await HubServer.start(configuration, logger: logger)
        let task = Task { try await server.run() }
        var attempts = 0
        while !RawTCPConnection.isAccepting(port: ports[3]), attempts < 500 {
            attempts += 1
            try await Task.sleep(for: .milliseconds(10))
        }
        // The MQTT port: one probe that the hub is seen to admit and to let go, so that no probe still counts as a
        // connection waiting to authenticate when the test starts.
        var probe: RawTCPConnection?
        while probe == nil, attempts < 1_000 {
            attempts += 1
            probe = try? RawTCPConnection(port: ports[2])
            if probe == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        while server.services.admission.openConnections == 0, attempts < 2_000 {
            attempts += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        probe?.close()
        while server.services.admission.openConnections > 0 { try await Task.sleep(for: .milliseconds(5)) }
        return LiveTestHub(server: server, task: task, mqttPort: ports[2], httpPort: ports[3], amqpPort: ports[4])
    }

    private init(server: HubServer, task: Task<Void, Error>, mqttPort: Int, httpPort: Int, amqpPort: Int) {
        self.amqpPort = amqpPort
        self.server = server
        self.task = task
        self.mqttPort = mqttPort
        self.httpPort = httpPort
    }

    var services: HubServices { server.services }

    /// Registers a SAS device and returns a CONNECT for it.
    func device(_ id: String) async throws -> (record: DeviceRecord, connect: MQTTConnectFields) {
        let record = try await services.registry.create(.init(identity: DeviceIdentity(deviceId: id)))
        guard case .sas(let key, _) = record.authentication else { throw HubError.invalid("not SAS") }
        let token = SASToken.generate(resourceURI: "hub.test/devices/\(id)", key: key,
                                      expiry: UInt64(Date().timeIntervalSince1970) + 3600).description
        return (record, MQTTConnectFields(clientId: id, username: "hub.test/\(id)/?api-version=2021-04-12", password: token))
    }

    func stop() async {
        await server.shutdown()
        _ = try? await task.value
    }
}

/// The CONNECT fields of a registered test device.
struct MQTTConnectFields {
    let clientId: String
    let username: String
    let password: String
}
