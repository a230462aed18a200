import IoTHubProtocol

/// One wire protocol between the client core and the hub: the SDK's transport seam, shaped like the C SDK's
/// `TRANSPORT_PROVIDER` (create a connection, register identities on it, perform operations, report events).
///
/// A transport is created per client by its ``DeviceClientTransport``, lives on the client's loop (every call and
/// every event happens there) and may open many underlying connections over its life (one per ``open()``). The core
/// above it owns everything protocol-neutral: the queue, at-least-once resending, backoff and reconnects, timeouts
/// and the app's streams. The transport owns the protocol: connecting and authenticating, topic or link names,
/// property encodings, acknowledgements, and how a token is renewed (``renewCredentials()``).
protocol DeviceTransport: AnyObject {
    /// Registers the identity (device or module) this transport speaks for, and where its events go
    /// (`IoTHubTransport_Register`). Called once, before ``open()``.
    func register(_ registration: DeviceTransportRegistration, delegate: any DeviceTransportDelegate)
        throws(DeviceClientError)
    /// Opens a connection: gets a token from the registration's credentials, connects and authenticates. Ends in
    /// ``DeviceTransportEvent/connected(credentialExpiry:)`` or ``DeviceTransportEvent/disconnected(_:)``.
    func open()
    /// Closes the connection politely; ``DeviceTransportEvent/disconnected(_:)`` follows (kind `.requested`).
    func close()
    /// Drops the connection at once (a connect timeout, or a close that takes too long).
    func abort(reason: String)
    /// Turns a feature on for the current connection; ``DeviceTransportEvent/featureEnabled(_:accepted:)`` follows.
    func enable(_ feature: DeviceFeature)
    /// Hands an operation to the connection. On success the tag names it in the later
    /// ``DeviceTransportEvent/acknowledged(_:)``; on failure the core keeps the operation for the next connection.
    func perform(_ operation: DeviceTransportOperation) -> Result<DeviceTransportTag, DeviceClientError>
    /// Settles a cloud-to-device message that arrived with a tag (MQTT settles on receipt and never sends one).
    func settle(_ tag: DeviceTransportTag, _ outcome: DeviceMessageOutcome)
    /// The token is near its expiry: renew it the way the protocol does. The answer tells the core what happens.
    func renewCredentials() -> DeviceTransportRenewal
}

/// Where a transport delivers its events; the client core. Called on the loop.
protocol DeviceTransportDelegate: AnyObject {
    func transport(_ transport: any DeviceTransport, emitted event: DeviceTransportEvent)
}

/// What a transport needs to know about the identity it carries.
struct DeviceTransportRegistration {
    var identity: DeviceIdentity
    var hostName: String
    /// Where fresh tokens come from (none for X.509).
    var credentials: DeviceCredentialSource
}

/// Features the client turns on: MQTT subscriptions, AMQP links. The core enables them in this order (the order
/// the official SDKs subscribe in).
enum DeviceFeature: Sendable, Hashable, CaseIterable {
    /// Cloud-to-device messages.
    case cloudToDevice
    /// Twin GET and reported-properties PATCH responses.
    case twinResponses
    /// Desired-property patches pushed by the hub.
    case desiredProperties
    /// Direct method requests.
    case methods
}

/// An operation the core asks of a transport: protocol-neutral, a message and its properties.
enum DeviceTransportOperation: Sendable, Hashable {
    /// Device-to-cloud telemetry; acknowledged when the hub has it.
    case telemetry(IoTHubMessage)
    /// Reads the whole twin; the answer is a ``DeviceTransportEvent/twinResponse(requestId:status:version:body:)``.
    case twinGet(requestId: String)
    /// Patches reported properties with a JSON body; answered like ``twinGet(requestId:)``.
    case twinPatchReported(requestId: String, body: [UInt8])
    /// Answers a direct method request.
    case methodResponse(requestId: String, status: Int, payload: [UInt8])

    /// Bytes the operation holds, as counted against the queue's bound.
    var size: Int {
        switch self {
        case .telemetry(let message): message.size
        case .twinGet(let requestId): requestId.utf8.count
        case .twinPatchReported(let requestId, let body): requestId.utf8.count + body.count
        case .methodResponse(let requestId, _, let payload): requestId.utf8.count + payload.count
        }
    }
}

/// How a cloud-to-device message is settled.
enum DeviceMessageOutcome: Sendable, Hashable {
    case complete, abandon, reject
}

/// Names an operation (or a received message) within a transport: an MQTT packet id, an AMQP delivery tag.
struct DeviceTransportTag: Sendable, Hashable {
    var value: Int64
}

/// What a transport does when asked to renew its token.
enum DeviceTransportRenewal: Sendable, Hashable {
    /// On the open connection (AMQP's CBS put-token): the core keeps sending; the transport reports
    /// ``DeviceTransportEvent/credentialsRenewed(expiry:)`` or drops the connection.
    case inBand
    /// Only with a new connection (MQTT): the core stops sending, lets in-flight operations be acknowledged, calls
    /// ``DeviceTransport/close()`` and opens again at once; the next ``DeviceTransport/open()`` takes a fresh token.
    case reconnect
}

/// What a transport reports to the core.
enum DeviceTransportEvent: Sendable {
    /// The hub accepted the connection; `credentialExpiry` (seconds since 1970) is when its token expires.
    case connected(credentialExpiry: UInt64?)
    /// The connection is over (or never came up); exactly one per ``DeviceTransport/open()``.
    case disconnected(DeviceTransportDisconnect)
    /// The hub acknowledged an operation.
    case acknowledged(DeviceTransportTag)
    /// The hub accepted (or refused) a feature for the current connection.
    case featureEnabled(DeviceFeature, accepted: Bool)
    /// The answer to a twin request.
    case twinResponse(requestId: String, status: Int, version: Int64?, body: [UInt8])
    /// A desired-properties patch (JSON); `version` when the protocol carries it outside the body.
    case desiredPatch(version: Int64?, body: [UInt8])
    /// A direct method request.
    case methodRequest(name: String, requestId: String, payload: [UInt8])
    /// A cloud-to-device message; `tag` when it waits to be settled.
    case cloudToDevice(IoTHubMessage, tag: DeviceTransportTag?)
    /// An in-band renewal succeeded; the new token expires at `expiry`.
    case credentialsRenewed(expiry: UInt64?)
}

/// Why a transport's connection ended, in protocol-neutral terms.
struct DeviceTransportDisconnect: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        /// After ``DeviceTransport/close()``.
        case requested
        /// The hub refused the credentials, or the device is disabled.
        case unauthorized
        /// The hub is throttling or unavailable.
        case throttled
        /// The hub ended an accepted connection.
        case closedByHub
        /// DNS, TCP, TLS, keep-alive, a token provider that failed, or a refusal with no better name.
        case networkError
    }

    var kind: Kind
    /// The transport's words for it (for logs and errors).
    var detail: String
}
