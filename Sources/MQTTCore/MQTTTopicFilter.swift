/// A validated MQTT topic filter with wildcard matching (MQTT 3.1.1 §4.7).
///
/// - `/` separates topic levels; levels may be empty (`"a//b"`, `"/a"`).
/// - `+` matches exactly one level (possibly empty) and must occupy a whole level: `"a/+/c"`, `"+"`, but not
///   `"a+"`.
/// - `#` matches the parent level and any number of child levels; it must be the whole last level: `"a/#"`,
///   `"#"`, but not `"a/#/b"` or `"a#"`.
/// - Topics starting with `$` (e.g. `$SYS/…`, `$iothub/…`) are not matched by a filter starting with a
///   wildcard (MQTT-4.7.2-1).
///
/// ```swift
/// let filter = MQTTTopicFilter("devices/+/messages/#")!
/// filter.matches(topic: "devices/d1/messages/events")   // true
/// filter.matches(topic: "devices/d1/messages")          // true: '#' includes the parent level
/// filter.matches(topic: "devices/d1/twin")              // false
/// MQTTTopicFilter("#")!.matches(topic: "$SYS/uptime")   // false
/// MQTTTopicFilter("a/#/b")                              // nil: invalid
/// ```
public struct MQTTTopicFilter: Sendable, Hashable, CustomStringConvertible {
    /// The filter text.
    public let string: String

    /// Validates `string` as a topic filter; `nil` if it is empty, longer than 65535 UTF-8 bytes, contains
    /// U+0000, or has a misplaced wildcard.
    public init?(_ string: String) {
        guard Self.isValid(string) else { return nil }
        self.string = string
    }

    /// The filter text.
    public var description: String { string }

    /// Whether the filter contains `+` or `#`.
    public var hasWildcards: Bool {
        string.utf8.contains { $0 == ASCII.plus || $0 == ASCII.hash }
    }

    /// Whether `filter` is a valid topic filter (see ``init(_:)``).
    public static func isValid(_ filter: String) -> Bool {
        filter.utf8.count <= 65535 && MQTTTopicRules.checkFilter(filter.utf8) == nil
    }

    /// Whether `topic` is a valid topic name: non-empty, at most 65535 UTF-8 bytes, no U+0000 and no
    /// wildcard characters.
    public static func isValidTopicName(_ topic: String) -> Bool {
        topic.utf8.count <= 65535 && MQTTTopicRules.checkName(topic.utf8) == nil
    }

    /// Whether this filter matches the topic name `topic`. Returns `false` when `topic` is not a valid topic
    /// name (empty, or containing `+`, `#` or U+0000). Does not allocate.
    public func matches(topic: String) -> Bool {
        var filter = string
        var topic = topic
        return filter.withUTF8 { filterBytes in
            topic.withUTF8 { topicBytes in
                MQTTTopicRules.match(filter: filterBytes, topic: topicBytes)
            }
        }
    }
}

/// ASCII bytes the topic rules care about.
enum ASCII {
    static let slash = UInt8(ascii: "/")
    static let plus = UInt8(ascii: "+")
    static let hash = UInt8(ascii: "#")
    static let dollar = UInt8(ascii: "$")
}

/// What is wrong with a topic name or topic filter.
enum MQTTTopicProblem: Equatable {
    case empty
    case nullCharacter
    /// A wildcard in a topic name.
    case wildcard
    /// A wildcard in a topic filter that does not occupy a whole level (or `#` not last).
    case misplacedWildcard
}

/// The topic name and topic filter rules of MQTT 3.1.1 §4.7, on UTF-8 bytes. Lengths are checked by callers.
enum MQTTTopicRules {
    /// Checks a topic name: non-empty, no U+0000, no `+` or `#`.
    static func checkName<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> MQTTTopicProblem? {
        if bytes.isEmpty { return .empty }
        for byte in bytes {
            switch byte {
            case 0: return .nullCharacter
            case ASCII.plus, ASCII.hash: return .wildcard
            default: continue
            }
        }
        return nil
    }

    /// Checks a topic filter: non-empty, no U+0000, `+` only as a whole level, `#` only as the whole last level.
    static func checkFilter<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> MQTTTopicProblem? {
        if bytes.isEmpty { return .empty }
        var previous = ASCII.slash  // the start of the filter behaves like a level separator
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            let next = bytes.index(after: index)
            switch byte {
            case 0:
                return .nullCharacter
            case ASCII.hash:
                if previous != ASCII.slash || next != bytes.endIndex { return .misplacedWildcard }
            case ASCII.plus:
                if previous != ASCII.slash || (next != bytes.endIndex && bytes[next] != ASCII.slash) {
                    return .misplacedWildcard
                }
            default:
                break
            }
            previous = byte
            index = next
        }
        return nil
    }

    /// Matches a valid topic filter against a topic name, level by level.
    static func match(filter: UnsafeBufferPointer<UInt8>, topic: UnsafeBufferPointer<UInt8>) -> Bool {
        guard checkName(topic) == nil else { return false }
        if topic[0] == ASCII.dollar, let first = filter.first, first == ASCII.plus || first == ASCII.hash {
            return false
        }
        var f = 0
        var t = 0
        // Invariant at the top of the loop: `f` and `t` are at the start of a level.
        while true {
            if f < filter.count && filter[f] == ASCII.hash { return true }
            if f < filter.count && filter[f] == ASCII.plus {
                f += 1
                while t < topic.count && topic[t] != ASCII.slash { t += 1 }
            } else {
                while f < filter.count && filter[f] != ASCII.slash {
                    guard t < topic.count && topic[t] == filter[f] else { return false }
                    f += 1
                    t += 1
                }
                if t < topic.count && topic[t] != ASCII.slash { return false }
            }
            // Both are now at a '/' or at their end.
            let filterDone = f == filter.count
            let topicDone = t == topic.count
            if filterDone && topicDone { return true }
            if topicDone {
                // "a/#" also matches "a": the rest of the filter must be exactly "/#".
                return filter.count - f == 2 && filter[f + 1] == ASCII.hash
            }
            if filterDone { return false }
            f += 1
            t += 1
        }
    }
}
