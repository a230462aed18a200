import Foundation
import IoTHubProtocol

extension SQLiteHubStore {
    static let deviceColumns = """
        device_id, module_id, generation_id, version, status, status_reason, status_updated_ms, auth_type,
        primary_secret, secondary_secret, is_edge, managed_by, connection_state, connection_updated_ms, last_activity_ms
        """

    static func record(from row: [SQLiteValue]) throws -> DeviceRecord {
        let moduleId = row[1].text ?? ""
        let authentication: DeviceAuthentication
        switch row[7].text {
        case "sas":
            authentication = .sas(primaryKey: try SharedAccessKey(base64: row[8].text ?? ""),
                                  secondaryKey: try SharedAccessKey(base64: row[9].text ?? ""))
        case "selfSigned":
            authentication = .selfSigned(primaryThumbprint: row[8].text, secondaryThumbprint: row[9].text)
        default:
            authentication = .certificateAuthority
        }
        return DeviceRecord(
            identity: DeviceIdentity(deviceId: row[0].text ?? "", moduleId: moduleId.isEmpty ? nil : moduleId),
            generationId: row[2].text ?? "", version: row[3].integer ?? 1,
            status: DeviceStatus(rawValue: row[4].text ?? "") ?? .disabled, statusReason: row[5].text,
            statusUpdatedTime: Date(milliseconds: row[6].integer ?? 0), authentication: authentication,
            isEdgeDevice: row[10].integer == 1,
            connectionState: ConnectionState(rawValue: row[12].text ?? "") ?? .disconnected,
            connectionStateUpdatedTime: Date(milliseconds: row[13].integer ?? 0),
            lastActivityTime: Date(milliseconds: row[14].integer ?? 0), managedBy: row[11].text)
    }

    static func values(of record: DeviceRecord) -> [SQLiteValue] {
        let primary: String?, secondary: String?
        switch record.authentication {
        case .sas(let primaryKey, let secondaryKey): (primary, secondary) = (primaryKey.base64, secondaryKey.base64)
        case .selfSigned(let primaryThumbprint, let secondaryThumbprint): (primary, secondary) = (primaryThumbprint, secondaryThumbprint)
        case .certificateAuthority: (primary, secondary) = (nil, nil)
        }
        return [
            .text(record.identity.deviceId), .text(record.identity.moduleId ?? ""), .text(record.generationId),
            .integer(record.version), .text(record.status.rawValue), .optionalText(record.statusReason),
            .integer(record.statusUpdatedTime.milliseconds), .text(record.authentication.typeName),
            .optionalText(primary), .optionalText(secondary), .integer(record.isEdgeDevice ? 1 : 0),
            .optionalText(record.managedBy), .text(record.connectionState.rawValue),
            .integer(record.connectionStateUpdatedTime.milliseconds), .integer(record.lastActivityTime.milliseconds),
        ]
    }

    static func key(_ identity: DeviceIdentity) -> [SQLiteValue] {
        [.text(identity.deviceId), .text(identity.moduleId ?? "")]
    }

    static func loadDevice(_ db: SQLiteConnection, _ identity: DeviceIdentity) throws -> DeviceRecord? {
        try db.query("SELECT \(deviceColumns) FROM devices WHERE device_id = ? AND module_id = ?", key(identity))
            .first.map(record(from:))
    }

    static func saveDevice(_ db: SQLiteConnection, _ record: DeviceRecord) throws {
        try db.query("""
            UPDATE devices SET generation_id = ?3, version = ?4, status = ?5, status_reason = ?6, status_updated_ms = ?7,
                auth_type = ?8, primary_secret = ?9, secondary_secret = ?10, is_edge = ?11, managed_by = ?12,
                connection_state = ?13, connection_updated_ms = ?14, last_activity_ms = ?15
            WHERE device_id = ?1 AND module_id = ?2
            """, values(of: record))
    }

    public func device(_ identity: DeviceIdentity) async throws -> DeviceRecord? {
        try await executor.read { db in try Self.loadDevice(db, identity) }
    }

