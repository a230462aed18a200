/// Why a twin update or twin document was refused. Every case maps to IoT Hub's 400004 `ArgumentInvalid`
/// (``errorCode``); a refused update leaves the twin unchanged.
///
/// Paths name the offending member from the twin document root, with `.` between keys and `[i]` for array
/// elements: `properties.desired.config.list[2]`.
///
/// ```swift
/// var twin = Twin(createdAt: Timestamp(secondsSince1970: 0))
/// do {
///     try twin.applyReportedPatch(["fw.version": "1.2"], at: Timestamp(secondsSince1970: 1))
/// } catch {
///     error.errorCode     // .argumentInvalid
///     print(error)        // the key at properties.reported.fw.version contains '.'; …
/// }
/// ```
public enum TwinError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A patch, section or document that must be a JSON object is something else (`found` names its type).
    case notAnObject(path: String, found: String)
    /// A key is longer than the limit (UTF-8 bytes).
    case keyTooLong(path: String, length: Int, limit: Int)
    /// A key contains a character IoT Hub reserves (`.`, space, `$`, or a control character).
    case invalidKey(path: String, reason: String)
    /// A string value is longer than the limit (UTF-8 bytes).
    case stringValueTooLong(path: String, length: Int, limit: Int)
    /// An integer is outside the range a twin can hold exactly.
    case integerOutOfRange(path: String, value: Int64, range: ClosedRange<Int64>)
    /// An array contains `null`.
    case nullInArray(path: String)
    /// Objects and arrays are nested deeper than the limit; `depth` is the depth of the container at `path`.
    case tooDeep(path: String, depth: Int, limit: Int)
    /// The section would grow beyond its size limit (``TwinLimits/size(of:)``).
    case sectionTooLarge(section: TwinSection, size: Int, limit: Int)
    /// A twin document (device or service view) lacks a member or has one of the wrong type.
    case malformedDocument(path: String, reason: String)

    /// The IoT Hub error code for the response: always 400004 `ArgumentInvalid`.
    public var errorCode: IoTHubErrorCode { .argumentInvalid }

    /// What is wrong, where, and what to do.
    public var description: String {
        switch self {
        case .notAnObject(let path, let found):
            "\(path) must be a JSON object, but it is \(Self.article(found)) \(found); "
                + "send an object such as {\"key\": \"value\"}"
        case .keyTooLong(let path, let length, let limit):
            "the key at \(Self.short(path)) is \(length) bytes long; keys may have at most \(limit) UTF-8 bytes, "
                + "so shorten it"
        case .invalidKey(let path, let reason):
            "the key at \(Self.short(path)) \(reason); keys may not contain '.', ' ', '$' or control characters, "
                + "so rename it (for example with '_')"
        case .stringValueTooLong(let path, let length, let limit):
            "the string at \(Self.short(path)) is \(length) bytes long; string values may have at most \(limit) "
                + "UTF-8 bytes, so shorten it or store the data elsewhere (file upload) and keep a reference"
        case .integerOutOfRange(let path, let value, let range):
            "the integer \(value) at \(Self.short(path)) is outside \(range.lowerBound)...\(range.upperBound); "
                + "send it as a string or a floating-point number"
        case .nullInArray(let path):
            "the array element at \(Self.short(path)) is null; arrays in twins may not contain null, so remove it"
        case .tooDeep(let path, let depth, let limit):
            "the value at \(Self.short(path)) is nested \(depth) levels deep; twins allow at most \(limit) levels "
                + "of objects and arrays, so flatten the structure"
        case .sectionTooLarge(let section, let size, let limit):
            "\(section.path) would be \(size) bytes; the limit is \(limit), so remove properties (set them to null) "
                + "or shorten them"
        case .malformedDocument(let path, let reason):
            "the twin document is malformed at \(path): \(reason)"
        }
    }

    private static func article(_ word: String) -> String {
        word.first.map { "aeiou".contains($0) } == true ? "an" : "a"
    }

    /// A path shortened for messages: very long keys are cut to keep the text readable.
    private static func short(_ path: String) -> String {
        path.count <= 120 ? path : String(path.prefix(117)) + "..."
    }
}
