import Foundation
import IoTHubProtocol

extension SQLiteHubStore {
    public func appendEvent(identity: DeviceIdentity, enqueuedTime: Date, message: IoTHubMessage,
                            completion: @escaping @Sendable (Result<Int64, Error>) -> Void) {
        let properties = PropertyCoding.encode(message.properties)
        let system = PropertyCoding.encodeSystem(message.systemProperties)
        let size = Int64(message.body.count + properties.utf8.count + system.utf8.count)
        executor.write({ db in
            try db.query("""
                INSERT INTO events (device_id, module_id, enqueued_ms, body, properties, system, size)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, Self.key(identity) + [.integer(enqueuedTime.milliseconds), .blob(message.body), .text(properties),
                                            .text(system), .integer(size)])
            return db.lastInsertRowID
        }, completion: completion)
    }

    public func events(after sequenceNumber: Int64, deviceId: String?, limit: Int) async throws -> [StoredEvent] {
        try await executor.read { db in
            let rows: [[SQLiteValue]]
            let columns = "seq, device_id, module_id, enqueued_ms, body, properties, system"
            if let deviceId {
                rows = try db.query("SELECT \(columns) FROM events WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                                    [.text(deviceId), .integer(sequenceNumber), .integer(Int64(limit))])
            } else {
                rows = try db.query("SELECT \(columns) FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                    [.integer(sequenceNumber), .integer(Int64(limit))])
            }
            return rows.map { row in
                let moduleId = row[2].text ?? ""
                return StoredEvent(
                    sequenceNumber: row[0].integer ?? 0,
                    identity: DeviceIdentity(deviceId: row[1].text ?? "", moduleId: moduleId.isEmpty ? nil : moduleId),
                    enqueuedTime: Date(milliseconds: row[3].integer ?? 0),
                    message: IoTHubMessage(body: row[4].bytes ?? [], properties: PropertyCoding.decode(row[5].text),
                                           systemProperties: PropertyCoding.decodeSystem(row[6].text)))
            }
        }
    }

    public func lastEventSequenceNumber() async throws -> Int64 {
        try await executor.read { db in try db.query("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0].integer ?? 0 }
    }

    public func pruneEvents(olderThan cutoff: Date, maximumBytes: Int64) async throws -> Int {
        try await executor.write { db in
            try db.query("DELETE FROM events WHERE enqueued_ms < ?", [.integer(cutoff.milliseconds)])
            var removed = db.changes
            let total = try db.query("SELECT COALESCE(SUM(size), 0) FROM events")[0][0].integer ?? 0
            if total > maximumBytes {
                // Walk from the oldest until enough bytes are freed, then delete that prefix in one statement.
                var excess = total - maximumBytes
                var lastSequence: Int64 = 0
                let statement = try db.statement("SELECT seq, size FROM events ORDER BY seq")
                while excess > 0, try statement.step() {
                    lastSequence = statement.column(0).integer ?? 0
                    excess -= statement.column(1).integer ?? 0
                }
                statement.reset()
                try db.query("DELETE FROM events WHERE seq <= ?", [.integer(lastSequence)])
                removed += db.changes
            }
            return removed
        }
    }
}
