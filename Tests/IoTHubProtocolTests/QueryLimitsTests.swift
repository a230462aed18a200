import Foundation
import Testing
@testable import IoTHubProtocol

/// Runs `body` on a new thread with a stack of `stackSize` bytes: NIO event-loop threads and Swift's cooperative
/// pool have 512 KiB, so work that fits here fits there. Overflowing the stack kills the test process.
private func onThread<T: Sendable>(stackSize: Int, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.stackSize = stackSize
        thread.start()
    }
}

private let kib = 1024

/// The message of the QueryError `text` throws, or nil when it parses.
private func parseError(_ text: String) -> String? {
    do {
        _ = try RegistryQuery(parsing: text)
        return nil
    } catch {
        return error.message
    }
}

@Suite("registry query limits")
struct QueryLimitsTests {
    let twin: JSONValue = ["deviceId": "pump-1", "f": 3, "tags": ["floor": 3, "site": "lab"]]
    let prefix = "SELECT * FROM devices WHERE "

    @Test("4,000 OR terms give a QueryError naming the limit, not a crash (on a 512 KiB stack)")
    func fourThousandOrTerms() async {
        let text = prefix + (0..<4000).map { "tags.floor = \($0)" }.joined(separator: " OR ")
        let message = await onThread(stackSize: 512 * kib) { parseError(text) }
        #expect(message?.contains("limited to \(RegistryQuery.maximumLength) bytes") == true, "\(message ?? "parsed")")

        // The conditions limit holds by itself too, below the length limit and in the parser alone.
        let compact = prefix + Array(repeating: "a", count: 4000).joined(separator: " OR ")
        let direct = await onThread(stackSize: 512 * kib) { () -> String? in
            do throws(QueryError) {
                var parser = QueryParser(tokens: try QueryLexer.tokenize(compact))
                _ = try parser.parseQuery()
                return nil
            } catch {
                return error.message
            }
        }
        #expect(direct?.contains("more than \(RegistryQuery.maximumConditions) conditions") == true, "\(direct ?? "parsed")")
    }

