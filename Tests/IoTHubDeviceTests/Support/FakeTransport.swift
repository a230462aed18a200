@testable import IoTHubDevice

/// A ``DeviceTransport`` that records what the core asks of it; the test plays the hub by calling ``emit(_:)``.
final class FakeTransport: DeviceTransport {
    private(set) var registration: DeviceTransportRegistration?
    private weak var delegate: (any DeviceTransportDelegate)?

    private(set) var opens = 0
    private(set) var closes = 0
    private(set) var aborts: [String] = []
    private(set) var enabled: [DeviceFeature] = []
    private(set) var performed: [(tag: DeviceTransportTag, operation: DeviceTransportOperation)] = []
    private(set) var settled: [(tag: DeviceTransportTag, outcome: DeviceMessageOutcome)] = []
    private(set) var renewals = 0
    /// The token fetched by each open, in order.
    private(set) var tokens: [DeviceToken?] = []
    /// What ``renewCredentials()`` answers.
    var renewal = DeviceTransportRenewal.reconnect
    /// Refuse operations (as a connection that cannot take more does).
    var refusesOperations = false
    private var nextTag: Int64 = 1

    func register(_ registration: DeviceTransportRegistration, delegate: any DeviceTransportDelegate)
        throws(DeviceClientError)
    {
        self.registration = registration
        self.delegate = delegate
    }

    func open() {
        opens += 1
        let box = LoopHandoff(self)
        registration?.credentials.token { result in box.value.tokens.append(try? result.get()) }
    }

    func close() { closes += 1 }

    func abort(reason: String) { aborts.append(reason) }

    func enable(_ feature: DeviceFeature) { enabled.append(feature) }

    func perform(_ operation: DeviceTransportOperation) -> Result<DeviceTransportTag, DeviceClientError> {
        if refusesOperations { return .failure(.transportFailure(code: 12, message: "refused by the test")) }
        let tag = DeviceTransportTag(value: nextTag)
        nextTag += 1
        performed.append((tag, operation))
        return .success(tag)
    }

    func settle(_ tag: DeviceTransportTag, _ outcome: DeviceMessageOutcome) { settled.append((tag, outcome)) }

    func renewCredentials() -> DeviceTransportRenewal {
        renewals += 1
        return renewal
    }

    // MARK: Playing the hub

    func emit(_ event: DeviceTransportEvent) {
        delegate?.transport(self, emitted: event)
    }

    /// Accepts the connection with the expiry of the token the last open fetched.
    func accept() {
        emit(.connected(credentialExpiry: tokens.last??.expiry))
    }

    func drop(_ kind: DeviceTransportDisconnect.Kind, _ detail: String = "test") {
        emit(.disconnected(DeviceTransportDisconnect(kind: kind, detail: detail)))
    }

    func acknowledge(_ tag: DeviceTransportTag) {
        emit(.acknowledged(tag))
    }

    /// The telemetry bodies handed over, in order, as text.
    var telemetry: [String] {
        performed.compactMap { entry in
            guard case .telemetry(let message) = entry.operation else { return nil }
            return String(decoding: message.body, as: UTF8.self)
        }
    }
}
