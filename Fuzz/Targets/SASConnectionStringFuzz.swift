// libFuzzer target `sas-connection-string`: SAS tokens, SAS resource URIs, connection strings and percent-encoding
// in IoTHubProtocol. Built together with the sources of Sources/IoTHubProtocol as module IoTHubProtocol (see
// scripts/fuzz.sh).
//
// Input: byte 0 picks options (encoding style, `safe` set, `now`), the rest is the text. Each parser must throw its
// typed error or return a value that survives formatting and parsing again; percent-encoding must round-trip byte
// for byte.

private func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("sas-connection-string: " + message()) }
}

private let key = SharedAccessKey(bytes: Array("fuzz-key-0123456789abcdef".utf8))
private let safeSets = ["", "/", "/:@", "%", "=&"]

@_cdecl("LLVMFuzzerTestOneInput")
public func sasConnectionStringFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let options = input[0]
    let text = String(decoding: input[1...], as: UTF8.self)

    // Percent-encoding: encode → decode is the identity, byte for byte, for every `safe` set; with spaceAsPlus a
    // space comes back as '+', which decoding keeps.
    let safe = safeSets[Int(options) % safeSets.count]
    let spacesAsPlus = String(decoding: text.utf8.map { $0 == UInt8(ascii: " ") ? UInt8(ascii: "+") : $0 }, as: UTF8.self)
    for (plus, expected) in [(false, text), (true, spacesAsPlus)] {
        let encoded = PercentEncoding.encode(text, safe: safe, spaceAsPlus: plus)
        check(encoded.utf8.allSatisfy { $0 < 0x80 }, "encode produced non-ASCII \(encoded.debugDescription)")
        // A literal '%' left unencoded (safe: "%") reads as an escape when decoded, so only encoding is checked.
        if safe.contains("%") { continue }
        do {
            let decoded = try PercentEncoding.decode(encoded)
            check(decoded.utf8.elementsEqual(expected.utf8),
                  "decode(encode(\(text.debugDescription), safe: \(safe.debugDescription), plus: \(plus))) = \(decoded.debugDescription)")
        } catch {
            check(false, "encode(\(text.debugDescription)) = \(encoded.debugDescription) does not decode: \(error)")
        }
        check(PercentEncoding.decodeLenient(encoded[...]).utf8.elementsEqual(expected.utf8),
              "decodeLenient(encode(\(text.debugDescription)))")
    }
    // Strict decoding: when it succeeds, lenient decoding agrees, and encoding the result decodes back to it.
    do {
        let decoded = try PercentEncoding.decode(text)
        check(PercentEncoding.decodeLenient(text[...]).utf8.elementsEqual(decoded.utf8), "decode and decodeLenient disagree on \(text.debugDescription)")
        check((try? PercentEncoding.decode(PercentEncoding.encode(decoded)))?.utf8.elementsEqual(decoded.utf8) == true,
              "re-encoding \(decoded.debugDescription) does not round-trip")
    } catch {
        _ = error.description
    }
    let lenient = PercentEncoding.decodeLenient(text[...])
    check(PercentEncoding.decodeLenient(PercentEncoding.encode(lenient)[...]).utf8.elementsEqual(lenient.utf8), "lenient round trip")

    // SAS tokens: a parsed token parses again from its text to the same token; checking it never traps.
    do {
        let token = try SASToken(parsing: text)
        do {
            let again = try SASToken(parsing: token.description)
            check(again == token, "SASToken \(text.debugDescription) parsed differently from its description")
        } catch {
            check(false, "SASToken description \(token.description.debugDescription) does not parse: \(error)")
        }
        let now = UInt64(options) * 10_000_000 + (options & 1 == 0 ? 0 : UInt64.max / 2)
        _ = token.isExpired(now: now)
        _ = token.isSigned(by: key)
        for resource in [token.resourceURI, "hub.local/devices/d1", ""] {
            for prefix in [false, true] {
                do { try token.validate(resource: resource, key: key, now: now, allowPrefix: prefix) } catch { _ = error.description }
            }
        }
        _ = SASToken.resource(token.resourceURI, isWithin: text)
    } catch {
        _ = error.description
    }

    // Generating a token over arbitrary text yields a token that parses back to the same resource and verifies.
    let style: SASToken.Style = options & 2 == 0 ? .deviceSDK : .serviceSDK
    let generated = SASToken.generate(resourceURI: text, key: key, expiry: UInt64(options) * 1_000_003,
                                      keyName: options & 4 == 0 ? nil : "policy", style: style)
    do {
        let parsed = try SASToken(parsing: generated.description)
        // serviceSDK style encodes a space as '+', which decoding (like IoT Hub's) keeps as '+'.
        let expected = style == .deviceSDK ? text : spacesAsPlus
        check(parsed.resourceURI.utf8.elementsEqual(expected.utf8), "generated token for \(text.debugDescription) names \(parsed.resourceURI.debugDescription)")
        check(parsed.isSigned(by: key), "a generated token does not verify")
    } catch {
        // Only text that trims to something else or has no resource can fail (sr must not be empty).
        check(text.isEmpty, "generated token \(generated.description.debugDescription) does not parse: \(error)")
    }

    // Resource URIs.
    if let resource = SASResource(uri: text) {
        check(SASResource(uri: resource.uri) == resource, "SASResource \(text.debugDescription) -> \(resource.uri.debugDescription)")
        _ = resource.hostName
    }

    // Connection strings: a parsed one formats to a canonical text that parses back to the same value.
    do {
        let connection = try ConnectionString(parsing: text)
        do {
            let again = try ConnectionString(parsing: connection.description)
            check(again == connection, "ConnectionString \(text.debugDescription) -> \(connection.description.debugDescription) changed")
        } catch {
            check(false, "ConnectionString description \(connection.description.debugDescription) (from \(text.debugDescription)) does not parse: \(error)")
        }
        _ = connection.kind
        _ = connection.resourceURI
        if let base64 = connection.sharedAccessKey { _ = try? SharedAccessKey(base64: base64) }
    } catch {
        _ = error.description
    }
    _ = try? SharedAccessKey(base64: text)
    return 0
}
