import HTTPTypes
import NIOHTTPTypes
import Logging
import NIOCore

/// Closes HTTP connections that hold the hub's descriptors without making progress: one that does not finish a
/// request head in time (including its TLS handshake, and a slow trickle of header bytes), one whose request body
/// stalls, and one idle between requests for too long. A request being answered (a long `monitor` stream
/// included) is never cut.
///
/// Sits after Hummingbird's HTTP codec, where it sees request heads, bodies and ends, and response ends.
final class HTTPRequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Phase {
        case awaitingFirstHead
        case awaitingHead
        case receivingBody
        case responding
    }

    private let timeouts: HTTPTimeouts
    private let logger: Logger
    private var phase = Phase.awaitingFirstHead
    private var timer: Scheduled<Void>?

    init(timeouts: HTTPTimeouts, logger: Logger) {
        self.timeouts = timeouts
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            phase = .receivingBody
            arm(context)
        case .body:
            if phase == .receivingBody { arm(context) }
        case .end:
            if phase == .receivingBody {
                phase = .responding
                arm(context)
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            // Answered (possibly before its body was read): the connection waits for the next request.
            phase = .awaitingHead
            arm(context)
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        let limit: TimeAmount
        switch phase {
        case .awaitingFirstHead: limit = timeouts.requestHead
        case .awaitingHead: limit = timeouts.idle
        case .receivingBody: limit = timeouts.bodyStall
        case .responding: return
        }
        let phase = self.phase
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: limit) { [self] in
            timer = nil
            logger.debug("closing HTTP connection", metadata: [
                "reason": "\(Self.describe(phase)) within \(limit)",
                "peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")",
            ])
            context.close(promise: nil)
        }
    }

    private static func describe(_ phase: Phase) -> String {
        switch phase {
        case .awaitingFirstHead: "no complete request head (TLS handshake included)"
        case .awaitingHead: "no new request"
        case .receivingBody: "no request body bytes"
        case .responding: "still responding"
        }
    }
}

/// How long the hub's HTTP listeners wait for a client.
public struct HTTPTimeouts: Sendable, Hashable {
    /// From connection to a complete first request head, TLS handshake included.
    public var requestHead: TimeAmount = .seconds(30)
    /// Between requests on a kept-alive connection, up to the next complete request head.
    public var idle: TimeAmount = .seconds(120)
    /// Silence allowed while a request body is being received.
    public var bodyStall: TimeAmount = .seconds(30)

    public init(requestHead: TimeAmount = .seconds(30), idle: TimeAmount = .seconds(120),
                bodyStall: TimeAmount = .seconds(30)) {
        self.requestHead = requestHead
        self.idle = idle
        self.bodyStall = bodyStall
    }
}
