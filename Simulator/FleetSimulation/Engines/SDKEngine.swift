import IoTHubDevice
import IoTHubProtocol
import Logging

/// The `sdk` engine: each simulated device is a real ``DeviceClient`` (MQTT through libmosquitto, or AMQP through
/// Qpid Proton with a connection of its own), driven by the same shards, scenario behaviour and metrics as the
/// native engines. It exists for fidelity checks at thousands of devices: what the SDK does on the wire (its
/// subscriptions, token renewal, reconnects and queue) is what the hub sees. An MQTT client holds 3 file
/// descriptors, so a process carries about 6,000; workers carry more.
public enum SDKEngine {
    /// Which protocol the clients speak.
    public enum ClientProtocol: String, Sendable {
        case mqtt, amqp
    }

    /// Runs `devices` as SDK clients speaking `clientProtocol` to `configuration`'s host and port (TLS unless
    /// `configuration.tls` is `nil`), each doing what `behaviours[device.group]` says.
    public static func run(_ configuration: NativeMQTTEngine.Configuration, clientProtocol: ClientProtocol,
                           behaviours: [DeviceBehaviour], devices: [PlannedDevice], control: RunControl,
                           shardOffset: Int = 2_000) async throws -> NativeMQTTEngine.Result {
        let closer = SDKClientCloser()
        let makeClient = clientFactory(configuration, clientProtocol: clientProtocol)
        return try await FleetShard.runAll(configuration, behaviours: behaviours, devices: devices, control: control,
                                           loopName: "fleetsim-sdk-\(clientProtocol.rawValue)", shardOffset: shardOffset,
                                           beforeShutdown: { await closer.waitForAll() }) { _ in
            { index, planned, behaviour, shard in
                SDKDevice(index: index, planned: planned, behaviour: behaviour, shard: shard, closer: closer,
                          makeClient: makeClient)
            }
        }
    }

    /// Makes one device's client on a loop: the run's host, port, TLS, source address, timeouts and window; the
    /// SDK's own retry policy for drops, a handful of attempts before the shard starts over with a new client.
    static func clientFactory(_ configuration: NativeMQTTEngine.Configuration, clientProtocol: ClientProtocol)
        -> @Sendable (PlannedDevice, DeviceEventLoop) throws -> DeviceClient
    {
        let logger: Logger = {
            var logger = Logger(label: "fleetsim.sdk")
            logger.logLevel = .critical
            return logger
        }()
        return { planned, loop in
            var options = DeviceClientOptions()
            options.eventLoop = loop
            options.transport = clientProtocol == .amqp ? .amqp : .mqtt
            if let tls = configuration.tls {
                options.tlsContext = tls
                options.port = configuration.port
                options.amqpPort = configuration.port
            } else {
                options.plainTCPPort = configuration.port
            }
            options.gatewayHostName = configuration.gateway(forDevice: planned.index)
            if !configuration.bindAddresses.isEmpty {
                options.bindAddress = configuration.bindAddresses[planned.index % configuration.bindAddresses.count]
            }
            options.retryPolicy = RetryPolicy(initialDelay: .milliseconds(200), maximumDelay: .seconds(5), maximumAttempts: 5)
            options.operationTimeout = configuration.responseTimeout
            options.connectTimeout = configuration.responseTimeout
            options.maximumInFlight = max(1, configuration.window)
            options.sasTokenTTL = configuration.tokenLifetime
            if let keepAlive = configuration.keepAlive { options.keepAlive = Int(keepAlive.components.seconds) }
            options.productInfo = "swift-iot-hub-fleetsim/0.1 (sdk)"
            options.logger = logger
            if let certificate = planned.certificate {
                let tls = try configuration.clientTLS(presenting: certificate)
                return try DeviceClient(hostName: configuration.hostName, deviceId: planned.id, x509Context: tls,
                                        options: options)
            }
            return try DeviceClient(hostName: configuration.hostName, deviceId: planned.id,
                                    sharedAccessKey: planned.key.base64, options: options)
        }
    }
}
