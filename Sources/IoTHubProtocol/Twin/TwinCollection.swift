/// One properties section of a twin, desired or reported: the user properties, the section `$version`, and the
/// `$metadata` tree.
///
/// **Patches** merge like JSON Merge Patch (RFC 7396): objects merge recursively, `null` deletes a key (and its
/// metadata; deleting a missing key does nothing), and strings, numbers, Booleans and arrays replace what was
/// there, as does an object replacing a non-object. Every accepted patch, even an empty one, adds 1 to
/// ``version``. A patch is checked against ``TwinLimits`` first; a refused patch changes nothing.
///
/// **Metadata**: the caller passes the time of the update (the core reads no clock). Every node the patch writes
/// or deletes under, and the section root, get that time as `$lastUpdated` and, in desired properties, the new
/// version as `$lastUpdatedVersion`; untouched nodes keep theirs; a value written fresh gets new nodes all the
/// way down. Times are kept at the 100 ns resolution of the ISO 8601 text.
///
/// **Views**: ``deviceJSON`` is what a device receives from a twin GET (`{…, "$version": n}`, no metadata);
/// ``serviceJSON`` is what `GET /twins/{id}` returns (`{…, "$metadata": {…}, "$version": n}`).
/// ``init(parsing:kind:)`` reads either; a section read from the device view has no metadata.
///
/// ```swift
/// var desired = TwinCollection(kind: .desired, createdAt: Timestamp(secondsSince1970: 1_700_000_000))
/// let body = try desired.applyPatch(["config": ["rate": 5, "mode": "eco"]],
///                                   at: Timestamp(secondsSince1970: 1_700_000_060))
/// body.description             // {"config":{"rate":5,"mode":"eco"},"$version":2}: the device notification
/// try desired.applyPatch(["config": ["mode": .null]], at: Timestamp(secondsSince1970: 1_700_000_120))
/// desired.properties           // ["config": ["rate": 5]]
/// desired.version              // 3
/// ```
public struct TwinCollection: Sendable, Hashable {
    /// Which section this is.
    public enum Kind: String, Sendable, Hashable {
        /// `properties.desired`; its metadata records `$lastUpdatedVersion`.
        case desired
        /// `properties.reported`.
        case reported

        /// The section, for limits and error paths.
        public var section: TwinSection { self == .desired ? .desired : .reported }
    }

    /// Which section this is.
    public let kind: Kind
    /// The user properties (never a `$` member at the top).
    public private(set) var properties: JSONObject
    /// The section `$version`: 1 for a new twin, plus 1 per accepted update.
    public private(set) var version: Int64
    /// The `$metadata` tree, mirroring ``properties``; `nil` when the section came from the device view.
    public private(set) var metadata: TwinMetadata?

    /// An empty section of a new twin: version 1, root metadata at `createdAt`.
    public init(kind: Kind, createdAt: Timestamp) {
        self.kind = kind
        self.properties = JSONObject()
        self.version = 1
        self.metadata = TwinMetadata(lastUpdated: createdAt.truncatedToTicks)
    }

    /// A section from its parts, without limit checks. Top-level members whose keys start with `$` are dropped
    /// (they are system members, not properties). `metadata` is made to mirror the properties: nodes for missing
    /// keys copy their parent's time, nodes for absent keys are dropped.
    public init(kind: Kind, properties: JSONObject, version: Int64, metadata: TwinMetadata?) {
        var userProperties = properties
        for key in properties.keys where key.hasPrefix("$") { userProperties.removeValue(forKey: key) }
        self.kind = kind
        self.properties = userProperties
        self.version = version
        self.metadata = metadata
        self.metadata?.reconcile(with: userProperties)
    }

    // MARK: Updates (hub side)

    /// Merges `patch` into the section at time `now` and returns the notification a connected device receives:
    /// the patch (without `$version`/`$metadata`) plus `"$version"`, the new version.
    ///
    /// Top-level `$version` and `$metadata` members, which clients echo from a twin they read, are ignored; any
    /// other `$` in a key is refused.
    /// - Throws: ``TwinError`` when the patch is not an object or breaks a limit; the section is then unchanged.
    @discardableResult
    public mutating func applyPatch(_ patch: JSONValue, at now: Timestamp, limits: TwinLimits = .iotHub)
        throws(TwinError) -> JSONObject
    {
        let validator = TwinValidator(limits: limits, section: kind.section)
        let changes = try validator.validatedObject(patch)
        var merged = properties
        var mergedMetadata = metadata
        let stamp = nextStamp(at: now)
        Self.merge(changes, into: &merged, metadata: &mergedMetadata, stamp: stamp)
        try validator.checkSize(old: properties, new: merged)
        mergedMetadata?.touch(stamp)
        commit(merged, metadata: mergedMetadata)
        return notification(changes)
    }

    /// Replaces all properties with `document` at time `now` (PUT semantics) and returns the notification a
    /// connected device receives: the whole new section plus `"$version"`. `null` members are dropped; every
    /// metadata node is new (when the section keeps metadata).
    /// - Throws: ``TwinError`` when the document is not an object or breaks a limit; the section is then unchanged.
    @discardableResult
    public mutating func replace(with document: JSONValue, at now: Timestamp, limits: TwinLimits = .iotHub)
        throws(TwinError) -> JSONObject
    {
        let validator = TwinValidator(limits: limits, section: kind.section)
        let replacement = Self.removingNulls(try validator.validatedObject(document))
        try validator.checkSize(old: properties, new: replacement)
        let newMetadata = metadata.map { _ in TwinMetadata.fresh(for: .object(replacement), stamp: nextStamp(at: now)) }
        commit(replacement, metadata: newMetadata)
        return notification(replacement)
    }

