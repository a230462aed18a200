/// Where an Event Hubs receiver starts reading a partition, from the selector filter on its link's source
/// (`apache.org:selector-filter:string`).
///
/// ```swift
/// try EventPosition(selector: "amqp.annotation.x-opt-offset > '-1'")               // .start
/// try EventPosition(selector: "amqp.annotation.x-opt-offset > '@latest'")          // .latest
/// try EventPosition(selector: "amqp.annotation.x-opt-sequence-number >= '42'")     // .sequenceNumber(42, inclusive: true)
/// try EventPosition(selector: "amqp.annotation.x-opt-enqueued-time > '1764547200000'")
/// ```
public enum EventPosition: Sendable, Hashable, CustomStringConvertible {
    /// The oldest event the partition keeps.
    case start
    /// Only events enqueued after the receiver attached.
    case latest
    /// At (`inclusive`) or after the event with this offset.
    case offset(Int64, inclusive: Bool)
    /// At (`inclusive`) or after the event with this sequence number.
    case sequenceNumber(Int64, inclusive: Bool)
    /// The first event enqueued at (`inclusive`) or after this time, in milliseconds since 1970.
    case enqueuedTime(Int64, inclusive: Bool)

    /// The symbol and descriptor code of the selector filter in a link source's filter set.
    public static let selectorFilterName = "apache.org:selector-filter:string"
    public static let selectorFilterCode: UInt64 = 0x0000_468C_0000_0004

    /// Parses a selector: `amqp.annotation.x-opt-{offset|sequence-number|enqueued-time}`, then `>`, `>=` or `=`,
    /// then a value, quoted in `'…'` or not. An offset of `-1` is the start, `@latest` the end.
    /// - Throws: ``EventPositionError`` with the position (0-based, in characters) and what was expected.
    public init(selector: String) throws(EventPositionError) {
        let text = Array(selector)
        var index = 0
        func skipSpaces() { while index < text.count, text[index] == " " || text[index] == "\t" { index += 1 } }
        skipSpaces()
        let prefix = "amqp.annotation."
        var name = ""
        let nameStart = index
        while index < text.count, !" \t><=!".contains(text[index]) { name.append(text[index]); index += 1 }
        let lowered = name.lowercased()
        guard lowered.hasPrefix(prefix) else {
            throw EventPositionError(selector: selector, position: nameStart,
                                     reason: "expected amqp.annotation.x-opt-offset, x-opt-sequence-number or x-opt-enqueued-time")
        }
        let annotation = lowered.dropFirst(prefix.count)
        guard ["x-opt-offset", "x-opt-sequence-number", "x-opt-enqueued-time"].contains(annotation) else {
            throw EventPositionError(selector: selector, position: nameStart + prefix.count,
                                     reason: "'\(annotation)' is not x-opt-offset, x-opt-sequence-number or x-opt-enqueued-time")
        }
        skipSpaces()
        let operatorStart = index
        var inclusive: Bool
        if index + 1 < text.count, text[index] == ">", text[index + 1] == "=" {
            inclusive = true
            index += 2
        } else if index < text.count, text[index] == ">" {
            inclusive = false
            index += 1
        } else if index < text.count, text[index] == "=" {
            inclusive = true
            index += 1
        } else {
            throw EventPositionError(selector: selector, position: operatorStart, reason: "expected >, >= or =")
        }
        skipSpaces()
        let valueStart = index
        var value = ""
        if index < text.count, text[index] == "'" {
            index += 1
            while index < text.count, text[index] != "'" { value.append(text[index]); index += 1 }
            guard index < text.count else {
                throw EventPositionError(selector: selector, position: valueStart, reason: "the quoted value has no closing '")
            }
            index += 1
        } else {
            while index < text.count, text[index] != " ", text[index] != "\t" { value.append(text[index]); index += 1 }
        }
        skipSpaces()
        guard index == text.count else {
            throw EventPositionError(selector: selector, position: index, reason: "unexpected text after the value")
        }
        guard !value.isEmpty else {
            throw EventPositionError(selector: selector, position: valueStart, reason: "expected a value")
        }
        if annotation == "x-opt-offset", value == "@latest" {
            self = .latest
            return
        }
        guard let number = Int64(value) else {
            throw EventPositionError(selector: selector, position: valueStart,
                                     reason: "'\(value)' is not an integer" + (annotation == "x-opt-offset" ? " or @latest" : ""))
        }
        switch annotation {
        case "x-opt-offset":
            self = number < 0 ? .start : .offset(number, inclusive: inclusive)
        case "x-opt-sequence-number":
            self = number < 0 && !inclusive ? .start : .sequenceNumber(number, inclusive: inclusive)
        default:
            self = .enqueuedTime(number, inclusive: inclusive)
        }
    }

    public var description: String {
        switch self {
        case .start: "the start"
        case .latest: "the end"
        case .offset(let value, let inclusive): "offset \(inclusive ? ">=" : ">") \(value)"
        case .sequenceNumber(let value, let inclusive): "sequence number \(inclusive ? ">=" : ">") \(value)"
        case .enqueuedTime(let value, let inclusive): "enqueued time \(inclusive ? ">=" : ">") \(value) ms"
        }
    }
}

/// A selector filter that is not one Event Hubs understands.
public struct EventPositionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var selector: String
    /// Where the selector goes wrong, 0-based, in characters.
    public var position: Int
    public var reason: String

    public init(selector: String, position: Int, reason: String) {
        self.selector = selector
        self.position = position
        self.reason = reason
    }

    public var description: String {
        "selector filter \"\(selector)\" at position \(position): \(reason)"
    }
}
