import Testing
@testable import IoTHubProtocol

@Suite("percent-encoding")
struct PercentEncodingTests {
    @Test("encodes like Python's quote(safe='')")
    func encode() {
        #expect(PercentEncoding.encode("abcXYZ019-_.~") == "abcXYZ019-_.~")
        #expect(PercentEncoding.encode("a b/c+d=e&f$g%") == "a%20b%2Fc%2Bd%3De%26f%24g%25")
        #expect(PercentEncoding.encode("é€🙂") == "%C3%A9%E2%82%AC%F0%9F%99%82")
        #expect(PercentEncoding.encode("a/b c", safe: "/") == "a/b%20c")
        #expect(PercentEncoding.encode("a b+c", spaceAsPlus: true) == "a+b%2Bc")
    }

    @Test("decodes %XX only; + stays a plus; either hex case")
    func decode() throws {
        #expect(try PercentEncoding.decode("a%20b+c") == "a b+c")
        #expect(try PercentEncoding.decode("%c3%a9%C3%A9") == "éé")
        #expect(try PercentEncoding.decode("plain") == "plain")
    }

    @Test("strict decoding names the bad escape", arguments: ["%", "%2", "%zz", "a%2"])
    func strictErrors(text: String) {
        #expect(throws: PercentEncodingError.self) { try PercentEncoding.decode(text) }
    }

    @Test("strict decoding refuses bytes that are not UTF-8")
    func strictUTF8() {
        #expect(throws: PercentEncodingError.invalidUTF8(in: "%FF")) { try PercentEncoding.decode("%FF") }
    }

    @Test("lenient decoding keeps broken escapes, like Python's unquote")
    func lenient() {
        #expect(PercentEncoding.decodeLenient("100%") == "100%")
        #expect(PercentEncoding.decodeLenient("%zz%41") == "%zzA")
        #expect(PercentEncoding.decodeLenient("%FF") == "\u{FFFD}")
    }

    @Test("encode then decode is the identity on random text")
    func roundTrip() throws {
        var random = TestRandom(seed: 3)
        for _ in 0..<500 {
            let text = random.string(from: Alphabets.awkward, maxLength: 30, minLength: 0)
            #expect(try PercentEncoding.decode(PercentEncoding.encode(text)) == text)
        }
    }
}
