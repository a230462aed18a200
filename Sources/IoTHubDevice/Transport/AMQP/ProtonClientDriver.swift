import CProton

/// Owns one client-side `pn_connection_driver_t`: Qpid Proton's AMQP engine for a connection whose bytes the
/// SDK's ``DeviceSocket`` moves (Proton does no I/O and starts no thread here).
///
/// Bytes read from the socket go in with ``read(_:)``; Proton's events come out of ``nextEvent()``; the bytes to
/// send come out of ``takeOutput()``; ``tick(nowMilliseconds:)`` runs Proton's heartbeats and idle time-out.
/// The transport is a SASL client using ``ProtonSASLClient``. Everything runs on one ``DeviceEventLoop``.
final class ProtonClientDriver {
    private let driver: UnsafeMutablePointer<pn_connection_driver_t>
    /// The SASL client of this connection's transport.
    let sasl: ProtonSASLClient

    /// - Parameters:
    ///   - hostName: the `OPEN` frame's hostname (the hub host).
    ///   - idleTimeout: the idle-time-out this side announces, in milliseconds.
    ///   - mechanisms: the SASL mechanisms this side takes, most preferred first.
    init(hostName: String, containerId: String, idleTimeout: UInt32, mechanisms: [String]) {
        driver = .allocate(capacity: 1)
        driver.initialize(to: pn_connection_driver_t())
        pn_connection_driver_init(driver, nil, nil)
        let transport = driver.pointee.transport!
        pn_transport_set_idle_timeout(transport, idleTimeout)
        let sasl = pn_sasl(transport)
        // TLS is done by the SDK in front of Proton, so Proton cannot see that the link is encrypted.
        pn_sasl_set_allow_insecure_mechs(sasl, true)
        self.sasl = ProtonSASLClient(transport: transport, mechanisms: mechanisms)
        pn_connection_set_container(driver.pointee.connection, containerId)
        pn_connection_set_hostname(driver.pointee.connection, hostName)
    }

    deinit {
        pn_connection_driver_destroy(driver)
        driver.deinitialize(count: 1)
        driver.deallocate()
    }

    var connection: OpaquePointer { driver.pointee.connection }
    var transport: OpaquePointer { driver.pointee.transport }

    /// Hands Proton bytes read from the socket; `false` when Proton takes no more input.
    @discardableResult
    func read(_ bytes: ArraySlice<UInt8>) -> Bool {
        var remaining = bytes
        while !remaining.isEmpty {
            let space = pn_connection_driver_read_buffer(driver)
            guard space.size > 0, let start = space.start else { return false }
            let count = min(space.size, remaining.count)
            remaining.prefix(count).withUnsafeBytes { source in
                UnsafeMutableRawPointer(start).copyMemory(from: source.baseAddress!, byteCount: count)
            }
            pn_connection_driver_read_done(driver, count)
            remaining = remaining.dropFirst(count)
        }
        return true
    }

    /// The next event to handle, if any.
    func nextEvent() -> OpaquePointer? {
        pn_connection_driver_next_event(driver)
    }

    /// Whether an event is waiting.
    var hasEvent: Bool { pn_connection_driver_has_event(driver) }

    /// The bytes Proton has to send (empty when none).
    func takeOutput() -> [UInt8] {
        var output: [UInt8] = []
        while true {
            let pending = pn_connection_driver_write_buffer(driver)
            guard pending.size > 0, let start = pending.start else { return output }
            output.append(contentsOf: UnsafeRawBufferPointer(start: start, count: pending.size))
            pn_connection_driver_write_done(driver, pending.size)
        }
    }

    /// Runs Proton's timers; returns the next deadline in milliseconds, 0 for none.
    func tick(nowMilliseconds: Int64) -> Int64 {
        pn_transport_tick(driver.pointee.transport, nowMilliseconds)
    }

    /// The socket is gone: Proton takes no more input and sends nothing more.
    func socketClosed() {
        pn_connection_driver_close(driver)
    }

    /// Whether Proton will write nothing more.
    var isWriteClosed: Bool { pn_connection_driver_write_closed(driver) }

    /// Whether Proton is done: both directions closed and no events left.
    var isFinished: Bool { pn_connection_driver_finished(driver) }

    /// The transport's error condition (SASL refusals, framing errors, idle time-out), if set.
    var transportCondition: (name: String, description: String)? {
        Self.condition(pn_transport_condition(driver.pointee.transport))
    }

    /// The condition the hub closed the connection with, if any.
    var remoteCondition: (name: String, description: String)? {
        Self.condition(pn_connection_remote_condition(driver.pointee.connection))
    }

    static func condition(_ condition: OpaquePointer?) -> (name: String, description: String)? {
        guard let condition, pn_condition_is_set(condition) else { return nil }
        return (pn_condition_get_name(condition).map { String(cString: $0) } ?? "",
                pn_condition_get_description(condition).map { String(cString: $0) } ?? "")
    }
}
