import CMosquitto
import IoTHubProtocol
import Logging

/// The MQTT transport: IoT Hub's MQTT 3.1.1 dialect through one ``MosquittoConnection`` per connection.
///
/// Builds the user name, the topics and their property bags with `IoTHubProtocol` (``DeviceTopic``,
/// ``DeviceSubscription``, ``HubTopic``), and turns CONNACK codes and libmosquitto's reasons into protocol-neutral
/// ``DeviceTransportDisconnect`` values. MQTT cannot renew a token on an open connection: ``renewCredentials()``
/// answers ``DeviceTransportRenewal/reconnect`` and the next ``open()`` connects with a fresh one.
final class MQTTDeviceTransport: DeviceTransport, MosquittoConnectionDelegate {
    private let context: DeviceTransportContext
    private var registration: DeviceTransportRegistration?
    private weak var delegate: (any DeviceTransportDelegate)?
    private var logger: Logger

    private var connection: MosquittoConnection?
    /// Bumped by every open and close, so a token that arrives for an abandoned open is dropped.
    private var generation = 0
    /// Between ``open()`` and the token's arrival.
    private var awaitingToken = false
    private var closeRequested = false
    private var accepted = false
    private var connackCode: Int32?
    private var tokenExpiry: UInt64?
    private var pendingSubscriptions: [Int32: DeviceFeature] = [:]

    init(context: DeviceTransportContext) {
        self.context = context
        self.logger = context.options.logger
    }

    func register(_ registration: DeviceTransportRegistration, delegate: any DeviceTransportDelegate)
        throws(DeviceClientError)
    {
        guard self.registration == nil else {
            throw .invalidConfiguration("an MQTT connection carries one identity; create a client per device or module")
        }
        self.registration = registration
        self.delegate = delegate
        logger[metadataKey: "device"] = "\(registration.identity.clientId)"
    }

    // MARK: Lifecycle

    func open() {
        guard let registration, connection == nil, !awaitingToken else { return }
        generation += 1
        let generation = self.generation
        awaitingToken = true
        closeRequested = false
        accepted = false
        connackCode = nil
        let box = LoopHandoff(self)
        registration.credentials.token { result in box.value.tokenArrived(result, generation: generation) }
    }

    private func tokenArrived(_ result: Result<DeviceToken?, DeviceClientError>, generation: Int) {
        guard generation == self.generation, awaitingToken, let registration else { return }
        awaitingToken = false
        let token: DeviceToken?
        switch result {
        case .success(let value): token = value
        case .failure(let error): return emit(.disconnected(DeviceTransportDisconnect(kind: .networkError,
                                                                                       detail: error.detail)))
        }
        let options = context.options
        let settings = MosquittoConnection.Settings(
            clientId: registration.identity.clientId,
            username: MQTTUserName(hostName: registration.hostName, identity: registration.identity,
                                   clientType: options.productInfo, modelId: options.modelId).description,
            password: token?.value, host: options.gatewayHostName ?? registration.hostName,
            port: options.plainTCPPort ?? options.port, keepAlive: options.keepAlive,
            bindAddress: options.bindAddress, tls: context.tls, maximumInFlight: options.maximumInFlight)
        let connection: MosquittoConnection
        do {
            connection = try MosquittoConnection(settings: settings, loop: context.loop)
        } catch {
            return emit(.disconnected(DeviceTransportDisconnect(kind: .networkError, detail: "\(error)")))
        }
        tokenExpiry = token?.expiry
        connection.delegate = self
        self.connection = connection
        connection.connect()
    }

    func close() {
        closeRequested = true
        if let connection { return connection.disconnect() }
        endOpenWithoutConnection(DeviceTransportDisconnect(kind: .requested, detail: "closed"))
    }

    func abort(reason: String) {
        if let connection { return connection.abort(reason: reason) }
        endOpenWithoutConnection(DeviceTransportDisconnect(kind: closeRequested ? .requested : .networkError,
                                                           detail: reason))
    }

    /// Ends an open that still waits for its token: the token will be dropped; the event follows on the loop.
    private func endOpenWithoutConnection(_ disconnect: DeviceTransportDisconnect) {
        guard awaitingToken else { return }
        awaitingToken = false
        generation += 1
        let box = LoopHandoff(self)
        context.loop.execute { box.value.emit(.disconnected(disconnect)) }
    }

    func renewCredentials() -> DeviceTransportRenewal { .reconnect }

    // MARK: Operations

    func enable(_ feature: DeviceFeature) {
        guard let connection, let identity = registration?.identity else { return }
        let subscription: DeviceSubscription = switch feature {
        case .twinResponses: .twinResponses
        case .desiredProperties: .desiredProperties
        case .methods: .methods
        case .cloudToDevice: .cloudToDevice
        }
        if case .success(let messageId) = connection.subscribe(subscription.filter(for: identity), qos: 1) {
            pendingSubscriptions[messageId] = feature
        }
    }

