import CMosquitto
import Dispatch

/// Events of one ``MosquittoConnection``, delivered on the loop thread.
protocol MosquittoConnectionDelegate: AnyObject {
    /// CONNACK arrived with `returnCode` (0 accepted, 4 bad user name or password, 5 not authorized, …).
    func mosquittoConnected(_ connection: MosquittoConnection, returnCode: Int32)
    /// A QoS 1 PUBLISH was acknowledged (PUBACK), or a QoS 0 one was written.
    func mosquittoPublished(_ connection: MosquittoConnection, messageId: Int32)
    /// A SUBACK arrived.
    func mosquittoSubscribed(_ connection: MosquittoConnection, messageId: Int32, granted: [Int32])
    /// A PUBLISH arrived from the hub.
    func mosquittoReceived(_ connection: MosquittoConnection, topic: String, payload: [UInt8])
    /// The connection is over (refused, lost, or closed after ``MosquittoConnection/disconnect()``); called once.
    /// `code` is libmosquitto's reason (`MOSQ_ERR_SUCCESS` after a requested disconnect).
    func mosquittoFinished(_ connection: MosquittoConnection, code: Int32, reason: String)
}

/// One MQTT connection through libmosquitto's non-threaded API, driven by a ``DeviceEventLoop``.
///
/// This is the thin wrapper that holds every unsafe pointer of the libmosquitto binding. A connection object lives
/// for one connection attempt: reconnecting creates a new one, so no libmosquitto session state (its own in-flight
/// queue) survives into the next connection and the client's queue stays the only one.
///
/// `connect` resolves the host name and opens the socket on a background queue (libmosquitto calls `getaddrinfo`
/// synchronously), then hands the socket to the loop; from then on everything happens on the loop thread.
final class MosquittoConnection: DeviceLoopSocketHandler {
    struct Settings: Sendable {
        var clientId: String
        var username: String
        var password: String?
        var host: String
        var port: Int
        var keepAlive: Int
        var bindAddress: String?
        var tls: DeviceTLSContext?
        /// QoS 1 messages in flight; the client never hands libmosquitto more than this.
        var maximumInFlight: Int
    }

    private static let libraryInitialized: Bool = {
        mosquitto_lib_init()
        return true
    }()

    /// Resolves and connects off the loop; many threads may block in `getaddrinfo` at once.
    private static let connector = DispatchQueue(label: "iothub-device-connect", attributes: .concurrent)

    private let handle: OpaquePointer
    let loop: DeviceEventLoop
    let settings: Settings
    weak var delegate: (any MosquittoConnectionDelegate)?
    private var fd: Int32 = -1
    private var watchingWrites = false
    private var miscTimer: DeviceLoopTimer?
    private var connecting = false
    private var finished = false
    private var disconnectRequested = false
    private var lastDisconnectCode: Int32 = MOSQ_ERR_SUCCESS.rawValue

