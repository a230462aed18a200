import IoTHubProtocol

/// A device (or module) connected to IoT Hub: telemetry, cloud-to-device messages, twins and direct
/// methods.
///
/// A client runs on a ``DeviceEventLoop`` (``DeviceEventLoop/shared`` unless ``DeviceClientOptions/eventLoop``
/// says otherwise) and keeps no thread of its own. It speaks MQTT unless ``DeviceClientOptions/transport`` says
/// otherwise. It reconnects by its ``RetryPolicy``, renews its SAS token
/// before it expires, and keeps messages in a bounded queue while offline.
///
/// ```swift
/// let client = try DeviceClient(connectionString: ProcessInfo.processInfo.environment["IOTHUB_DEVICE_CONNECTION_STRING"]!)
/// try await client.connect()
/// try await client.send(IoTHubMessage(text: #"{"temp":21.5}"#, properties: ["alert": "false"]))
/// let version = try await client.updateReportedProperties(["firmware": "1.2.0"])
/// await client.close()
/// ```
///
/// Every method is safe to call from any task. Errors are ``DeviceClientError`` values, or `CancellationError`
/// when the calling task is cancelled.
public final class DeviceClient: Sendable {
    /// A direct method handler: called concurrently for each request, its result goes back to the caller.
    public typealias MethodHandler = @Sendable (DirectMethodCall) async -> DirectMethodResult

    /// The device (and module) this client speaks for.
    public let identity: DeviceIdentity
    /// The hub host name.
    public let hostName: String
    /// The loop that drives this client.
    public let eventLoop: DeviceEventLoop

    /// Internal, not private: `DeviceClient+FileUpload.swift` reads the core's credentials and options.
    let core: LoopHandoff<DeviceClientCore>
    private let itemIds: ItemIdentifiers

    /// Creates a client from a device or module connection string
    /// (`HostName=…;DeviceId=…[;ModuleId=…];SharedAccessKey=…` or `…;SharedAccessSignature=…`).
    /// - Throws: ``DeviceClientError/invalidConfiguration(_:)`` for a malformed string or one that does not name
    ///   a device; ``DeviceClientError/tlsConfiguration(_:)`` when the trust store cannot be loaded.
    public convenience init(connectionString: String, options: DeviceClientOptions = DeviceClientOptions())
        throws(DeviceClientError)
    {
        let parsed: ConnectionString
        do {
            parsed = try ConnectionString(parsing: connectionString)
        } catch {
            throw .invalidConfiguration("the connection string is malformed: \(error)")
        }
        guard let deviceId = parsed.deviceId else {
            throw .invalidConfiguration("the connection string has no DeviceId; use a device or module connection string")
        }
        let credential: DeviceCredential
        if let key = parsed.sharedAccessKey {
            do {
                credential = .key(try SharedAccessKey(base64: key), keyName: parsed.sharedAccessKeyName)
            } catch {
                throw .invalidConfiguration("SharedAccessKey is not valid base64")
            }
        } else if let signature = parsed.sharedAccessSignature {
            credential = .token(signature)
        } else if parsed.usesX509 {
            throw .invalidConfiguration("an x509=true connection string carries no key: create the client with "
                                        + "init(hostName:deviceId:certificateFile:privateKeyFile:)")
        } else {
            throw .invalidConfiguration("the connection string has neither SharedAccessKey nor SharedAccessSignature")
        }
        var options = options
        if let gateway = parsed.gatewayHostName, options.gatewayHostName == nil { options.gatewayHostName = gateway }
        try self.init(hostName: parsed.hostName,
                      identity: DeviceIdentity(deviceId: deviceId, moduleId: parsed.moduleId),
                      credential: credential, options: options)
    }

