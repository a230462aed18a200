/// One of the three user-writable parts of a twin document.
public enum TwinSection: String, Sendable, Hashable, CaseIterable {
    /// `tags`: written by the solution back end, invisible to devices.
    case tags
    /// `properties.desired`: written by the back end, read by the device.
    case desired
    /// `properties.reported`: written by the device, read by the back end.
    case reported

    /// The section's path in the twin document (`tags`, `properties.desired`, `properties.reported`), the prefix
    /// of every path in a ``TwinError``.
    public var path: String {
        switch self {
        case .tags: "tags"
        case .desired: "properties.desired"
        case .reported: "properties.reported"
        }
    }
}

/// The limits IoT Hub enforces on tags, desired and reported properties; ``iotHub`` holds Azure's values.
///
/// - **Keys**: at most ``maxKeyLength`` UTF-8 bytes (1 KB); no `.`, space, `$`, or Unicode control characters
///   (C0 U+0000–U+001F, DEL, C1 U+0080–U+009F).
/// - **String values**: at most ``maxStringLength`` UTF-8 bytes (4 KB).
/// - **Integers**: within ``integerRange`` (−2⁵², 2⁵² − 1), so they survive a trip through a `double`.
/// - **Depth**: at most ``maxDepth`` (10) nested objects or arrays below the section. A top-level property whose
///   value is an object is at depth 1; Azure's own example of the deepest valid tags has objects `one` … `ten`
///   with a string inside `ten`. Arrays count as a level like objects.
/// - **Size**: ``maxTagsSize`` (8 KB), ``maxDesiredSize`` and ``maxReportedSize`` (32 KB each), measured by
///   ``size(of:)``. As IoT Hub documents, an update is refused only when it would leave the section above its
///   limit *and* larger than before.
///
/// ```swift
/// var limits = TwinLimits.iotHub
/// limits.maxReportedSize = 64 * 1024          // a hub configured for bigger reported sections
/// TwinLimits.size(of: ["temp": 21.5, "ok": true])   // 4 + 8 + 2 + 4 = 18
/// ```
public struct TwinLimits: Sendable, Hashable {
    /// Longest key, in UTF-8 bytes.
    public var maxKeyLength: Int
    /// Longest string value, in UTF-8 bytes.
    public var maxStringLength: Int
    /// Deepest nesting of objects and arrays below a section.
    public var maxDepth: Int
    /// Largest `tags` section (``size(of:)``).
    public var maxTagsSize: Int
    /// Largest `properties.desired` section.
    public var maxDesiredSize: Int
    /// Largest `properties.reported` section.
    public var maxReportedSize: Int
    /// Allowed integer values.
    public var integerRange: ClosedRange<Int64>

    /// Limits with Azure IoT Hub's values unless given.
    public init(
        maxKeyLength: Int = 1024, maxStringLength: Int = 4096, maxDepth: Int = 10,
        maxTagsSize: Int = 8 * 1024, maxDesiredSize: Int = 32 * 1024, maxReportedSize: Int = 32 * 1024,
        integerRange: ClosedRange<Int64> = -4_503_599_627_370_496...4_503_599_627_370_495
    ) {
        self.maxKeyLength = maxKeyLength
        self.maxStringLength = maxStringLength
        self.maxDepth = maxDepth
        self.maxTagsSize = maxTagsSize
        self.maxDesiredSize = maxDesiredSize
        self.maxReportedSize = maxReportedSize
        self.integerRange = integerRange
    }

    /// Azure IoT Hub's limits.
    public static let iotHub = TwinLimits()

    /// The size limit of `section`.
    public func maxSize(of section: TwinSection) -> Int {
        switch section {
        case .tags: maxTagsSize
        case .desired: maxDesiredSize
        case .reported: maxReportedSize
        }
    }

    /// The size IoT Hub counts for a section's user properties (system members such as `$version` and
    /// `$metadata` are never part of them): the sum over every member, at every level, of its key's size plus
    /// its value's size, where
    /// - a key or string counts its UTF-8 bytes, leaving out control characters (C0, DEL, C1);
    /// - a number counts 8 bytes and a Boolean 4; `null` counts 0;
    /// - an object counts the members inside it (no overhead of its own); an array the sum of its elements.
    public static func size(of properties: JSONObject) -> Int {
        properties.reduce(0) { $0 + textSize($1.key) + size(of: $1.value) }
    }

    private static func size(of value: JSONValue) -> Int {
        switch value {
        case .null: 0
        case .bool: 4
        case .integer, .double: 8
        case .string(let text): textSize(text)
        case .array(let elements): elements.reduce(0) { $0 + size(of: $1) }
        case .object(let object): size(of: object)
        }
    }

    private static func textSize(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + (isControl($1) ? 0 : UTF8.width($1)) }
    }

    /// Unicode control characters (general category Cc): C0, DEL and C1.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}
