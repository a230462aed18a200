import IoTHubProtocol
import Logging

/// The AMQP transport: one identity (device or module) on an ``AMQPConnection``, its own or one it shares with
/// other clients of an ``AMQPConnectionPool``, speaking the dialect of the official C SDK (see `protocol.md` §3a).
///
/// ``open()`` joins a connection, puts the identity's SAS token on `$cbs` (X.509 identities skip this: the TLS
/// client certificate and SASL EXTERNAL authenticate them) and attaches the telemetry sender; the identity is
/// connected once the hub accepted that link. Features attach their links: C2D receiver, twin sender and
/// receiver (plus a `PUT` subscription for desired properties), method receiver and sender. A token is renewed
/// in band (``renewCredentials()`` returns ``DeviceTransportRenewal/inBand``): another put-token on the same
/// links, nothing reconnects. This file holds the lifecycle; `AMQPDeviceTransport+Links.swift` the links and
/// messages.
final class AMQPDeviceTransport: DeviceTransport, AMQPConnectionMember {
    enum Phase: Equatable {
        case idle
        case awaitingToken
        /// Joined a connection that has not opened yet.
        case awaitingConnection
        case authenticating
        /// Waiting for the hub to accept the telemetry link.
        case attaching
        case connected
    }

    /// The C SDK's service API version, on every link.
    static let apiVersion = "2020-09-30"

    let context: DeviceTransportContext
    private let group: AMQPConnectionGroup
    var registration: DeviceTransportRegistration?
    private weak var delegate: (any DeviceTransportDelegate)?
    var logger: Logger

    var connection: AMQPConnection?
    private(set) var phase = Phase.idle
    /// Bumped by every open and every end, so late answers for an abandoned open are dropped.
    private var generation = 0
    private var closeRequested = false
    private var token: DeviceToken?

    // Links of the current connection (see +Links).
    var telemetryLink: OpaquePointer?
    var cloudToDeviceLink: OpaquePointer?
    var twinSender: OpaquePointer?
    var twinReceiver: OpaquePointer?
    var methodReceiver: OpaquePointer?
    var methodSender: OpaquePointer?
    /// Links the hub has accepted.
    var acceptedLinks: Set<OpaquePointer> = []
    /// Features waiting for their links (or, for desired properties, the subscription's answer).
    var pendingFeatures: Set<DeviceFeature> = []
    /// The correlation id of the desired-properties subscription in flight.
    var desiredSubscription: String?
    /// Tags of deliveries the core waits to see acknowledged.
    var inFlight: Set<UInt64> = []
    /// C2D deliveries waiting for ``settle(_:_:)``, by the tag given to the core.
    var cloudToDeviceDeliveries: [Int64: OpaquePointer] = [:]
    var nextCloudToDeviceTag: Int64 = 0
    /// `twin:{uuid}`, the twin links' channel correlation id, fixed for the client's life.
    let twinChannel = "twin:\(AMQPDeviceTransport.randomUUID())"
    /// Distinguishes this client's link names from another client's of the same identity.
    let linkSuffix = AMQPDeviceTransport.randomUUID()

    init(context: DeviceTransportContext, group: AMQPConnectionGroup) {
        self.context = context
        self.group = group
        self.logger = context.options.logger
    }

    func register(_ registration: DeviceTransportRegistration, delegate: any DeviceTransportDelegate)
        throws(DeviceClientError)
    {
        guard self.registration == nil else {
            throw .invalidConfiguration("an AMQP transport carries one identity; create a client per device or module")
        }
        self.registration = registration
        self.delegate = delegate
        logger[metadataKey: "device"] = "\(registration.identity.clientId)"
    }

    // MARK: Lifecycle

    func open() {
        guard let registration, phase == .idle else { return }
        generation += 1
        let generation = self.generation
        phase = .awaitingToken
        closeRequested = false
        let box = LoopHandoff(self)
        registration.credentials.token { result in box.value.tokenArrived(result, generation: generation) }
    }

    private func tokenArrived(_ result: Result<DeviceToken?, DeviceClientError>, generation: Int) {
        guard generation == self.generation, phase == .awaitingToken, let registration else { return }
        switch result {
        case .failure(let error):
            return end(DeviceTransportDisconnect(kind: .networkError, detail: error.detail))
        case .success(let token):
            self.token = token
        }
        let options = context.options
        let settings = AMQPConnection.Settings(
            hubHostName: registration.hostName,
            socket: DeviceSocket.Settings(host: options.gatewayHostName ?? registration.hostName,
                                          port: options.plainTCPPort ?? options.amqpPort,
                                          bindAddress: options.bindAddress, tls: context.tls,
                                          connectTimeout: options.connectTimeout),
            containerId: "swift-iot-hub-\(linkSuffix.prefix(8))")
        let connection = group.connection(for: settings)
        self.connection = connection
        connection.add(self)
        phase = .awaitingConnection
        if connection.isOpen { authenticate() }
    }

