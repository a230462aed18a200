import HTTPTypes
import NIOHTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The HTTP listeners' deadlines on an embedded channel, with its manual clock.
@Suite("HTTP request deadlines")
struct HTTPRequestDeadlineHandlerTests {
    let timeouts = HTTPTimeouts(requestHead: .seconds(5), idle: .seconds(10), bodyStall: .seconds(3))

    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTPRequestDeadlineHandler(timeouts: timeouts, logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    var head: HTTPRequestPart { .head(HTTPRequest(method: .put, scheme: nil, authority: "x", path: "/devices/x")) }

    @Test("no request head within the deadline (a TLS handshake or a header trickle included): closed")
    func firstHead() throws {
        let channel = try channel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test("a request body that stalls is closed; one that keeps coming is not")
    func bodyStall() throws {
        let channel = try channel()
        try channel.writeInbound(head)
        for _ in 0..<5 {
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(2_900))
            #expect(channel.isActive)
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{")))
        }
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!channel.isActive)
    }

    @Test("a request being answered is never cut; after the answer the idle deadline applies")
    func respondingAndIdle() throws {
        let channel = try channel()
        try channel.writeInbound(head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3_600))
        #expect(channel.isActive, "a long response such as a monitor stream")
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }
}
