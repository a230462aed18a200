import Foundation
import Testing
@testable import IoTHubProtocol

@Suite("SAS tokens")
struct SASTokenTests {
    let key = try! SharedAccessKey(base64: "c2VjcmV0")

    @Test("a known token, computed independently with Python's hmac module")
    func knownVector() {
        let token = SASToken.generate(resource: .device(hostName: "h", deviceId: "d"), key: key, expiry: 1_700_000_000)
        #expect(token.description
                == "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=aREuxlvhaQIVGnb65jQtrQlUXCD08Hr8Bxo6Pdzafpc%3D&se=1700000000")
    }

    @Test("parse: fields in any order, skn optional, values decoded")
    func parse() throws {
        let token = try SASToken(parsing: "SharedAccessSignature se=42&skn=owner&sig=a%2Bb%3D&sr=h%2Fdevices%2Fd")
        #expect(token.resourceURI == "h/devices/d")
        #expect(token.encodedResource == "h%2Fdevices%2Fd")
        #expect(token.signature == "a+b=")
        #expect(token.expiry == 42)
        #expect(token.keyName == "owner")
    }

    @Test("validation accepts the right key, resource and time")
    func validate() throws {
        let token = SASToken.generate(resourceURI: "hub.local/devices/d1", key: key, expiry: 1000)
        let parsed = try SASToken(parsing: token.description)
        try parsed.validate(resource: "hub.local/devices/d1", key: key, now: 999)
        try parsed.validate(resource: "HUB.local/devices/d1", key: key, now: 1000)
        try parsed.validate(resource: "amqps://hub.local/devices/d1/", key: key, now: 1000)
    }

    @Test("an expired token is refused")
    func expired() throws {
        let token = SASToken.generate(resourceURI: "h/devices/d", key: key, expiry: 1000)
        #expect(throws: SASTokenError.expired(expiry: 1000, now: 1001)) {
            try token.validate(resource: "h/devices/d", key: key, now: 1001)
        }
        #expect(token.isExpired(now: 1001))
        #expect(!token.isExpired(now: 1000))
    }

    @Test("a wrong key is refused")
    func wrongKey() throws {
        let token = SASToken.generate(resourceURI: "h/devices/d", key: key, expiry: 1000)
        #expect(throws: SASTokenError.signatureMismatch) {
            try token.validate(resource: "h/devices/d", key: SharedAccessKey.random(), now: 1)
        }
    }

    @Test("a token for another device is refused; prefixes only when allowed and on segment boundaries")
    func resources() throws {
        let device = SASToken.generate(resourceURI: "h/devices/d", key: key, expiry: 1000)
        #expect(throws: SASTokenError.resourceMismatch(token: "h/devices/d", expected: "h/devices/d2")) {
            try device.validate(resource: "h/devices/d2", key: key, now: 1)
        }
        #expect(!device.covers(resource: "h/devices/d/modules/m", allowPrefix: false))
        let policy = SASToken.generate(resourceURI: "h", key: key, expiry: 1000, keyName: "iothubowner")
        #expect(policy.covers(resource: "h/devices/d", allowPrefix: true))
        #expect(!policy.covers(resource: "h/devices/d", allowPrefix: false))
        #expect(!policy.covers(resource: "hx/devices/d", allowPrefix: true))
    }

    @Test("tampering with any signed part breaks the signature")
    func tamper() throws {
        let token = SASToken.generate(resourceURI: "h/devices/d", key: key, expiry: 1000)
        let text = token.description
        for tampered in [
            text.replacingOccurrences(of: "se=1000", with: "se=2000"),
            text.replacingOccurrences(of: "se=1000", with: "se=01000"),
            text.replacingOccurrences(of: "sr=h%2Fdevices%2Fd", with: "sr=h%2Fdevices%2Fe"),
        ] {
            #expect(!(try SASToken(parsing: tampered)).isSigned(by: key), "\(tampered)")
        }
    }

    @Test("signature comparison accepts both URL-encodings of the same signature")
    func encodings() throws {
        let device = SASToken.generate(resourceURI: "h/devices/d", key: key, expiry: 5, style: .deviceSDK)
        let service = SASToken.generate(resourceURI: "h/devices/d", key: key, expiry: 5, style: .serviceSDK)
        #expect(try SASToken(parsing: device.description).isSigned(by: key))
        #expect(try SASToken(parsing: service.description).isSigned(by: key))
    }

    @Test("malformed tokens give typed errors", arguments: [
        ("sr=a&sig=b&se=1", SASTokenError.notASASToken),
        ("SharedAccessSignature sr=a&sig=b", .missingField("se")),
        ("SharedAccessSignature sr=a&se=1", .missingField("sig")),
        ("SharedAccessSignature sig=b&se=1", .missingField("sr")),
        ("SharedAccessSignature sr=a&sig=b&se=soon", .invalidExpiry("soon")),
        ("SharedAccessSignature sr=a&sig=b&se=-5", .invalidExpiry("-5")),
        ("SharedAccessSignature sr=a&sig=b&se=99999999999999999999999", .invalidExpiry("99999999999999999999999")),
        ("SharedAccessSignature sr=a&sig=b&se=1&x=2", .unknownField("x")),
        ("SharedAccessSignature sr=a&sr=a&sig=b&se=1", .duplicateField("sr")),
        ("SharedAccessSignature sr=a&sig&se=1", .malformedField("sig")),
    ])
    func malformed(text: String, expected: SASTokenError) {
        #expect(throws: expected) { try SASToken(parsing: text) }
    }

    @Test("broken percent-encoding is a typed error")
    func badEncoding() {
        #expect(throws: SASTokenError.self) { try SASToken(parsing: "SharedAccessSignature sr=a%zz&sig=b&se=1") }
    }

    @Test("keys: invalid base64 refused, random keys are 32 bytes, description redacts")
    func keys() throws {
        #expect(throws: SASTokenError.invalidKey) { try SharedAccessKey(base64: "***") }
        #expect(throws: SASTokenError.invalidKey) { try SharedAccessKey(base64: "") }
        let random = SharedAccessKey.random()
        #expect(random.bytes.count == 32)
        #expect(try SharedAccessKey(base64: random.base64) == random)
        #expect(!random.description.contains(random.base64))
    }

    @Test("group enrollment key derivation (DPS)")
    func derivedKey() throws {
        // base64(HMAC-SHA256(base64decode("c2VjcmV0"), "device-01")), computed with Python's hmac module.
        #expect(key.derivedDeviceKey(registrationId: "device-01").base64 == "Z+QKywxLNrPkj/fHmcNPryd6vCfQSPUwyvb9Suw/h1s=")
    }

    @Test("SAS resources parse with and without scheme")
    func resourcesParse() {
        #expect(SASResource(uri: "h") == .hub(hostName: "h"))
        #expect(SASResource(uri: "amqps://h/devices/d") == .device(hostName: "h", deviceId: "d"))
        #expect(SASResource(uri: "h/devices/d/modules/m/") == .module(hostName: "h", deviceId: "d", moduleId: "m"))
        #expect(SASResource(uri: "h/things/d") == nil)
        #expect(SASResource(uri: "h/devices//modules/m") == nil)
        #expect(SASResource(uri: "") == nil)
    }
}
