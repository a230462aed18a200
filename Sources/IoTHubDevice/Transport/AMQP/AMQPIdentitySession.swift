import IoTHubProtocol
import Logging

/// One device on the SDK's AMQP transport with no ``DeviceClient`` above it: its CBS token, its links on a shared
/// connection of an ``AMQPConnectionPool``, and the transport's events, for the simulator's native AMQP engine,
/// which carries many devices per loop thread and up to 995 per connection without a task per device.
///
/// Everything runs on the pool's loop: create, call and receive ``onEvent`` there. Unlike a client it keeps no
/// queue and never reconnects by itself; its owner decides (as the client core does for a ``DeviceClient``).
package final class AMQPIdentitySession: DeviceTransportDelegate {
    /// What the transport reports.
    package enum Event {
        /// The hub accepted the device's token and telemetry link; the token expires at `tokenExpiry`.
        case connected(tokenExpiry: UInt64?)
        case disconnected(Disconnect, detail: String)
        /// A telemetry message, twin request or method answer of this tag was accepted.
        case acknowledged(Int64)
        case featureEnabled(Feature, accepted: Bool)
        case twinResponse(requestId: String, status: Int, body: [UInt8])
        case desiredPatch(body: [UInt8])
        case methodRequest(name: String, requestId: String, payload: [UInt8])
        /// A C2D message, to be settled with ``settle(_:_:)`` when it has a tag.
        case cloudToDevice(IoTHubMessage, tag: Int64?)
        /// An in-band renewal went through.
        case tokenRenewed(expiry: UInt64?)
    }

    package enum Disconnect: Sendable {
        case requested, unauthorized, throttled, closedByHub, network
    }

    package enum Feature: Sendable, CaseIterable {
        case cloudToDevice, twinResponses, desiredProperties, methods
    }

    package enum Settlement: Sendable {
        case complete, abandon, reject
    }

    package var onEvent: ((Event) -> Void)?
    private let transport: AMQPDeviceTransport

    /// A session for `deviceId` with SAS tokens of `tokenLifetime` from `key`, on `pool`'s connections to
    /// `gatewayHostName ?? hostName`:`port` (TLS with `tls`, plain TCP without), from `bindAddress` if given.
    ///
    /// When `tls` presents a client certificate the device is an X.509 device: its certificate belongs to the TLS
    /// connection (SASL EXTERNAL, no CBS token), so it gets a connection of its own on the pool's loop, as IoT Hub
    /// requires, and `key` is not used.
    package init(pool: AMQPConnectionPool, hostName: String, gatewayHostName: String?, port: Int,
                 tls: DeviceTLSContext?, bindAddress: String?, deviceId: String, key: SharedAccessKey,
                 tokenLifetime: Duration, connectTimeout: Duration) throws(DeviceClientError) {
        var options = DeviceClientOptions()
        options.gatewayHostName = gatewayHostName
        if tls == nil { options.plainTCPPort = port } else { options.amqpPort = port }
        options.bindAddress = bindAddress
        options.connectTimeout = connectTimeout
        options.sasTokenTTL = tokenLifetime
        options.productInfo = "fleetsim/0.1"
        var logger = Logger(label: "fleetsim.amqp")
        logger.logLevel = .critical
        options.logger = logger
        let x509 = tls?.hasClientCertificate == true
        transport = AMQPDeviceTransport(context: DeviceTransportContext(loop: pool.eventLoop, options: options, tls: tls),
                                        group: x509 ? AMQPConnectionGroup(loop: pool.eventLoop, identitiesPerConnection: 1)
                                            : pool.group.value)
        let identity = DeviceIdentity(deviceId: deviceId)
        try transport.register(DeviceTransportRegistration(
            identity: identity, hostName: hostName,
            credentials: DeviceCredentialSource(credential: x509 ? .x509 : .key(key, keyName: nil),
                                                resource: identity.sasResource(hostName: hostName),
                                                lifetime: tokenLifetime, clock: pool.eventLoop)), delegate: self)
    }

    package func open() { transport.open() }
    package func close() { transport.close() }
    package func abort(reason: String) { transport.abort(reason: reason) }

    package func enable(_ feature: Feature) {
        switch feature {
        case .cloudToDevice: transport.enable(.cloudToDevice)
        case .twinResponses: transport.enable(.twinResponses)
        case .desiredProperties: transport.enable(.desiredProperties)
        case .methods: transport.enable(.methods)
        }
    }

    /// Sends telemetry; the tag of its later ``Event/acknowledged(_:)``, or `nil` when not connected.
    package func send(_ message: IoTHubMessage) -> Int64? { tag(transport.perform(.telemetry(message))) }

    package func patchReported(requestId: String, body: [UInt8]) -> Int64? {
        tag(transport.perform(.twinPatchReported(requestId: requestId, body: body)))
    }

    package func respond(requestId: String, status: Int, payload: [UInt8]) -> Int64? {
        tag(transport.perform(.methodResponse(requestId: requestId, status: status, payload: payload)))
    }

    package func settle(_ tag: Int64, _ settlement: Settlement) {
        let outcome: DeviceMessageOutcome = switch settlement {
        case .complete: .complete
        case .abandon: .abandon
        case .reject: .reject
        }
        transport.settle(DeviceTransportTag(value: tag), outcome)
    }

    /// Puts a fresh token on `$cbs` over the open connection; ``Event/tokenRenewed(expiry:)`` or a disconnect follows.
    package func renewToken() { _ = transport.renewCredentials() }

    private func tag(_ result: Result<DeviceTransportTag, DeviceClientError>) -> Int64? {
        if case .success(let tag) = result { tag.value } else { nil }
    }

    func transport(_ transport: any DeviceTransport, emitted event: DeviceTransportEvent) {
        guard let onEvent else { return }
        switch event {
        case .connected(let expiry): onEvent(.connected(tokenExpiry: expiry))
        case .disconnected(let disconnect):
            let kind: Disconnect = switch disconnect.kind {
            case .requested: .requested
            case .unauthorized: .unauthorized
            case .throttled: .throttled
            case .closedByHub: .closedByHub
            case .networkError: .network
            }
            onEvent(.disconnected(kind, detail: disconnect.detail))
        case .acknowledged(let tag): onEvent(.acknowledged(tag.value))
        case .featureEnabled(let feature, let accepted):
            let mapped: Feature = switch feature {
            case .cloudToDevice: .cloudToDevice
            case .twinResponses: .twinResponses
            case .desiredProperties: .desiredProperties
            case .methods: .methods
            }
            onEvent(.featureEnabled(mapped, accepted: accepted))
        case .twinResponse(let requestId, let status, _, let body):
            onEvent(.twinResponse(requestId: requestId, status: status, body: body))
        case .desiredPatch(_, let body): onEvent(.desiredPatch(body: body))
        case .methodRequest(let name, let requestId, let payload):
            onEvent(.methodRequest(name: name, requestId: requestId, payload: payload))
        case .cloudToDevice(let message, let tag): onEvent(.cloudToDevice(message, tag: tag?.value))
        case .credentialsRenewed(let expiry): onEvent(.tokenRenewed(expiry: expiry))
        }
    }
}
