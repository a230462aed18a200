import Foundation
import IoTHubProtocol

/// One of IoT Hub's system events (a twin change, a device or module created or deleted, connected or
/// disconnected), as routes see it and endpoints store it: a JSON body, application properties `hubName`,
/// `deviceId`, `moduleId`, `operationTimestamp`, `opType` and `iothub-message-schema`, and system properties
/// `iothub-message-source`, `iothub-connection-device-id`, `iothub-connection-module-id`, `iothub-enqueuedtime`,
/// `content-type` `application/json` and `content-encoding` `utf-8`.
public struct SystemEvent: Sendable {
    /// The routing source it belongs to.
    public var source: RouteSource
    /// The device or module it is about.
    public var identity: DeviceIdentity
    /// `createDeviceIdentity`, `deleteDeviceIdentity`, `deviceConnected`, `deviceDisconnected`, `updateTwin`,
    /// `replaceTwin`.
    public var operation: String
    /// The JSON body.
    public var body: JSONValue
    /// When it happened (`operationTimestamp`, `iothub-enqueuedtime`).
    public var time: Date

    /// An event; the static functions make IoT Hub's kinds.
    public init(source: RouteSource, identity: DeviceIdentity, operation: String, body: JSONValue, time: Date = Date()) {
        self.source = source
        self.identity = identity
        self.operation = operation
        self.body = body
        self.time = time
    }

    /// A device or module was created; the body is its twin.
    public static func created(_ identity: DeviceIdentity, twin: JSONObject, at time: Date = Date()) -> SystemEvent {
        SystemEvent(source: .deviceLifecycleEvents, identity: identity,
                    operation: identity.moduleId == nil ? "createDeviceIdentity" : "createModuleIdentity", body: .object(twin), time: time)
    }

    /// A device or module was deleted; the body is its last twin.
    public static func deleted(_ identity: DeviceIdentity, twin: JSONObject, at time: Date = Date()) -> SystemEvent {
        SystemEvent(source: .deviceLifecycleEvents, identity: identity,
                    operation: identity.moduleId == nil ? "deleteDeviceIdentity" : "deleteModuleIdentity", body: .object(twin), time: time)
    }

    /// A device or module connected or disconnected; the body carries the event's sequence number.
    public static func connection(_ identity: DeviceIdentity, connected: Bool, sequenceNumber: String, at time: Date = Date()) -> SystemEvent {
        SystemEvent(source: .deviceConnectionStateEvents, identity: identity,
                    operation: connected ? "deviceConnected" : "deviceDisconnected",
                    body: .object(["sequenceNumber": .string(sequenceNumber)]), time: time)
    }

    /// A twin changed; the body is the new twin `version` and what changed (`tags`, `properties.desired` or
    /// `properties.reported`, each with its `$version`).
    public static func twinChanged(_ identity: DeviceIdentity, replaced: Bool, body: JSONObject, at time: Date = Date()) -> SystemEvent {
        SystemEvent(source: .twinChangeEvents, identity: identity, operation: replaced ? "replaceTwin" : "updateTwin",
                    body: .object(body), time: time)
    }

    /// The `iothub-message-schema` IoT Hub stamps for the source.
    var schema: String {
        switch source {
        case .deviceMessages: ""
        case .twinChangeEvents: "twinChangeNotification"
        case .deviceLifecycleEvents: "deviceLifecycleNotification"
        case .deviceConnectionStateEvents: "deviceConnectionStateNotification"
        }
    }

    /// The event as a store record for routing.
    func record(hubName: String, partition: Int) -> EventRecord {
        let stamp = Timestamps.timestamp(time)
        let timestamp = stamp.iso8601
        var application: [(String, String)] = [("hubName", hubName), ("deviceId", identity.deviceId)]
        if let moduleId = identity.moduleId { application.append(("moduleId", moduleId)) }
        application += [("operationTimestamp", timestamp), ("iothub-message-schema", schema), ("opType", operation)]
        var system: [(String, String)] = [("iothub-connection-device-id", identity.deviceId)]
        if let moduleId = identity.moduleId { system.append(("iothub-connection-module-id", moduleId)) }
        system += [("content-type", "application/json"), ("content-encoding", "utf-8"),
                   ("iothub-enqueuedtime", timestamp), ("iothub-message-source", source.messageSource)]
        var properties: [UInt8] = []
        JSONStringMembers.write(application, to: &properties)
        var systemBytes: [UInt8] = []
        JSONStringMembers.write(system, to: &systemBytes)
        return EventRecord(identity: identity, enqueuedMilliseconds: stamp.millisecondsSince1970,
                           body: body.serializedBytes(), properties: properties, system: systemBytes, partition: partition,
                           source: source)
    }
}
