import Foundation
import Glibc
import IoTHubProtocol
import MQTTCore
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The hostile probe's findings against a whole hub on real sockets.
@Suite("hardening on real sockets: leaks, floods, idle HTTP, failed logins")
struct LiveHardeningTests {
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func connect(_ device: MQTTConnectFields) -> MQTTConnect {
        MQTTConnect(clientId: device.clientId, keepAlive: 60, username: device.username, password: Array(device.password.utf8))
    }

    /// Runs blocking socket work on a thread of its own, off Swift's small cooperative pool, which the hub in this
    /// process needs for authentication and the store.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Waits until `condition` holds, for at most `timeout`.
    static func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test("2,000 connect-then-close on the MQTT port leave no handler behind")
    func connectCloseLeavesNothing() async throws {
        let hub = try await LiveTestHub.start()
        defer { Task { await hub.stop() } }
        let before = MQTTDeviceConnectionHandler.liveHandlers.load(ordering: .relaxed)
        let port = hub.mqttPort
        try await Self.offPool {
            for _ in 0..<2_000 {
                let connection = try RawTCPConnection(port: port)
                connection.close()
            }
        }
        #expect(try await Self.eventually { hub.services.admission.openConnections == 0 })
        // Other suites may hold a few handlers of their own meanwhile; a leak would leave 2,000 here.
        #expect(try await Self.eventually {
            MQTTDeviceConnectionHandler.liveHandlers.load(ordering: .relaxed) <= before + 50
        }, "live handlers: \(MQTTDeviceConnectionHandler.liveHandlers.load(ordering: .relaxed)), before: \(before)")
    }

    @Test("a device flooding twin GETs without reading cannot exhaust memory or delay another device")
    func twinFloodWithoutReading() async throws {
        let hub = try await LiveTestHub.start()
        defer { Task { await hub.stop() } }
        let flooder = try await hub.device("flooder")
        let other = try await hub.device("other")
        let port = hub.mqttPort
        let (flooderConnect, otherConnect) = (Self.connect(flooder.connect), Self.connect(other.connect))
        let start = Self.residentBytes()
        let (answer, growth) = try await Self.offPool { () -> ([MQTTPacket], Int) in
            let client = try RawMQTTClient(port: port)
            try client.connect(flooderConnect)
            try client.send([.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [
                MQTTSubscription(topicFilter: "$iothub/twin/res/#", qos: .atMostOnce)]))])
            _ = try client.receive(timeout: .seconds(5))
            var flood: [UInt8] = []
            for index in 0..<40_000 {
                try MQTTPacket.publish(MQTTPublish(topic: "$iothub/twin/GET/?$rid=\(index)", payload: [])).encode(into: &flood)
            }
            // The hub stops reading from the flooder, so this write may block: it runs on its own thread until
            // the socket is closed.
            nonisolated(unsafe) let connection = client.connection
            let bytes = flood
            Thread.detachNewThread { try? connection.send(bytes) }
            // Another device connects and reads its twin meanwhile.
            let second = try RawMQTTClient(port: port)
            try second.connect(otherConnect)
            try second.send([.subscribe(MQTTSubscribe(packetId: 1, subscriptions: [
                MQTTSubscription(topicFilter: "$iothub/twin/res/#", qos: .atMostOnce)]))])
            _ = try second.receive(timeout: .seconds(5))
            try second.send([.publish(MQTTPublish(topic: "$iothub/twin/GET/?$rid=mine", payload: []))])
            let answer = try second.receive(timeout: .seconds(10))
            let growth = Self.residentBytes() - start
            client.connection.close()
            return (answer, growth)
        }
        guard case .publish(let publish)? = answer.first else { Issue.record("no twin answer: \(answer)"); return }
        #expect(publish.topic == "$iothub/twin/res/200/?$rid=mine")
        // Unbounded queuing grew the hub by gigabytes; bounded, it holds a few write buffers.
        #expect(growth < 256 << 20, "resident memory grew by \(growth >> 20) MiB")
    }

    @Test("HTTP connections that do not finish a request head, or stall a body, are closed; complete ones are served")
    func httpDeadlines() async throws {
        let hub = try await LiveTestHub.start { configuration in
            configuration.http.timeouts = HTTPTimeouts(requestHead: .seconds(1), idle: .seconds(2), bodyStall: .seconds(1))
        }
        defer { Task { await hub.stop() } }
        let port = hub.httpPort
        let (closed, answer) = try await Self.offPool { () -> ([String: Bool], String) in
            let halfHead = try RawTCPConnection(port: port)
            try halfHead.send(Array("GET /devices HTTP/1.1\r\nHost: x\r\n".utf8))
            let silent = try RawTCPConnection(port: port)
            let stalledBody = try RawTCPConnection(port: port)
            try stalledBody.send(Array("PUT /devices/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"devi".utf8))
            var closed: [String: Bool] = [:]
            for (name, connection) in [("half head", halfHead), ("silent", silent), ("stalled body", stalledBody)] {
                closed[name] = Self.waitForClose(connection, timeout: .seconds(15))
            }
            // A complete request is served. Under a loaded machine (this suite runs beside hundreds of tests) the
            // hub's loop can stall past the 1 s head deadline before it reads a head that is already there; a
            // stall is retried twice, a hub that closes complete requests fails all three.
            var answer = ""
            for _ in 0..<3 where !answer.hasPrefix("HTTP/1.1") {
                let complete = try RawTCPConnection(port: port)
                try complete.send(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                if case .bytes(let bytes) = complete.receive(timeout: .seconds(10)) { answer = String(decoding: bytes, as: UTF8.self) }
            }
            return (closed, answer)
        }
        #expect(closed == ["half head": true, "silent": true, "stalled body": true])
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(100))")
    }

    static func waitForClose(_ connection: RawTCPConnection, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch connection.receive(timeout: deadline - ContinuousClock.now) {
            case .closed: return true
            case .bytes: continue
            case .timedOut: return false
            }
        }
        return false
    }

    @Test("an address that keeps failing to log in is shut out before CONNECT; other addresses still connect")
    func failedLoginsBlockTheirSource() async throws {
        let hub = try await LiveTestHub.start { configuration in
            configuration.admission.failures = .init(burst: 3, refillPerSecond: 0.01)
        }
        defer { Task { await hub.stop() } }
        let device = try await hub.device("d1")
        var bad = Self.connect(device.connect)
        bad.password = Array("SharedAccessSignature sr=hub.test%2Fdevices%2Fd1&sig=AAAA&se=9999999999".utf8)
        let (port, good, badConnect) = (hub.mqttPort, Self.connect(device.connect), bad)
        let (answers, blockedReceived, blockedClosed) = try await Self.offPool { () -> ([[MQTTPacket]], [MQTTPacket], Bool) in
            var answers: [[MQTTPacket]] = []
            for _ in 0..<3 {
                let attacker = try RawMQTTClient(port: port, source: "127.0.0.2")
                try attacker.send([.connect(badConnect)])
                answers.append(try attacker.receive(timeout: .seconds(10)))
            }
            // Blocked now: closed before any packet is read.
            let blocked = try RawMQTTClient(port: port, source: "127.0.0.2")
            try? blocked.send([.connect(good)])
            let received = try blocked.receive(timeout: .seconds(10))
            // The device itself, from its own address, is not affected.
            let device = try RawMQTTClient(port: port, source: "127.0.0.1")
            try device.connect(good)
            return (answers, received, blocked.closeReason != nil)
        }
        #expect(answers == Array(repeating: [.connAck(MQTTConnAck(returnCode: .notAuthorized))], count: 3))
        #expect(blockedReceived.isEmpty)
        #expect(blockedClosed)
        let metrics = String(decoding: hub.services.metrics.render(), as: UTF8.self)
        #expect(metrics.contains("iothub_connections_shed_total{protocol=\"mqtt\",reason=\"source_blocked\"}"))
    }

    @Test("connections that never authenticate are bounded; a slot frees when one closes")
    func unauthenticatedConnectionsBounded() async throws {
        let hub = try await LiveTestHub.start { configuration in
            configuration.admission.maximumUnauthenticatedConnections = 3
        }
        defer { Task { await hub.stop() } }
        let device = try await hub.device("d1")
        let port = hub.mqttPort
        let idle = try await Self.offPool { try (0..<3).map { _ in try RawTCPConnection(port: port) }.map(SendableConnection.init) }
        #expect(try await Self.eventually { hub.services.admission.unauthenticatedConnections == 3 })
        let connect = Self.connect(device.connect)
        let (received, closed) = try await Self.offPool { () -> ([MQTTPacket], Bool) in
            let refused = try RawMQTTClient(port: port)
            try? refused.send([.connect(connect)])
            return (try refused.receive(timeout: .seconds(10)), refused.closeReason != nil)
        }
        #expect(received.isEmpty)
        #expect(closed)
        idle[0].connection.close()
        #expect(try await Self.eventually { hub.services.admission.unauthenticatedConnections == 2 })
        try await Self.offPool {
            let good = try RawMQTTClient(port: port)
            try good.connect(connect)
        }
        #expect(hub.services.admission.unauthenticatedConnections == 2)
        for connection in idle { connection.connection.close() }
    }
}

/// A raw connection handed between the test and its socket thread.
struct SendableConnection: @unchecked Sendable {
    let connection: RawTCPConnection
}