    /// Creates a client for a device or module from its symmetric key (base64).
    public convenience init(hostName: String, deviceId: String, moduleId: String? = nil, sharedAccessKey: String,
                            options: DeviceClientOptions = DeviceClientOptions()) throws(DeviceClientError) {
        let key: SharedAccessKey
        do {
            key = try SharedAccessKey(base64: sharedAccessKey)
        } catch {
            throw .invalidConfiguration("sharedAccessKey is not valid base64")
        }
        try self.init(hostName: hostName, identity: DeviceIdentity(deviceId: deviceId, moduleId: moduleId),
                      credential: .key(key, keyName: nil), options: options)
    }

    /// Creates a client that asks `tokenProvider` for a SAS token before each connection (and at every renewal).
    ///
    /// The provider gets the lifetime the client would like (``DeviceClientOptions/sasTokenTTL``) and returns a
    /// token string `SharedAccessSignature sr=…&sig=…&se=…`; the client renews it at
    /// ``DeviceClientOptions/tokenRenewalPoint`` of the lifetime its `se` shows.
    public convenience init(hostName: String, deviceId: String, moduleId: String? = nil,
                            options: DeviceClientOptions = DeviceClientOptions(),
                            tokenProvider: @escaping @Sendable (Duration) async throws -> String) throws(DeviceClientError) {
        try self.init(hostName: hostName, identity: DeviceIdentity(deviceId: deviceId, moduleId: moduleId),
                      credential: .provider(tokenProvider), options: options)
    }

    /// Creates a client that authenticates with an X.509 certificate (self-signed with a registered thumbprint, or
    /// CA-signed with the device id as CN). It sends no password and has no token to renew.
    /// - Parameters:
    ///   - hostName: the hub host name.
    ///   - deviceId: the device id (for a CA-signed certificate, its CN).
    ///   - moduleId: the module id, for a module identity.
    ///   - certificateFile: PEM with the device certificate (and any intermediates).
    ///   - privateKeyFile: PEM with its private key.
    ///   - passphrase: the key's passphrase, when the key is encrypted.
    ///   - options: how the client connects; its ``DeviceClientOptions/trust`` verifies the hub.
    /// - Throws: ``DeviceClientError/tlsConfiguration(_:)`` when the files cannot be loaded or do not match, and
    ///   ``DeviceClientError/invalidConfiguration(_:)`` with ``DeviceClientOptions/plainTCPPort`` (X.509 needs TLS).
    public convenience init(hostName: String, deviceId: String, moduleId: String? = nil, certificateFile: String,
                            privateKeyFile: String, passphrase: String? = nil,
                            options: DeviceClientOptions = DeviceClientOptions()) throws(DeviceClientError) {
        let tls = try DeviceTLSContext(trust: options.trust, certificateFile: certificateFile,
                                       privateKeyFile: privateKeyFile, passphrase: passphrase)
        try self.init(hostName: hostName, deviceId: deviceId, moduleId: moduleId, x509Context: tls, options: options)
    }

    /// Creates an X.509 client from a TLS context that presents the device's certificate, for example one made with
    /// ``DeviceTLSContext/init(sslContext:presentsClientCertificate:)`` around an `SSL_CTX` whose key lives in an HSM.
    /// Many clients may share one context only when they are the same device; each device needs its own.
    public convenience init(hostName: String, deviceId: String, moduleId: String? = nil, x509Context: DeviceTLSContext,
                            options: DeviceClientOptions = DeviceClientOptions()) throws(DeviceClientError) {
        guard options.plainTCPPort == nil else {
            throw .invalidConfiguration("X.509 authentication needs TLS; remove plainTCPPort")
        }
        guard x509Context.hasClientCertificate else {
            throw .invalidConfiguration("the TLS context presents no client certificate")
        }
        var options = options
        options.tlsContext = x509Context
        try self.init(hostName: hostName, identity: DeviceIdentity(deviceId: deviceId, moduleId: moduleId),
                      credential: .x509, options: options)
    }

