import IoTHubProtocol
import Testing

@Suite("JSON string members")
struct JSONStringMembersTests {
    static let awkward = ["", "plain", "quote \" and backslash \\", "tab\tline\nreturn\r", "\u{01}\u{1F}", "é ☃ 😀", "/slash/"]

    @Test("writes exactly what JSONValue writes, and parses back")
    func matchesJSONValue() throws {
        let members = Self.awkward.enumerated().map { ("k\($0.offset) \($0.element)", $0.element) }
        var bytes: [UInt8] = []
        JSONStringMembers.write(members, to: &bytes)
        let object = JSONValue.object(JSONObject(members.map { ($0.0, JSONValue.string($0.1)) }))
        #expect(bytes == object.serializedBytes())
        let parsed = try JSONStringMembers.parse(bytes)
        #expect(parsed.map(\.0) == members.map(\.0))
        #expect(parsed.map(\.1) == members.map(\.1))
    }

    @Test("an empty object, and refusals of what is not an object of strings")
    func refusals() throws {
        var empty: [UInt8] = []
        JSONStringMembers.write([(String, String)](), to: &empty)
        #expect(empty == Array("{}".utf8))
        #expect(try JSONStringMembers.parse(empty).isEmpty)
        #expect(throws: JSONStringMembersError.self) { try JSONStringMembers.parse(Array(#"{"a":1}"#.utf8)) }
        #expect(throws: JSONStringMembersError.self) { try JSONStringMembers.parse(Array(#"["a"]"#.utf8)) }
        #expect(throws: JSONParseError.self) { try JSONStringMembers.parse(Array(#"{"a":"#.utf8)) }
    }

    @Test("message size counts every sender-set system property under its MQTT key")
    func messageSize() {
        var message = IoTHubMessage(body: [1, 2, 3], properties: ["alert": "1"])
        var expected = 3 + 5 + 1
        #expect(message.size == expected)
        message.systemProperties.outputName = "o"
        message.systemProperties.messageId = "m"
        message.systemProperties.correlationId = "c"
        message.systemProperties.userId = "u"
        message.systemProperties.contentType = "t"
        message.systemProperties.contentEncoding = "e"
        message.systemProperties.interfaceId = "i"
        message.systemProperties.expiryTimeUTC = "x"
        message.systemProperties.creationTimeUTC = "ct"
        message.systemProperties.to = "to"
        message.systemProperties.ack = "full"
        // $.on $.mid $.cid $.uid $.ct $.ce $.ifid $.exp $.ctime $.to iothub-ack, and their values.
        expected += (4 + 5 + 5 + 5 + 4 + 4 + 6 + 5 + 7 + 4 + 10) + (1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 2 + 4)
        #expect(message.size == expected)
        // The hub's own stamps do not count against the sender's limit.
        message.systemProperties.connectionDeviceId = "device"
        message.systemProperties.enqueuedTime = "2026-12-02T00:00:00Z"
        #expect(message.size == expected)
    }

    @Test("a property bag decodes the same from bytes as from text, '&' and '=' only at the top level")
    func propertyBagBytes() {
        for text in ["a=1&flag&b=", "&&a=%26&=x&k==v&", "é=ü&%24.mid=7", ""] {
            let fromText = PropertyBag(decoding: Substring(text))
            let fromBytes = PropertyBag(decoding: Array(text.utf8))
            #expect(fromText == fromBytes, "\(text)")
        }
        let bag = PropertyBag(decoding: Substring("&&a=%26&=x&k==v&"))
        #expect(bag.entries == [.init(key: "a", value: "&"), .init(key: "", value: "x"), .init(key: "k", value: "=v")])
    }
}
