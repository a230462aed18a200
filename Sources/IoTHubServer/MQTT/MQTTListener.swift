import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The hub's MQTT device endpoint on one port, over TLS (8883) or plain TCP (opt-in, for local simulation; SAS
/// authentication is enforced either way).
///
/// Runs as a service of the hub's service group: on graceful shutdown it stops accepting, ends every MQTT session
/// and waits for the connections to close.
struct MQTTListener: Service {
    let services: HubServices
    let host: String
    let port: Int
    /// TLS for this port; `nil` for plain MQTT.
    let tls: NIOSSLContext?
    var configuration = MQTTEndpointConfiguration()
    let logger: Logger
    /// Told the port once bound (the configured one, or the one the system chose for port 0).
    var bound: (@Sendable (Int) -> Void)?
    /// The hub's per-event-loop telemetry batches and timer wheels, shared with its other listeners (`nil`: this
    /// listener's own).
    var locals: EventLoopLocals?

    /// Builds the child pipeline of one device connection: [TLS] → packet codec → connection handler, once the
    /// hub's ``ConnectionAdmission`` admits it; a connection it refuses (too many not yet authenticated, the
    /// descriptor budget spent, or a source blocked after failed logins) is closed before any handshake.
    static func initialize(_ channel: any Channel, services: HubServices, tls: NIOSSLContext?,
                           configuration: MQTTEndpointConfiguration, locals: EventLoopLocals,
                           logger: Logger) -> EventLoopFuture<Void> {
        initialize(channel, environment: MQTTConnectionEnvironment(services: services, configuration: configuration,
                                                                   locals: locals, logger: logger),
                   tls: tls)
    }

    /// Builds the child pipeline of one device connection with the listener's shared `environment`.
    static func initialize(_ channel: any Channel, environment: MQTTConnectionEnvironment,
                           tls: NIOSSLContext?) -> EventLoopFuture<Void> {
        let (services, configuration, logger) = (environment.services, environment.configuration, environment.logger)
        let source = channel.remoteAddress?.ipAddress
        let (ticket, refusal, suppressed) = services.admission.admit(source: source)
        if let suppressed, suppressed > 0 {
            logger.info("address let in again after failed logins; refusals not logged while it was blocked",
                        metadata: ["source": "\(source ?? "?")", "refusals": "\(suppressed)"])
        }
        guard let ticket else {
            let refusal = refusal ?? .tooManyConnections
            logger.debug("MQTT connection closed before CONNECT", metadata: ["peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")",
                                                                            "reason": "\(refusal)"])
            services.metrics.connectionShed(protocol: MQTTDeviceConnectionHandler.protocolName, reason: refusal.rawValue)
            // A failed initializer makes the bootstrap close the connection before it is registered.
            return channel.eventLoop.makeFailedFuture(refusal)
        }
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            let presented = tls == nil ? nil : PresentedChain()
            let handler = MQTTDeviceConnectionHandler(environment: environment, presentedChain: presented,
                                                      admission: ticket)
            do {
                if let tls {
                    // Client certificates are requested and accepted whatever their issuer: the hub decides at CONNECT
                    // (thumbprint, or chain to a trusted CA, and validity), where it can answer CONNACK 5 with a
                    // reason instead of a TLS alert.
                    try pipeline.addHandler(NIOSSLServerHandler(context: tls, customVerificationCallback: { chain, promise in
                        presented?.record(chain)
                        promise.succeed(.certificateVerified)
                    }))
                }
                try pipeline.addHandler(MQTTPacketCodecHandler(maximumPacketSize: configuration.maximumPacketSize,
                                                               maximumConnectPacketSize: configuration.maximumConnectPacketSize))
                try pipeline.addHandler(handler)
            } catch {
                // The handler never joined the pipeline: give its slots back here.
                services.admission.closed(ticket, authenticated: false)
                throw error
            }
        }
    }

    func run() async throws {
        let (services, tls, configuration, logger) = (self.services, self.tls, self.configuration, self.logger)
        let environment = MQTTConnectionEnvironment(services: services, configuration: configuration,
                                                    locals: self.locals ?? EventLoopLocals(events: services.events),
                                                    logger: logger)
        let connections = ChannelCollector()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // NIO keeps each channel's receive buffer for its next read: start it small, so an idle connection
            // holds about its CONNECT's size rather than 2 KB. Busy connections grow it up to 64 KB as they read.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256,
                                                                                      maximum: 65_536))
            .childChannelInitializer { channel in
                connections.add(channel)
                return Self.initialize(channel, environment: environment, tls: tls)
            }
            .bind(host: host, port: port).get()
        let port = server.localAddress?.port ?? port
        bound?(port)
        logger.info("MQTT listening", metadata: ["address": "\(host):\(port)", "tls": "\(tls != nil)"])
        await withGracefulShutdownHandler {
            try? await server.closeFuture.get()
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        // Stop taking connections, end every device session of this listener, wait for them to close.
        for session in services.presence.all
            where (session as? HostedDeviceSession)?.protocolName == MQTTDeviceConnectionHandler.protocolName {
            session.end(.shutdown)
        }
        await connections.closeAll()
        logger.info("MQTT listener stopped", metadata: ["port": "\(port)"])
    }
}