    init(hostName: String, identity: DeviceIdentity, credential: DeviceCredential, options: DeviceClientOptions)
        throws(DeviceClientError)
    {
        do {
            try identity.validate()
        } catch {
            throw .invalidConfiguration("\(error)")
        }
        guard !hostName.isEmpty else { throw .invalidConfiguration("the host name is empty") }
        let tls: DeviceTLSContext?
        if options.plainTCPPort != nil {
            tls = nil
        } else if let shared = options.tlsContext {
            tls = shared
        } else {
            tls = try DeviceTLSContext.shared(trust: options.trust)
        }
        self.identity = identity
        self.hostName = hostName
        self.eventLoop = options.eventLoop ?? options.transport.eventLoop ?? DeviceEventLoop.shared
        let transport = try options.transport.make(DeviceTransportContext(loop: eventLoop, options: options, tls: tls))
        let core = try DeviceClientCore(identity: identity, hostName: hostName, credential: credential,
                                        options: options, clock: eventLoop, transport: transport)
        self.core = LoopHandoff(core)
        self.itemIds = core.itemIds
    }

    deinit {
        // A client dropped without close(): end its connection so nothing lingers on the loop.
        let core = self.core
        eventLoop.execute { core.value.close(nil) }
    }

    // MARK: Connection

