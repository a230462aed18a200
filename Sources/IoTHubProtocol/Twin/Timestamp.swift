/// A point in time in UTC, as seconds and nanoseconds since 1970-01-01T00:00:00Z, with ISO 8601 text in the form
/// IoT Hub writes (`2026-11-22T17:42:41.1234567Z`: seven fractional digits, 100 ns ticks).
///
/// The protocol core never reads a clock: callers pass the current time in, which keeps twin updates
/// deterministic and testable.
///
/// ```swift
/// let t = Timestamp(secondsSince1970: 1_700_000_000, nanoseconds: 123_456_789)
/// t.iso8601                                            // "2023-11-14T22:13:20.1234567Z"
/// Timestamp(iso8601: "2023-11-14T22:13:20.1234567Z")   // 123_456_700 ns: text keeps 100 ns ticks
/// Timestamp(iso8601: "2016-03-30T16:24:48.789Z")       // fewer digits and "+01:00" offsets are accepted
/// ```
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    public var secondsSince1970: Int64
    /// Nanoseconds into the second, `0..<1_000_000_000`.
    public var nanoseconds: Int32

    /// A time from seconds and nanoseconds; nanoseconds outside `0..<1e9` carry into the seconds.
    public init(secondsSince1970: Int64, nanoseconds: Int32 = 0) {
        let carry = Int64(nanoseconds) / 1_000_000_000
        var remainder = Int64(nanoseconds) % 1_000_000_000
        var seconds = secondsSince1970 &+ carry
        if remainder < 0 {
            remainder += 1_000_000_000
            seconds = seconds &- 1
        }
        self.secondsSince1970 = seconds
        self.nanoseconds = Int32(remainder)
    }

    /// A time from nanoseconds since 1970 (the form of `clock_gettime(CLOCK_REALTIME)` flattened to one number).
    public init(nanosecondsSince1970: Int64) {
        let seconds = nanosecondsSince1970 / 1_000_000_000
        self.init(secondsSince1970: seconds, nanoseconds: Int32(nanosecondsSince1970 - seconds * 1_000_000_000))
    }

    /// Whole milliseconds since 1970 (the sub-millisecond part dropped), as Event Hubs and the event log count.
    public var millisecondsSince1970: Int64 { secondsSince1970 &* 1000 &+ Int64(nanoseconds / 1_000_000) }

    /// The same time cut down to whole 100 ns ticks, the resolution of the ISO 8601 text.
    public var truncatedToTicks: Timestamp {
        Timestamp(secondsSince1970: secondsSince1970, nanoseconds: nanoseconds - nanoseconds % 100)
    }

    /// Earlier times sort first.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        (lhs.secondsSince1970, lhs.nanoseconds) < (rhs.secondsSince1970, rhs.nanoseconds)
    }

    /// The ISO 8601 text (``iso8601``).
    public var description: String { iso8601 }

    // MARK: Formatting

    /// `YYYY-MM-DDTHH:MM:SS.fffffffZ`: UTC, always seven fractional digits (100 ns ticks, truncated).
    public var iso8601: String {
        var days = secondsSince1970 / 86_400
        var secondOfDay = secondsSince1970 % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = Self.civilDate(daysSince1970: days)
        let yearText = year < 0 ? "-" + Self.padded(-year, 4) : Self.padded(year, 4)
        return yearText + "-" + Self.padded(month, 2) + "-" + Self.padded(day, 2) + "T"
            + Self.padded(secondOfDay / 3600, 2) + ":" + Self.padded(secondOfDay / 60 % 60, 2) + ":"
            + Self.padded(secondOfDay % 60, 2) + "." + Self.padded(Int64(nanoseconds / 100), 7) + "Z"
    }

    private static func padded(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    // MARK: Parsing

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]` (1–9 fractional digits; no zone means UTC), or returns
    /// `nil` when the text is not such a time or names an impossible date.
    public init?(iso8601 text: String) {
        var scanner = DigitScanner(bytes: Array(text.utf8))
        guard let year = scanner.number(digits: 4), scanner.skip("-"),
              let month = scanner.number(digits: 2), scanner.skip("-"),
              let day = scanner.number(digits: 2), scanner.skip("T"),
              let hour = scanner.number(digits: 2), scanner.skip(":"),
              let minute = scanner.number(digits: 2), scanner.skip(":"),
              let second = scanner.number(digits: 2),
              (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60
        else { return nil }
        var nanoseconds: Int64 = 0
        if scanner.skip(".") {
            var count = 0
            while let digit = scanner.digit() {
                guard count < 9 else { return nil }
                nanoseconds = nanoseconds * 10 + digit
                count += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<9 { nanoseconds *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if !scanner.skip("Z"), let sign = scanner.sign() {
            guard let offsetHours = scanner.number(digits: 2), scanner.skip(":"),
                  let offsetMinutes = scanner.number(digits: 2), offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard scanner.atEnd else { return nil }
        let days = Self.daysSince1970(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        self.init(secondsSince1970: seconds, nanoseconds: Int32(nanoseconds))
    }

    // MARK: Calendar (proleptic Gregorian)

    private static func isLeap(_ year: Int64) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the date, counting in 400-year cycles of 146,097 days that start on March 1.
    static func daysSince1970(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let cycle = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfCycle = shiftedYear - cycle * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfCycle = yearOfCycle * 365 + yearOfCycle / 4 - yearOfCycle / 100 + dayOfYear
        return cycle * 146_097 + dayOfCycle - 719_468
    }

    /// The date `days` after 1970-01-01: the inverse of ``daysSince1970(year:month:day:)``.
    static func civilDate(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let cycle = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfCycle = shifted - cycle * 146_097
        let yearOfCycle = (dayOfCycle - dayOfCycle / 1460 + dayOfCycle / 36_524 - dayOfCycle / 146_096) / 365
        let dayOfYear = dayOfCycle - (365 * yearOfCycle + yearOfCycle / 4 - yearOfCycle / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfCycle + cycle * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Reads fixed-width decimal fields and separators from ASCII bytes.
private struct DigitScanner {
    let bytes: [UInt8]
    var position = 0

    var atEnd: Bool { position == bytes.count }

    mutating func digit() -> Int64? {
        guard position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 else { return nil }
        position += 1
        return Int64(bytes[position - 1] - 0x30)
    }

    mutating func number(digits: Int) -> Int64? {
        var value: Int64 = 0
        for _ in 0..<digits {
            guard let digit = digit() else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard position < bytes.count, bytes[position] == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    mutating func sign() -> Int64? {
        if skip("+") { return 1 }
        if skip("-") { return -1 }
        return nil
    }
}
