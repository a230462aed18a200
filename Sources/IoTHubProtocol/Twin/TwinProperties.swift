/// The `properties` of a twin: the desired and reported sections.
///
/// ``deviceJSON`` is the body of the MQTT twin GET response (`$iothub/twin/res/200/?$rid=…`), which carries
/// `$version` but no `$metadata`; the device SDK reads it back with ``init(parsing:)``, which also accepts the
/// service form with metadata.
///
/// ```swift
/// let body = try JSONValue(parsing: #"{"desired":{"rate":5,"$version":3},"reported":{"$version":7}}"#)
/// let properties = try TwinProperties(parsing: body)
/// properties.desired.properties["rate"]   // 5
/// properties.reported.version             // 7
/// properties.deviceJSON.description       // the same text again
/// ```
public struct TwinProperties: Sendable, Hashable {
    /// `properties.desired`.
    public var desired: TwinCollection
    /// `properties.reported`.
    public var reported: TwinCollection

    /// Both sections. Pass a ``TwinCollection`` of kind `.desired` first and one of kind `.reported` second.
    public init(desired: TwinCollection, reported: TwinCollection) {
        self.desired = desired
        self.reported = reported
    }

    /// The empty sections of a new twin (both at version 1).
    public init(createdAt: Timestamp) {
        self.init(desired: TwinCollection(kind: .desired, createdAt: createdAt),
                  reported: TwinCollection(kind: .reported, createdAt: createdAt))
    }

    /// `{"desired":{…,"$version":n},"reported":{…,"$version":m}}`: the device view.
    public var deviceJSON: JSONObject {
        ["desired": .object(desired.deviceJSON), "reported": .object(reported.deviceJSON)]
    }

    /// `{"desired":{…,"$metadata":{…},"$version":n},"reported":{…}}`: the service view.
    public var serviceJSON: JSONObject {
        ["desired": .object(desired.serviceJSON), "reported": .object(reported.serviceJSON)]
    }

    /// Reads the device or the service view; both sections are required.
    /// - Throws: ``TwinError`` naming the member that is missing or malformed.
    public init(parsing json: JSONValue) throws(TwinError) {
        guard case .object(let object) = json else { throw .notAnObject(path: "properties", found: json.typeName) }
        guard let desired = object["desired"] else {
            throw .malformedDocument(path: "properties.desired", reason: "missing")
        }
        guard let reported = object["reported"] else {
            throw .malformedDocument(path: "properties.reported", reason: "missing")
        }
        self.init(desired: try TwinCollection(parsing: desired, kind: .desired),
                  reported: try TwinCollection(parsing: reported, kind: .reported))
    }
}