    func connectionOpened(_ connection: AMQPConnection) {
        guard connection === self.connection, phase == .awaitingConnection else { return }
        authenticate()
    }

    /// The audience of this identity's put-token: `{host}/devices/{id}[/modules/{m}]`.
    var audience: String {
        guard let registration else { return "" }
        return "\(registration.hostName)/\(registration.identity.topicBase)"
    }

    private func authenticate() {
        guard let connection else { return }
        guard let token else {
            // X.509: the connection's client certificate authenticates the identity when its links attach.
            return attachTelemetry()
        }
        phase = .authenticating
        let generation = self.generation
        let box = LoopHandoff(self)
        connection.putToken(token.value, audience: audience) { status, description in
            let transport = box.value
            guard generation == transport.generation, transport.phase == .authenticating else { return }
            if status == 200 || status == 202 { return transport.attachTelemetry() }
            transport.end(Self.tokenRefusal(status: status, description: description))
        }
    }

    static func tokenRefusal(status: Int, description: String) -> DeviceTransportDisconnect {
        let detail = "the hub refused the token (CBS status \(status)): \(description)"
        switch status {
        case 0: return DeviceTransportDisconnect(kind: .networkError, detail: description)
        case 401, 403, 404: return DeviceTransportDisconnect(kind: .unauthorized, detail: detail)
        case 429, 503: return DeviceTransportDisconnect(kind: .throttled, detail: detail)
        default: return DeviceTransportDisconnect(kind: .networkError, detail: detail)
        }
    }

    private func attachTelemetry() {
        phase = .attaching
        telemetryLink = openLink(sender: true, kind: "link-snd", address: address("messages/events"))
    }

    /// The telemetry link was accepted: the identity is connected.
    func telemetryAttached() {
        guard phase == .attaching else { return }
        phase = .connected
        emit(.connected(credentialExpiry: token?.expiry))
    }

    func close() {
        closeRequested = true
        end(DeviceTransportDisconnect(kind: .requested, detail: "closed"), deferred: true)
    }

    func abort(reason: String) {
        end(DeviceTransportDisconnect(kind: closeRequested ? .requested : .networkError, detail: reason), deferred: true)
    }

    /// Renews the token on the open connection: a put-token on the same `$cbs` links, other links untouched.
    func renewCredentials() -> DeviceTransportRenewal {
        guard phase == .connected, let registration else { return .inBand }
        let generation = self.generation
        let box = LoopHandoff(self)
        registration.credentials.token { result in box.value.renewalTokenArrived(result, generation: generation) }
        return .inBand
    }

    private func renewalTokenArrived(_ result: Result<DeviceToken?, DeviceClientError>, generation: Int) {
        guard generation == self.generation, phase == .connected, let connection else { return }
        guard case .success(let fresh?) = result else {
            if case .failure(let error) = result {
                end(DeviceTransportDisconnect(kind: .networkError, detail: "renewing the token: \(error.detail)"))
            }
            return
        }
        let box = LoopHandoff(self)
        connection.putToken(fresh.value, audience: audience) { status, description in
            let transport = box.value
            guard generation == transport.generation, transport.phase == .connected else { return }
            guard status == 200 || status == 202 else {
                return transport.end(Self.tokenRefusal(status: status, description: description))
            }
            transport.token = fresh
            transport.logger.debug("SAS token renewed in band")
            transport.emit(.credentialsRenewed(expiry: fresh.expiry))
        }
    }

    func connectionLost(_ connection: AMQPConnection, _ disconnect: DeviceTransportDisconnect) {
        guard connection === self.connection else { return }
        end(disconnect)
    }

    /// Ends the identity's connection (its links close; a shared connection stays for the others) and reports
    /// `disconnect` once per open; `deferred` reports it on the next loop turn (from the core's own calls).
    func end(_ disconnect: DeviceTransportDisconnect, deferred: Bool = false) {
        guard phase != .idle else { return }
        generation += 1
        phase = .idle
        let connection = self.connection
        self.connection = nil
        resetLinks()
        connection?.remove(self)
        let event = DeviceTransportEvent.disconnected(closeRequested
            ? DeviceTransportDisconnect(kind: .requested, detail: disconnect.detail) : disconnect)
        guard deferred else { return emit(event) }
        let box = LoopHandoff(self)
        context.loop.execute { box.value.emit(event) }
    }

    func emit(_ event: DeviceTransportEvent) {
        delegate?.transport(self, emitted: event)
    }

    /// A random version-4 uuid, lower-case text.
    static func randomUUID() -> String {
        AMQPValue.UUIDBytes.random().description
    }
}
