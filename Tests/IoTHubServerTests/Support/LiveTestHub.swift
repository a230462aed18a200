import Foundation
import IoTHubProtocol
import Logging
@testable import IoTHubCore
@testable import IoTHubServer

/// A whole hub in this process on ports the system chose (MQTT, HTTP and AMQP, plain and TLS), with a
/// configuration the test adjusts, for tests that need real sockets.
final class LiveTestHub: Sendable {
    let server: HubServer
    let task: Task<Void, Error>
    let mqttPort: Int
    let httpPort: Int
    /// The plain AMQP port.
    let amqpPort: Int

    static func start(_ adjust: (inout HubConfiguration) -> Void = { _ in }) async throws -> LiveTestHub {
        // Every port 0: the system chooses and the hub reports what it bound, so nothing races for a guessed port.
        var configuration = HubConfiguration(dataDirectory: TestProcess.temporaryDirectory(), hostName: "hub.test",
                                             mqttsPort: 0, httpsPort: 0, plainMQTTPort: 0, plainHTTPPort: 0)
        configuration.amqpsPort = 0
        configuration.plainAMQPPort = 0
        adjust(&configuration)
        var logger = Logger(label: "live-test-hub")
        logger.logLevel = .error
        let server = try await HubServer.start(configuration, logger: logger)
        let task = Task { try await server.run() }
        var ports: [HubEndpoint: Int] = [:]
        for endpoint in [HubEndpoint.http, .mqtt, .amqp] {
            guard let port = await server.waitForPort(endpoint) else {
                await server.shutdown()
                throw HubError(.serverError, "the test hub's \(endpoint) listener did not start")
            }
            ports[endpoint] = port
        }
        var attempts = 0
        // The MQTT port: one probe that the hub is seen to admit and to let go, so that no probe still counts as a
        // connection waiting to authenticate when the test starts.
        var probe: RawTCPConnection?
        while probe == nil, attempts < 1_000 {
            attempts += 1
            probe = try? RawTCPConnection(port: ports[.mqtt]!)
            if probe == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        while server.services.admission.openConnections == 0, attempts < 2_000 {
            attempts += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        probe?.close()
        while server.services.admission.openConnections > 0 { try await Task.sleep(for: .milliseconds(5)) }
        return LiveTestHub(server: server, task: task, mqttPort: ports[.mqtt]!, httpPort: ports[.http]!, amqpPort: ports[.amqp]!)
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
