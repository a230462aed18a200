/// A device or module twin: tags, desired and reported properties, the twin version and its etag.
///
/// Every operation checks ``TwinLimits`` before it changes anything, so a refused update leaves the twin exactly
/// as it was. Versions follow IoT Hub:
/// - ``version`` (the twin's `version`) counts changes to tags and desired properties: +1 per accepted tags or
///   desired update, including a combined REST update. Reported updates do not change it.
/// - each section's `$version` counts that section's own updates (see ``TwinCollection``).
///
/// ``etag`` is derived from ``version`` alone, in the form IoT Hub uses: the 8-byte big-endian version in base64
/// (version 2 → `"AAAAAAAAAAI="`). It therefore changes exactly when tags or desired properties change, which is
/// what `If-Match` on the service's twin updates protects.
///
/// ```swift
/// var twin = Twin(createdAt: Timestamp(secondsSince1970: 1_700_000_000))
/// let now = Timestamp(secondsSince1970: 1_700_000_060)
/// try twin.applyTagsPatch(["site": "plant-7"])
/// let notification = try twin.applyDesiredPatch(["rate": 5], at: now)  // {"rate":5,"$version":2}
/// let reportedVersion = try twin.applyReportedPatch(["rate": 5], at: now) // 2, for `$iothub/twin/res/204/?$version=2`
/// twin.version                // 3
/// twin.etag                   // "AAAAAAAAAAM="
/// twin.deviceJSON.description // {"desired":{"rate":5,"$version":2},"reported":{"rate":5,"$version":2}}
/// let stored = twin.serviceJSON.description
/// try Twin(parsing: JSONValue(parsing: stored)) == twin   // true
/// ```
public struct Twin: Sendable, Hashable {
    /// The tags (back end only; no metadata, no section version).
    public private(set) var tags: JSONObject
    /// The desired and reported sections.
    public private(set) var properties: TwinProperties
    /// The twin version: 1 for a new twin, +1 per change of tags or desired properties.
    public private(set) var version: Int64

    /// A new twin: no tags, empty sections at `$version` 1, twin version 1.
    public init(createdAt: Timestamp) {
        self.init(tags: JSONObject(), properties: TwinProperties(createdAt: createdAt), version: 1)
    }

    /// A twin from its parts, taken as they are (no limit checks).
    public init(tags: JSONObject, properties: TwinProperties, version: Int64) {
        self.tags = tags
        self.properties = properties
        self.version = version
    }

    /// The desired section.
    public var desired: TwinCollection { properties.desired }
    /// The reported section.
    public var reported: TwinCollection { properties.reported }

    // MARK: Etag

    /// The etag: base64 of the 8-byte big-endian ``version`` (without quotes).
    public var etag: String {
        let bits = UInt64(bitPattern: version)
        return LibCrypto.base64Encode((0..<8).map { UInt8(truncatingIfNeeded: bits >> (56 - 8 * $0)) })
    }

    /// Whether an `If-Match` header value admits an update: `*`, or this twin's etag with or without quotes
    /// (a weak `W/` prefix is accepted too).
    public func etagMatches(_ ifMatch: String) -> Bool {
        var candidate = Substring(ifMatch).drop { $0 == " " }
        while candidate.last == " " { candidate = candidate.dropLast() }
        if candidate == "*" { return true }
        if candidate.hasPrefix("W/") { candidate = candidate.dropFirst(2) }
        if candidate.count >= 2, candidate.first == "\"", candidate.last == "\"" {
            candidate = candidate.dropFirst().dropLast()
        }
        return candidate == etag
    }

    // MARK: Tags

    /// Merges `patch` into the tags (same rules as property patches).
    /// - Throws: ``TwinError`` when the patch is not an object or breaks a limit; the twin is then unchanged.
    public mutating func applyTagsPatch(_ patch: JSONValue, limits: TwinLimits = .iotHub) throws(TwinError) {
        let validator = TwinValidator(limits: limits, section: .tags)
        var merged = tags
        TwinCollection.merge(try validator.validatedObject(patch), into: &merged)
        try validator.checkSize(old: tags, new: merged)
        tags = merged
        version += 1
    }

    /// Replaces all tags with `document` (`null` members are dropped).
    /// - Throws: ``TwinError`` when the document is not an object or breaks a limit; the twin is then unchanged.
    public mutating func replaceTags(_ document: JSONValue, limits: TwinLimits = .iotHub) throws(TwinError) {
        let validator = TwinValidator(limits: limits, section: .tags)
        let replacement = TwinCollection.removingNulls(try validator.validatedObject(document))
        try validator.checkSize(old: tags, new: replacement)
        tags = replacement
        version += 1
    }

    // MARK: Properties

    /// Merges `patch` into the desired properties at `now`; returns the notification for a connected device
    /// (`{…patch…, "$version": n}`, to publish on `$iothub/twin/PATCH/properties/desired/?$version=n`).
    /// - Throws: ``TwinError`` when the patch is not an object or breaks a limit; the twin is then unchanged.
    @discardableResult
    public mutating func applyDesiredPatch(_ patch: JSONValue, at now: Timestamp, limits: TwinLimits = .iotHub)
        throws(TwinError) -> JSONObject
    {
        let notification = try properties.desired.applyPatch(patch, at: now, limits: limits)
        version += 1
        return notification
    }

