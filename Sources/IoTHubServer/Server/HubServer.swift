import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import IoTHubProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// A running hub: the core services over the data directory, with every configured listener.
///
/// ```swift
/// let server = try await HubServer.start(HubConfiguration(dataDirectory: dir), logger: logger)
/// try await server.run()   // until SIGINT/SIGTERM; then drains connections and closes the store
/// ```
public final class HubServer: Sendable {
    public let configuration: HubConfiguration
    public let services: HubServices
    public let data: HubDataDirectory
    let logger: Logger
    private let group = NIOLockedValueBox<ServiceGroup?>(nil)
    private let bound = NIOLockedValueBox<[HubEndpoint: Int]>([:])

    private init(configuration: HubConfiguration, services: HubServices, data: HubDataDirectory, logger: Logger) {
        self.configuration = configuration
        self.services = services
        self.data = data
        self.logger = logger
    }

    /// Opens the data directory (creating it on first start) and checks that every port is free. A port of 0
    /// lets the system choose one when the hub runs; ``boundPort(_:)`` reports it.
    public static func start(_ configuration: HubConfiguration, logger: Logger) async throws -> HubServer {
        var configuration = configuration
        // The server certificate always names localhost and 127.0.0.1, so the hub answers to them too.
        for local in ["localhost", "127.0.0.1"]
        where !([configuration.hostName] + configuration.hostNameAliases).contains(where: { $0.lowercased() == local }) {
            configuration.hostNameAliases.append(local)
        }
        let data = try await HubDataDirectory.open(configuration)
        do {
            for (port, name) in Self.listeners(configuration) {
                try await Self.checkPortIsFree(host: configuration.bindAddress, port: port, name: name)
            }
        } catch {
            data.store.close()
            throw error
        }
        // Devices with certificates from the hub's own CA (`iothub cert issue`) can authenticate as CA-signed.
        let hubCA = (try? String(contentsOfFile: data.tls.caCertificatePath, encoding: .utf8)).map { [$0] } ?? []
        var fileUploads: FileUploadService?
        if let port = configuration.storage.port {
            do {
                let storage = try BlobStorage(root: configuration.dataDirectory + "/blobs",
                                              maximumBytes: configuration.storage.uploads.maximumBytes,
                                              syncs: configuration.durability == .full, logger: logger)
                fileUploads = FileUploadService(
                    configuration: configuration.storage.uploads, storage: storage, store: data.store,
                    accountKey: data.storageKey,
                    storageHostName: configuration.storage.advertisedHostName(hubHostName: configuration.hostName,
                                                                              boundPort: port),
                    logger: logger)
            } catch {
                data.store.close()
                throw HubStartupError.dataDirectoryUnusable(configuration.dataDirectory, reason: "the blob store: \(error)")
            }
        }
        let services = HubServices(hostName: configuration.hostName, store: data.store, policies: data.policies,
                                   logger: logger, eventRetention: configuration.eventRetention,
                                   eventMaximumBytes: configuration.eventMaximumBytes, deviceCertificateAuthorities: hubCA,
                                   admission: ConnectionAdmission(configuration: configuration.admission),
                                   throttling: configuration.throttling, fileUploads: fileUploads,
                                   hostNameAliases: configuration.hostNameAliases, builtInEndpoint: data.builtInEndpoint)
        return HubServer(configuration: configuration, services: services, data: data, logger: logger)
    }

