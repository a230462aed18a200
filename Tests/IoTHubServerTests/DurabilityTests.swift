import Foundation
import IoTHubProtocol
import MQTTCore
import Testing

/// Crash safety of telemetry: "kill -9 the hub during a telemetry stream; every message that got a PUBACK is
/// readable after a restart."
///
/// The hub group-commits telemetry to SQLite (WAL) and sends a PUBACK only after the batch holding the message
/// committed. This runs the real `iothub` executable, streams QoS 1 telemetry at it over plain MQTT with up to 64
/// messages unacknowledged, SIGKILLs it mid-stream from another thread, and does that again on the same data
/// directory for a few rounds (each kill lands somewhere else in the commit cycle, and later rounds write to a
/// recovered database). A last restart reads everything back with `iothub monitor`. A hub that acknowledged
/// before committing loses the acknowledged messages of the batches it had not committed yet, and this test names
/// them; messages stored but never acknowledged are fine (the device would have sent them again).
@Suite("Durability: kill -9 during a telemetry stream", .serialized, .timeLimit(.minutes(3)))
struct DurabilityTests {
    static let deviceId = "durability-device"
    /// PUBLISHes sent and not yet acknowledged, at most.
    static let window = 64
    /// PUBACKs to see in each round before the kill is ordered.
    static let acknowledgementsBeforeKill = 500
    /// Crash and restart cycles.
    static let rounds = 5

