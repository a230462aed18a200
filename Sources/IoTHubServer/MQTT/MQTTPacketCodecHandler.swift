import MQTTCore
import NIOCore

/// Turns the byte stream of a connection into ``MQTTPacket``s and back, with MQTTCore's streaming decoder.
///
/// Partial and coalesced reads are handled by the decoder. The first malformed or oversized packet is passed on as
/// an ``MQTTDecodeError`` through `errorCaught`, after which the handler decodes nothing more: the connection
/// handler answers (CONNACK 1 for a wrong protocol level) and closes.
///
/// Outbound packets written without a promise between two flushes (a tick's PUBACKs, say) are encoded into one
/// buffer and go down the pipeline as one write at the flush.
final class MQTTPacketCodecHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = MQTTPacket
    typealias OutboundIn = MQTTPacket
    typealias OutboundOut = ByteBuffer

    private var decoder: MQTTStreamDecoder
    private let encoder = MQTTPacketEncoder()
    private var failed = false
    private let maximumPacketSize: Int
    /// Packets encoded since the last flush; `nil` while there are none, so an idle connection holds no buffer.
    private var pending: ByteBuffer?
    /// Reused for encoding (kept only while small).
    private var scratch: [UInt8] = []

    /// - Parameters:
    ///   - maximumPacketSize: the largest packet accepted once the client authenticated, fixed header included.
    ///   - maximumConnectPacketSize: the largest packet accepted before that (the CONNECT), so a connection that
    ///     has not authenticated can make the hub buffer only this much.
    init(maximumPacketSize: Int = MQTTStreamDecoder.defaultMaximumPacketSize, maximumConnectPacketSize: Int? = nil) {
        self.maximumPacketSize = maximumPacketSize
        decoder = MQTTStreamDecoder(maximumPacketSize: min(maximumPacketSize, maximumConnectPacketSize ?? maximumPacketSize))
    }

    /// The client authenticated: packets up to the full maximum size are accepted from now on.
    func clientAuthenticated() {
        decoder.maximumPacketSize = maximumPacketSize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { decoder.append($0) }
        do {
            while let packet = try decoder.next() {
                context.fireChannelRead(wrapInboundOut(packet))
                guard !failed, context.channel.isActive else { return }
            }
            // Between packets an idle connection keeps no decode buffer.
            decoder.releaseStorageIfDrained()
        } catch {
            failed = true
            context.fireErrorCaught(error)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let packet = unwrapOutboundIn(data)
        scratch.removeAll(keepingCapacity: scratch.capacity <= 1_024)
        do {
            try encoder.encode(packet, into: &scratch)
        } catch {
            promise?.fail(error)
            context.fireErrorCaught(error)
            return
        }
        if pending == nil { pending = context.channel.allocator.buffer(capacity: max(scratch.count, 64)) }
        pending!.writeBytes(scratch)
        if let promise {
            // Someone waits for this packet: it goes now, with what was encoded before it.
            writePending(context, promise: promise)
        }
    }

    func flush(context: ChannelHandlerContext) {
        writePending(context, promise: nil)
        context.flush()
    }

    private func writePending(_ context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard let buffer = pending else {
            promise?.succeed(())
            return
        }
        pending = nil
        context.write(wrapOutboundOut(buffer), promise: promise)
    }
}
