import IoTHubProtocol
import Logging
import NIOCore

/// A connection's logger: the listener's, with the connection's peer and (once known) identity as metadata.
///
/// The metadata is added only when a line is logged at an enabled level, so a connection keeps no metadata
/// dictionary of its own and a line below the level costs a comparison.
struct ConnectionLogger: Sendable {
    let base: Logger
    let peer: SocketAddress?
    let identity: DeviceIdentity?

    func trace(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        log(.trace, message(), metadata())
    }

    func debug(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        log(.debug, message(), metadata())
    }

    func info(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        log(.info, message(), metadata())
    }

    func notice(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        log(.notice, message(), metadata())
    }

    func warning(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        log(.warning, message(), metadata())
    }

    func error(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        log(.error, message(), metadata())
    }

    private func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message,
                     _ metadata: @autoclosure () -> Logger.Metadata?) {
        guard base.logLevel <= level else { return }
        var logger = base
        if let peer { logger[metadataKey: "peer"] = "\(peer)" }
        if let identity { logger[metadataKey: "identity"] = "\(identity)" }
        logger.log(level: level, message(), metadata: metadata())
    }
}
