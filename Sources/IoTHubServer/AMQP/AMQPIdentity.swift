import Foundation
import IoTHubProtocol
import NIOCore

/// One identity (device or module) authenticated on an AMQP connection, with its own token lifetime and links.
final class AMQPIdentity {
    let identity: DeviceIdentity
    var generationId: String {
        didSet { telemetrySource = Self.telemetrySource(identity, authenticationMethod, generationId) }
    }
    var authenticationMethod: EventService.AuthenticationKind {
        didSet { telemetrySource = Self.telemetrySource(identity, authenticationMethod, generationId) }
    }
    /// Stamped on this identity's telemetry.
    private(set) var telemetrySource: TelemetrySource
    /// When its token expires; `nil` for certificates.
    var tokenExpiry: Date?
    var expiryTimer: Scheduled<Void>?
    let session: HostedDeviceSession
    /// The session as the hub's session registry knows it.
    var lease: DeviceSessionLease?
    /// Whether a link of this identity was attached: when its last link ends, so does its session.
    var hadLinks = false
    /// Twin requests in progress.
    var pendingTwinRequests = 0
    /// Method requests sent and not answered: the uuid correlation id the device answers with → the dispatcher's
    /// request id.
    var methodRequests: [AMQPValue.UUIDBytes: String] = [:]

    init(identity: DeviceIdentity, record: DeviceRecord, authenticated: AuthenticatedDevice, session: HostedDeviceSession) {
        self.identity = identity
        generationId = record.generationId
        authenticationMethod = authenticated.method
        telemetrySource = Self.telemetrySource(identity, authenticated.method, record.generationId)
        tokenExpiry = authenticated.tokenExpiry
        self.session = session
    }

    private static func telemetrySource(_ identity: DeviceIdentity, _ method: EventService.AuthenticationKind,
                                        _ generationId: String) -> TelemetrySource {
        TelemetrySource(identity: identity, authentication: method, generationId: generationId,
                        protocol: AMQPConnectionHandler.protocolName)
    }
}