    @Test("every acknowledged message is readable after kill -9 and a restart")
    func acknowledgedTelemetrySurvivesKill() async throws {
        let started = ContinuousClock.now
        let directory = TestProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ports = try HubPorts.free()
        let dataDirectory = directory + "/data", logPath = directory + "/hub.log"
        var hub = try await HubProcess.start(dataDirectory: dataDirectory, ports: ports, logPath: logPath)
        defer { hub.stop() }
        let key = try hub.createDevice(Self.deviceId)

        var acknowledged = Set<Int>()
        var sent = 0
        var rounds: [String] = []
        for round in 1...Self.rounds {
            if round > 1 { hub = try await HubProcess.start(dataDirectory: dataDirectory, ports: ports, logPath: logPath) }
            var stream = try TelemetryStream(port: ports.plainMQTT, deviceId: Self.deviceId, key: key, firstSequence: sent)
            let pid = hub.pid
            // Odd rounds kill straight on a batch of PUBACKs, where a hub that acknowledged before its COMMIT
            // would still have the batch open. Even rounds kill from another thread within about one commit cycle
            // (~15 ms for 64 messages in a debug build) while the stream goes on: PUBLISHes are then in every
            // stage (socket, handler, write queue, open transaction, committed but not yet acknowledged).
            let delay = round % 2 == 1 ? 0 : UInt32.random(in: 1..<20_000)
            try stream.run(window: Self.window, acknowledgements: Self.acknowledgementsBeforeKill) {
                if delay == 0 {
                    kill(pid, SIGKILL)
                    return
                }
                Thread.detachNewThread {
                    usleep(delay)
                    kill(pid, SIGKILL)
                }
            }
            hub.kill()  // Reaps it.
            #expect(stream.acknowledged.count >= Self.acknowledgementsBeforeKill)
            #expect(stream.acknowledged == stream.acknowledged.sorted(), "PUBACKs must come in PUBLISH order (MQTT-4.6.0-2)")
            #expect(stream.unexpected.isEmpty, "unexpected packets from the hub: \(stream.unexpected)")
            acknowledged.formUnion(stream.acknowledged)
            sent = stream.nextSequence
            rounds.append("kill after \(delay) µs: \(stream.acknowledged.count) acknowledged, \(stream.inFlight.count) not")
        }

        hub = try await HubProcess.start(dataDirectory: dataDirectory, ports: ports, logPath: logPath)
        let lines = try await hub.monitor(deviceId: Self.deviceId, timeout: .seconds(20)) { lines in
            acknowledged.isSubset(of: lines.compactMap(Self.sequence))
        }
        let stored = lines.compactMap(Self.sequence)
        let storedSet = Set(stored)
        let missing = acknowledged.subtracting(storedSet).sorted()
        #expect(missing.isEmpty, """
            \(missing.count) of \(acknowledged.count) acknowledged messages were lost by kill -9: \(missing.prefix(50)); \
            stored \(stored.count) of \(sent) sent; rounds: \(rounds)
            hub log:
            \(hub.log.suffix(4000))
            """)
        #expect(stored.count == lines.count, "every stored message carries its seq in properties and body: \(lines.prefix(3))")
        #expect(storedSet.count == stored.count, "a message was stored twice")
        #expect(storedSet.isSubset(of: 0..<sent), "a stored message was never sent: \(storedSet.filter { $0 >= sent })")
        print("""
            DurabilityTests: \(Self.rounds) kill -9 rounds (\(rounds.joined(separator: "; "))); sent \(sent), \
            acknowledged \(acknowledged.count), stored \(stored.count) \
            (\(storedSet.subtracting(acknowledged).count) stored but not acknowledged), lost \(missing.count); \
            \(ContinuousClock.now - started)
            """)
        // SIGTERM drains and exits promptly, also after an `iothub monitor` stream (ended monitor streams are
        // noticed by their heartbeat, open ones end with the graceful shutdown).
        #expect(hub.stop(grace: .seconds(8)), "the hub did not finish a graceful shutdown within 8 s")
    }

    /// The `seq` of a monitor line, when its property and its body agree on it.
    static func sequence(_ line: JSONValue) -> Int? {
        guard line["deviceId"]?.stringValue == deviceId,
              let property = line["properties"]?["seq"]?.stringValue, let seq = Int(property),
              let body = line["body"]?.stringValue, let parsed = try? JSONValue(parsing: body),
              parsed["seq"]?.int64Value == Int64(seq)
        else { return nil }
        return seq
    }
}

/// One device streaming numbered QoS 1 telemetry over a raw MQTT connection with a window of unacknowledged
/// PUBLISHes, recording which numbers the hub acknowledged.
///
/// Message `n` goes to `devices/{id}/messages/events/seq=n` with body `{"seq":n,…}`.
struct TelemetryStream {
    let client: RawMQTTClient
    let topicBase: String
    /// The sequence number of the next message; this stream sent `firstSequence..<nextSequence`.
    private(set) var nextSequence: Int
    /// Sequence numbers the hub acknowledged, in the order of their PUBACKs.
    private(set) var acknowledged: [Int] = []
    /// PUBACKs read when the kill was ordered.
    private(set) var acknowledgedAtKill = 0
    /// Unacknowledged PUBLISHes: packet id → sequence number.
    private(set) var inFlight: [UInt16: Int] = [:]
    /// Anything the hub sent that is not a PUBACK of an in-flight PUBLISH.
    private(set) var unexpected: [String] = []
    private var nextPacketId: UInt16 = 1

    /// Connects `deviceId` with a SAS token signed by `key`; the first message will be number `firstSequence`.
    init(port: Int, deviceId: String, key: SharedAccessKey, firstSequence: Int = 0) throws {
        nextSequence = firstSequence
        let identity = DeviceIdentity(deviceId: deviceId)
        let token = SASToken.generate(resource: identity.sasResource(hostName: "localhost"), key: key,
                                      expiry: UInt64(Date().timeIntervalSince1970) + 3600)
        client = try RawMQTTClient(port: port)
        try client.connect(MQTTConnect(clientId: deviceId, cleanSession: true, keepAlive: 60,
                                       username: "localhost/\(deviceId)/?api-version=2021-04-12",
                                       password: Array(token.description.utf8)))
        topicBase = identity.topicBase + "/messages/events/"
    }

    /// Streams until `acknowledgements` messages are acknowledged, calls `killHub`, and streams on until the
    /// connection ends; then every PUBACK the hub wrote before it died has been read.
    mutating func run(window: Int, acknowledgements: Int, killHub: () -> Void) throws {
        var sending = true
        while client.closeReason == nil {
            if sending {
                // Once the hub is dead a write fails (EPIPE, ECONNRESET); what it sent before is still readable.
                do { try fill(window: window) } catch { sending = false }
            }
            let packets = try client.receive(timeout: .seconds(10))
            if packets.isEmpty, client.closeReason == nil {
                throw RawSocketError(message: "nothing from the hub for 10 s after \(acknowledged.count) PUBACKs")
            }
            record(packets)
            if acknowledgedAtKill == 0, acknowledged.count >= acknowledgements {
                acknowledgedAtKill = acknowledged.count
                killHub()
            }
        }
        client.connection.close()
    }

    private mutating func fill(window: Int) throws {
        var packets: [MQTTPacket] = []
        while inFlight.count < window {
            while inFlight[nextPacketId] != nil { advancePacketId() }
            let seq = nextSequence
            let body = #"{"seq":\#(seq),"sensor":"durability","reading":\#(Double(seq) * 0.5)}"#
            packets.append(.publish(MQTTPublish(topic: topicBase + "seq=\(seq)", payload: Array(body.utf8),
                                                qos: .atLeastOnce, packetId: nextPacketId)))
            inFlight[nextPacketId] = seq
            advancePacketId()
            nextSequence += 1
        }
        if !packets.isEmpty { try client.send(packets) }
    }

    private mutating func advancePacketId() {
        nextPacketId = nextPacketId == .max ? 1 : nextPacketId + 1
    }

    private mutating func record(_ packets: [MQTTPacket]) {
        for packet in packets {
            if case .pubAck(let ack) = packet, let seq = inFlight.removeValue(forKey: ack.packetId) {
                acknowledged.append(seq)
            } else {
                unexpected.append("\(packet)")
            }
        }
    }
}
