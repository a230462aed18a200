import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The hub's AMQP endpoint on one port, over TLS (5671) or plain TCP (opt-in, for local simulation; tokens are
/// checked either way), for devices, modules and back ends.
///
/// Runs as a service of the hub's service group: on graceful shutdown it stops accepting, ends every AMQP
/// session and waits for the connections to close.
struct AMQPListener: Service {
    let services: HubServices
    let host: String
    let port: Int
    /// TLS for this port; `nil` for plain AMQP.
    let tls: NIOSSLContext?
    var configuration = AMQPEndpointConfiguration()
    let logger: Logger
    /// Told the port once bound (the configured one, or the one the system chose for port 0).
    var bound: (@Sendable (Int) -> Void)?
    /// The hub's per-event-loop telemetry batches and timer wheels, shared with its other listeners (`nil`: this
    /// listener's own).
    var locals: EventLoopLocals?

    /// Builds the child pipeline of one connection, [TLS] → Proton engine, once the hub's ``ConnectionAdmission``
    /// admits it; a connection it refuses is closed before any handshake.
    static func initialize(_ channel: any Channel, services: HubServices, tls: NIOSSLContext?,
                           configuration: AMQPEndpointConfiguration, locals: EventLoopLocals,
                           logger: Logger) -> EventLoopFuture<Void> {
        let source = channel.remoteAddress?.ipAddress
        let (ticket, refusal, _) = services.admission.admit(source: source)
        guard let ticket else {
            let refusal = refusal ?? .tooManyConnections
            logger.debug("AMQP connection closed before SASL", metadata: ["peer": "\(channel.remoteAddress.map { "\($0)" } ?? "?")",
                                                                         "reason": "\(refusal)"])
            services.metrics.connectionShed(protocol: AMQPConnectionHandler.protocolName, reason: refusal.rawValue)
            return channel.eventLoop.makeFailedFuture(refusal)
        }
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            let presented = PresentedChain()
            do {
                if let tls {
                    // Client certificates are requested and accepted whatever their issuer: the hub checks them per
                    // identity, where it can refuse a link with a reason instead of a TLS alert.
                    try pipeline.addHandler(NIOSSLServerHandler(context: tls, customVerificationCallback: { chain, promise in
                        presented.record(chain)
                        promise.succeed(.certificateVerified)
                    }))
                }
                try pipeline.addHandler(AMQPConnectionHandler(services: services, configuration: configuration, logger: logger,
                                                              presentedChain: presented, locals: locals,
                                                              admission: ticket))
            } catch {
                services.admission.closed(ticket, authenticated: false)
                throw error
            }
        }
    }

    func run() async throws {
        let (services, tls, configuration, logger) = (self.services, self.tls, self.configuration, self.logger)
        let locals = self.locals ?? EventLoopLocals(events: services.events)
        let connections = ChannelCollector()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                connections.add(channel)
                return Self.initialize(channel, services: services, tls: tls, configuration: configuration, locals: locals,
                                       logger: logger)
            }
            .bind(host: host, port: port).get()
        let port = server.localAddress?.port ?? port
        bound?(port)
        logger.info("AMQP listening", metadata: ["address": "\(host):\(port)", "tls": "\(tls != nil)"])
        await withGracefulShutdownHandler {
            try? await server.closeFuture.get()
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        for session in services.presence.all
            where (session as? HostedDeviceSession)?.protocolName == AMQPConnectionHandler.protocolName {
            session.end(.shutdown)
        }
        await connections.closeAll()
        logger.info("AMQP listener stopped", metadata: ["port": "\(port)"])
    }
}
