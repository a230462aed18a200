import Foundation
import IoTHubProtocol

extension SQLiteHubStore {
    public func appendEvents(_ records: [EventRecord],
                             completion: @escaping @Sendable (Result<ClosedRange<Int64>, Error>) -> Void) {
        guard !records.isEmpty else { return completion(.failure(SQLiteError(code: 1, message: "no records to append", sql: nil))) }
        executor.write({ db in
            let insert = try db.statement("""
                INSERT INTO events (device_id, module_id, enqueued_ms, body, properties, system, size)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            var first: Int64 = 0
            var bytes: Int64 = 0
            for (index, record) in records.enumerated() {
                try Self.insert(record, with: insert)
                if index == 0 { first = db.lastInsertRowID }
                bytes += record.size
            }
            let last = db.lastInsertRowID
            let grow = try db.statement("UPDATE event_log_size SET bytes = bytes + ? WHERE id = 1")
            try grow.bind(1, integer: bytes)
            try grow.run()
            return first...last
        }, completion: completion)
    }

    /// Binds one record without copying its bytes and runs the insert.
    private static func insert(_ record: EventRecord, with insert: SQLiteStatement) throws {
        var deviceId = record.identity.deviceId
        var moduleId = record.identity.moduleId ?? ""
        try deviceId.withUTF8 { device in
            try moduleId.withUTF8 { module in
                try record.body.withUnsafeBytes { body in
                    try record.properties.withUnsafeBytes { properties in
                        try record.system.withUnsafeBytes { system in
                            try insert.bind(1, unsafeText: UnsafeRawBufferPointer(device))
                            try insert.bind(2, unsafeText: UnsafeRawBufferPointer(module))
                            try insert.bind(3, integer: record.enqueuedMilliseconds)
                            try insert.bind(4, unsafeBlob: body)
                            try insert.bind(5, unsafeText: properties)
                            try insert.bind(6, unsafeText: system)
                            try insert.bind(7, integer: record.size)
                            try insert.run()
                        }
                    }
                }
            }
        }
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
                    message: IoTHubMessage(body: row[4].bytes ?? [], properties: PropertyCoding.decode(row[5]),
                                           systemProperties: PropertyCoding.decodeSystem(row[6])))
            }
        }
    }

    public func lastEventSequenceNumber() async throws -> Int64 {
        try await executor.read { db in try db.query("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0].integer ?? 0 }
    }

    public func pruneEvents(olderThan cutoff: Date, maximumBytes: Int64) async throws -> Int {
        try await executor.write { db in
            // The log is in enqueue order, so what goes is a prefix: what expired, then the oldest while the log is
            // over its size. Walk it from the oldest end (no index by time to keep up on every insert, and no sum
            // over the table: `event_log_size` keeps the total) and delete it in one statement.
            var remaining = try db.query("SELECT bytes FROM event_log_size WHERE id = 1").first?.first?.integer ?? 0
            var lastRemoved: Int64?
            let oldest = try db.statement("SELECT seq, enqueued_ms, size FROM events ORDER BY seq")
            while try oldest.step() {
                let enqueued = oldest.column(1).integer ?? 0
                guard enqueued < cutoff.milliseconds || remaining > maximumBytes else { break }
                lastRemoved = oldest.column(0).integer
                remaining -= oldest.column(2).integer ?? 0
            }
            oldest.reset()
            guard let lastRemoved else { return 0 }
            try db.query("DELETE FROM events WHERE seq <= ?", [.integer(lastRemoved)])
            let removed = db.changes
            try db.query("UPDATE event_log_size SET bytes = ? WHERE id = 1", [.integer(max(0, remaining))])
            return removed
        }
    }
}
