import Foundation
import IoTHubProtocol
import Logging

/// The identity registry: create, read, update and delete devices and modules, the same for every protocol head.
///
/// Disabling or deleting an identity ends its connection at once, wherever the presence directory finds it.
public struct RegistryService: Sendable {
    let store: any HubStore
    let presence: PresenceDirectory
    let logger: Logger
    /// Routes lifecycle events (created, deleted) when a route takes them.
    let routing: RoutingService?

    public init(store: any HubStore, presence: PresenceDirectory, logger: Logger, routing: RoutingService? = nil) {
        self.routing = routing
        self.store = store
        self.presence = presence
        self.logger = logger
    }

    /// What a caller asks for when creating or replacing an identity.
    public struct Request: Sendable {
        public var identity: DeviceIdentity
        public var status: DeviceStatus?
        public var statusReason: String?
        /// `nil` means SAS with generated keys.
        public var authentication: AuthenticationRequest?
        public var isEdgeDevice: Bool
        public var managedBy: String?

        public init(identity: DeviceIdentity, status: DeviceStatus? = nil, statusReason: String? = nil,
                    authentication: AuthenticationRequest? = nil, isEdgeDevice: Bool = false, managedBy: String? = nil) {
            self.identity = identity
            self.status = status
            self.statusReason = statusReason
            self.authentication = authentication
            self.isEdgeDevice = isEdgeDevice
            self.managedBy = managedBy
        }
    }

    /// Requested credentials; empty SAS keys are generated.
    public enum AuthenticationRequest: Sendable, Hashable {
        case sas(primaryKey: String?, secondaryKey: String?)
        case selfSigned(primaryThumbprint: String?, secondaryThumbprint: String?)
        case certificateAuthority
    }

    /// Creates an identity. Throws 409001 when it exists, 400 for invalid ids, keys or thumbprints.
    public func create(_ request: Request, now: Date = Date()) async throws -> DeviceRecord {
        try validate(request.identity)
        let created = try await store.createDevice(try Self.newRecord(request, now: now), twin: "{}")
        finish(.created(created))
        return created
    }

    /// Replaces an identity's settings (PUT with `If-Match`). Keys left empty keep their current value.
    public func update(_ request: Request, condition: ETagCondition, now: Date = Date()) async throws -> DeviceRecord {
        try validate(request.identity)
        let updated = try await store.updateDevice(request.identity, condition: condition,
                                                   Self.replacement(request, now: now))
        finish(.updated(updated))
        return updated
    }

    /// The record a create stores for `request`. - Throws: 400004 for keys or thumbprints that do not parse.
    static func newRecord(_ request: Request, now: Date) throws -> DeviceRecord {
        DeviceRecord(
            identity: request.identity, status: request.status ?? .enabled, statusReason: request.statusReason,
            statusUpdatedTime: now, authentication: try authentication(request.authentication, previous: nil),
            isEdgeDevice: request.isEdgeDevice, managedBy: request.managedBy)
    }

    /// How an update applies `request` to the stored record (keys left empty keep their value).
    static func replacement(_ request: Request, now: Date) -> @Sendable (inout DeviceRecord) throws -> Void {
        { record in
            let newStatus = request.status ?? record.status
            if newStatus != record.status { record.statusUpdatedTime = now }
            record.status = newStatus
            record.statusReason = request.statusReason
            record.authentication = try authentication(request.authentication, previous: record.authentication)
            record.isEdgeDevice = request.isEdgeDevice
            if let managedBy = request.managedBy { record.managedBy = managedBy }
        }
    }

    /// What follows a stored change: a log line, the end of the sessions a disabled or deleted identity had, and
    /// a lifecycle event for routes that take them.
    func finish(_ outcome: RegistryChangeOutcome, lastTwin: JSONObject? = nil) {
        switch outcome {
        case .created(let record):
            logger.info("identity created", metadata: ["identity": "\(record.identity)"])
            if let routing, routing.routes(.deviceLifecycleEvents) {
                routing.publish(.created(record.identity, twin: Self.lifecycleTwin(record)))
            }
        case .updated(let record):
            if record.status == .disabled {
                // Modules follow their device: disabling a device ends its modules' sessions too.
                for session in sessions(of: record.identity) { session.end(.disabled) }
            }
        case .deleted(let record):
            for session in sessions(of: record.identity) { session.end(.deleted) }
            logger.info("identity deleted", metadata: ["identity": "\(record.identity)"])
            if let routing, routing.routes(.deviceLifecycleEvents) {
                routing.publish(.deleted(record.identity, twin: lastTwin ?? Self.lifecycleTwin(record)))
            }
        }
    }