    /// Replaces the desired properties with `document` at `now`; returns the notification for a connected device
    /// (the whole new section plus `"$version"`).
    /// - Throws: ``TwinError`` when the document is not an object or breaks a limit; the twin is then unchanged.
    @discardableResult
    public mutating func replaceDesired(_ document: JSONValue, at now: Timestamp, limits: TwinLimits = .iotHub)
        throws(TwinError) -> JSONObject
    {
        let notification = try properties.desired.replace(with: document, at: now, limits: limits)
        version += 1
        return notification
    }

    /// Merges a device's patch into the reported properties at `now`; returns the new reported `$version` (the
    /// `$version` of the MQTT 204 response). The twin ``version`` does not change.
    /// - Throws: ``TwinError`` when the patch is not an object or breaks a limit; the twin is then unchanged.
    @discardableResult
    public mutating func applyReportedPatch(_ patch: JSONValue, at now: Timestamp, limits: TwinLimits = .iotHub)
        throws(TwinError) -> Int64
    {
        try properties.reported.applyPatch(patch, at: now, limits: limits)
        return properties.reported.version
    }

    // MARK: Service REST bodies

    /// `PATCH /twins/{id}`: merges the body's `tags` and `properties.desired` (either may be absent; other members
    /// such as `deviceId`, `etag` or `properties.reported` are ignored). One accepted call adds 1 to ``version``.
    /// Returns the desired notification when desired properties were patched.
    /// - Throws: ``TwinError``; both parts are checked before either is applied.
    @discardableResult
    public mutating func update(with body: JSONValue, at now: Timestamp, limits: TwinLimits = .iotHub)
        throws(TwinError) -> JSONObject?
    {
        try applyServiceBody(body) { (twin, tags) throws(TwinError) in
            try twin.applyTagsPatch(tags, limits: limits)
        } desired: { (twin, desired) throws(TwinError) in
            try twin.applyDesiredPatch(desired, at: now, limits: limits)
        }
    }

    /// `PUT /twins/{id}`: replaces tags and desired properties with the body's `tags` and `properties.desired`
    /// and keeps reported properties. A part that is absent (or `null`) is left as it is. One accepted call adds 1
    /// to ``version``. Returns the desired notification when desired properties were replaced.
    /// - Throws: ``TwinError``; both parts are checked before either is applied.
    @discardableResult
    public mutating func replace(with body: JSONValue, at now: Timestamp, limits: TwinLimits = .iotHub)
        throws(TwinError) -> JSONObject?
    {
        try applyServiceBody(body) { (twin, tags) throws(TwinError) in
            try twin.replaceTags(tags, limits: limits)
        } desired: { (twin, desired) throws(TwinError) in
            try twin.replaceDesired(desired, at: now, limits: limits)
        }
    }

    /// Runs the tags and desired steps on a copy and keeps the copy only when both succeed.
    private mutating func applyServiceBody(
        _ body: JSONValue,
        tags tagsStep: (inout Twin, JSONValue) throws(TwinError) -> Void,
        desired desiredStep: (inout Twin, JSONValue) throws(TwinError) -> JSONObject
    ) throws(TwinError) -> JSONObject? {
        guard case .object(let object) = body else { throw .notAnObject(path: "twin", found: body.typeName) }
        var desired: JSONValue?
        switch object["properties"] {
        case nil, .null?: desired = nil
        case .object(let properties)?: desired = properties["desired"]
        case let other?: throw .notAnObject(path: "properties", found: other.typeName)
        }
        var copy = self
        var changed = false
        if let tags = object["tags"], !tags.isNull {
            try tagsStep(&copy, tags)
            changed = true
        }
        var notification: JSONObject?
        if let desired, !desired.isNull {
            notification = try desiredStep(&copy, desired)
            changed = true
        }
        guard changed else { return nil }
        copy.version = version + 1
        self = copy
        return notification
    }

    // MARK: Views

    /// The device view (`{"desired":{…,"$version":n},"reported":{…,"$version":m}}`), the body of the MQTT twin
    /// GET response. Tags are not visible to devices.
    public var deviceJSON: JSONObject { properties.deviceJSON }

    /// The twin part of the service view: `etag`, `version`, `tags` and `properties` with `$metadata`. The hub adds
    /// the identity members (`deviceId`, `status`, …) around it.
    public var serviceJSON: JSONObject {
        ["etag": .string(etag), "version": .integer(version), "tags": .object(tags),
         "properties": .object(properties.serviceJSON)]
    }

    /// Reads a service view (as produced by ``serviceJSON``, with or without identity members, which are
    /// ignored). `tags` may be absent; `version` and `properties` are required; `etag` is ignored (derived).
    /// - Throws: ``TwinError`` naming the member that is missing or malformed.
    public init(parsing json: JSONValue) throws(TwinError) {
        guard case .object(let object) = json else { throw .notAnObject(path: "twin", found: json.typeName) }
        guard let version = object["version"]?.int64Value else {
            throw .malformedDocument(path: "version", reason: "missing, or not an integer")
        }
        try TwinCollection.checkVersion(version, path: "version")
        var tags = JSONObject()
        switch object["tags"] {
        case nil, .null?: break
        case .object(let value)?: tags = value
        case let other?: throw .notAnObject(path: "tags", found: other.typeName)
        }
        guard let properties = object["properties"] else {
            throw .malformedDocument(path: "properties", reason: "missing")
        }
        self.init(tags: tags, properties: try TwinProperties(parsing: properties), version: version)
    }
}