    @Test("1,000 conditions parse; the 1,001st is refused where it starts")
    func conditionLimit() throws {
        let allowed = prefix + Array(repeating: "a=1", count: RegistryQuery.maximumConditions).joined(separator: " OR ")
        #expect(allowed.utf8.count <= RegistryQuery.maximumLength)
        guard case .or(let terms)? = try RegistryQuery(parsing: allowed).condition else {
            Issue.record("expected one OR node")
            return
        }
        #expect(terms.count == RegistryQuery.maximumConditions)

        let over = allowed + " OR b=2"
        #expect(over.utf8.count <= RegistryQuery.maximumLength)
        #expect(throws: QueryError(offset: over.utf8.count - 3, message: "the query has more than 1000 conditions; "
            + "IoT Hub queries are limited in size, so use IN [...] for long lists of values or split the query")) {
            try RegistryQuery(parsing: over)
        }
        // Function arguments are conditions as well.
        let functions = prefix + Array(repeating: "STARTSWITH(a, 'b')", count: 334).joined(separator: " OR ")
        #expect(parseError(functions)?.contains("more than 1000 conditions") == true)
    }

    @Test("nesting: 64 levels of parentheses, NOT and functions parse and evaluate on a 512 KiB stack; 65 are refused",
          arguments: [("(", true), ("NOT ", true), ("IS_BOOL(", true), ("mixed", false)])
    func nesting(opener: String, expected: Bool) async throws {
        func query(_ levels: Int) -> String {
            let openers = opener == "mixed" ? ["(", "NOT ", "IS_BOOL("] : [opener]
            var open = "", close = ""
            for level in 0..<levels {
                let next = openers[level % openers.count]
                open += next
                close = (next == "NOT " ? "" : ")") + close
            }
            return prefix + open + "tags.floor = 3" + close
        }
        let deepest = query(RegistryQuery.maximumNestingDepth)
        let twin = self.twin
        let result = await onThread(stackSize: 512 * kib) { () -> Result<[Bool], QueryError> in
            Result { () throws(QueryError) -> [Bool] in
                let parsed = try RegistryQuery(parsing: deepest)
                var hasher = Hasher()
                hasher.combine(parsed)
                _ = hasher.finalize()
                return [parsed == (try RegistryQuery(parsing: deepest)), parsed.matches(twin)]
            }
        }
        #expect(try result.get() == [true, expected])

        let message = parseError(query(RegistryQuery.maximumNestingDepth + 1))
        #expect(message?.hasPrefix("the condition nests more than 64 levels deep") == true, "\(message ?? "parsed")")
        // Far beyond the limit the error is the same, found as soon as the limit is passed.
        let hostile = prefix + String(repeating: "(", count: 8000)
        #expect(parseError(hostile)?.hasPrefix("the condition nests more than 64 levels deep") == true)
    }

    @Test("a 900-term OR chain and AND chain are one n-ary node each, evaluated with a loop on a 64 KiB stack")
    func longChains() async throws {
        let orText = prefix + Array(repeating: "f=1", count: 900).joined(separator: " OR ")
        let lastMatches = prefix + Array(repeating: "f=1", count: 899).joined(separator: " OR ") + " OR f=3"
        let andText = prefix + (0..<900).map { "f>\($0 % 3)" }.joined(separator: " AND ")
        let andFails = andText + " AND f<3"
        for text in [orText, lastMatches, andText, andFails] { #expect(text.utf8.count <= RegistryQuery.maximumLength) }

        guard case .or(let terms)? = try RegistryQuery(parsing: lastMatches).condition else {
            Issue.record("expected one OR node")
            return
        }
        #expect(terms.count == 900)
        #expect(terms[899] == .compare(.field(["f"]), .equal, .literal(3)))
        guard case .and(let conjuncts)? = try RegistryQuery(parsing: andFails).condition else {
            Issue.record("expected one AND node")
            return
        }
        #expect(conjuncts.count == 901)

        // A recursion per term would need far more than 64 KiB here (the old binary tree overflowed 512 KiB at
        // 4,000 terms); parsing, evaluation, equality, hashing and release all stay shallow.
        let twin = self.twin
        let results = await onThread(stackSize: 64 * kib) { () -> [Bool] in
            [orText, lastMatches, andText, andFails].map { text in
                guard let query = try? RegistryQuery(parsing: text), let again = try? RegistryQuery(parsing: text)
                else { return false }
                var hasher = Hasher()
                hasher.combine(query)
                _ = hasher.finalize()
                return query == again && query.matches(twin)
            }
        }
        #expect(results == [false, true, true, false])
    }

    @Test("query text: 8 KiB is accepted, one byte more is refused naming the limit")
    func length() {
        let base = prefix + "tags.floor = 3"
        let longest = base + String(repeating: " ", count: RegistryQuery.maximumLength - base.utf8.count)
        #expect(longest.utf8.count == 8192)
        #expect(parseError(longest) == nil)
        #expect(throws: QueryError(offset: 0, message: "the query is 8193 bytes long; queries are limited to 8192 bytes, "
            + "as in IoT Hub, so shorten it (for example with IN [...]) or split it")) {
            try RegistryQuery(parsing: longest + " ")
        }
        // Multi-byte characters count by their UTF-8 size.
        let wide = prefix + "tags.site = '" + String(repeating: "é", count: 4100) + "'"
        #expect(parseError(wide)?.hasPrefix("the query is 8242 bytes long") == true)
    }
}

@Suite("recursion on parsed input fits a 512 KiB stack")
struct ParsedInputStackTests {
    /// Objects and arrays alternating, `levels` deep: `{"a":[{"a":[…1…]}]}`.
    static func nestedJSON(_ levels: Int) -> String {
        var open = "", close = ""
        for level in 0..<levels {
            if level % 2 == 0 {
                open += #"{"a":"#
                close = "}" + close
            } else {
                open += "["
                close = "]" + close
            }
        }
        return open + "1" + close
    }

    // Measured with a separate build of IoTHubProtocol (threads of decreasing stack size): JSON at depth 64 through
    // parse, compact and pretty serialization, equality and hashing needs about 27 KiB optimized and 98 KiB in a
    // debug build; the deepest allowed query about 43 KiB optimized and 248 KiB in a debug build. 256 KiB here
    // leaves 2x over the debug figure for JSON and 5x over the optimized figure for 512 KiB threads.
    @Test("JSON at the parser's default depth: parse, serialize, compare, hash, twin checks and release on 256 KiB")
    func jsonAtDefaultDepth() async throws {
        let deepest = Self.nestedJSON(64)
        let ok = await onThread(stackSize: 256 * kib) { () -> Bool in
            guard let value = try? JSONValue(parsing: deepest) else { return false }
            let compact = value.serialized()
            guard let again = try? JSONValue(parsing: value.serialized(style: .pretty)) else { return false }
            var hasher = Hasher()
            hasher.combine(value)
            _ = hasher.finalize()
            // The twin validator recurses too, and refuses the patch at its own depth limit (10).
            var section = TwinCollection(kind: .reported, createdAt: Timestamp(secondsSince1970: 0))
            let refused = (try? section.applyPatch(["deep": value], at: Timestamp(secondsSince1970: 1))) == nil
            return compact == deepest && again == value && refused
        }
        #expect(ok)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: Self.nestedJSON(65)) }
    }
}
