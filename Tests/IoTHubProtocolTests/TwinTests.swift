import Testing
@testable import IoTHubProtocol

@Suite("Twin versions, etags and REST bodies")
struct TwinTests {
    let now = twinTime(60)

    @Test("a new twin: version 1, etag AAAAAAAAAAE=, empty sections at $version 1")
    func fresh() {
        let twin = Twin(createdAt: twinTime(0))
        #expect(twin.version == 1)
        #expect(twin.etag == "AAAAAAAAAAE=")
        #expect(twin.tags.isEmpty)
        #expect(twin.desired.version == 1 && twin.reported.version == 1)
        #expect(twin.deviceJSON.description == #"{"desired":{"$version":1},"reported":{"$version":1}}"#)
    }

    @Test("tags and desired updates bump the twin version; reported updates bump only their section")
    func versions() throws {
        var twin = Twin(createdAt: twinTime(0))
        try twin.applyTagsPatch(["site": "a"])
        #expect(twin.version == 2 && twin.etag == "AAAAAAAAAAI=")
        try twin.applyDesiredPatch(["rate": 1], at: now)
        #expect(twin.version == 3 && twin.desired.version == 2)
        let reportedVersion = try twin.applyReportedPatch(["rate": 1], at: now)
        #expect(reportedVersion == 2 && twin.reported.version == 2)
        #expect(twin.version == 3 && twin.etag == "AAAAAAAAAAM=")
        try twin.replaceTags(["site": "b"])
        try twin.replaceDesired(["rate": 2], at: now)
        #expect(twin.version == 5 && twin.desired.version == 3)
        #expect(twin.tags == ["site": "b"])
    }

    @Test("the etag is the big-endian version in base64, and If-Match accepts its usual spellings")
    func etag() {
        let twin = Twin(tags: [:], properties: TwinProperties(createdAt: twinTime(0)), version: 0x0102_0304_0506_0708)
        #expect(twin.etag == "AQIDBAUGBwg=")
        #expect(twin.etagMatches("AQIDBAUGBwg="))
        #expect(twin.etagMatches(#""AQIDBAUGBwg=""#))
        #expect(twin.etagMatches(#" W/"AQIDBAUGBwg=" "#))
        #expect(twin.etagMatches("*"))
        #expect(!twin.etagMatches("AAAAAAAAAAE="))
        #expect(!twin.etagMatches(#""AQIDBAUGBwg="#))
        #expect(!twin.etagMatches(""))
    }

    @Test("PATCH /twins body: tags and desired merge together as one version; other members are ignored")
    func restPatch() throws {
        var twin = Twin(createdAt: twinTime(0))
        try twin.applyReportedPatch(["battery": 80], at: now)
        let body: JSONValue = [
            "deviceId": "d1", "etag": "AAAAAAAAAAE=", "tags": ["site": "a"],
            "properties": ["desired": ["rate": 5, "$version": 77], "reported": ["battery": 1]],
        ]
        let notification = try twin.update(with: body, at: now)
        #expect(notification?.description == #"{"rate":5,"$version":2}"#)
        #expect(twin.version == 2)
        #expect(twin.tags == ["site": "a"])
        #expect(twin.desired.properties == ["rate": 5])
        #expect(twin.reported.properties == ["battery": 80])
        // Only tags: no desired notification.
        #expect(try twin.update(with: ["tags": ["site": .null, "line": 2]], at: now) == nil)
        #expect(twin.tags == ["line": 2] && twin.version == 3 && twin.desired.version == 2)
        // Neither part: nothing changes.
        #expect(try twin.update(with: ["deviceId": "d1"], at: now) == nil)
        #expect(twin.version == 3)
    }

    @Test("PUT /twins body: tags and desired are replaced, reported kept, absent parts left alone")
    func restReplace() throws {
        var twin = Twin(createdAt: twinTime(0))
        try twin.applyTagsPatch(["old": 1])
        try twin.applyDesiredPatch(["old": 1, "keep": 2], at: now)
        try twin.applyReportedPatch(["battery": 80], at: now)
        let notification = try twin.replace(with: ["tags": ["new": 1], "properties": ["desired": ["keep": 2]]],
                                            at: twinTime(61))
        #expect(notification?.description == #"{"keep":2,"$version":3}"#)
        #expect(twin.tags == ["new": 1])
        #expect(twin.desired.properties == ["keep": 2])
        #expect(twin.reported.properties == ["battery": 80])
        #expect(twin.version == 4)
        #expect(twin.desired.metadata?.node(at: ["keep"])?.lastUpdated == twinTime(61))
        #expect(try twin.replace(with: ["tags": ["only": true]], at: now) == nil)
        #expect(twin.tags == ["only": true] && twin.desired.properties == ["keep": 2] && twin.version == 5)
        #expect(throws: TwinError.notAnObject(path: "twin", found: "string")) {
            try twin.replace(with: "x", at: now)
        }
    }

    @Test("a patch that is not an object is refused with the section's path")
    func notAnObject() {
        var twin = Twin(createdAt: twinTime(0))
        #expect(throws: TwinError.notAnObject(path: "properties.reported", found: "array")) {
            try twin.applyReportedPatch([1], at: now)
        }
        #expect(throws: TwinError.notAnObject(path: "properties.desired", found: "null")) {
            try twin.applyDesiredPatch(.null, at: now)
        }
        #expect(throws: TwinError.notAnObject(path: "tags", found: "number")) { try twin.applyTagsPatch(3) }
        #expect(throws: TwinError.notAnObject(path: "properties", found: "boolean")) {
            try twin.update(with: ["properties": true], at: now)
        }
    }
}
