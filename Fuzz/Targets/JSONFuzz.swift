// libFuzzer target `json`: IoTHubProtocol's JSON parser and writer, and the twin code that consumes parsed JSON.
// Built together with the sources of Sources/IoTHubProtocol as module IoTHubProtocol (see scripts/fuzz.sh).
//
// Input: JSON text (any bytes). The parser must throw JSONParseError or return a value that serializes (compact
// and pretty) to text that parses back to an equal value with an equal hash, and whose compact form is stable.
// Parsed values then go through the twin operations the hub and the device SDK apply to received JSON; those must
// throw TwinError or keep their documented round trips.

private func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("json: " + message()) }
}

private func hash(_ value: some Hashable) -> Int {
    var hasher = Hasher()
    hasher.combine(value)
    return hasher.finalize()
}

private let created = Timestamp(secondsSince1970: 1_700_000_000, nanoseconds: 123_456_789)
private let later = Timestamp(secondsSince1970: 1_700_000_060, nanoseconds: 987_654_321)

@_cdecl("LLVMFuzzerTestOneInput")
public func jsonFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let value: JSONValue
    do {
        value = try JSONValue(parsing: bytes)
    } catch {
        _ = error.description
        check(error.offset >= 0 && error.offset <= size, "error offset \(error.offset) outside the input of \(size) bytes")
        // A shallower parser refuses at least what the default one refuses.
        check((try? JSONParser(maximumDepth: 8).parse(bytes)) == nil, "a depth-8 parser accepted what depth 64 refused")
        return 0
    }

    // Serialization round trips.
    let compact = value.serializedBytes()
    let pretty = value.serializedBytes(style: .pretty)
    for (name, text) in [("compact", compact), ("pretty", pretty)] {
        do {
            let again = try JSONValue(parsing: text)
            check(again == value, "\(name) serialization \(String(decoding: text, as: UTF8.self)) parsed to another value")
            check(hash(again) == hash(value), "\(name) round trip changed the hash")
            check(again.serializedBytes() == compact, "\(name) round trip changed the compact text")
        } catch {
            check(false, "\(name) serialization \(String(decoding: text, as: UTF8.self)) does not parse: \(error)")
        }
    }
    check(value == value, "a parsed value is not equal to itself")
    check(value.description.utf8.elementsEqual(compact), "description is not the compact text")

    // Twin sections receiving the value as a patch or replacement (device reported PATCH, service PATCH/PUT).
    var reported = TwinCollection(kind: .reported, createdAt: created)
    if let notification = try? reported.applyPatch(value, at: later) {
        check(notification["$version"] == .integer(reported.version), "the notification does not carry the new $version")
        let stored = JSONValue.object(reported.serviceJSON)
        do {
            let parsed = try TwinCollection(parsing: try JSONValue(parsing: stored.serializedBytes()), kind: .reported)
            check(parsed == reported, "a reported section does not survive serviceJSON → text → parse")
        } catch {
            check(false, "reported serviceJSON does not parse back: \(error)")
        }
        var device = TwinCollection(kind: .reported, createdAt: created)
        try? device.applyNotification(.object(notification))
        check(device.properties == reported.properties, "applying the notification gives other properties")
    }
    var desired = TwinCollection(kind: .desired, createdAt: created)
    _ = try? desired.replace(with: value, at: later)

    var twin = Twin(createdAt: created)
    _ = try? twin.update(with: value, at: later)
    _ = try? twin.replace(with: value, at: later)
    _ = try? twin.applyTagsPatch(value)
    let service = JSONValue.object(twin.serviceJSON)
    check((try? Twin(parsing: JSONValue(parsing: service.serializedBytes()))) == twin, "a twin does not survive serviceJSON → text → parse")

    // Documents read back from a store or received by a device: parse, then update as the hub would.
    if var parsed = try? Twin(parsing: value) {
        _ = parsed.etag
        _ = parsed.etagMatches("*")
        _ = JSONValue.object(parsed.serviceJSON).serializedBytes()
        _ = try? parsed.applyTagsPatch(["fuzz": 1])
        _ = try? parsed.applyDesiredPatch(["fuzz": ["nested": true]], at: later)
        _ = try? parsed.applyReportedPatch(["fuzz": .null], at: later)
        _ = try? parsed.update(with: ["tags": ["t": 1], "properties": ["desired": ["d": 2]]], at: later)
    }
    if let properties = try? TwinProperties(parsing: value) {
        check((try? TwinProperties(parsing: .object(properties.deviceJSON)))?.deviceJSON == properties.deviceJSON,
              "TwinProperties deviceJSON round trip")
        var copy = properties
        _ = try? copy.desired.applyPatch(["fuzz": 1], at: later)
        _ = try? copy.reported.applyPatch(["fuzz": 1], at: later)
    }
    var notified = TwinCollection(kind: .desired, createdAt: created)
    try? notified.applyNotification(value)

    // Timestamps: any string that parses prints back to an ISO 8601 text of the same instant (to 100 ns ticks).
    if case .string(let text) = value, let time = Timestamp(iso8601: text) {
        check(Timestamp(iso8601: time.iso8601) == time.truncatedToTicks, "Timestamp \(text) does not round-trip")
    }
    return 0
}
