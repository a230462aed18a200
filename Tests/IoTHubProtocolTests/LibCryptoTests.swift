import Testing
@testable import IoTHubProtocol

@Suite("libcrypto wrapper")
struct LibCryptoTests {
    func hex(_ bytes: [UInt8]) -> String {
        bytes.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
    }

    @Test("HMAC-SHA256 matches RFC 4231 test cases 1 and 2")
    func hmacVectors() {
        #expect(hex(LibCrypto.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(hex(LibCrypto.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("HMAC with an empty key and message is defined")
    func hmacEmpty() {
        #expect(hex(LibCrypto.hmacSHA256(key: [], message: []))
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test("SHA-256 and SHA-1 of 'abc'")
    func digests() {
        #expect(hex(LibCrypto.sha256(Array("abc".utf8)))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(LibCrypto.sha1(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(LibCrypto.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("hex is upper case, two digits a byte, no separators")
    func hex() {
        #expect(LibCrypto.hexEncode([]) == "")
        #expect(LibCrypto.hexEncode([0x00, 0x0F, 0xAB, 0xFF]) == "000FABFF")
        #expect(LibCrypto.hexEncode(LibCrypto.sha1(Array("abc".utf8))) == "A9993E364706816ABA3E25717850C26C9CD0D89D")
    }

    @Test("base64 RFC 4648 vectors both ways", arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ])
    func base64Vectors(plain: String, encoded: String) {
        #expect(LibCrypto.base64Encode(Array(plain.utf8)) == encoded)
        #expect(LibCrypto.base64Decode(encoded) == Array(plain.utf8))
    }

    @Test("base64 decoding is strict", arguments: ["Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v!", " Zm9v", "Zm9v\n", "=Zm9", "Zm=v"])
    func base64Strict(bad: String) {
        #expect(LibCrypto.base64Decode(bad) == nil)
    }

    @Test("base64 round-trips random bytes of every length up to 100")
    func base64RoundTrip() {
        var random = TestRandom(seed: 1)
        for length in 0...100 {
            let bytes = random.bytes(length)
            #expect(LibCrypto.base64Decode(LibCrypto.base64Encode(bytes)) == bytes)
        }
    }

    @Test("random bytes differ between calls")
    func randomBytes() {
        #expect(LibCrypto.randomBytes(count: 32).count == 32)
        #expect(LibCrypto.randomBytes(count: 32) != LibCrypto.randomBytes(count: 32))
        #expect(LibCrypto.randomBytes(count: 0).isEmpty)
    }
}