    /// What the next update writes into metadata: its time and, in desired properties, its version.
    private func nextStamp(at now: Timestamp) -> TwinMetadata.Stamp {
        TwinMetadata.Stamp(time: now.truncatedToTicks, version: kind == .desired ? version + 1 : nil)
    }

    private mutating func commit(_ newProperties: JSONObject, metadata newMetadata: TwinMetadata?) {
        properties = newProperties
        metadata = newMetadata
        version += 1
    }

    private func notification(_ changes: JSONObject) -> JSONObject {
        var body = changes
        body["$version"] = .integer(version)
        return body
    }

    // MARK: Updates (device side)

    /// Applies a desired-properties notification as a device receives it (`{…, "$version": n}`): merges the
    /// patch and takes `n` as the new version. No limits are checked (the hub already did) and no times are
    /// known, so the metadata is dropped.
    /// - Throws: ``TwinError/notAnObject(path:found:)`` or ``TwinError/malformedDocument(path:reason:)`` when the
    ///   body is not an object with an integer `$version`.
    public mutating func applyNotification(_ body: JSONValue) throws(TwinError) {
        let path = kind.section.path
        guard case .object(var patch) = body else { throw .notAnObject(path: path, found: body.typeName) }
        guard let newVersion = patch["$version"]?.int64Value else {
            throw .malformedDocument(path: path + ".$version", reason: "a notification must carry an integer $version")
        }
        try Self.checkVersion(newVersion, path: path + ".$version")
        for key in TwinValidator.ignoredSystemKeys { patch.removeValue(forKey: key) }
        Self.merge(patch, into: &properties)
        metadata = nil
        version = newVersion
    }

    /// The largest version a document may carry: 2⁶² − 1. Updates add 1 to versions, so a document read with
    /// `Int64.max` would make the next update trap; no real twin comes near this (one update a microsecond would
    /// take 146,000 years).
    static let maximumVersion: Int64 = Int64.max / 2

    /// Refuses a version read from a document that updates could not increment safely.
    static func checkVersion(_ version: Int64, path: String) throws(TwinError) {
        guard version <= maximumVersion else {
            throw .malformedDocument(path: path, reason: "\(version) is larger than \(maximumVersion), the largest version a twin can have")
        }
    }

    // MARK: Merging

    /// RFC 7396 merge of `patch` into `target`, updating `metadata` (when present) for every node written or
    /// deleted under.
    static func merge(
        _ patch: JSONObject, into target: inout JSONObject, metadata: inout TwinMetadata?, stamp: TwinMetadata.Stamp
    ) {
        for (key, value) in patch {
            switch (value, target[key]) {
            case (.null, _):
                target.removeValue(forKey: key)
                metadata?.children.removeValue(forKey: key)
            case (.object(let changes), .object(var existing)?):
                var child = metadata?.children[key]
                merge(changes, into: &existing, metadata: &child, stamp: stamp)
                target[key] = .object(existing)
                if metadata != nil {
                    child = child ?? TwinMetadata.fresh(for: .object(existing), stamp: stamp)
                    child?.touch(stamp)
                    metadata?.children[key] = child
                }
            case (.object(let fresh), _):
                let written = JSONValue.object(removingNulls(fresh))
                target[key] = written
                metadata?.children[key] = TwinMetadata.fresh(for: written, stamp: stamp)
            default:
                target[key] = value
                metadata?.children[key] = TwinMetadata.fresh(for: value, stamp: stamp)
            }
        }
    }

    /// RFC 7396 merge of `patch` into `target`, for data without metadata (tags, a device's copy of a section).
    static func merge(_ patch: JSONObject, into target: inout JSONObject) {
        var noMetadata: TwinMetadata? = nil  // with no metadata to write, the stamp is never used
        let unused = TwinMetadata.Stamp(time: Timestamp(secondsSince1970: 0))
        merge(patch, into: &target, metadata: &noMetadata, stamp: unused)
    }

    /// `object` without `null` members at any level of nested objects (a `null` written where nothing exists
    /// deletes nothing).
    static func removingNulls(_ object: JSONObject) -> JSONObject {
        var result = JSONObject()
        for (key, value) in object {
            switch value {
            case .null: continue
            case .object(let nested): result[key] = .object(removingNulls(nested))
            default: result[key] = value
            }
        }
        return result
    }

    // MARK: Views

    /// The section as a device sees it in a twin GET: the properties and `"$version"`.
    public var deviceJSON: JSONObject {
        var object = properties
        object["$version"] = .integer(version)
        return object
    }

    /// The section as the service API returns it: the properties, `"$metadata"` (when known) and `"$version"`.
    public var serviceJSON: JSONObject {
        var object = properties
        if let metadata { object["$metadata"] = .object(metadata.json(mirroring: properties)) }
        object["$version"] = .integer(version)
        return object
    }

    /// Reads a section in either view: `$version` is required, `$metadata` optional, other `$` members at the top
    /// are ignored.
    /// - Throws: ``TwinError`` naming the member that is missing or of the wrong type.
    public init(parsing json: JSONValue, kind: Kind) throws(TwinError) {
        let path = kind.section.path
        guard case .object(let object) = json else { throw .notAnObject(path: path, found: json.typeName) }
        guard let version = object["$version"]?.int64Value else {
            throw .malformedDocument(path: path + ".$version", reason: "missing, or not an integer")
        }
        try Self.checkVersion(version, path: path + ".$version")
        var metadata: TwinMetadata?
        switch object["$metadata"] {
        case nil: metadata = nil
        case .object(let tree)?: metadata = try TwinMetadata(parsing: tree, path: path + ".$metadata", inherited: nil)
        case let other?: throw .notAnObject(path: path + ".$metadata", found: other.typeName)
        }
        self.init(kind: kind, properties: object, version: version, metadata: metadata)
    }
}
