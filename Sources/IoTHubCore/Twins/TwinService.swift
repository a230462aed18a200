import Foundation
import IoTHubProtocol
import Logging

/// Device twins, the same for every protocol head: device reads and reported patches, service reads, patches
/// and replacements with `If-Match`, and desired-property notifications to connected devices.
public struct TwinService: Sendable {
    let store: any HubStore
    let presence: PresenceDirectory
    let logger: Logger
    let limits: TwinLimits
    let metrics: HubMetrics?
    /// Routes twin-change events, and forgets twins it cached for conditions.
    let routing: RoutingService?

    public init(store: any HubStore, presence: PresenceDirectory, logger: Logger, limits: TwinLimits = .iotHub,
                metrics: HubMetrics? = nil, routing: RoutingService? = nil) {
        self.routing = routing
        self.metrics = metrics
        self.store = store
        self.presence = presence
        self.logger = logger
        self.limits = limits
    }

    /// The device view `{"desired":{…},"reported":{…}}`, the body of an MQTT twin GET response.
    public func deviceView(_ identity: DeviceIdentity) async throws -> [UInt8] {
        guard let (record, document) = try await store.twin(identity) else { throw HubError.deviceNotFound(identity) }
        metrics?.twinOperation("device_get")
        return JSONValue.object(try Self.decode(document, record: record).deviceJSON).serializedBytes()
    }

    /// The service view (`GET /twins/{id}`): identity members plus etag, version, tags and properties.
    public func serviceView(_ identity: DeviceIdentity) async throws -> JSONObject {
        guard let (record, document) = try await store.twin(identity) else { throw HubError.deviceNotFound(identity) }
        return Self.serviceView(try Self.decode(document, record: record), record: record)
    }

    /// Applies a device's reported-properties patch (JSON bytes); returns the new reported version.
    /// - Throws: 400004 for bad JSON or a broken limit (the twin is unchanged).
    public func patchReported(_ identity: DeviceIdentity, body: [UInt8], now: Date = Date()) async throws -> Int64 {
        let patch = try Self.parse(body)
        let limits = self.limits
        defer { metrics?.twinOperation("reported_patch") }
        let (version, twinVersion) = try await store.updateTwin(identity) { record, document in
            var twin = try Self.decode(document, record: record)
            let version: Int64
            do { version = try twin.applyReportedPatch(patch, at: Timestamps.timestamp(now), limits: limits) } catch {
                throw HubError.invalid("\(error)")
            }
            return (Self.encode(twin), (version, twin.version))
        }
        if let routing {
            routing.twinChanged(identity)
            if routing.routes(.twinChangeEvents), var reported = patch.objectValue {
                reported["$version"] = .integer(version)
                routing.publish(.twinChanged(identity, replaced: false, body: [
                    "version": .integer(twinVersion), "properties": ["reported": .object(reported)]], at: now))
            }
        }
        return version
    }

    /// `PATCH /twins/{id}` (merge) or `PUT /twins/{id}` (replace) from the service; notifies a connected device of
    /// desired changes. Returns the new service view.
    /// - Throws: 412002 for a stale `If-Match`, 400004 for a bad body or a broken limit.
    public func update(_ identity: DeviceIdentity, body: JSONValue, ifMatch: String?, replace: Bool,
                       now: Date = Date()) async throws -> JSONObject {
        let limits = self.limits
        let condition = ETagCondition(ifMatch: ifMatch)
        let (view, notification) = try await store.updateTwin(identity) { record, document in
            var twin = try Self.decode(document, record: record)
            if case .matches(let expected) = condition, !twin.etagMatches(expected) {
                throw HubError(.preconditionFailed, "the twin etag \"\(expected)\" is stale (current \"\(twin.etag)\"); read the twin again and retry")
            }
            let notification: JSONObject?
            do {
                notification = replace ? try twin.replace(with: body, at: Timestamps.timestamp(now), limits: limits)
                    : try twin.update(with: body, at: Timestamps.timestamp(now), limits: limits)
            } catch {
                throw HubError.invalid("\(error)")
            }
            return (Self.encode(twin), (Self.serviceView(twin, record: record), notification.map { ($0, twin.desired.version) }))
        }
        metrics?.twinOperation(replace ? "service_replace" : "service_patch")
        if let (patch, version) = notification {
            notify(identity, patch: patch, version: version)
        }
        if let routing {
            routing.twinChanged(identity)
            if routing.routes(.twinChangeEvents) {
                publishChange(identity, view: view, body: body, desiredPatch: notification, replace: replace, at: now, to: routing)
            }
        }
        return view
    }

