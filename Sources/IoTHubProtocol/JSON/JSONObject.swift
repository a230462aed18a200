/// A JSON object that keeps its keys in insertion order, with O(1) lookup by key.
///
/// Order matters for people reading twin documents and for byte-stable output, so an object remembers the order in
/// which keys were first inserted, like a Python `dict`:
/// - assigning to an existing key replaces its value and keeps its position;
/// - a duplicate key in parsed input or in a literal therefore keeps its *first* position with its *last* value;
/// - removing a key closes the gap (O(n) in the number of keys; lookups and insertions are O(1)).
///
/// Two objects are equal when they hold the same keys with equal values, in any order: JSON gives key order no
/// meaning. Iteration and serialization follow insertion order.
///
/// ```swift
/// var object: JSONObject = ["b": 1, "a": true]
/// object["c"] = "x"          // appended
/// object["b"] = 2            // replaced in place
/// object["a"] = nil          // removed
/// object.keys                // ["b", "c"]
/// JSONValue.object(object).serialized()   // {"b":2,"c":"x"}
/// ```
public struct JSONObject: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral,
    CustomStringConvertible
{
    /// One member of the object.
    public typealias Element = (key: String, value: JSONValue)

    private var storedKeys: [String] = []
    private var storedValues: [JSONValue] = []
    private var positions: [String: Int] = [:]

    /// An empty object.
    public init() {}

    /// An object with `members` in order; a repeated key keeps its first position and takes its last value.
    public init(_ members: some Sequence<(String, JSONValue)>) {
        for (key, value) in members { self[key] = value }
    }

    /// An object from a literal, in the literal's order (`["a": 1, "b": [true, .null]]`).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    // MARK: Lookup and mutation

    /// The value for `key`, or `nil` when the object has no such key. Assigning `nil` removes the key; assigning a
    /// value replaces it in place or appends it. (To store JSON `null`, assign ``JSONValue/null``.)
    public subscript(key: String) -> JSONValue? {
        get { positions[key].map { storedValues[$0] } }
        set {
            if let newValue { updateValue(newValue, forKey: key) } else { removeValue(forKey: key) }
        }
    }

    /// Stores `value` under `key` (in place if the key exists, else at the end) and returns the old value.
    @discardableResult
    public mutating func updateValue(_ value: JSONValue, forKey key: String) -> JSONValue? {
        if let position = positions[key] {
            let old = storedValues[position]
            storedValues[position] = value
            return old
        }
        positions[key] = storedKeys.count
        storedKeys.append(key)
        storedValues.append(value)
        return nil
    }

    /// Removes `key` and returns its value, or `nil` when it was absent.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let position = positions.removeValue(forKey: key) else { return nil }
        storedKeys.remove(at: position)
        let old = storedValues.remove(at: position)
        for index in position..<storedKeys.count { positions[storedKeys[index]] = index }
        return old
    }

    /// Whether the object has `key`.
    public func contains(key: String) -> Bool { positions[key] != nil }

    /// The keys, in order.
    public var keys: [String] { storedKeys }

    /// The values, in key order.
    public var values: [JSONValue] { storedValues }

    // MARK: RandomAccessCollection

    /// The position of the first member.
    public var startIndex: Int { 0 }
    /// One past the position of the last member.
    public var endIndex: Int { storedKeys.count }
    /// The member at `position`.
    public subscript(position: Int) -> Element { (storedKeys[position], storedValues[position]) }

    /// The compact JSON text of the object.
    public var description: String { JSONValue.object(self).serialized() }

    // MARK: Equatable and Hashable

    /// Same keys with equal values; order is ignored.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (key, value) in lhs {
            guard let other = rhs[key], other == value else { return false }
        }
        return true
    }

    /// Order-independent, consistent with ``==(_:_:)``.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        var sum = 0
        for (key, value) in self {
            var member = Hasher()
            member.combine(key)
            member.combine(value)
            sum = sum &+ member.finalize()
        }
        hasher.combine(sum)
    }
}
