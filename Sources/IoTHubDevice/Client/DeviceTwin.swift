import IoTHubProtocol

/// A device's view of its twin: desired and reported properties with their versions.
public struct DeviceTwin: Sendable, Hashable {
    /// Desired properties set by the back end (without `$version`).
    public var desired: JSONObject
    /// Reported properties set by the device (without `$version`).
    public var reported: JSONObject
    /// Desired `$version`.
    public var desiredVersion: Int64
    /// Reported `$version`.
    public var reportedVersion: Int64

    /// Parses the body of a twin GET response, `{"desired":{…,"$version":n},"reported":{…,"$version":m}}`.
    init(parsing body: [UInt8]) throws(DeviceClientError) {
        guard let json = try? JSONValue(parsing: body), let object = json.objectValue else {
            throw .twinRequestFailed(status: 200, message: "the twin document is not a JSON object")
        }
        var desired = object["desired"]?.objectValue ?? JSONObject()
        var reported = object["reported"]?.objectValue ?? JSONObject()
        desiredVersion = desired.removeValue(forKey: "$version")?.int64Value ?? 0
        reportedVersion = reported.removeValue(forKey: "$version")?.int64Value ?? 0
        self.desired = desired
        self.reported = reported
    }
}

/// A desired-properties patch pushed by the hub.
public struct DesiredPropertiesUpdate: Sendable, Hashable {
    /// The new desired `$version`.
    public var version: Int64
    /// The patch (merge semantics; `null` deletes), without `$version`.
    public var patch: JSONObject
}

/// What a direct method handler answers: an HTTP-like status and a JSON payload.
public struct DirectMethodResult: Sendable, Hashable {
    public var status: Int
    public var payload: JSONValue

    public init(status: Int = 200, payload: JSONValue = .null) {
        self.status = status
        self.payload = payload
    }
}

/// A direct method call received by the device.
public struct DirectMethodCall: Sendable, Hashable {
    /// The method name.
    public var name: String
    /// The JSON payload (`null` when the caller sent none).
    public var payload: JSONValue
}