    /// A twin-change event: the new twin version, and what changed: the tags (all of them for a replacement,
    /// those patched otherwise) and the desired properties (the patch, or all of them, with their `$version`).
    private func publishChange(_ identity: DeviceIdentity, view: JSONObject, body: JSONValue,
                               desiredPatch: (JSONObject, Int64)?, replace: Bool, at time: Date, to routing: RoutingService) {
        var event: JSONObject = ["version": view["version"] ?? .integer(0)]
        if replace {
            event["tags"] = view["tags"] ?? .object([:])
            if let desired = view["properties"]?["desired"] { event["properties"] = ["desired": desired] }
        } else {
            if let tags = body["tags"], !tags.isNull { event["tags"] = tags }
            if let (patch, version) = desiredPatch {
                var desired = patch
                desired["$version"] = .integer(version)
                event["properties"] = ["desired": .object(desired)]
            }
        }
        guard event.count > 1 else { return }
        routing.publish(.twinChanged(identity, replaced: replace, body: event, at: time))
    }

    /// Sends a desired patch to the device if it is connected and subscribed.
    func notify(_ identity: DeviceIdentity, patch: JSONObject, version: Int64) {
        guard let session = presence.session(for: identity), session.wantsDesiredPropertyUpdates else { return }
        session.sendDesiredPropertiesPatch(JSONValue.object(patch).serializedBytes(), version: version)
        metrics?.messageSent(kind: "desired_patch")
    }

    package static func parse(_ body: [UInt8]) throws -> JSONValue {
        do { return try JSONValue(parsing: body) } catch {
            throw HubError.invalid("the twin body is not valid JSON: \(error)")
        }
    }

    /// Reads a stored twin; the empty document of a new identity becomes a fresh twin.
    package static func decode(_ document: String, record: DeviceRecord) throws -> Twin {
        let value = try JSONValue(parsing: document)
        if case .object(let object) = value, object.isEmpty {
            return Twin(createdAt: Timestamps.timestamp(record.statusUpdatedTime))
        }
        return try Twin(parsing: value)
    }

    package static func encode(_ twin: Twin) -> String {
        JSONValue.object(twin.serviceJSON).serialized()
    }

    /// IoT Hub's twin document for the service: identity members around the twin's own.
    package static func serviceView(_ twin: Twin, record: DeviceRecord) -> JSONObject {
        var view: JSONObject = ["deviceId": .string(record.identity.deviceId)]
        if let moduleId = record.identity.moduleId { view["moduleId"] = .string(moduleId) }
        view["etag"] = .string(twin.etag)
        view["deviceEtag"] = .string(record.etag)
        view["status"] = .string(record.status.rawValue)
        if let reason = record.statusReason { view["statusReason"] = .string(reason) }
        view["statusUpdateTime"] = .string(DeviceTime.format(record.statusUpdatedTime))
        view["connectionState"] = .string(record.connectionState.rawValue)
        view["lastActivityTime"] = .string(DeviceTime.format(record.lastActivityTime))
        view["cloudToDeviceMessageCount"] = .integer(Int64(record.cloudToDeviceMessageCount))
        view["authenticationType"] = .string(record.authentication.typeName)
        var thumbprint: JSONObject = ["primaryThumbprint": .null, "secondaryThumbprint": .null]
        if case .selfSigned(let primary, let secondary) = record.authentication {
            thumbprint = ["primaryThumbprint": primary.map(JSONValue.string) ?? .null,
                          "secondaryThumbprint": secondary.map(JSONValue.string) ?? .null]
        }
        view["x509Thumbprint"] = .object(thumbprint)
        view["modelId"] = .string("")
        view["version"] = .integer(twin.version)
        if record.identity.moduleId == nil { view["capabilities"] = ["iotEdge": .bool(record.isEdgeDevice)] }
        view["tags"] = .object(twin.tags)
        view["properties"] = twin.serviceJSON["properties"] ?? .object([:])
        return view
    }
}

/// Registry times as IoT Hub writes them: never-set times are `0001-01-01T00:00:00Z`.
package enum DeviceTime {
    package static func format(_ date: Date) -> String {
        date.timeIntervalSince1970 <= 0 ? "0001-01-01T00:00:00Z" : Timestamps.iso8601(date)
    }
}
