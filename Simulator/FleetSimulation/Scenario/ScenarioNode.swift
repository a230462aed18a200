import Foundation
import IoTHubProtocol
import Yams

/// A YAML node with its path in the scenario, for reading values and reporting mistakes at their place.
struct ScenarioNode {
    let node: Node
    let path: String
    let file: String

    func error(_ message: String) -> ScenarioError {
        ScenarioError(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, field: path, message: message)
    }

    private var text: String? {
        if case .scalar(let scalar) = node { scalar.string } else { nil }
    }

    /// What the node is, for messages: `"ten"`, a mapping, a list.
    private var shown: String {
        switch node {
        case .scalar(let scalar): "\"\(scalar.string)\""
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    func string() throws(ScenarioError) -> String {
        guard let text, !text.isEmpty else { throw error("expected text, not \(shown)") }
        return text
    }

    func int(in range: ClosedRange<Int>) throws(ScenarioError) -> Int {
        let cleaned = text?.replacingOccurrences(of: "_", with: "")
        guard let cleaned, let value = Int(cleaned) else { throw error("expected a whole number, not \(shown)") }
        guard range.contains(value) else { throw error("\(value) is out of range \(range.lowerBound)…\(range.upperBound)") }
        return value
    }

    func double() throws(ScenarioError) -> Double {
        guard let text, let value = Double(text), value.isFinite else { throw error("expected a number, not \(shown)") }
        return value
    }

    func bool() throws(ScenarioError) -> Bool {
        switch text?.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, not \(shown)")
        }
    }

    /// `250ms`, `10s`, `1.5s`, `5m`, `2h`.
    func duration() throws(ScenarioError) -> Duration {
        guard let text else { throw error("expected a duration such as 10s, 250ms or 5m, not \(shown)") }
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, seconds) in units where text.hasSuffix(unit) {
            guard let number = Double(text.dropLast(unit.count)), number >= 0, number.isFinite else { break }
            return .nanoseconds(Int64((number * seconds * 1e9).rounded()))
        }
        throw error("expected a duration such as 10s, 250ms or 5m, not \(shown)")
    }

    /// Per second: `500/s`, `30/min`, `2/h`, or a bare number of events per second.
    func rate() throws(ScenarioError) -> Double {
        guard let text else { throw error("expected a rate such as 500/s or 30/min, not \(shown)") }
        let parts = text.split(separator: "/", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
        let divisor: Double? = parts.count == 1 ? 1 : ["s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600][parts[1]]
        guard let divisor, let number = Double(parts[0]), number >= 0, number.isFinite else {
            throw error("expected a rate such as 500/s or 30/min, not \(shown)")
        }
        return number / divisor
    }

    /// `90%` or `0.9`, within 0…1.
    func fraction() throws(ScenarioError) -> Double {
        guard let text else { throw error("expected a fraction such as 5% or 0.05, not \(shown)") }
        let value = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
        guard let value, (0...1).contains(value) else {
            throw error("expected a fraction from 0 to 1 (or 0% to 100%), not \(shown)")
        }
        return value
    }

    /// The node as JSON (a payload, a reported-properties object).
    func json() throws(ScenarioError) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if let int = Int64(scalar.string) { return .integer(int) }
                if let double = Double(scalar.string), double.isFinite { return .double(double) }
                switch scalar.string {
                case "true": return .bool(true)
                case "false": return .bool(false)
                case "null", "~": return .null
                default: break
                }
            }
            return .string(scalar.string)
        case .mapping:
            var object = JSONObject()
            let fields = try mapping(known: nil)
            for (key, value) in fields.entries { object[key] = try value.json() }
            return .object(object)
        case .sequence:
            return .array(try list().map { (item) throws(ScenarioError) in try item.json() })
        case .alias:
            throw error("aliases are not supported here")
        }
    }

    /// A mapping's entries, refusing keys outside `known` (when given) by name, so typos do not pass silently.
    func mapping(known: Set<String>?) throws(ScenarioError) -> ScenarioFields {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping (key: value lines), not \(shown)") }
        var entries: [(String, ScenarioNode)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else { throw error("keys must be plain text") }
            let name = scalar.string
            let child = ScenarioNode(node: value, path: path.isEmpty ? name : "\(path).\(name)", file: file)
            if let known, !known.contains(name) {
                let keyNode = ScenarioNode(node: key, path: child.path, file: file)
                throw keyNode.error("unknown field (expected one of: \(known.sorted().joined(separator: ", ")))")
            }
            guard !entries.contains(where: { $0.0 == name }) else {
                throw ScenarioNode(node: key, path: child.path, file: file).error("appears twice")
            }
            entries.append((name, child))
        }
        return ScenarioFields(owner: self, entries: entries)
    }

    func list() throws(ScenarioError) -> [ScenarioNode] {
        guard case .sequence(let sequence) = node else { throw error("expected a list (lines starting with -), not \(shown)") }
        return sequence.enumerated().map { ScenarioNode(node: $1, path: "\(path)[\($0)]", file: file) }
    }
}

/// The entries of one mapping.
struct ScenarioFields {
    let owner: ScenarioNode
    let entries: [(String, ScenarioNode)]

    subscript(_ key: String) -> ScenarioNode? {
        entries.first { $0.0 == key }?.1
    }

    func required(_ key: String) throws(ScenarioError) -> ScenarioNode {
        guard let node = self[key] else { throw owner.error("missing the required field '\(key)'") }
        return node
    }
}
