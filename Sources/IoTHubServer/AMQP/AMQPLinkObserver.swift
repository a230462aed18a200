import CProton
import IoTHubProtocol
import ProtonCodec

/// Told what the AMQP endpoint sees a client do, for wire-fidelity tests and diagnostics: every link it opens and
/// every CBS put-token request. Called on the connection's event loop; keep it quick.
public typealias AMQPLinkObserver = @Sendable (AMQPLinkObservation) -> Void

/// One thing an AMQP connection saw, for ``AMQPEndpointConfiguration/linkObserver``.
public enum AMQPLinkObservation: Sendable, Hashable {
    /// A link the hub attached.
    case link(AMQPObservedLink)
    /// A CBS put-token request as it arrived (before it was checked).
    case putToken(connection: ObjectIdentifier, request: AMQPMessage)

    /// The connection (one per socket) it happened on.
    public var connection: ObjectIdentifier {
        switch self {
        case .link(let link): link.connection
        case .putToken(let connection, _): connection
        }
    }
}

/// A link as the client attached it.
public struct AMQPObservedLink: Sendable, Hashable {
    public var connection: ObjectIdentifier
    public var name: String
    /// Whether the client sends on the link (the hub's end is a receiver).
    public var clientSends: Bool
    /// The client's source and target addresses.
    public var source: String?
    public var target: String?
    /// The client's link properties (keys are symbols).
    public var properties: [String: AMQPValue]
}

extension AMQPConnectionHandler {
    /// Tells the observer about a link being opened.
    func observeLink(_ link: OpaquePointer) {
        guard let observer = configuration.linkObserver else { return }
        let address = { (terminus: OpaquePointer?) in pn_terminus_get_address(terminus).map { String(cString: $0) } }
        observer(.link(AMQPObservedLink(
            connection: ObjectIdentifier(self), name: linkName(link), clientSends: pn_link_is_receiver(link),
            source: address(pn_link_remote_source(link)), target: address(pn_link_remote_target(link)),
            properties: ProtonMessageCodec.map(pn_link_remote_properties(link)))))
    }

    /// Tells the observer about a put-token request.
    func observePutToken(_ bytes: [UInt8]) {
        guard let observer = configuration.linkObserver, let request = try? ProtonMessageCodec.decode(bytes) else { return }
        observer(.putToken(connection: ObjectIdentifier(self), request: request))
    }
}
