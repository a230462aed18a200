import Testing
@testable import IoTHubProtocol

@Suite("Twin timestamps (ISO 8601)")
struct TwinTimestampTests {
    @Test("known instants format with seven fractional digits")
    func formatting() {
        let cases: [(Int64, Int32, String)] = [
            (0, 0, "1970-01-01T00:00:00.0000000Z"),
            (1_700_000_000, 123_456_789, "2023-11-14T22:13:20.1234567Z"),
            (-1, 0, "1969-12-31T23:59:59.0000000Z"),
            (946_684_800, 0, "2000-01-01T00:00:00.0000000Z"),
            (951_782_400, 100, "2000-02-29T00:00:00.0000001Z"),
            (1_709_164_800, 0, "2024-02-29T00:00:00.0000000Z"),
            (4_107_542_400, 0, "2100-03-01T00:00:00.0000000Z"),
            (2_147_483_647, 999_999_999, "2038-01-19T03:14:07.9999999Z"),
            (-62_135_596_800, 0, "0001-01-01T00:00:00.0000000Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59.0000000Z"),
        ]
        for (seconds, nanoseconds, text) in cases {
            #expect(Timestamp(secondsSince1970: seconds, nanoseconds: nanoseconds).iso8601 == text)
            let ticks = Timestamp(secondsSince1970: seconds, nanoseconds: nanoseconds - nanoseconds % 100)
            #expect(Timestamp(iso8601: text) == ticks)
        }
    }

    @Test("constructors normalize nanoseconds and truncate to ticks")
    func construction() {
        #expect(Timestamp(nanosecondsSince1970: 1_500_000_000) == Timestamp(secondsSince1970: 1, nanoseconds: 500_000_000))
        #expect(Timestamp(nanosecondsSince1970: -1) == Timestamp(secondsSince1970: -1, nanoseconds: 999_999_999))
        #expect(Timestamp(secondsSince1970: 5, nanoseconds: -1) == Timestamp(secondsSince1970: 4, nanoseconds: 999_999_999))
        #expect(Timestamp(secondsSince1970: 5, nanoseconds: 2_000_000_001).nanoseconds == 1)
        #expect(Timestamp(secondsSince1970: 5, nanoseconds: 123_456_789).truncatedToTicks.nanoseconds == 123_456_700)
        #expect(Timestamp(secondsSince1970: 1) < Timestamp(secondsSince1970: 1, nanoseconds: 1))
        #expect(Timestamp(secondsSince1970: 0).description == "1970-01-01T00:00:00.0000000Z")
        // Extreme values format without trapping.
        _ = Timestamp(secondsSince1970: .max, nanoseconds: 0).iso8601
        _ = Timestamp(secondsSince1970: .min, nanoseconds: 0).iso8601
    }

    @Test("parsing accepts Azure's shorter fractions, offsets and zone-less times")
    func parsing() {
        #expect(Timestamp(iso8601: "2016-03-30T16:24:48.789Z")
                == Timestamp(secondsSince1970: 1_459_355_088, nanoseconds: 789_000_000))
        #expect(Timestamp(iso8601: "2016-03-30T17:24:48.789+01:00")
                == Timestamp(secondsSince1970: 1_459_355_088, nanoseconds: 789_000_000))
        #expect(Timestamp(iso8601: "2016-03-30T15:54:48.789-00:30")
                == Timestamp(secondsSince1970: 1_459_355_088, nanoseconds: 789_000_000))
        #expect(Timestamp(iso8601: "0001-01-01T00:00:00") == Timestamp(secondsSince1970: -62_135_596_800))
        #expect(Timestamp(iso8601: "2020-01-01T00:00:00.123456789Z")?.nanoseconds == 123_456_789)
        for bad in ["", "2023-02-29T00:00:00Z", "2023-13-01T00:00:00Z", "2023-00-01T00:00:00Z", "2023-04-31T00:00:00Z",
                    "2023-01-01T24:00:00Z", "2023-01-01T00:60:00Z", "2023-01-01T00:00:60Z", "2023-01-01 00:00:00Z",
                    "2023-01-01T00:00:00.Z", "2023-01-01T00:00:00.1234567890Z", "2023-01-01T00:00:00Zx",
                    "23-01-01T00:00:00Z", "2023-1-01T00:00:00Z", "2023-01-01T00:00:00+1:00", "２０２３-01-01T00:00:00Z"] {
            #expect(Timestamp(iso8601: bad) == nil, "\(bad)")
        }
    }

    @Test("random instants round-trip through the text at tick resolution", arguments: [5])
    func roundTrip(seed: UInt64) {
        var random = TestRandom(seed: seed)
        for _ in 0..<2000 {
            let time = Timestamp(secondsSince1970: Int64.random(in: -62_135_596_800...253_402_300_799, using: &random),
                                 nanoseconds: Int32.random(in: 0..<1_000_000_000, using: &random))
            #expect(Timestamp(iso8601: time.iso8601) == time.truncatedToTicks, "\(time.iso8601)")
        }
    }

    @Test("the calendar agrees with counting days one by one from 1970")
    func calendar() {
        var days: Int64 = 0
        var mismatches: [String] = []
        for year: Int64 in 1970...2101 {
            for month: Int64 in 1...12 {
                let length: Int64 = switch month {
                case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
                case 4, 6, 9, 11: 30
                default: 31
                }
                for day in 1...length {
                    let date = Timestamp.civilDate(daysSince1970: days)
                    if Timestamp.daysSince1970(year: year, month: month, day: day) != days
                        || date.year != year || date.month != month || date.day != day {
                        mismatches.append("\(year)-\(month)-\(day)")
                    }
                    days += 1
                }
            }
        }
        #expect(mismatches.isEmpty)
        #expect(days == 48_212)
    }
}