    /// Inserts a new identity (a module's device must exist). - Throws: 409001/409301, 404001.
    static func insertDevice(_ db: SQLiteConnection, _ record: DeviceRecord, twin: String) throws -> DeviceRecord {
        if let deviceId = record.identity.moduleId.map({ _ in record.identity.deviceId }),
           try loadDevice(db, DeviceIdentity(deviceId: deviceId)) == nil {
            throw HubError.deviceNotFound(DeviceIdentity(deviceId: deviceId))
        }
        guard try loadDevice(db, record.identity) == nil else {
            throw record.identity.moduleId == nil
                ? HubError(.deviceAlreadyExists, "device '\(record.identity.deviceId)' already exists; update it with If-Match instead")
                : HubError(.moduleAlreadyExistsOnDevice, "module '\(record.identity.clientId)' already exists")
        }
        try db.query("INSERT INTO devices (\(deviceColumns), twin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     values(of: record) + [.text(twin)])
        return record
    }

    /// Transforms an existing identity and increases its version. - Throws: 404001/404010, 412002.
    static func changeDevice(_ db: SQLiteConnection, _ identity: DeviceIdentity, condition: ETagCondition,
                             _ transform: (inout DeviceRecord) throws -> Void) throws -> DeviceRecord {
        guard var record = try loadDevice(db, identity) else { throw HubError.deviceNotFound(identity) }
        try condition.check(record.etag)
        try transform(&record)
        record.identity = identity
        record.version += 1
        try saveDevice(db, record)
        return record
    }

    /// Deletes an identity (a device with its modules) and its queued messages. - Throws: 404001/404010, 412002.
    static func removeDevice(_ db: SQLiteConnection, _ identity: DeviceIdentity,
                             condition: ETagCondition) throws -> DeviceRecord {
        guard let record = try loadDevice(db, identity) else { throw HubError.deviceNotFound(identity) }
        try condition.check(record.etag)
        if identity.moduleId == nil {
            try db.query("DELETE FROM devices WHERE device_id = ?", [.text(identity.deviceId)])
            try db.query("DELETE FROM c2d WHERE device_id = ?", [.text(identity.deviceId)])
        } else {
            try db.query("DELETE FROM devices WHERE device_id = ? AND module_id = ?", key(identity))
            try db.query("DELETE FROM c2d WHERE device_id = ? AND module_id = ?", key(identity))
        }
        return record
    }

    public func createDevice(_ record: DeviceRecord, twin: String) async throws -> DeviceRecord {
        try await executor.write { db in try Self.insertDevice(db, record, twin: twin) }
    }

    public func updateDevice(_ identity: DeviceIdentity, condition: ETagCondition,
                             _ transform: @escaping @Sendable (inout DeviceRecord) throws -> Void) async throws -> DeviceRecord {
        try await executor.write { db in try Self.changeDevice(db, identity, condition: condition, transform) }
    }

    public func recordConnections(_ changes: [ConnectionChange]) async throws {
        guard !changes.isEmpty else { return }
        _ = try await executor.write { db in
            for change in changes {
                let milliseconds = change.time.milliseconds
                try db.query("""
                    UPDATE devices SET connection_state = ?, connection_updated_ms = ?, last_activity_ms = ?
                    WHERE device_id = ? AND module_id = ?
                    """, [.text(change.state.rawValue), .integer(milliseconds), .integer(milliseconds)] + Self.key(change.identity))
            }
        }
    }

    public func deleteDevice(_ identity: DeviceIdentity, condition: ETagCondition) async throws -> DeviceRecord {
        try await executor.write { db in try Self.removeDevice(db, identity, condition: condition) }
    }

    public func devices(after deviceId: String?, limit: Int) async throws -> [DeviceRecord] {
        try await executor.read { db in
            try db.query("""
                SELECT \(Self.deviceColumns) FROM devices WHERE module_id = '' AND device_id > ? ORDER BY device_id LIMIT ?
                """, [.text(deviceId ?? ""), .integer(Int64(limit))]).map(Self.record(from:))
        }
    }

    public func modules(of deviceId: String) async throws -> [DeviceRecord] {
        try await executor.read { db in
            try db.query("SELECT \(Self.deviceColumns) FROM devices WHERE device_id = ? AND module_id != '' ORDER BY module_id",
                         [.text(deviceId)]).map(Self.record(from:))
        }
    }

    public func deviceCounts() async throws -> (total: Int, enabled: Int, disabled: Int) {
        try await executor.read { db in
            let row = try db.query("""
                SELECT COUNT(*), COALESCE(SUM(status = 'enabled'), 0), COALESCE(SUM(status = 'disabled'), 0)
                FROM devices WHERE module_id = ''
                """)[0]
            return (Int(row[0].integer ?? 0), Int(row[1].integer ?? 0), Int(row[2].integer ?? 0))
        }
    }

    // MARK: Twins

    public func twin(_ identity: DeviceIdentity) async throws -> (record: DeviceRecord, document: String)? {
        try await executor.read { db in
            guard let row = try db.query("SELECT \(Self.deviceColumns), twin FROM devices WHERE device_id = ? AND module_id = ?",
                                         Self.key(identity)).first else { return nil }
            return (try Self.record(from: row), row[15].text ?? "{}")
        }
    }

    public func updateTwin<Result: Sendable>(
        _ identity: DeviceIdentity,
        _ transform: @escaping @Sendable (DeviceRecord, String) throws -> (document: String, result: Result)
    ) async throws -> Result {
        try await executor.write { db in
            guard let row = try db.query("SELECT \(Self.deviceColumns), twin FROM devices WHERE device_id = ? AND module_id = ?",
                                         Self.key(identity)).first else { throw HubError.deviceNotFound(identity) }
            let (document, result) = try transform(try Self.record(from: row), row[15].text ?? "{}")
            try db.query("UPDATE devices SET twin = ? WHERE device_id = ? AND module_id = ?", [.text(document)] + Self.key(identity))
            return result
        }
    }

    public func twins(after cursor: DeviceIdentity?, includeModules: Bool, limit: Int) async throws
        -> [(record: DeviceRecord, document: String)]
    {
        try await executor.read { db in
            let rows = try db.query("""
                SELECT \(Self.deviceColumns), twin FROM devices
                WHERE (device_id > ?1 OR (device_id = ?1 AND module_id > ?2)) AND (?3 OR module_id = '')
                ORDER BY device_id, module_id LIMIT ?4
                """, [.text(cursor?.deviceId ?? ""), .text(cursor.map { $0.moduleId ?? "" } ?? ""),
                      .integer(includeModules ? 1 : 0), .integer(Int64(limit))])
            return try rows.map { (try Self.record(from: $0), $0[15].text ?? "{}") }
        }
    }
}