    static func listeners(_ configuration: HubConfiguration) -> [(Int, String)] {
        var ports = [(configuration.httpsPort, "HTTPS"), (configuration.mqttsPort, "MQTT over TLS")]
        if let port = configuration.plainHTTPPort { ports.append((port, "plain HTTP")) }
        if let port = configuration.plainMQTTPort { ports.append((port, "plain MQTT")) }
        ports.append((configuration.amqpsPort, "AMQP over TLS"))
        if let port = configuration.storage.port { ports.append((port, "storage (HTTPS)")) }
        if let port = configuration.plainAMQPPort { ports.append((port, "plain AMQP")) }
        return ports.filter { $0.0 != 0 }
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully and flushes the store.
    public func run() async throws {
        let router = HubRouter.make(services)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(data.tls.serverCertificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: data.tls.serverKeyPath, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        let (http, logger) = (configuration.http, self.logger)
        // Every HTTP connection gets deadlines for its request heads and bodies, and each listener a bound on its
        // connections, so half-sent requests cannot hold the hub's descriptors.
        let http1 = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [HTTPRequestDeadlineHandler(timeouts: http.timeouts, logger: logger)]))
        func listener(_ port: Int) -> ApplicationConfiguration {
            .init(address: .hostname(configuration.bindAddress, port: port), serverName: "iothub", backlog: 1024,
                  availableConnectionsDelegate: MaximumAvailableConnections(http.maximumConnections, logger: logger))
        }
        let bound = self.bound
        func report(_ endpoint: HubEndpoint) -> @Sendable (any Channel) async -> Void {
            { channel in bound.withLockedValue { $0[endpoint] = channel.localAddress?.port } }
        }
        var applications: [any Service] = [
            Application(router: router, server: try .tls(http1, tlsConfiguration: tls),
                        configuration: listener(configuration.httpsPort), onServerRunning: report(.https), logger: logger),
        ]
        if let port = configuration.plainHTTPPort {
            applications.append(Application(router: router, server: http1, configuration: listener(port),
                                            onServerRunning: report(.http), logger: logger))
        }
        if let uploads = services.fileUploads, let port = configuration.storage.port {
            let boundPorts = bound
            let storage = configuration.storage
            let hubHost = configuration.hostName
            applications.append(Application(
                router: BlobResponderBuilder(uploads: uploads, logger: logger), server: try .tls(http1, tlsConfiguration: tls),
                configuration: listener(port),
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port ?? port
                    uploads.storageHostName = storage.advertisedHostName(hubHostName: hubHost, boundPort: bound)
                    boundPorts.withLockedValue { $0[.storage] = bound }
                }, logger: logger))
        }
        applications.append(MaintenanceService(events: services.events, logger: logger))
        try await services.routing.refresh()
        applications.append(RoutingMaintenance(
            routing: services.routing,
            writer: StorageEndpointWriter(routing: services.routing, store: services.store,
                                          blobs: services.fileUploads?.storage, logger: logger, metrics: services.metrics),
            logger: logger))
        // Listed last so that graceful shutdown (in reverse order) ends device sessions first.
        // MQTT asks for client certificates (X.509 devices) but does not require them (SAS devices send none).
        var mqttTLS = tls
        mqttTLS.certificateVerification = .optionalVerification
        // One telemetry batch per event loop for all device listeners.
        let locals = EventLoopLocals(events: services.events)
        applications.append(MQTTListener(services: services, host: configuration.bindAddress, port: configuration.mqttsPort,
                                         tls: try NIOSSLContext(configuration: mqttTLS), configuration: configuration.mqtt,
                                         logger: logger, bound: { port in bound.withLockedValue { $0[.mqtts] = port } },
                                         locals: locals))
        if let port = configuration.plainMQTTPort {
            applications.append(MQTTListener(services: services, host: configuration.bindAddress, port: port, tls: nil,
                                             configuration: configuration.mqtt, logger: logger,
                                             bound: { port in bound.withLockedValue { $0[.mqtt] = port } }, locals: locals))
        }
        applications.append(AMQPListener(services: services, host: configuration.bindAddress, port: configuration.amqpsPort,
                                         tls: try NIOSSLContext(configuration: mqttTLS), configuration: configuration.amqp,
                                         logger: logger, bound: { port in bound.withLockedValue { $0[.amqps] = port } },
                                         locals: locals))
        if let port = configuration.plainAMQPPort {
            applications.append(AMQPListener(services: services, host: configuration.bindAddress, port: port, tls: nil,
                                             configuration: configuration.amqp, logger: logger,
                                             bound: { port in bound.withLockedValue { $0[.amqp] = port } }, locals: locals))
        }
        let group = ServiceGroup(configuration: .init(
            services: applications.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        self.group.withLockedValue { $0 = group }
        logger.info("hub listening", metadata: [
            "host": "\(configuration.hostName)", "https": "\(configuration.bindAddress):\(configuration.httpsPort)",
            "http": "\(configuration.plainHTTPPort.map(String.init) ?? "off")",
            "mqtts": "\(configuration.bindAddress):\(configuration.mqttsPort)",
            "mqtt": "\(configuration.plainMQTTPort.map(String.init) ?? "off")",
            "amqps": "\(configuration.bindAddress):\(configuration.amqpsPort)",
            "amqp": "\(configuration.plainAMQPPort.map(String.init) ?? "off")",
            "storage": "\(configuration.storage.port.map { "\(configuration.bindAddress):\($0)" } ?? "off")",
        ])
        defer { data.store.close() }
        try await group.run()
        logger.info("hub stopped; store flushed")
    }

    /// The port an endpoint bound, once it is listening (a port configured as 0 is chosen by the system).
    public func boundPort(_ endpoint: HubEndpoint) -> Int? {
        bound.withLockedValue { $0[endpoint] }
    }

    /// Waits until `endpoint` listens and returns its port; `nil` when it does not within `timeout`.
    public func waitForPort(_ endpoint: HubEndpoint, timeout: Duration = .seconds(30)) async -> Int? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let port = boundPort(endpoint) { return port }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Stops a running hub as SIGTERM would: drains connections, then ``run()`` flushes the store and returns.
    public func shutdown() async {
        await group.withLockedValue { $0 }?.triggerGracefulShutdown()
    }

    static func checkPortIsFree(host: String, port: Int, name: String) async throws {
        do {
            // SO_REUSEADDR as the real listeners use, so connections in TIME_WAIT do not count as "taken".
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port).get()
            try await channel.close()
        } catch {
            throw HubStartupError.portUnavailable(port, name: name, reason: "\(error)")
        }
    }
}

/// The hub's listeners, for ``HubServer/boundPort(_:)``.
public enum HubEndpoint: String, Sendable, Hashable, CaseIterable {
    /// HTTPS: the service REST API and the device HTTPS API.
    case https
    /// Plain HTTP.
    case http
    /// MQTT over TLS.
    case mqtts
    /// Plain MQTT.
    case mqtt
    /// AMQP over TLS.
    case amqps
    /// Plain AMQP.
    case amqp
    /// The storage (blob) endpoint for file uploads, over HTTPS.
    case storage
}

/// Routing's housekeeping: picks up configuration changes made by other hub nodes, and writes storage endpoints'
/// batches when they are due; on shutdown it writes what is due one last time.
struct RoutingMaintenance: Service {
    let routing: RoutingService
    let writer: StorageEndpointWriter
    let logger: Logger
    var interval: Duration = .seconds(5)

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    await round()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
        await round()
    }

    private func round() async {
        do { try await routing.refresh() } catch {
            logger.warning("reading the routing configuration failed", metadata: ["error": "\(error)"])
        }
        do { try await writer.flush() } catch {
            logger.warning("writing a storage endpoint's batch failed; it stays queued", metadata: ["error": "\(error)"])
        }
    }
}

/// Periodic housekeeping: telemetry retention and size bound.
struct MaintenanceService: Service {
    let events: EventService
    let logger: Logger
    var interval: Duration = .seconds(60)

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    do { try await events.prune() } catch {
                        logger.warning("pruning telemetry failed", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }
}
