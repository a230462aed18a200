import CProton

/// The byte-level transfers on a Proton link: sending an encoded message under an 8-byte tag, reading a received
/// delivery whole, and reading a tag back. The only pointer work of the AMQP head outside the Proton owners.
enum ProtonLinkIO {
    /// Sends `bytes` as one delivery tagged with `tag` (big-endian); settles it at once when `settled`.
    static func send(_ bytes: [UInt8], on link: OpaquePointer, tag: UInt64, settled: Bool) {
        var bigEndian = tag.bigEndian
        let delivery = withUnsafeBytes(of: &bigEndian) { raw in
            pn_delivery(link, pn_dtag(raw.baseAddress!.assumingMemoryBound(to: CChar.self), 8))
        }
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { _ = pn_link_send(link, $0, buffer.count) }
        }
        pn_link_advance(link)
        if settled, let delivery { pn_delivery_settle(delivery) }
    }

    /// The 8-byte tag of a delivery this side sent; `nil` for another shape.
    static func tag(of delivery: OpaquePointer) -> UInt64? {
        let tag = pn_delivery_tag(delivery)
        guard tag.size == 8, let start = tag.start else { return nil }
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(start: start, count: 8)) }
        return UInt64(bigEndian: value)
    }

    /// The bytes of a received delivery once it is complete (then the link moves on); `nil` while partial.
    static func read(_ delivery: OpaquePointer, on link: OpaquePointer) -> [UInt8]? {
        guard pn_delivery_readable(delivery), !pn_delivery_partial(delivery) else { return nil }
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
}
