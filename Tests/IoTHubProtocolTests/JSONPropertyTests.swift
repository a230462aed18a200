import Testing
@testable import IoTHubProtocol

/// Seeded random checks: serialization round-trips, and arbitrary bytes never crash the parser.
@Suite("JSON properties (seeded random)")
struct JSONPropertyTests {
    /// Characters that stress escaping and UTF-8: quotes, backslashes, controls, multi-byte and astral scalars.
    static let alphabet = Array("aZ09 _-\"\\/\n\t\u{0}\u{1F}\u{7F}\u{85}é€日🙂\u{2028}\u{FFFF}{}[],:")

    static func randomValue(_ random: inout TestRandom, depth: Int) -> JSONValue {
        let pick = Int.random(in: 0..<(depth > 0 ? 8 : 6), using: &random)
        switch pick {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2:
            let small = Int64.random(in: -1000...1000, using: &random)
            return .integer(Bool.random(using: &random) ? small : Int64(bitPattern: random.next()))
        case 3: return .double(randomDouble(&random))
        case 4, 5: return .string(random.string(from: alphabet, maxLength: 12, minLength: 0))
        case 6:
            let count = Int.random(in: 0...4, using: &random)
            return .array((0..<count).map { _ in randomValue(&random, depth: depth - 1) })
        default:
            let count = Int.random(in: 0...4, using: &random)
            return .object(JSONObject((0..<count).map { _ in
                (random.string(from: alphabet, maxLength: 6, minLength: 0), randomValue(&random, depth: depth - 1))
            }))
        }
    }

    /// Any finite double: random bit patterns (tiny, huge, subnormal) and friendly decimals.
    static func randomDouble(_ random: inout TestRandom) -> Double {
        while true {
            let candidate = Bool.random(using: &random)
                ? Double(bitPattern: random.next())
                : Double(Int.random(in: -100_000...100_000, using: &random)) / 100
            if candidate.isFinite { return candidate }
        }
    }

    /// Structural identity, stricter than `==`: the number case must survive too.
    static func identical(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.integer(let x), .integer(let y)): x == y
        case (.double(let x), .double(let y)): x.bitPattern == y.bitPattern
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
        case (.object(let x), .object(let y)):
            x.keys == y.keys && zip(x.values, y.values).allSatisfy { identical($0, $1) }
        case (.integer, _), (.double, _), (.array, _), (.object, _): false
        default: a == b
        }
    }

    @Test("random values survive serialize → parse unchanged, compact and pretty", arguments: [1, 2, 3, 4])
    func roundTrip(seed: UInt64) throws {
        var random = TestRandom(seed: seed)
        for _ in 0..<500 {
            let value = Self.randomValue(&random, depth: 5)
            for style in [JSONValue.SerializationStyle.compact, .pretty] {
                let text = value.serialized(style: style)
                let parsed = try JSONValue(parsing: text)
                #expect(Self.identical(parsed, value), "\(text)")
                #expect(parsed.serialized(style: style) == text)
            }
        }
    }

    @Test("random bytes give a value or a typed error with an offset inside the input", arguments: [7, 8])
    func garbage(seed: UInt64) {
        var random = TestRandom(seed: seed)
        let structural = Array(#"{}[],:"\0123456789-+.eEtrufalsn "#.utf8) + [0x5C, 0xC3, 0xA9, 0xED, 0xF0, 0xFF]
        var values = 0
        for round in 0..<4000 {
            let count = Int.random(in: 0...40, using: &random)
            let bytes = round % 2 == 0
                ? random.bytes(count)
                : (0..<count).map { _ in structural.randomElement(using: &random)! }
            do {
                _ = try JSONParser(maximumDepth: 8).parse(bytes)
                values += 1
            } catch {
                #expect(error.offset >= 0 && error.offset <= bytes.count, "\(bytes)")
            }
        }
        #expect(values > 0)  // the structural alphabet does produce some valid documents
    }

    @Test("mutated valid documents never crash the parser", arguments: [21])
    func mutations(seed: UInt64) {
        var random = TestRandom(seed: seed)
        for _ in 0..<1000 {
            var bytes = Self.randomValue(&random, depth: 4).serializedBytes()
            guard !bytes.isEmpty else { continue }
            switch Int.random(in: 0..<3, using: &random) {
            case 0: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            case 1: bytes.removeLast(Int.random(in: 0...bytes.count, using: &random))
            default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
            }
            do {
                let value = try JSONValue(parsing: bytes)
                // Whatever parses must serialize to something that parses to the same value.
                #expect(try JSONValue(parsing: value.serialized()) == value)
            } catch {
                #expect(error.offset <= bytes.count)
            }
        }
    }
}
