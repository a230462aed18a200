import Testing
@testable import IoTHubProtocol

@Suite("Twin limits")
struct TwinLimitsTests {
    let now = twinTime(10)

    func fresh() -> Twin { Twin(createdAt: twinTime(0)) }

    /// A patch with `depth` objects nested below the section (under keys `l1` … `l<depth>`), the innermost
    /// holding `{"v": leaf}`: the shape of Azure's depth example.
    func nested(_ depth: Int, leaf: JSONValue = "value") -> JSONValue {
        var value: JSONValue = ["v": leaf]
        for level in stride(from: depth, through: 1, by: -1) { value = ["l\(level)": value] }
        return value
    }

    @Test("keys: 1024 UTF-8 bytes pass, 1025 are refused")
    func keyLength() throws {
        var twin = fresh()
        try twin.applyReportedPatch(.object([String(repeating: "k", count: 1024): 1]), at: now)
        try twin.applyReportedPatch(.object([String(repeating: "é", count: 512): 1]), at: now)
        let long = String(repeating: "é", count: 512) + "k"
        #expect(throws: TwinError.keyTooLong(path: "properties.reported.\(long)", length: 1025, limit: 1024)) {
            try twin.applyReportedPatch(.object([long: 1]), at: now)
        }
        #expect(throws: TwinError.keyTooLong(path: "tags.a.\(String(repeating: "k", count: 1025))", length: 1025,
                                             limit: 1024)) {
            try twin.applyTagsPatch(["a": .object([String(repeating: "k", count: 1025): 1])])
        }
    }

    @Test("keys may not contain '.', ' ', '$' or control characters, at any level")
    func keyCharacters() throws {
        var twin = fresh()
        try twin.applyDesiredPatch(["ok-key_1": 1, "ünï€ødé": 2, "#hash": 3, "a:b/c": 4], at: now)
        let cases: [(String, String)] = [
            ("fw.version", "contains '.'"),
            ("two words", "contains a space"),
            ("$custom", "contains '$', which IoT Hub reserves for system properties such as $version"),
            ("cost$", "contains '$', which IoT Hub reserves for system properties such as $version"),
            ("nul\u{0}", "contains the control character U+0000"),
            ("line\n", "contains the control character U+000A"),
            ("del\u{7F}", "contains the control character U+007F"),
            ("c1\u{85}", "contains the control character U+0085"),
            ("c1\u{9F}", "contains the control character U+009F"),
        ]
        for (key, reason) in cases {
            #expect(throws: TwinError.invalidKey(path: "properties.desired.outer.\(key)", reason: reason)) {
                try twin.applyDesiredPatch(["outer": .object([key: 1])], at: now)
            }
        }
    }

    @Test("string values: 4096 UTF-8 bytes pass, 4097 are refused (in arrays too)")
    func stringLength() throws {
        var twin = fresh()
        try twin.applyReportedPatch(["s": .string(String(repeating: "x", count: 4096))], at: now)
        try twin.applyReportedPatch(["s": .string(String(repeating: "€", count: 1365) + "x")], at: now)  // 4096
        #expect(throws: TwinError.stringValueTooLong(path: "properties.reported.s", length: 4097, limit: 4096)) {
            try twin.applyReportedPatch(["s": .string(String(repeating: "x", count: 4097))], at: now)
        }
        #expect(throws: TwinError.stringValueTooLong(path: "properties.reported.list[1]", length: 4098, limit: 4096)) {
            try twin.applyReportedPatch(["list": ["a", .string(String(repeating: "€", count: 1366))]], at: now)
        }
    }

    @Test("depth: ten nested objects pass (Azure's own example), eleven are refused")
    func depth() throws {
        var twin = fresh()
        try twin.applyTagsPatch(nested(10))
        try twin.applyDesiredPatch(nested(10), at: now)
        let path = (1...11).map { "l\($0)" }.joined(separator: ".")
        #expect(throws: TwinError.tooDeep(path: "properties.reported.\(path)", depth: 11, limit: 10)) {
            try twin.applyReportedPatch(nested(11), at: now)
        }
        // Arrays count as a level: an array at depth 10 passes, an object inside it does not.
        try twin.applyReportedPatch(nested(9, leaf: [1, 2]), at: now)
        let inner = (1...9).map { "l\($0)" }.joined(separator: ".")
        #expect(throws: TwinError.tooDeep(path: "properties.reported.\(inner).v[0]", depth: 11, limit: 10)) {
            try twin.applyReportedPatch(nested(9, leaf: [["k": 1]]), at: now)
        }
        // Depth counts from the section: a patch that adds a level below existing deep data is refused.
        let ten = (1...10).map { "l\($0)" }.joined(separator: ".")
        #expect(throws: TwinError.tooDeep(path: "properties.desired.\(ten).v", depth: 11, limit: 10)) {
            try twin.applyDesiredPatch(nested(10, leaf: ["x": 1]), at: now)
        }
    }

    @Test("integers: ±2⁵² bounds pass, one beyond is refused; large doubles are fine")
    func integers() throws {
        var twin = fresh()
        try twin.applyReportedPatch(["max": 4_503_599_627_370_495, "min": -4_503_599_627_370_496, "big": 1e300], at: now)
        let range = TwinLimits.iotHub.integerRange
        #expect(throws: TwinError.integerOutOfRange(path: "properties.reported.n", value: 4_503_599_627_370_496,
                                                    range: range)) {
            try twin.applyReportedPatch(["n": 4_503_599_627_370_496], at: now)
        }
        #expect(throws: TwinError.integerOutOfRange(path: "properties.reported.n[0]", value: -4_503_599_627_370_497,
                                                    range: range)) {
            try twin.applyReportedPatch(["n": [-4_503_599_627_370_497]], at: now)
        }
    }

    @Test("arrays may not contain null")
    func nullInArray() {
        var twin = fresh()
        #expect(throws: TwinError.nullInArray(path: "properties.reported.a[1]")) {
            try twin.applyReportedPatch(["a": [1, .null]], at: now)
        }
    }

    @Test("size: keys and strings count UTF-8 bytes without control characters, numbers 8, Booleans 4")
    func sizeRule() {
        #expect(TwinLimits.size(of: ["temp": 21.5, "ok": true]) == 18)
        #expect(TwinLimits.size(of: ["a": ["bc": "xyz"]]) == 6)
        #expect(TwinLimits.size(of: ["l": ["ab", 1, false, ["k": 7]]]) == 1 + 2 + 8 + 4 + 1 + 8)
        #expect(TwinLimits.size(of: ["é": "a\nb\u{85}€"]) == 2 + 2 + 3)
        #expect(TwinLimits.size(of: ["n": .null, "i": 1]) == 1 + 0 + 1 + 8)
        #expect(TwinLimits.size(of: [:]) == 0)
    }

    /// `count` keys `k0`, `k1`, … each with a string making the member 4096 bytes, plus `extra` bytes on the last.
    func members(_ count: Int, extra: Int = 0) -> JSONValue {
        .object(JSONObject((0..<count).map { index in
            let key = "k\(index)"
            let length = 4096 - key.utf8.count + (index == count - 1 ? extra : 0)
            return (key, .string(String(repeating: "v", count: length)))
        }))
    }

    @Test("sections: exactly at the limit passes, one byte more is refused", arguments: TwinSection.allCases)
    func sectionSize(section: TwinSection) throws {
        let limit = TwinLimits.iotHub.maxSize(of: section)
        let count = limit / 4096
        let atLimit = members(count)
        #expect(TwinLimits.size(of: atLimit.objectValue!) == limit)
        var twin = fresh()
        try apply(atLimit, to: &twin, section: section)

        var overByOne = members(count, extra: -1).objectValue!  // limit - 1
        overByOne["x"] = "y"                                       // + 2
        #expect(TwinLimits.size(of: overByOne) == limit + 1)
        var other = fresh()
        let before = other
        #expect(throws: TwinError.sectionTooLarge(section: section, size: limit + 1, limit: limit)) {
            try apply(.object(overByOne), to: &other, section: section)
        }
        #expect(other == before)
    }

    func apply(_ patch: JSONValue, to twin: inout Twin, section: TwinSection) throws(TwinError) {
        switch section {
        case .tags: try twin.applyTagsPatch(patch)
        case .desired: try twin.applyDesiredPatch(patch, at: now)
        case .reported: try twin.applyReportedPatch(patch, at: now)
        }
    }

    @Test("a section already above a lowered limit may shrink but not grow")
    func onlyGrowthIsRefused() throws {
        var twin = fresh()
        try twin.applyReportedPatch(["aaaa": 1, "bbbb": 2, "cccc": 3], at: now)  // 36 bytes
        let tight = TwinLimits(maxReportedSize: 20)
        try twin.applyReportedPatch(["aaaa": .null], at: now, limits: tight)      // 24: smaller, still above
        try twin.applyReportedPatch(["bbbb": 5], at: now, limits: tight)         // 24: same size
        #expect(throws: TwinError.sectionTooLarge(section: .reported, size: 29, limit: 20)) {
            try twin.applyReportedPatch(["cccc": .null, "dddd": 1, "e": true], at: now, limits: tight)  // 29
        }
        #expect(twin.reported.properties == ["bbbb": 5, "cccc": 3])
    }

    @Test("every refused update leaves the twin unchanged")
    func refusedUpdatesChangeNothing() throws {
        var twin = fresh()
        try twin.applyTagsPatch(["site": "a"])
        try twin.applyDesiredPatch(["rate": 1], at: now)
        try twin.applyReportedPatch(["rate": 1], at: now)
        let before = twin
        let later = twinTime(99)
        func expectRefused(_ label: String, _ attempt: (inout Twin) throws -> Void) {
            var copy = before
            #expect(throws: TwinError.self, "\(label)") { try attempt(&copy) }
            #expect(copy == before, "\(label)")
        }
        expectRefused("tags patch") { try $0.applyTagsPatch(["ok": 1, "bad.key": 1]) }
        expectRefused("desired patch") { try $0.applyDesiredPatch(["ok": 1, "deep": nested(11)], at: later) }
        expectRefused("reported patch") { try $0.applyReportedPatch([1, 2], at: later) }
        expectRefused("desired replacement") { try $0.replaceDesired(["ok": 1, "x": [.null]], at: later) }
        expectRefused("tags replacement") {
            try $0.replaceTags(["s": .string(String(repeating: "x", count: 5000))])
        }
        expectRefused("REST patch") {
            try $0.update(with: ["tags": ["fine": 1], "properties": ["desired": ["bad key": 1]]], at: later)
        }
        expectRefused("REST replace") {
            try $0.replace(with: ["tags": ["fine": 1], "properties": ["desired": members(9)]], at: later)
        }
        expectRefused("REST body") { try $0.update(with: ["properties": "nope"], at: later) }
    }

    @Test("errors map to 400004 ArgumentInvalid and say what to do")
    func errors() {
        let errors: [TwinError] = [
            .notAnObject(path: "properties.reported", found: "array"),
            .keyTooLong(path: "tags." + String(repeating: "k", count: 2000), length: 2000, limit: 1024),
            .invalidKey(path: "tags.a.b", reason: "contains '.'"),
            .stringValueTooLong(path: "tags.s", length: 5000, limit: 4096),
            .integerOutOfRange(path: "tags.n", value: 1 << 60, range: TwinLimits.iotHub.integerRange),
            .nullInArray(path: "tags.a[0]"),
            .tooDeep(path: "tags.a", depth: 11, limit: 10),
            .sectionTooLarge(section: .desired, size: 40_000, limit: 32_768),
            .malformedDocument(path: "version", reason: "missing"),
        ]
        for error in errors {
            #expect(error.errorCode == .argumentInvalid)
            #expect(error.errorCode.rawValue == 400_004)
            #expect(error.description.count < 400)
        }
        #expect(errors[0].description == "properties.reported must be a JSON object, but it is an array; "
                + #"send an object such as {"key": "value"}"#)
        #expect(errors[7].description.contains("properties.desired would be 40000 bytes; the limit is 32768"))
        #expect(errors[1].description.contains("..."))
    }
}