    /// Creates the libmosquitto client; call on the loop.
    init(settings: Settings, loop: DeviceEventLoop) throws(DeviceClientError) {
        _ = Self.libraryInitialized
        guard let handle = mosquitto_new(settings.clientId, false, nil) else {
            throw .transportFailure(code: Int(MOSQ_ERR_NOMEM.rawValue),
                                    message: "mosquitto_new failed (out of memory or file descriptors)")
        }
        self.handle = handle
        self.loop = loop
        self.settings = settings
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        _ = mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311)
        _ = mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1)
        _ = mosquitto_max_inflight_messages_set(handle, UInt32(max(1, settings.maximumInFlight)))
        _ = mosquitto_reconnect_delay_set(handle, 1, 1, false)
        if let tls = settings.tls {
            _ = mosquitto_void_option(handle, MOSQ_OPT_SSL_CTX, UnsafeMutableRawPointer(tls.context))
            _ = mosquitto_int_option(handle, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0)
        }
        let rc = mosquitto_username_pw_set(handle, settings.username, settings.password)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            mosquitto_destroy(handle)
            throw .transportFailure(code: Int(rc), message: Self.describe(rc))
        }
        installCallbacks()
    }

    deinit {
        mosquitto_destroy(handle)
    }

    // MARK: Lifecycle

    /// Opens the connection: DNS and socket off the loop, then CONNECT and the TLS handshake on the loop.
    func connect() {
        loop.preconditionInEventLoop()
        guard !connecting, !finished else { return }
        connecting = true
        let box = LoopHandoff(self)
        Self.connector.async {
            let connection = box.value
            let settings = connection.settings
            var rc = mosquitto_connect_bind_async(connection.handle, settings.host, Int32(settings.port),
                                                  Int32(settings.keepAlive), settings.bindAddress)
            if rc == MOSQ_ERR_SUCCESS.rawValue, settings.tls != nil {
                // With our own SSL_CTX libmosquitto leaves host-name checks to us; set them before the handshake
                // reads the server's certificate (it only advances in loop_read, on the loop).
                if let ssl = mosquitto_ssl_get(connection.handle) {
                    if !DeviceTLSContext.verifyHost(settings.host, ssl: ssl) { rc = MOSQ_ERR_TLS.rawValue }
                } else {
                    rc = MOSQ_ERR_TLS.rawValue
                }
            }
            // MOSQ_ERR_ERRNO's text comes from errno, which only this thread has.
            let result = rc
            let text = rc == MOSQ_ERR_SUCCESS.rawValue ? "" : Self.describe(rc)
            connection.loop.execute { box.value.connectReturned(result, text: text) }
        }
    }

    private func connectReturned(_ rc: Int32, text: String) {
        connecting = false
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            return finish(code: rc, reason: "cannot connect to \(settings.host):\(settings.port): \(text)")
        }
        fd = mosquitto_socket(handle)
        guard fd >= 0 else { return finish(code: MOSQ_ERR_NO_CONN.rawValue, reason: "no socket after connect") }
        do {
            try loop.register(fd, handler: self, read: true, write: true)
            watchingWrites = true
        } catch {
            fd = -1
            return finish(code: MOSQ_ERR_ERRNO.rawValue, reason: "cannot watch the socket: \(error)")
        }
        miscTimer = scheduleMisc()
        if disconnectRequested { disconnect() }
    }

    private func scheduleMisc() -> DeviceLoopTimer {
        let box = LoopHandoff(self)
        return loop.schedule(after: .seconds(1)) {
            let connection = box.value
            guard !connection.finished else { return }
            let rc = mosquitto_loop_misc(connection.handle)
            connection.afterIO(rc)
            if !connection.finished { connection.miscTimer = connection.scheduleMisc() }
        }
    }

    /// Sends DISCONNECT and closes; ``MosquittoConnectionDelegate/mosquittoFinished(_:code:reason:)`` follows.
    func disconnect() {
        loop.preconditionInEventLoop()
        guard !finished else { return }
        disconnectRequested = true
        guard !connecting else { return }
        let rc = mosquitto_disconnect(handle)
        if rc != MOSQ_ERR_SUCCESS.rawValue {
            finish(code: MOSQ_ERR_SUCCESS.rawValue, reason: "closed")
        } else {
            afterIO(rc)
        }
    }

    /// Drops the connection at once without DISCONNECT (for a connection that must not linger).
    func abort(reason: String) {
        loop.preconditionInEventLoop()
        guard !finished else { return }
        if connecting {
            disconnectRequested = true
            return
        }
        finish(code: MOSQ_ERR_CONN_LOST.rawValue, reason: reason)
    }

    // MARK: Operations (on the loop, once connected)

    /// Queues a PUBLISH; returns libmosquitto's message id.
    func publish(topic: String, payload: [UInt8], qos: Int32) -> Result<Int32, DeviceClientError> {
        loop.preconditionInEventLoop()
        guard !finished, !connecting else { return .failure(.notConnected) }
        var messageId: Int32 = 0
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, &messageId, topic, Int32(bytes.count), bytes.baseAddress, qos, false)
        }
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            return .failure(.transportFailure(code: Int(rc), message: Self.describe(rc)))
        }
        afterIO(rc)
        return .success(messageId)
    }

    /// Queues a SUBSCRIBE for one filter; returns the message id its SUBACK will carry.
    func subscribe(_ filter: String, qos: Int32) -> Result<Int32, DeviceClientError> {
        loop.preconditionInEventLoop()
        guard !finished, !connecting else { return .failure(.notConnected) }
        var messageId: Int32 = 0
        let rc = mosquitto_subscribe(handle, &messageId, filter, qos)
        guard rc == MOSQ_ERR_SUCCESS.rawValue else {
            return .failure(.transportFailure(code: Int(rc), message: Self.describe(rc)))
        }
        afterIO(rc)
        return .success(messageId)
    }

    // MARK: I/O

    func socketReady(readable: Bool, writable: Bool, error: Bool) {
        guard !finished else { return }
        // loop_read also advances the TLS handshake, so it runs on every event.
        var rc = mosquitto_loop_read(handle, 1)
        if rc == MOSQ_ERR_SUCCESS.rawValue, writable, !finished, mosquitto_want_write(handle) {
            rc = mosquitto_loop_write(handle, 1)
        }
        afterIO(rc)
    }

    private func afterIO(_ rc: Int32) {
        guard !finished else { return }
        let socket = mosquitto_socket(handle)
        if rc != MOSQ_ERR_SUCCESS.rawValue || socket < 0 {
            let code = rc != MOSQ_ERR_SUCCESS.rawValue ? rc : lastDisconnectCode
            let reason = disconnectRequested && code == MOSQ_ERR_SUCCESS.rawValue ? "closed" : Self.describe(code)
            return finish(code: code, reason: reason)
        }
        let wantsWrite = mosquitto_want_write(handle)
        guard wantsWrite != watchingWrites, fd >= 0 else { return }
        watchingWrites = wantsWrite
        try? loop.setInterest(fd, read: true, write: wantsWrite)
    }

    private func finish(code: Int32, reason: String) {
        guard !finished else { return }
        finished = true
        miscTimer?.cancel()
        miscTimer = nil
        if fd >= 0 {
            loop.unregister(fd)
            fd = -1
        }
        // The socket closes in deinit (mosquitto_destroy), as soon as the client lets go of this object.
        delegate?.mosquittoFinished(self, code: code, reason: reason)
    }

    // MARK: Callbacks (C function pointers → this object through the user data pointer)

    private func installCallbacks() {
        mosquitto_connect_callback_set(handle) { _, userData, returnCode in
            guard let userData else { return }
            let connection = Unmanaged<MosquittoConnection>.fromOpaque(userData).takeUnretainedValue()
            connection.delegate?.mosquittoConnected(connection, returnCode: returnCode)
        }
        mosquitto_disconnect_callback_set(handle) { _, userData, code in
            guard let userData else { return }
            Unmanaged<MosquittoConnection>.fromOpaque(userData).takeUnretainedValue().lastDisconnectCode = code
        }
        mosquitto_publish_callback_set(handle) { _, userData, messageId in
            guard let userData else { return }
            let connection = Unmanaged<MosquittoConnection>.fromOpaque(userData).takeUnretainedValue()
            connection.delegate?.mosquittoPublished(connection, messageId: messageId)
        }
        mosquitto_subscribe_callback_set(handle) { _, userData, messageId, count, granted in
            guard let userData else { return }
            let connection = Unmanaged<MosquittoConnection>.fromOpaque(userData).takeUnretainedValue()
            let codes = granted.map { Array(UnsafeBufferPointer(start: $0, count: Int(count))) } ?? []
            connection.delegate?.mosquittoSubscribed(connection, messageId: messageId, granted: codes)
        }
        mosquitto_message_callback_set(handle) { _, userData, message in
            guard let userData, let message else { return }
            let connection = Unmanaged<MosquittoConnection>.fromOpaque(userData).takeUnretainedValue()
            let topic = message.pointee.topic.map { String(cString: $0) } ?? ""
            let payload: [UInt8] = message.pointee.payload.map {
                Array(UnsafeRawBufferPointer(start: $0, count: Int(message.pointee.payloadlen)))
            } ?? []
            connection.delegate?.mosquittoReceived(connection, topic: topic, payload: payload)
        }
    }

    /// libmosquitto's text for an error code, or the CONNACK text for a refused connection.
    static func describe(_ code: Int32) -> String {
        if code == MOSQ_ERR_CONN_REFUSED.rawValue { return "connection refused by the server" }
        if code == MOSQ_ERR_KEEPALIVE.rawValue { return "no answer from the server within the keep-alive" }
        return mosquitto_strerror(code).map { String(cString: $0) } ?? "libmosquitto error \(code)"
    }

    /// The text of a CONNACK return code.
    static func describeConnAck(_ code: Int32) -> String {
        mosquitto_connack_string(code).map { String(cString: $0) } ?? "CONNACK \(code)"
    }
}
