import CLinuxSystem
import COpenSSL
import Dispatch
import Glibc

/// Events of one ``DeviceSocket``, on the loop thread.
package protocol DeviceSocketDelegate: AnyObject {
    /// TCP (and TLS, when configured) is up; bytes can flow.
    func socketOpened(_ socket: DeviceSocket)
    /// Bytes arrived (already decrypted).
    func socket(_ socket: DeviceSocket, received bytes: ArraySlice<UInt8>)
    /// The socket is closed (refused, lost, TLS failure, or after ``DeviceSocket/close()``); called once.
    func socketClosed(_ socket: DeviceSocket, reason: String)
}

/// One TCP connection, optionally TLS through the system OpenSSL and a shared ``DeviceTLSContext``, driven by a
/// ``DeviceEventLoop``: the thin owner of the file descriptor and the `SSL *`. The SDK's AMQP transport runs on it,
/// and so does the simulator's native MQTT engine (hence `package`). Reads go through the loop's one scratch
/// buffer, so an idle socket holds no read buffer of its own.
///
/// TLS is done here rather than with Proton's `pn_ssl`, so AMQP uses the very `SSL_CTX` MQTT uses: the same trust
/// options (system store or a CA file, verified chain and host name, TLS 1.2 minimum), one parsed CA bundle for
/// every connection, and X.509 client certificates (including an HSM-backed `SSL_CTX`) with no second copy.
///
/// DNS and the TCP connect run on a background queue (both block); the handshake and all I/O run on the loop.
package final class DeviceSocket: DeviceLoopSocketHandler {
    package struct Settings: Sendable {
        package var host: String
        package var port: Int
        package var bindAddress: String?
        package var tls: DeviceTLSContext?
        package var connectTimeout: Duration

        package init(host: String, port: Int, bindAddress: String? = nil, tls: DeviceTLSContext? = nil,
                     connectTimeout: Duration = .seconds(30)) {
            self.host = host
            self.port = port
            self.bindAddress = bindAddress
            self.tls = tls
            self.connectTimeout = connectTimeout
        }
    }

    private enum State { case idle, connecting, handshaking, open, closed }

    private struct ConnectFailure: Error {
        var reason: String
    }

    /// Resolves and connects off the loop; many threads may block in `getaddrinfo` at once.
    private static let connector = DispatchQueue(label: "iothub-device-amqp-connect", attributes: .concurrent)

    package let settings: Settings
    package let loop: DeviceEventLoop
    package weak var delegate: (any DeviceSocketDelegate)?
    private var state = State.idle
    private var fd: Int32 = -1
    private var ssl: OpaquePointer?
    private var output: [UInt8] = []
    /// Set while received bytes are handed to the delegate: what it writes meanwhile (acknowledgements, the next
    /// messages of a window) goes out in one send after the read instead of one send per packet.
    private var corked = false
    private var watchingWrites = false
    private var handshakeWantsWrite = false

    package init(settings: Settings, loop: DeviceEventLoop) {
        self.settings = settings
        self.loop = loop
    }

    deinit {
        if let ssl { SSL_free(ssl) }
        if fd >= 0 { Glibc.close(fd) }
    }

    package var isOpen: Bool { state == .open }

    /// Resolves, connects and (with TLS) shakes hands; ``DeviceSocketDelegate/socketOpened(_:)`` or
    /// ``DeviceSocketDelegate/socketClosed(_:reason:)`` follows.
    package func connect() {
        loop.preconditionInEventLoop()
        guard state == .idle else { return }
        state = .connecting
        let box = LoopHandoff(self)
        let settings = self.settings
        Self.connector.async {
            let result = Self.openSocket(settings)
            box.value.loop.execute { box.value.tcpConnected(result) }
        }
    }

    /// Queues bytes and writes what the socket takes now.
    package func write(_ bytes: [UInt8]) {
        guard state == .open || state == .handshaking, !bytes.isEmpty else { return }
        output.append(contentsOf: bytes)
        if state == .open, !corked { flush() }
    }

    /// Closes at once (no TLS close_notify wait); the delegate hears ``DeviceSocketDelegate/socketClosed(_:reason:)``.
    package func close(reason: String = "closed") {
        finish(reason)
    }

    /// Shuts the socket down under the connection (tests: a connection lost in the middle of traffic).
    package func shutdownForTesting() {
        if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
    }

    // MARK: Connecting

    private static func openSocket(_ settings: Settings) -> Result<Int32, ConnectFailure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(settings.host, String(settings.port), &hints, &list)
        guard rc == 0, let first = list else {
            return .failure(ConnectFailure(reason: "cannot resolve \(settings.host): \(String(cString: gai_strerror(rc)))"))
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let fd = socket(current.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { lastError = DeviceEventLoop.errnoText(); continue }
            let seconds = max(1, settings.connectTimeout.components.seconds)
            var timeout = timeval(tv_sec: Int(seconds), tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if let bind = settings.bindAddress, !Self.bind(fd, to: bind, family: current.pointee.ai_family) {
                lastError = "cannot bind to \(bind): \(DeviceEventLoop.errnoText())"
                Glibc.close(fd)
                continue
            }
            if Glibc.connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                return .success(fd)
            }
            lastError = DeviceEventLoop.errnoText()
            Glibc.close(fd)
        }
        return .failure(ConnectFailure(reason: "cannot connect to \(settings.host):\(settings.port): \(lastError)"))
    }

    private static func bind(_ fd: Int32, to address: String, family: Int32) -> Bool {
        guard family == AF_INET else { return true }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        guard inet_pton(AF_INET, address, &local.sin_addr) == 1 else { return false }
        return withUnsafePointer(to: &local) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private func tcpConnected(_ result: Result<Int32, ConnectFailure>) {
        guard state == .connecting else {
            if case .success(let fd) = result { Glibc.close(fd) }
            return
        }
        switch result {
        case .failure(let failure):
            finish(failure.reason)
        case .success(let fd):
            self.fd = fd
            do {
                try loop.register(fd, handler: self, read: true, write: settings.tls != nil)
                watchingWrites = settings.tls != nil
            } catch {
                return finish("cannot watch the socket: \(error)")
            }
            guard let tls = settings.tls else { return opened() }
            guard let ssl = SSL_new(tls.context) else { return finish("SSL_new failed: \(DeviceTLSContext.lastError())") }
            self.ssl = ssl
            _ = copenssl_set_mode(ssl, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
            SSL_set_fd(ssl, fd)
            if !Self.isIPAddress(settings.host) { _ = copenssl_set_tlsext_host_name(ssl, settings.host) }
            guard DeviceTLSContext.verifyHost(settings.host, ssl: UnsafeMutableRawPointer(ssl)) else {
                return finish("cannot set the host name to verify: \(DeviceTLSContext.lastError())")
            }
            SSL_set_connect_state(ssl)
            state = .handshaking
            handshake()
        }
    }

    private func handshake() {
        guard let ssl else { return }
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            handshakeWantsWrite = false
            return opened()
        }
        let error = SSL_get_error(ssl, rc)
        switch error {
        case SSL_ERROR_WANT_READ: handshakeWantsWrite = false
        case SSL_ERROR_WANT_WRITE: handshakeWantsWrite = true
        default:
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                let text = String(cString: X509_verify_cert_error_string(verify))
                return finish("TLS: the hub's certificate is not trusted (\(text)); check the trust options")
            }
            return finish("TLS handshake failed: \(Self.sslErrorText(error))")
        }
        updateInterest()
    }

    private func opened() {
        state = .open
        delegate?.socketOpened(self)
        if state == .open { flush() }
    }

    // MARK: I/O

    package func socketReady(readable: Bool, writable: Bool, error: Bool) {
        switch state {
        case .handshaking:
            handshake()
        case .open:
            if writable || readable { flush() }
            if state == .open { readAvailable() }
        case .idle, .connecting, .closed:
            break
        }
    }

    private func readAvailable() {
        corked = true
        defer {
            corked = false
            if state == .open, !output.isEmpty { flush() }
        }
        while state == .open {
            let count: Int
            if let ssl {
                let rc = loop.readScratch.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
                if rc <= 0 {
                    let error = SSL_get_error(ssl, rc)
                    if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return }
                    return finish(error == SSL_ERROR_ZERO_RETURN ? "the hub closed the connection"
                                  : "TLS read failed: \(Self.sslErrorText(error))")
                }
                count = Int(rc)
            } else {
                let rc = loop.readScratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if rc < 0 {
                    if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return }
                    return finish("read failed: \(DeviceEventLoop.errnoText())")
                }
                if rc == 0 { return finish("the hub closed the connection") }
                count = rc
            }
            // A slice of the loop's scratch buffer: valid for the call (copy-on-write keeps it so if a nested
            // read reuses the buffer meanwhile); a delegate that keeps bytes copies them.
            delegate?.socket(self, received: loop.readScratch[0..<count])
        }
    }

    private func flush() {
        var written = 0
        while state == .open, written < output.count {
            let remaining = output.count - written
            let rc: Int
            if let ssl {
                let result = output.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + written, Int32(min(remaining, 1 << 20))) }
                if result <= 0 {
                    let error = SSL_get_error(ssl, result)
                    guard error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ else {
                        return finish("TLS write failed: \(Self.sslErrorText(error))")
                    }
                    break
                }
                rc = Int(result)
            } else {
                rc = output.withUnsafeBytes { send(fd, $0.baseAddress! + written, remaining, Int32(MSG_NOSIGNAL)) }
                if rc < 0 {
                    guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                        return finish("write failed: \(DeviceEventLoop.errnoText())")
                    }
                    break
                }
            }
            written += rc
        }
        if written > 0, state == .open { output.removeFirst(written) }
        updateInterest()
    }

    private func updateInterest() {
        guard fd >= 0, state == .open || state == .handshaking else { return }
        let wantsWrite = state == .handshaking ? handshakeWantsWrite : !output.isEmpty
        guard wantsWrite != watchingWrites else { return }
        watchingWrites = wantsWrite
        try? loop.setInterest(fd, read: true, write: wantsWrite)
    }

    private func finish(_ reason: String) {
        guard state != .closed else { return }
        state = .closed
        output.removeAll()
        if fd >= 0 {
            loop.unregister(fd)
            if let ssl {
                SSL_free(ssl)
                self.ssl = nil
            }
            Glibc.close(fd)
            fd = -1
        }
        delegate?.socketClosed(self, reason: reason)
    }

    private static func sslErrorText(_ code: Int32) -> String {
        if code == SSL_ERROR_SYSCALL { return errno == 0 ? "the connection was closed" : DeviceEventLoop.errnoText() }
        return DeviceTLSContext.lastError()
    }

    private static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
