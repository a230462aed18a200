import CProton
import IoTHubProtocol
import NIOCore

/// Owns one `pn_connection_driver_t`: Proton's AMQP engine for a connection whose bytes SwiftNIO moves.
///
/// Bytes read from the socket go in with ``read(_:)``; Proton's events come out of ``nextEvent()``; the bytes to
/// write come out of ``takeOutput(into:)``. Everything runs on the channel's event loop. The server transport
/// requires SASL and uses ``ProtonSASLServer`` for it.
final class ProtonConnectionDriver {
    private let driver: UnsafeMutablePointer<pn_connection_driver_t>
    /// The SASL server of this connection's transport.
    let sasl: ProtonSASLServer
    private var padding = AMQPPerformativePadding()
    private var padded: [UInt8] = []

    /// - Parameters:
    ///   - idleTimeout: milliseconds of silence after which Proton closes the connection (AMQP idle-time-out).
    ///   - maximumFrameSize: the largest frame this side accepts; a larger one is a framing error.
    init(idleTimeout: UInt32, maximumFrameSize: UInt32, containerId: String) {
        driver = .allocate(capacity: 1)
        driver.initialize(to: pn_connection_driver_t())
        pn_connection_driver_init(driver, nil, nil)
        let transport = driver.pointee.transport!
        // Server before SASL: Proton decides the SASL role when the SASL layer is created.
        pn_transport_set_server(transport)
        pn_transport_require_auth(transport, true)
        pn_transport_set_idle_timeout(transport, idleTimeout)
        pn_transport_set_max_frame(transport, maximumFrameSize)
        let sasl = pn_sasl(transport)
        // TLS is terminated in front of Proton, so Proton cannot see the link is encrypted.
        pn_sasl_set_allow_insecure_mechs(sasl, true)
        self.sasl = ProtonSASLServer(transport: transport)
        pn_connection_set_container(driver.pointee.connection, containerId)
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
    func read(_ buffer: inout ByteBuffer) -> Bool {
        while buffer.readableBytes > 0 {
            let space = pn_connection_driver_read_buffer(driver)
            guard space.size > 0, let start = space.start else { return false }
            let count = min(space.size, buffer.readableBytes)
            buffer.withUnsafeReadableBytes { bytes in
                UnsafeMutableRawPointer(start).copyMemory(from: bytes.baseAddress!, byteCount: count)
            }
            buffer.moveReaderIndex(forwardBy: count)
            pn_connection_driver_read_done(driver, count)
        }
        return true
    }

    /// The next event to handle, if any.
    func nextEvent() -> OpaquePointer? {
        pn_connection_driver_next_event(driver)
    }

    /// Whether an event is waiting.
    var hasEvent: Bool { pn_connection_driver_has_event(driver) }

    /// Appends the bytes Proton has to send; returns how many.
    /// Open, begin, attach and transfer frames go out with every field (``AMQPPerformativePadding``).
    @discardableResult
    func takeOutput(into buffer: inout ByteBuffer) -> Int {
        var total = 0
        while true {
            let pending = pn_connection_driver_write_buffer(driver)
            guard pending.size > 0, let start = pending.start else { break }
            padding.process(Array(UnsafeRawBufferPointer(start: start, count: pending.size)), into: &padded)
            pn_connection_driver_write_done(driver, pending.size)
        }
        guard !padded.isEmpty else { return 0 }
        buffer.writeBytes(padded)
        total = padded.count
        padded.removeAll(keepingCapacity: padded.capacity <= 1 << 20)
        return total
    }

    /// Runs Proton's timers (heartbeats, idle time-out); returns the next deadline in milliseconds, 0 for none.
    func tick(nowMilliseconds: Int64) -> Int64 {
        pn_transport_tick(driver.pointee.transport, nowMilliseconds)
    }

    /// The socket closed: Proton takes no more input and sends nothing more.
    func socketClosed() {
        pn_connection_driver_close(driver)
    }

    /// Stops reading input (after a protocol error the connection is closing).
    func closeInput() {
        pn_connection_driver_read_close(driver)
    }

    /// Whether Proton is done: both directions closed and no events left.
    var isFinished: Bool { pn_connection_driver_finished(driver) }

    /// Whether Proton will write nothing more.
    var isWriteClosed: Bool { pn_connection_driver_write_closed(driver) }
}
