import CProton
import IoTHubProtocol
import ProtonCodec

/// Operations on the sessions, links and deliveries of one ``ProtonClientDriver``'s connection.
///
/// Proton owns these objects (they live as long as the connection, or until freed here); the SDK keeps their
/// pointers only while the connection lives and only on its loop. This is the one place that sends, receives and
/// settles deliveries and reads their tags.
enum ProtonLinks {
    /// How a delivery the SDK sent ended, as the hub settled it.
    enum Outcome: Equatable {
        case accepted
        case rejected(condition: String?, description: String?)
        case released
        case modified
        /// Settled with no outcome.
        case settled
    }

    /// Opens a session with room for many deliveries in flight.
    static func openSession(_ connection: OpaquePointer) -> OpaquePointer {
        let session = pn_session(connection)!
        pn_session_set_incoming_capacity(session, 16 << 20)
        pn_session_open(session)
        return session
    }

    /// Opens a link: a sender to `address` or a receiver from it, with link properties (symbol keys).
    static func open(on session: OpaquePointer, sender: Bool, name: String, address: String, localAddress: String,
                     properties: [String: AMQPValue], credit: Int32 = 0) -> OpaquePointer {
        let link = (sender ? pn_sender(session, name) : pn_receiver(session, name))!
        let (remote, local) = sender ? (pn_link_target(link), pn_link_source(link)) : (pn_link_source(link), pn_link_target(link))
        pn_terminus_set_address(remote, address)
        pn_terminus_set_address(local, localAddress)
        if !properties.isEmpty {
            ProtonMessageCodec.putMap(properties, keysAreSymbols: true, into: pn_link_properties(link))
        }
        if !sender { pn_link_set_rcv_settle_mode(link, PN_RCV_FIRST) }
        pn_link_open(link)
        if credit > 0 { pn_link_flow(link, credit) }
        return link
    }

    /// The address the hub answered the attach with (`nil` when it refused the link: no terminus).
    static func remoteAddress(_ link: OpaquePointer) -> String? {
        let terminus = pn_link_is_sender(link) ? pn_link_remote_target(link) : pn_link_remote_source(link)
        return pn_terminus_get_address(terminus).map { String(cString: $0) }
    }

    /// The condition the hub detached a link with, if any.
    static func remoteCondition(_ link: OpaquePointer) -> (name: String, description: String)? {
        ProtonClientDriver.condition(pn_link_remote_condition(link))
    }

    static func name(_ link: OpaquePointer) -> String {
        pn_link_name(link).map { String(cString: $0) } ?? ""
    }

    /// Closes this side of a link (once).
    static func close(_ link: OpaquePointer) {
        if pn_link_state(link) & PN_LOCAL_CLOSED == 0 { pn_link_close(link) }
    }

    /// Whether both ends of the link are closed, so it can be freed.
    static func isClosed(_ link: OpaquePointer) -> Bool {
        let state = pn_link_state(link)
        return state & PN_LOCAL_CLOSED != 0 && state & PN_REMOTE_CLOSED != 0
    }

    /// Frees a link both ends closed; Proton releases it once the transport is done with it.
    static func free(_ link: OpaquePointer) {
        pn_link_free(link)
    }

    static func isSender(_ link: OpaquePointer) -> Bool { pn_link_is_sender(link) }

    // MARK: Deliveries

    /// Sends `message` on `link` with delivery tag `tag` (8 bytes, big endian); pre-settled when `settled`.
    @discardableResult
    static func send(_ message: AMQPMessage, on link: OpaquePointer, tag: UInt64, settled: Bool) -> OpaquePointer? {
        var bigEndian = tag.bigEndian
        let delivery = withUnsafeBytes(of: &bigEndian) { bytes in
            pn_delivery(link, pn_dtag(bytes.baseAddress!.assumingMemoryBound(to: CChar.self), 8))
        }
        let encoded = ProtonMessageCodec.encode(message)
        encoded.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                _ = pn_link_send(link, $0, buffer.count)
            }
        }
        pn_link_advance(link)
        if settled, let delivery { pn_delivery_settle(delivery) }
        return settled ? nil : delivery
    }

    /// The tag the SDK gave a delivery it sent.
    static func tag(of delivery: OpaquePointer) -> UInt64? {
        let tag = pn_delivery_tag(delivery)
        guard tag.size == 8, let start = tag.start else { return nil }
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(start: start, count: 8)) }
        return UInt64(bigEndian: value)
    }

    static func link(of delivery: OpaquePointer) -> OpaquePointer? { pn_delivery_link(delivery) }

    /// The outcome of a delivery the SDK sent, once the hub settled or updated it; `nil` while it waits.
    static func remoteOutcome(_ delivery: OpaquePointer) -> Outcome? {
        guard pn_delivery_updated(delivery) || pn_delivery_settled(delivery) else { return nil }
        switch pn_delivery_remote_state(delivery) {
        case UInt64(PN_ACCEPTED): return .accepted
        case UInt64(PN_REJECTED):
            let condition = ProtonClientDriver.condition(pn_disposition_condition(pn_delivery_remote(delivery)))
            return .rejected(condition: condition?.name, description: condition?.description)
        case UInt64(PN_RELEASED): return .released
        case UInt64(PN_MODIFIED): return .modified
        default: return pn_delivery_settled(delivery) ? .settled : nil
        }
    }

    /// Reads a whole incoming delivery; `nil` while it is still partial.
    static func receive(_ delivery: OpaquePointer) -> [UInt8]? {
        guard let link = pn_delivery_link(delivery), pn_delivery_readable(delivery), !pn_delivery_partial(delivery)
        else { return nil }
        var bytes: [UInt8] = []
        var chunk = [CChar](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBufferPointer { pn_link_recv(link, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            chunk.withUnsafeBufferPointer { buffer in
                bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer.baseAddress, count: Int(count)))
            }
        }
        pn_link_advance(link)
        return bytes
    }

    /// Settles a delivery with `outcome` (`PN_ACCEPTED`, `PN_REJECTED`, `PN_RELEASED`), a rejection with a condition.
    static func settle(_ delivery: OpaquePointer, outcome: UInt64, condition: (String, String)? = nil) {
        if let (name, description) = condition {
            cproton_condition_set(pn_disposition_condition(pn_delivery_local(delivery)), name, description)
        }
        pn_delivery_update(delivery, outcome)
        pn_delivery_settle(delivery)
    }

    /// Forgets a delivery the SDK sent, after the hub settled it.
    static func release(_ delivery: OpaquePointer) {
        pn_delivery_settle(delivery)
    }

    /// Gives a receiver back one credit (after a delivery was read), keeping it at `target`.
    static func topUpCredit(_ link: OpaquePointer, to target: Int32) {
        let credit = pn_link_credit(link)
        if credit < target / 2 { pn_link_flow(link, target - credit) }
    }
}