    /// The twin a lifecycle event carries for an identity whose stored twin is not at hand (a new one's).
    static func lifecycleTwin(_ record: DeviceRecord) -> JSONObject {
        TwinService.serviceView(Twin(createdAt: Timestamps.timestamp(record.statusUpdatedTime)), record: record)
    }

    /// Creates the identity, or updates it when it exists (IoT Hub's PUT without `If-Match` only creates).
    public func createOrUpdate(_ request: Request, ifMatch: String?, now: Date = Date()) async throws -> DeviceRecord {
        guard let ifMatch else { return try await create(request, now: now) }
        return try await update(request, condition: ETagCondition(ifMatch: ifMatch), now: now)
    }

    /// Reads an identity with its pending cloud-to-device count. Throws 404001/404010.
    public func get(_ identity: DeviceIdentity) async throws -> DeviceRecord {
        guard var record = try await store.device(identity) else { throw HubError.deviceNotFound(identity) }
        record.cloudToDeviceMessageCount = try await store.pendingCloudToDeviceCount(identity)
        return record
    }

    /// Deletes an identity (a device takes its modules with it) and disconnects them.
    public func delete(_ identity: DeviceIdentity, condition: ETagCondition) async throws {
        // A lifecycle event carries the twin as it was; read it first only when a route will take the event.
        var lastTwin: JSONObject?
        if let routing, routing.routes(.deviceLifecycleEvents), let (record, document) = try await store.twin(identity) {
            lastTwin = (try? TwinService.decode(document, record: record)).map { TwinService.serviceView($0, record: record) }
        }
        finish(.deleted(try await store.deleteDevice(identity, condition: condition)), lastTwin: lastTwin)
    }

    /// Lists devices in id order.
    public func list(after deviceId: String? = nil, limit: Int = 1000) async throws -> [DeviceRecord] {
        try await store.devices(after: deviceId, limit: max(1, min(limit, 10_000)))
    }

    /// The sessions an identity change reaches: a device's own and its modules', or one module's.
    private func sessions(of identity: DeviceIdentity) -> [any DeviceSession] {
        identity.moduleId == nil ? presence.sessions(ofDevice: identity.deviceId)
            : [presence.session(for: identity)].compactMap { $0 }
    }

    func validate(_ identity: DeviceIdentity) throws {
        do { try identity.validate() } catch { throw HubError(.argumentInvalid, error.description) }
    }

    static func authentication(_ request: AuthenticationRequest?, previous: DeviceAuthentication?) throws -> DeviceAuthentication {
        switch request ?? .sas(primaryKey: nil, secondaryKey: nil) {
        case .sas(let primary, let secondary):
            var keys: (SharedAccessKey, SharedAccessKey) = (.random(), .random())
            if case .sas(let oldPrimary, let oldSecondary) = previous { keys = (oldPrimary, oldSecondary) }
            return .sas(primaryKey: try key(primary, field: "primaryKey") ?? keys.0,
                        secondaryKey: try key(secondary, field: "secondaryKey") ?? keys.1)
        case .selfSigned(let primary, let secondary):
            let first = try thumbprint(primary, field: "primaryThumbprint")
            let second = try thumbprint(secondary, field: "secondaryThumbprint")
            guard first != nil || second != nil else {
                throw HubError(.argumentInvalid, "a selfSigned device needs a primaryThumbprint or secondaryThumbprint")
            }
            return .selfSigned(primaryThumbprint: first, secondaryThumbprint: second)
        case .certificateAuthority:
            return .certificateAuthority
        }
    }

    private static func key(_ text: String?, field: String) throws -> SharedAccessKey? {
        guard let text, !text.isEmpty else { return nil }
        guard let bytes = LibCrypto.base64Decode(text), (16...64).contains(bytes.count) else {
            throw HubError(.argumentInvalid, "\(field) must be base64 of 16 to 64 bytes; leave it empty to have one generated")
        }
        return SharedAccessKey(bytes: bytes)
    }

    /// Normalises a thumbprint to upper-case hex without separators; SHA-1 (40) or SHA-256 (64) digits.
    static func thumbprint(_ text: String?, field: String) throws -> String? {
        guard let text, !text.isEmpty else { return nil }
        let hex = text.uppercased().filter { $0 != ":" && $0 != " " }
        guard hex.count == 40 || hex.count == 64, hex.allSatisfy({ $0.isHexDigit }) else {
            throw HubError(.argumentInvalid, "\(field) must be a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) thumbprint")
        }
        return hex
    }
}
