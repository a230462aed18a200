import Testing
@testable import IoTHubProtocol

/// Inputs found by the libFuzzer targets in Fuzz/ (see Fuzz/README.md), and the same class of bug in the parsers
/// next to them.
///
/// The parsers split text on Swift `Character`s (grapheme clusters), so a separator could be swallowed by the
/// character before or after it: U+0600 ARABIC NUMBER SIGN is a *prepended* mark that joins the next character,
/// so "d\u{600}/" is one Character and `split(separator: "/")` did not split there; a combining mark such as U+0301
/// joins the character before it, so "=\u{301}" hid the '='. IoT Hub and its SDKs split on bytes. The parsers now
/// split on Unicode scalars; ASCII separators are single scalars, so this is the same as splitting on bytes.
@Suite("fuzzer regressions (IoTHubProtocol)")
struct FuzzRegressionTests {
    static let key = "c2VjcmV0LWtleS1mb3ItZnV6emluZy0wMTIzNDU2Nzg5"

    @Test("iothub-topics crash-db16e4ba: a user name whose device id ends in U+0600 survives description → parse")
    func userNameWithPrependedMark() throws {
        // The fuzzer's input, shortened: "h/…id\u{600}" parsed, but its description "h/…id\u{600}/?" came back
        // with the device id "…id\u{600}/?", because "\u{600}/" is one Character.
        let name = try MQTTUserName(parsing: "h/id\u{600}")
        #expect(Array(name.identity.deviceId.unicodeScalars) == Array("id\u{600}".unicodeScalars))
        let again = try MQTTUserName(parsing: name.description)
        #expect(again.identity == name.identity)
        #expect(again == name)

        let module = try MQTTUserName(parsing: "hub\u{600}/d\u{600}/m\u{600}/?api-version\u{600}=1&x=\u{301}y")
        #expect(module.hostName == "hub\u{600}")
        #expect(module.identity == DeviceIdentity(deviceId: "d\u{600}", moduleId: "m\u{600}"))
        #expect(module.queryValue("api-version\u{600}") == "1")
        #expect(module.queryValue("x") == "\u{301}y")
        #expect(try MQTTUserName(parsing: module.description) == module)
    }

    @Test("trimming works on scalars: a prepended mark keeps the space after it out, a combining mark stays")
    func trimmingOnScalars() {
        #expect(" \u{600} ".trimmingASCIIWhitespace() == "\u{600}")
        #expect("\t\r\nx\u{301}\r\n".trimmingASCIIWhitespace() == "x\u{301}")
        #expect("é".trimmingASCIIWhitespace() == "é")
        #expect(" \r\n\t".trimmingASCIIWhitespace() == "")
        #expect("a b".trimmingASCIIWhitespace() == "a b")
        #expect(" 日本 "[...].trimmingASCIIWhitespace() == "日本")
    }

    @Test("SAS token fields are trimmed and decoded after splitting on bytes")
    func sasTokenFieldsOnBytes() throws {
        let token = try SASToken(parsing: " SharedAccessSignature sr=hub.local%2Fdevices%2Fd1&sig=abc%3D&se=100&skn=p\u{600} ")
        #expect(token.keyName == "p\u{600}")
        #expect(token.expiry == 100)
        #expect(token.signature == "abc=")
        #expect(token.resourceURI == "hub.local/devices/d1")
        #expect(throws: SASTokenError.self) { try SASToken(parsing: "SharedAccessSignature sr=a&sig\u{600}=b&se=1") }
    }

    @Test("connection strings split on ';' and '=' even next to U+0600, and trim CR LF")
    func connectionStringSeparators() throws {
        // Parsed before, but its description put ';' after the U+0600 and did not parse back.
        let text = "HostName=hub.local;SharedAccessKey=\(Self.key);SharedAccessKeyName=owner\u{600}"
        let policy = try ConnectionString(parsing: text)
        #expect(policy.sharedAccessKeyName == "owner\u{600}")
        #expect(try ConnectionString(parsing: policy.description) == policy)
        // Refused before ("lacks SharedAccessKey": the name swallowed the rest).
        let reordered = try ConnectionString(parsing: policy.description)
        #expect(reordered.sharedAccessKey == Self.key)

        // "\r\n" is one Character, so the old trimming kept it: a connection string read from a file with
        // Windows line endings failed on its last value.
        let device = try ConnectionString(parsing: "HostName=hub.local;DeviceId=d1;SharedAccessKey=\(Self.key)\r\n")
        #expect(device.sharedAccessKey == Self.key)
        #expect(try ConnectionString(parsing: "HostName=hub.local\r\n;DeviceId=d1 \r\n;x509=true").hostName == "hub.local")
    }