    /// Connects, and keeps the client connected until ``close()``: after a drop it reconnects by its retry policy.
    ///
    /// Returns once connected. Throws ``DeviceClientError/unauthorized(_:)`` when the hub refuses the credentials
    /// (no retries unless ``RetryPolicy/retryUnauthorized``), ``DeviceClientError/retriesExhausted(attempts:lastError:)``
    /// when the policy gives up, or ``DeviceClientError/timeout(_:)`` after ``DeviceClientOptions/operationTimeout``,
    /// in which case the client keeps trying in the background.
    public func connect() async throws {
        let id = itemIds.make()
        let core = self.core
        let timeout = core.value.options.operationTimeout
        let timer = eventLoop.schedule(after: timeout) { core.value.connectTimedOut(waiter: id) }
        defer { timer.cancel() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                eventLoop.execute { core.value.connect(waiter: id) { continuation.resume(with: $0) } }
            }
        } onCancel: {
            eventLoop.execute { core.value.connectTimedOut(waiter: id) }
        }
    }

    /// Disconnects and stops the client. Queued and in-flight messages fail with ``DeviceClientError/closed``.
    /// Returns promptly, also in the middle of a reconnect.
    public func close() async {
        let core = self.core
        await withCheckedContinuation { continuation in
            eventLoop.execute { core.value.close { continuation.resume() } }
        }
    }

    /// The connection's states from now on, starting with the current one. Ends after ``close()``.
    public var connectionStates: AsyncStream<ConnectionState> {
        get async {
            let core = self.core
            return (try? await eventLoop.submit { core.value.states.stream(initial: core.value.lastState) })
                ?? AsyncStream { $0.finish() }
        }
    }

    // MARK: Telemetry

    /// Sends a device-to-cloud message and returns when the hub has acknowledged it (MQTT's PUBACK).
    ///
    /// While the client is reconnecting the message waits in the outbound queue and goes out after the
    /// reconnect, at least once. When the queue is full, ``DeviceClientOptions/queue`` decides: wait for room,
    /// fail this message, or evict the oldest. Cancelling the task takes the message out of the queue if it has
    /// not been handed to the connection yet.
    /// - Throws: ``DeviceClientError/tooLarge(size:limit:)`` over 256 KB, ``DeviceClientError/queueFull(messages:bytes:)``,
    ///   ``DeviceClientError/notConnected`` before ``connect()``, ``DeviceClientError/closed``, or the error that made
    ///   the client give up.
    public func send(_ message: IoTHubMessage) async throws {
        guard message.size <= IoTHubMessage.maximumDeviceToCloudSize else {
            throw DeviceClientError.tooLarge(size: message.size, limit: IoTHubMessage.maximumDeviceToCloudSize)
        }
        let core = self.core
        let id = itemIds.make()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                eventLoop.execute { core.value.send(message, id: id) { continuation.resume(with: $0) } }
            }
        } onCancel: {
            eventLoop.execute { core.value.cancelSend(id: id) }
        }
    }

    // MARK: Cloud-to-device

    /// Cloud-to-device messages, from the first call on: this call subscribes and returns once the hub has
    /// acknowledged the subscription (when connected). Messages that arrive while nobody iterates are kept (up to
    /// 1,024) for the next iteration.
    public func cloudToDeviceMessages() async -> AsyncStream<IoTHubMessage> {
        await subscribedStream(.cloudToDevice) { $0.cloudToDevice.stream() }
    }

    private func subscribedStream<Element: Sendable>(
        _ feature: DeviceFeature, _ makeStream: @escaping @Sendable (DeviceClientCore) -> AsyncStream<Element>
    ) async -> AsyncStream<Element> {
        let core = self.core
        let box = StreamBox<Element>()
        await withCheckedContinuation { continuation in
            eventLoop.execute {
                box.stream = makeStream(core.value)
                core.value.enable(feature) { continuation.resume() }
            }
        }
        return box.stream ?? AsyncStream { $0.finish() }
    }

    // MARK: Twins

    /// Reads the device twin's desired and reported properties.
    /// - Throws: ``DeviceClientError/twinRequestFailed(status:message:)``, ``DeviceClientError/timeout(_:)``.
    public func twin() async throws -> DeviceTwin {
        let response = try await twinRequest(reported: nil)
        guard response.status == 200 else {
            throw DeviceClientError.twinRequestFailed(status: response.status,
                                                      message: String(decoding: response.body, as: UTF8.self))
        }
        return try DeviceTwin(parsing: response.body)
    }

    /// Patches the reported properties (merge; `null` deletes a property) and returns the new reported version.
    /// - Throws: ``DeviceClientError/twinRequestFailed(status:message:)`` when the hub rejects the patch (for
    ///   example 400 for a too deep or too large document), ``DeviceClientError/timeout(_:)``.
    @discardableResult
    public func updateReportedProperties(_ patch: JSONObject) async throws -> Int64 {
        let body = JSONValue.object(patch).serializedBytes()
        let response = try await twinRequest(reported: body)
        guard (200...299).contains(response.status) else {
            throw DeviceClientError.twinRequestFailed(status: response.status,
                                                      message: String(decoding: response.body, as: UTF8.self))
        }
        guard let version = response.version else {
            throw DeviceClientError.twinRequestFailed(status: response.status,
                                                      message: "the hub did not return the new $version")
        }
        return version
    }

    /// Desired-property patches pushed by the hub, from the first call on: this call subscribes and returns once
    /// the hub has acknowledged the subscription (when connected).
    public func desiredPropertyUpdates() async -> AsyncStream<DesiredPropertiesUpdate> {
        await subscribedStream(.desiredProperties) { $0.desiredUpdates.stream() }
    }

    private func twinRequest(reported: [UInt8]?) async throws -> DeviceClientCore.TwinResponse {
        let core = self.core
        return try await withCheckedThrowingContinuation { continuation in
            eventLoop.execute { core.value.twinRequest(reported: reported) { continuation.resume(with: $0) } }
        }
    }

    // MARK: Direct methods

    /// Handles direct method `name` (replacing any handler for it); `nil` removes it. Handlers run concurrently.
    /// Returns once the hub has acknowledged the methods subscription (when connected).
    public func setMethodHandler(_ name: String, _ handler: MethodHandler?) async {
        await setHandler(name, handler)
    }

    /// Handles every direct method that has no handler of its own. Without one, such calls get status 404.
    public func setDefaultMethodHandler(_ handler: MethodHandler?) async {
        await setHandler(nil, handler)
    }

    private func setHandler(_ name: String?, _ handler: MethodHandler?) async {
        let core = self.core
        await withCheckedContinuation { continuation in
            eventLoop.execute { core.value.setMethodHandler(name, handler) { continuation.resume() } }
        }
    }
}

/// Carries a stream made on the loop back to the caller (written before the continuation resumes, read after).
private final class StreamBox<Element: Sendable>: @unchecked Sendable {
    var stream: AsyncStream<Element>?
}
