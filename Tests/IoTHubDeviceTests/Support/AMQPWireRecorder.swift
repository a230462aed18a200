import Foundation
import IoTHubProtocol
@testable import IoTHubServer

/// Records what the hub's AMQP endpoint sees (``AMQPEndpointConfiguration/linkObserver``): links and put-tokens.
final class AMQPWireRecorder: @unchecked Sendable {
    // @unchecked: every access holds the lock.
    private let lock = NSLock()
    private var recorded: [AMQPLinkObservation] = []

    func record(_ observation: AMQPLinkObservation) {
        lock.withLock { recorded.append(observation) }
    }

    var observations: [AMQPLinkObservation] { lock.withLock { recorded } }

    var links: [AMQPObservedLink] {
        observations.compactMap { if case .link(let link) = $0 { link } else { nil } }
    }

    var putTokens: [AMQPMessage] {
        observations.compactMap { if case .putToken(_, let request) = $0 { request } else { nil } }
    }

    /// AMQP connections the hub saw (each attaches its `$cbs` links once).
    var connectionCount: Int {
        Set(links.filter { $0.name == "$cbs-sender" }.map(\.connection)).count
    }
}
