import Foundation
import IoTHubProtocol
import MQTTCore
import NIOCore
import NIOEmbedded
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// What a hostile probe of the MQTT head found, on the production pipeline over a testing channel (manual clock).
@Suite("MQTT hardening: handler lifetime, twin floods, token expiry, CONNECT bounds, modules")
struct MQTTHardeningTests {
    static let connAckAccepted: [UInt8] = [0x20, 0x02, 0x00, 0x00]

    func connected(_ device: TestDevice, on hub: TestHub, token: String? = nil,
                   configuration: MQTTEndpointConfiguration = MQTTEndpointConfiguration()) async throws -> MQTTTestConnection {
        let connection = try await MQTTTestConnection.open(hub, configuration: configuration)
        try await connection.send(device.connect(token: token))
        try #require(try await connection.nextWrite() == Self.connAckAccepted)
        return connection
    }

    @Test("a closed connection frees its handler: no handler ⇄ context cycle, whether it connected or not")
    func handlerIsFreed() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let device = try await TestDevice.create("d1", on: hub)
        for authenticate in [false, true] {
            let handler = WeakReference()
            do {
                let connection = authenticate ? try await connected(device, on: hub) : try await MQTTTestConnection.open(hub)
                let channel = connection.channel
                try await channel.testingEventLoop.executeInContext {
                    handler.object = try channel.pipeline.syncOperations.handler(type: MQTTDeviceConnectionHandler.self)
                }
                #expect(handler.object != nil)
                try await connection.channel.close()
                await connection.channel.testingEventLoop.run()
                #expect(try await connection.eventually { hub.services.presence.session(for: device.identity) == nil })
            }
            #expect(handler.object == nil, authenticate ? "after CONNECT" : "without CONNECT")
        }
    }

    @Test("a twin-GET flood sent in one write runs at most maximumPendingTwinRequests at once; the rest get 429 at once")
    func twinFloodIsBounded() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let device = try await TestDevice.create("d1", on: hub)
        var configuration = MQTTEndpointConfiguration()
        configuration.maximumPendingTwinRequests = 8
        let connection = try await connected(device, on: hub, configuration: configuration)
        try await connection.send(.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [
            MQTTSubscription(topicFilter: "$iothub/twin/res/#", qos: .atMostOnce)])))
        _ = try await connection.nextPacket()
        let count = 2_000
        var bytes: [UInt8] = []
        for index in 0..<count {
            try MQTTPacket.publish(MQTTPublish(topic: "$iothub/twin/GET/?$rid=\(index)", payload: [])).encode(into: &bytes)
        }
        try await connection.sendBytes(bytes)
        var statuses: [Int: Int] = [:]
        for _ in 0..<count {
            guard case .publish(let publish)? = try await connection.nextPacket() else { break }
            let status = Int(publish.topic.split(separator: "/")[3]) ?? -1
            statuses[status, default: 0] += 1
        }
        #expect(statuses.values.reduce(0, +) == count, "every request is answered: \(statuses)")
        #expect((statuses[200] ?? 0) <= 8 * 4, "at most a few windows of real work: \(statuses)")
        #expect((statuses[429] ?? 0) >= count - 8 * 4, "the rest are throttled: \(statuses)")
        // The connection stays usable: a request after the flood is answered normally.
        try await connection.send(.publish(MQTTPublish(topic: "$iothub/twin/GET/?$rid=last", payload: [])))
        guard case .publish(let last)? = try await connection.nextPacket() else { Issue.record("no answer"); return }
        #expect(last.topic == "$iothub/twin/res/200/?$rid=last")
    }

    @Test("a session ends when its SAS token expires, as IoT Hub disconnects it (manual clock)")
    func tokenExpiryEndsSession() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub, token: device.token(ttl: 20))
        await connection.channel.testingEventLoop.advanceTime(by: .seconds(10))
        #expect(connection.channel.isActive, "still valid")
        try await connection.send(.pingReq)
        #expect(try await connection.nextPacket() == .pingResp)
        await connection.channel.testingEventLoop.advanceTime(by: .seconds(15))
        #expect(try await connection.closed())
        #expect(try await connection.eventually { hub.services.presence.session(for: device.identity) == nil })
    }

    @Test("before authentication a CONNECT larger than maximumConnectPacketSize is refused from its header alone")
    func oversizedConnectRefused() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let connection = try await MQTTTestConnection.open(hub)
        // CONNECT announcing 255 KB: refused before the body arrives.
        var header: [UInt8] = [0x10]
        var remaining = 255 * 1024
        repeat {
            var byte = UInt8(remaining % 128)
            remaining /= 128
            if remaining > 0 { byte |= 0x80 }
            header.append(byte)
        } while remaining > 0
        try await connection.sendBytes(header)
        #expect(try await connection.closed())
    }

    @Test("after authentication, packets up to the full maximum size are accepted")
    func fullSizeAfterConnect() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        let device = try await TestDevice.create("d1", on: hub)
        let connection = try await connected(device, on: hub)
        let payload = [UInt8](repeating: 0x61, count: 200 * 1024)
        try await connection.send(.publish(MQTTPublish(topic: "devices/d1/messages/events/", payload: payload,
                                                        qos: .atLeastOnce, packetId: 7)))
        #expect(try await connection.nextPacket(timeout: .seconds(20)) == .pubAck(MQTTPubAck(packetId: 7)))
    }

    @Test("disabling a device ends its modules' sessions too")
    func modulesFollowTheirDevice() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        _ = try await TestDevice.create("d1", on: hub)
        let module = try await TestDevice.create("d1", on: hub, moduleId: "m1")
        let connection = try await connected(module, on: hub)
        _ = try await hub.services.registry.update(.init(identity: DeviceIdentity(deviceId: "d1"), status: .disabled),
                                                   condition: .any)
        #expect(try await connection.closed())
        // And it cannot come back while its device is disabled.
        let again = try await MQTTTestConnection.open(hub)
        try await again.send(module.connect())
        #expect(try await again.nextWrite() == [0x20, 0x02, 0x00, 0x05])
    }

    @Test("connections beyond the unauthenticated bound are closed at once; authenticating frees a slot")
    func unauthenticatedBound() throws {
        var configuration = ConnectionAdmission.Configuration()
        configuration.maximumUnauthenticatedConnections = 2
        configuration.maximumDeviceConnections = 3
        configuration.maximumUnauthenticatedPerSource = 1
        let admission = ConnectionAdmission(configuration: configuration)
        let first = try #require(admission.admit(source: "127.0.0.9").ticket)
        #expect(admission.admit(source: "127.0.0.9").refusal == .tooManyUnauthenticatedFromSource, "one per address")
        let second = try #require(admission.admit(source: "127.0.0.10").ticket)
        #expect(admission.admit(source: "127.0.0.11").refusal == .tooManyUnauthenticated)
        admission.authenticated(first)
        let third = try #require(admission.admit(source: "127.0.0.9").ticket, "authenticating frees the address's slot")
        #expect(admission.admit(source: nil).refusal == .tooManyConnections)
        admission.closed(first, authenticated: true)
        admission.closed(second, authenticated: false)
        #expect(admission.unauthenticatedConnections == 1)
        #expect(admission.openConnections == 1)
        admission.closed(third, authenticated: false)
        #expect(admission.openConnections == 0)
    }

    @Test("failed logins block their source after the burst, refill with time, and say what to log (manual clock)")
    func failedLoginLimiter() {
        let limiter = AuthenticationFailureLimiter(configuration: .init(burst: 3, refillPerSecond: 1, maximumSources: 4))
        let start = ContinuousClock.now
        #expect(limiter.recordFailure("a", now: start) == .log)
        #expect(limiter.recordFailure("a", now: start) == .log)
        #expect(limiter.recordFailure("a", now: start) == .blocked)
        #expect(limiter.admits("a", now: start).admitted == false)
        #expect(limiter.admits("b", now: start).admitted, "other sources are not affected")
        #expect(limiter.recordFailure("a", now: start) == .suppressed)
        let later = start.advanced(by: .seconds(2))
        let (admitted, summary) = limiter.admits("a", now: later)
        #expect(admitted)
        #expect(summary == 2, "one blocked connection and one suppressed refusal")
        // The table stays bounded under failures from many addresses.
        for index in 0..<20 { limiter.recordFailure("10.0.0.\(index)", now: later) }
        #expect(limiter.trackedSources <= 4)
    }
}

/// A weak reference a test can set on an event loop and read after it.
final class WeakReference: @unchecked Sendable {
    weak var object: AnyObject?
}
