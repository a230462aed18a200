/// The `$metadata` tree of a desired or reported section: one node per property at every level, each with the
/// time of its last update (`$lastUpdated`) and, in desired properties, the section version that made it
/// (`$lastUpdatedVersion`).
///
/// A node is refreshed when an update writes or deletes anything at or below it, so a parent's time is never
/// older than its children's and deleting a key still leaves a trace in its parent. Untouched siblings keep
/// their times. This matches what IoT Hub returns, for example after version 17 changed only `Broadcast.0.Scene`:
///
/// ```json
/// "$metadata": {
///   "$lastUpdated": "2020-12-01T07:53:53.0372127Z", "$lastUpdatedVersion": 17,
///   "Broadcast": {
///     "$lastUpdated": "2020-12-01T07:53:53.0372127Z", "$lastUpdatedVersion": 17,
///     "0": {
///       "$lastUpdated": "2020-12-01T07:53:53.0372127Z", "$lastUpdatedVersion": 17,
///       "Scene": {"$lastUpdated": "2020-12-01T07:53:53.0372127Z", "$lastUpdatedVersion": 17},
///       "Brightness": {"$lastUpdated": "2020-12-01T07:28:08.5730028Z", "$lastUpdatedVersion": 15}
///     }
///   }
/// }
/// ```
///
/// ```swift
/// let node = twin.desired.metadata?.node(at: ["Broadcast", "0", "Brightness"])
/// node?.lastUpdatedVersion     // 15
/// ```
public struct TwinMetadata: Sendable, Hashable {
    /// When the property (or anything below it) was last written or deleted.
    public var lastUpdated: Timestamp
    /// The desired `$version` of that write; `nil` in reported properties (and at the root of a desired section
    /// that was never updated).
    public var lastUpdatedVersion: Int64?
    /// The nodes of the members, when the property is an object.
    public var children: [String: TwinMetadata]

    /// A node.
    public init(lastUpdated: Timestamp, lastUpdatedVersion: Int64? = nil, children: [String: TwinMetadata] = [:]) {
        self.lastUpdated = lastUpdated
        self.lastUpdatedVersion = lastUpdatedVersion
        self.children = children
    }

    /// The node at a path of keys below this one (`[]` is this node), or `nil` when there is none.
    public func node(at path: [String]) -> TwinMetadata? {
        var node = self
        for key in path {
            guard let child = node.children[key] else { return nil }
            node = child
        }
        return node
    }

    // MARK: Updating

    /// The time and version an update writes into the nodes it touches.
    struct Stamp {
        var time: Timestamp
        var version: Int64?
    }

    /// Marks this node as written by `stamp`.
    mutating func touch(_ stamp: Stamp) {
        lastUpdated = stamp.time
        lastUpdatedVersion = stamp.version
    }

    /// A new tree for a freshly written value: `stamp` on the node and on every node below it.
    static func fresh(for value: JSONValue, stamp: Stamp) -> TwinMetadata {
        var node = TwinMetadata(lastUpdated: stamp.time, lastUpdatedVersion: stamp.version)
        if case .object(let object) = value {
            for (key, member) in object { node.children[key] = fresh(for: member, stamp: stamp) }
        }
        return node
    }

    /// Makes the children mirror `properties` exactly: nodes for missing keys copy this node's time and version;
    /// nodes for keys that no longer exist are dropped.
    mutating func reconcile(with properties: JSONObject) {
        var mirrored: [String: TwinMetadata] = [:]
        for (key, value) in properties {
            var child = children[key] ?? TwinMetadata(lastUpdated: lastUpdated, lastUpdatedVersion: lastUpdatedVersion)
            if case .object(let object) = value { child.reconcile(with: object) } else { child.children = [:] }
            mirrored[key] = child
        }
        children = mirrored
    }

    // MARK: JSON

    /// The `$metadata` object: `$lastUpdated`, `$lastUpdatedVersion` when known, then the children in the order
    /// of the keys of `properties`.
    func json(mirroring properties: JSONObject) -> JSONObject {
        var object: JSONObject = ["$lastUpdated": .string(lastUpdated.iso8601)]
        if let lastUpdatedVersion { object["$lastUpdatedVersion"] = .integer(lastUpdatedVersion) }
        for (key, value) in properties {
            guard let child = children[key] else { continue }
            object[key] = .object(child.json(mirroring: value.objectValue ?? JSONObject()))
        }
        return object
    }

    /// Reads a `$metadata` object. A node without `$lastUpdated` takes `inherited` (its parent's); other `$`
    /// members such as `$lastUpdatedBy` are ignored, as are members that are not objects.
    init(parsing object: JSONObject, path: String, inherited: TwinMetadata?) throws(TwinError) {
        switch (object["$lastUpdated"], inherited) {
        case (.string(let text)?, _):
            guard let time = Timestamp(iso8601: text) else {
                throw .malformedDocument(path: path + ".$lastUpdated", reason: "\"\(text)\" is not an ISO 8601 time")
            }
            lastUpdated = time
        case (nil, let parent?):
            lastUpdated = parent.lastUpdated
        case (let other, _):
            throw .malformedDocument(path: path + ".$lastUpdated",
                                     reason: "expected an ISO 8601 time string, found \(other?.typeName ?? "nothing")")
        }
        switch object["$lastUpdatedVersion"] {
        case nil:
            lastUpdatedVersion = nil
        case let value? where value.int64Value != nil:
            lastUpdatedVersion = value.int64Value
        case let other?:
            throw .malformedDocument(path: path + ".$lastUpdatedVersion",
                                     reason: "expected an integer, found \(other.typeName)")
        }
        children = [:]
        for (key, value) in object where !key.hasPrefix("$") {
            guard case .object(let child) = value else { continue }
            children[key] = try TwinMetadata(parsing: child, path: path + "." + key, inherited: self)
        }
    }
}