    @Test("SAS tokens split on '&' and '=' even next to U+0600 or a combining mark, and trim CR LF")
    func sasTokenSeparators() throws {
        let key = try SharedAccessKey(base64: Self.key)
        let token = SASToken.generate(resource: .device(hostName: "hub.local", deviceId: "d1"), key: key,
                                      expiry: 1_900_000_000, keyName: "owner\u{600}")
        // skn first: before, "owner\u{600}&" was one Character and the token lacked sr.
        let body = token.description.dropFirst("SharedAccessSignature ".count)
        let fields = body.unicodeScalars.split(separator: "&").map { String(String.UnicodeScalarView($0)) }
        let reordered = "SharedAccessSignature " + ([fields[3]] + fields[0..<3]).joined(separator: "&")
        let parsed = try SASToken(parsing: reordered)
        #expect(parsed.keyName == "owner\u{600}")
        #expect(parsed.resourceURI == "hub.local/devices/d1")
        try parsed.validate(resource: "hub.local/devices/d1", key: key, now: 1_800_000_000)

        // A token copied with a line ending: "se=1900000000\r\n" was not a number before.
        let copied = try SASToken(parsing: token.description + "\r\n")
        #expect(copied.expiry == 1_900_000_000)
        #expect(copied.description == token.description)
    }

    @Test("property bags and $iothub query strings split on '&' and '=' next to combining marks")
    func topicQueryAndPropertyBagSeparators() throws {
        // "=\u{301}" is one Character: the value used to be lost into the key.
        let bag = PropertyBag(decoding: "a=\u{301}b&\u{301}c=d"[...])
        #expect(bag.entries == [PropertyBag.Entry(key: "a", value: "\u{301}b"), PropertyBag.Entry(key: "\u{301}c", value: "d")])
        #expect(PropertyBag(decoding: bag.encoded[...]) == bag)

        let me = DeviceIdentity(deviceId: "d1")
        #expect(try DeviceTopic(parsing: "$iothub/twin/GET/?$rid=\u{301}1", identity: me) == .twinGet(requestId: "\u{301}1"))
        #expect(try HubTopic(parsing: "$iothub/twin/res/204/?$rid=7&\u{301}x=1&$version=\u{30}5", identity: me)
                == .twinResponse(status: 204, requestId: "7", version: 5))
        let (path, query) = TopicQuery.split("$iothub/twin/GET/\u{600}?$rid=1")
        #expect(Array(path.unicodeScalars) == Array("$iothub/twin/GET/\u{600}".unicodeScalars))
        #expect(query.values["$rid"] == "1")
    }

    @Test("json: a twin document with version Int64.max is refused when read, instead of trapping on the next update")
    func twinVersionOverflow() throws {
        let top = Int64.max
        let properties: JSONValue = ["desired": ["$version": 1], "reported": ["$version": 1]]
        // Before, this parsed, and applyTagsPatch then trapped on `version += 1` (arithmetic overflow).
        #expect(throws: TwinError.malformedDocument(
            path: "version", reason: "\(top) is larger than 4611686018427387903, the largest version a twin can have")) {
            try Twin(parsing: ["version": .integer(top), "properties": properties])
        }
        #expect(throws: TwinError.self) {
            try Twin(parsing: ["version": 1, "properties": ["desired": ["$version": .integer(top)], "reported": ["$version": 1]]])
        }
        #expect(throws: TwinError.self) {
            try TwinCollection(parsing: ["$version": .integer(top)], kind: .reported)
        }
        var device = TwinCollection(kind: .desired, createdAt: Timestamp(secondsSince1970: 0))
        #expect(throws: TwinError.self) { try device.applyNotification(["$version": .integer(top), "a": 1]) }
        #expect(device.version == 1)

        // The largest accepted version still has room for updates.
        var twin = try Twin(parsing: ["version": .integer(TwinCollection.maximumVersion), "properties": [
            "desired": ["$version": .integer(TwinCollection.maximumVersion)],
            "reported": ["$version": .integer(TwinCollection.maximumVersion)],
        ]])
        try twin.applyTagsPatch(["a": 1])
        try twin.applyDesiredPatch(["b": 2], at: Timestamp(secondsSince1970: 1))
        #expect(try twin.applyReportedPatch(["c": 3], at: Timestamp(secondsSince1970: 1)) == TwinCollection.maximumVersion + 1)
        #expect(twin.version == TwinCollection.maximumVersion + 2)
    }
}