    func perform(_ operation: DeviceTransportOperation) -> Result<DeviceTransportTag, DeviceClientError> {
        guard let connection, let identity = registration?.identity else { return .failure(.notConnected) }
        let topic: DeviceTopic
        let payload: [UInt8]
        switch operation {
        case .telemetry(let message):
            topic = .telemetry(message.telemetryPropertyBag)
            payload = message.body
        case .twinGet(let requestId):
            topic = .twinGet(requestId: requestId)
            payload = []
        case .twinPatchReported(let requestId, let body):
            topic = .twinReportedPatch(requestId: requestId)
            payload = body
        case .methodResponse(let requestId, let status, let body):
            topic = .methodResponse(status: status, requestId: requestId)
            payload = body
        }
        return connection.publish(topic: topic.topic(for: identity), payload: payload, qos: 1)
            .map { DeviceTransportTag(value: Int64($0)) }
    }

    /// IoT Hub completes a cloud-to-device message when the client acknowledges its QoS 1 PUBLISH, which
    /// libmosquitto does on receipt; nothing is left to settle.
    func settle(_ tag: DeviceTransportTag, _ outcome: DeviceMessageOutcome) {}

    // MARK: MosquittoConnectionDelegate

    func mosquittoConnected(_ connection: MosquittoConnection, returnCode: Int32) {
        guard connection === self.connection else { return }
        guard returnCode == 0 else {
            connackCode = returnCode
            return
        }
        accepted = true
        emit(.connected(credentialExpiry: tokenExpiry))
    }

    func mosquittoPublished(_ connection: MosquittoConnection, messageId: Int32) {
        guard connection === self.connection else { return }
        emit(.acknowledged(DeviceTransportTag(value: Int64(messageId))))
    }

    func mosquittoSubscribed(_ connection: MosquittoConnection, messageId: Int32, granted: [Int32]) {
        guard connection === self.connection, let feature = pendingSubscriptions.removeValue(forKey: messageId)
        else { return }
        emit(.featureEnabled(feature, accepted: (granted.first ?? 0x80) != 0x80))
    }

    func mosquittoReceived(_ connection: MosquittoConnection, topic: String, payload: [UInt8]) {
        guard connection === self.connection, let identity = registration?.identity else { return }
        let hubTopic: HubTopic
        do {
            hubTopic = try HubTopic(parsing: topic, identity: identity)
        } catch {
            logger.warning("ignoring a message on an unexpected topic: \(error)")
            return
        }
        switch hubTopic {
        case .cloudToDevice(let bag):
            emit(.cloudToDevice(IoTHubMessage(body: payload, propertyBag: bag), tag: nil))
        case .twinResponse(let status, let requestId, let version):
            emit(.twinResponse(requestId: requestId, status: status, version: version, body: payload))
        case .desiredPropertiesPatch(let version):
            emit(.desiredPatch(version: version, body: payload))
        case .methodRequest(let name, let requestId):
            emit(.methodRequest(name: name, requestId: requestId, payload: payload))
        case .moduleInput:
            break
        }
    }

    func mosquittoFinished(_ connection: MosquittoConnection, code: Int32, reason: String) {
        guard connection === self.connection else { return }
        self.connection = nil
        pendingSubscriptions.removeAll()
        emit(.disconnected(Self.disconnect(requested: closeRequested, connack: connackCode, accepted: accepted,
                                           code: code, reason: reason)))
    }

    /// Names why a connection ended: asked for, a CONNACK refusal, the hub closing it, or the network.
    static func disconnect(requested: Bool, connack: Int32?, accepted: Bool, code: Int32, reason: String)
        -> DeviceTransportDisconnect
    {
        if requested { return DeviceTransportDisconnect(kind: .requested, detail: reason) }
        if let connack {
            let text = MosquittoConnection.describeConnAck(connack)
            switch connack {
            case 4, 5: return DeviceTransportDisconnect(kind: .unauthorized, detail: text)
            case 3: return DeviceTransportDisconnect(kind: .throttled, detail: text)
            default: return DeviceTransportDisconnect(kind: .networkError, detail: text)
            }
        }
        if accepted, code == MOSQ_ERR_CONN_LOST.rawValue || code == MOSQ_ERR_SUCCESS.rawValue {
            return DeviceTransportDisconnect(kind: .closedByHub, detail: reason)
        }
        return DeviceTransportDisconnect(kind: .networkError, detail: reason)
    }

    private func emit(_ event: DeviceTransportEvent) {
        delegate?.transport(self, emitted: event)
    }
}
