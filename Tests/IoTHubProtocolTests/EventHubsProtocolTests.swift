import IoTHubProtocol
import Testing

@Suite("Event Hubs: selectors, partitions, audiences, management, frame padding")
struct EventHubsProtocolTests {
    @Test("the selectors azure-eventhub writes parse to their positions")
    func selectors() throws {
        #expect(try EventPosition(selector: "amqp.annotation.x-opt-offset > '-1'") == .start)
        #expect(try EventPosition(selector: "amqp.annotation.x-opt-offset > '@latest'") == .latest)
        #expect(try EventPosition(selector: "amqp.annotation.x-opt-offset > '12345'") == .offset(12345, inclusive: false))
        #expect(try EventPosition(selector: "amqp.annotation.x-opt-offset >= '12345'") == .offset(12345, inclusive: true))
        #expect(try EventPosition(selector: "amqp.annotation.x-opt-sequence-number > '42'") == .sequenceNumber(42, inclusive: false))
        #expect(try EventPosition(selector: "AMQP.ANNOTATION.X-OPT-SEQUENCE-NUMBER = 7") == .sequenceNumber(7, inclusive: true))
        #expect(try EventPosition(selector: "amqp.annotation.x-opt-enqueued-time > '1704164645678'")
                == .enqueuedTime(1_704_164_645_678, inclusive: false))
        #expect(try EventPosition(selector: "  amqp.annotation.x-opt-enqueued-time>=1704164645678 ")
                == .enqueuedTime(1_704_164_645_678, inclusive: true))
    }

    @Test("a bad selector is refused with the position and the reason")
    func badSelectors() {
        func failure(_ selector: String) -> EventPositionError? {
            do { _ = try EventPosition(selector: selector); return nil } catch { return error }
        }
        #expect(failure("x-opt-offset > '1'")?.position == 0)
        #expect(failure("amqp.annotation.x-opt-partition-key > 'a'")?.reason.contains("x-opt-partition-key") == true)
        #expect(failure("amqp.annotation.x-opt-offset < '1'")?.position == 29)
        #expect(failure("amqp.annotation.x-opt-offset > '12")?.reason.contains("closing") == true)
        #expect(failure("amqp.annotation.x-opt-offset > 'abc'")?.reason.contains("not an integer") == true)
        #expect(failure("amqp.annotation.x-opt-offset > '1' and more")?.reason.contains("after the value") == true)
        #expect(failure("amqp.annotation.x-opt-offset >")?.reason == "expected a value")
    }

    @Test("a device's partition is stable and within the count; partition ids parse strictly")
    func partitions() {
        let four = EventHubPartitioner(count: 4)
        var seen = Set<Int>()
        for index in 0..<200 {
            let partition = four.partition(for: "device-\(index)")
            #expect((0..<4).contains(partition))
            #expect(four.partition(for: "device-\(index)") == partition)
            seen.insert(partition)
        }
        #expect(seen.count == 4, "200 devices spread over every partition")
        // FNV-1a of "" is 2166136261, of "a" 3826002220.
        #expect(EventHubPartitioner(count: 32).partition(for: "") == Int(2_166_136_261 % 32))
        #expect(EventHubPartitioner(count: 32).partition(for: "a") == Int(3_826_002_220 % 32))
        #expect(four.partitionIds == ["0", "1", "2", "3"])
        #expect(four.partition(id: "3") == 3)
        #expect(four.partition(id: "4") == nil && four.partition(id: "01") == nil && four.partition(id: "-1") == nil)
    }

    @Test("Event Hubs audiences parse with scheme, port and consumer group; IoT Hub's do not")
    func audiences() {
        let consumer = EventHubAudience(parsing: "sb://127.0.0.1:5671/hub/consumergroups/$Default")
        #expect(consumer?.host == "127.0.0.1" && consumer?.entity == "hub" && consumer?.consumerGroup == "$Default")
        #expect(consumer?.resourcePath == "/hub/consumergroups/$Default")
        let management = EventHubAudience(parsing: "sb://localhost/iothub")
        #expect(management?.entity == "iothub" && management?.consumerGroup == nil)
        #expect(EventHubAudience(parsing: "amqps://h/hub/ConsumerGroups/g/Partitions/0")?.consumerGroup == "g")
        #expect(EventHubAudience(parsing: "localhost") == nil)
        #expect(EventHubAudience(parsing: "localhost/devices/d1") == nil)
        #expect(EventHubAudience(parsing: "localhost/messages/devicebound") == nil)
        #expect(EventHubAudience(parsing: "sb://h/hub/other/x") == nil)
    }

    @Test("SAS resources compare without scheme and port")
    func resourcesWithPorts() {
        #expect(SASToken.normalized("sb://Host:5671/Hub/") == "host/hub")
        #expect(SASToken.resource("host/hub/consumergroups/g", isWithin: "sb://host:5671/hub"))
        #expect(!SASToken.resource("host/hub2", isWithin: "sb://host/hub"))
    }

    @Test("management requests parse; answers carry the map and both description keys")
    func management() throws {
        var request = AMQPMessage(applicationProperties: [
            "operation": .string("READ"), "type": .string("com.microsoft:partition"), "name": .string("hub"),
            "partition": .string("2"), "security_token": .string("SharedAccessSignature sr=x"),
        ])
        request.messageId = .uuid(.random())
        let parsed = try EventHubManagementRequest(request)
        #expect(parsed.kind == .partition("2") && parsed.name == "hub" && parsed.securityToken != nil)
        request.applicationProperties["operation"] = .string("DELETE")
        #expect(throws: EventHubManagementError.self) { try EventHubManagementRequest(request) }

        let answer = EventHubManagementRequest.eventHubAnswer(to: .ulong(7), name: "hub", createdAtMilliseconds: 1000,
                                                              partitionIds: ["0", "1"])
        #expect(answer.correlationId == .ulong(7))
        #expect(answer.applicationProperties["status-code"] == .int(200))
        #expect(answer.applicationProperties["statusDescription"] == .string("OK"))
        guard case .value(let body) = answer.body else { Issue.record("no value body"); return }
        #expect(body["partition_ids"] == .array([.string("0"), .string("1")]))
        #expect(body["created_at"] == .timestamp(1000))
    }

    // MARK: Frame padding

    /// A frame: size, doff 2, type 0, channel 0, then `body`.
    static func frame(_ body: [UInt8]) -> [UInt8] {
        let size = 8 + body.count
        return [UInt8(size >> 24 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF), 2, 0, 0, 0] + body
    }

    @Test("a trimmed begin gets every field and handle-max; headers, heartbeats and flows pass unchanged")
    func padding() {
        // begin: remote-channel 0 (ushort), next-outgoing-id 0 (uint0), incoming-window 100, outgoing-window 100.
        let begin = Self.frame([0x00, 0x53, 0x11, 0xC0, 0x09, 0x04, 0x60, 0x00, 0x00, 0x43, 0x52, 0x64, 0x52, 0x64])
        let flow = Self.frame([0x00, 0x53, 0x13, 0xC0, 0x03, 0x02, 0x43, 0x43])
        let heartbeat = Self.frame([])
        let header: [UInt8] = Array("AMQP".utf8) + [0, 1, 0, 0]
        var padding = AMQPPerformativePadding()
        var out: [UInt8] = []
        let stream = header + begin + heartbeat + flow
        // In two pieces, split inside the begin frame.
        padding.process(Array(stream[..<13]), into: &out)
        #expect(out == header && padding.pendingCount == 5)
        padding.process(Array(stream[13...]), into: &out)
        #expect(padding.pendingCount == 0)
        let paddedBegin = Self.frame([0x00, 0x53, 0x11, 0xC0, 0x11, 0x08, 0x60, 0x00, 0x00, 0x43, 0x52, 0x64, 0x52, 0x64,
                                      0x70, 0xFF, 0xFF, 0xFF, 0xFF, 0x40, 0x40, 0x40])
        #expect(out == header + paddedBegin + heartbeat + flow)
    }

    @Test("a transfer keeps its payload after the padded performative, and a long one becomes list32")
    func transferPadding() {
        // transfer: handle 0, delivery-id 0, delivery-tag binary(1), then the payload (a data section).
        let payload: [UInt8] = [0x00, 0x53, 0x75, 0xA0, 0x03, 0x61, 0x62, 0x63]
        let transfer = Self.frame([0x00, 0x53, 0x14, 0xC0, 0x06, 0x03, 0x43, 0x43, 0xA0, 0x01, 0x07] + payload)
        var padding = AMQPPerformativePadding()
        var out: [UInt8] = []
        padding.process(transfer, into: &out)
        #expect(out == Self.frame([0x00, 0x53, 0x14, 0xC0, 0x0E, 0x0B, 0x43, 0x43, 0xA0, 0x01, 0x07]
                                  + [UInt8](repeating: 0x40, count: 8) + payload))

        // An attach whose name is 300 bytes: the padded list no longer fits list8.
        let name = [UInt8](repeating: 0x61, count: 300)
        let attach = Self.frame([0x00, 0x53, 0x12, 0xD0, 0x00, 0x00, 0x01, 0x36, 0x00, 0x00, 0x00, 0x02,
                                 0xB1, 0x00, 0x00, 0x01, 0x2C] + name + [0x43])
        out = []
        padding.process(attach, into: &out)
        let expected = Self.frame([0x00, 0x53, 0x12, 0xD0, 0x00, 0x00, 0x01, 0x42, 0x00, 0x00, 0x00, 0x0E,
                                   0xB1, 0x00, 0x00, 0x01, 0x2C] + name + [0x43] + [UInt8](repeating: 0x40, count: 12))
        #expect(out == expected)
    }
}
