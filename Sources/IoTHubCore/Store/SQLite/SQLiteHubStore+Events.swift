import Foundation
import IoTHubProtocol

/// A partition of one event stream.
private struct PartitionKey: Hashable {
    var stream: Int
    var partition: Int
}

/// A partition's newest message while a batch is appended.
private struct PartitionTail {
    var sequence: Int64
    var offset: Int64
    var enqueued: Int64
    var touched: Bool
}

extension SQLiteHubStore {
    public func appendEvents(_ records: [EventRecord],
                             completion: @escaping @Sendable (Result<ClosedRange<Int64>, Error>) -> Void) {
        guard !records.isEmpty else { return completion(.failure(SQLiteError(code: 1, message: "no records to append", sql: nil))) }
        executor.write({ db in
            let insert = try db.statement("""
                INSERT INTO events (device_id, module_id, enqueued_ms, body, properties, system, size, partition, partition_seq, stream)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            // Each stream's partitions number their messages from 0 without gaps; the numbers live in
            // `stream_partitions` (a row per stream and partition) so that retention never renumbers.
            var partitions: [PartitionKey: PartitionTail] = [:]
            let tails = try db.statement("SELECT stream, partition, last_seq, last_offset, last_enqueued_ms FROM stream_partitions")
            while try tails.step() {
                partitions[PartitionKey(stream: Int(tails.column(0).integer ?? 0), partition: Int(tails.column(1).integer ?? 0))] =
                    PartitionTail(sequence: tails.column(2).integer ?? -1, offset: tails.column(3).integer ?? -1,
                                  enqueued: tails.column(4).integer ?? 0, touched: false)
            }
            tails.reset()
            var outbox: SQLiteStatement?
            var first: Int64?
            var bytes: Int64 = 0
            for record in records {
                switch record.destination {
                case .stream(let stream):
                    let key = PartitionKey(stream: stream, partition: record.partition)
                    let sequence = (partitions[key]?.sequence ?? -1) + 1
                    try Self.insert(record, partitionSequence: sequence, stream: stream, with: insert)
                    let offset = db.lastInsertRowID
                    if first == nil { first = offset }
                    partitions[key] = PartitionTail(sequence: sequence, offset: offset,
                                                    enqueued: record.enqueuedMilliseconds, touched: true)
                    bytes += record.size
                case .storage(let endpoint):
                    if outbox == nil {
                        outbox = try db.statement("""
                            INSERT INTO route_outbox (endpoint, partition, enqueued_ms, body, properties, system, size)
                            VALUES (?, ?, ?, ?, ?, ?, ?)
                            """)
                    }
                    try outbox!.bind([.text(endpoint), .integer(Int64(record.partition)), .integer(record.enqueuedMilliseconds),
                                      .blob(record.body), .text(String(decoding: record.properties, as: UTF8.self)),
                                      .text(String(decoding: record.system, as: UTF8.self)), .integer(record.size)])
                    try outbox!.run()
                }
            }
            guard let first else {
                // Nothing went to a stream (every record was for storage endpoints): the log's newest position.
                let newest = try db.query("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0].integer ?? 0
                return newest...newest
            }
            let last = db.lastInsertRowID
            let grow = try db.statement("UPDATE event_log_size SET bytes = bytes + ? WHERE id = 1")
            try grow.bind(1, integer: bytes)
            try grow.run()
            let tail = try db.statement("""
                INSERT OR REPLACE INTO stream_partitions (stream, partition, last_seq, last_offset, last_enqueued_ms)
                VALUES (?, ?, ?, ?, ?)
                """)
            for (key, state) in partitions where state.touched {
                try tail.bind([.integer(Int64(key.stream)), .integer(Int64(key.partition)), .integer(state.sequence),
                               .integer(state.offset), .integer(state.enqueued)])
                try tail.run()
            }
            return first...max(first, last)
        }, completion: completion)
    }

    /// Binds one record without copying its bytes and runs the insert.
    private static func insert(_ record: EventRecord, partitionSequence: Int64, stream: Int,
                               with insert: SQLiteStatement) throws {
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
                            try insert.bind(8, integer: Int64(record.partition))
                            try insert.bind(9, integer: partitionSequence)
                            try insert.bind(10, integer: Int64(stream))
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
            let columns = Self.eventColumns
            if let deviceId {
                rows = try db.query("SELECT \(columns) FROM events WHERE device_id = ? AND seq > ? AND stream = 0 ORDER BY seq LIMIT ?",
                                    [.text(deviceId), .integer(sequenceNumber), .integer(Int64(limit))])
            } else {
                rows = try db.query("SELECT \(columns) FROM events WHERE seq > ? AND stream = 0 ORDER BY seq LIMIT ?",
                                    [.integer(sequenceNumber), .integer(Int64(limit))])
            }
            return rows.map(Self.storedEvent)
        }
    }

    static let eventColumns = "seq, device_id, module_id, enqueued_ms, body, properties, system, partition, partition_seq"

    /// A row of ``eventColumns``.
    static func storedEvent(_ row: [SQLiteValue]) -> StoredEvent {
        let moduleId = row[2].text ?? ""
        return StoredEvent(
            sequenceNumber: row[0].integer ?? 0,
            identity: DeviceIdentity(deviceId: row[1].text ?? "", moduleId: moduleId.isEmpty ? nil : moduleId),
            enqueuedTime: Date(milliseconds: row[3].integer ?? 0),
            message: IoTHubMessage(body: row[4].bytes ?? [], properties: PropertyCoding.decode(row[5]),
                                   systemProperties: PropertyCoding.decodeSystem(row[6])),
            partition: Int(row[7].integer ?? 0), partitionSequenceNumber: row[8].integer ?? 0)
    }

    // MARK: Partitions

    public func setting(_ key: String) async throws -> String? {
        try await executor.read { db in
            try db.query("SELECT value FROM meta WHERE key = ?", [.text("setting." + key)]).first?.first?.text
        }
    }

    public func saveSetting(_ key: String, _ value: String) async throws {
        try await executor.write { db in
            _ = try db.query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [.text("setting." + key), .text(value)])
        }
    }

    public func partitionEvents(_ partition: Int, stream: Int, after sequenceNumber: Int64, limit: Int) async throws -> [StoredEvent] {
        try await executor.read { db in
            try db.query("""
                SELECT \(Self.eventColumns) FROM events WHERE stream = ? AND partition = ? AND partition_seq > ?
                ORDER BY partition_seq LIMIT ?
                """, [.integer(Int64(stream)), .integer(Int64(partition)), .integer(sequenceNumber), .integer(Int64(limit))])
                .map(Self.storedEvent)
        }
    }

    public func partitionState(_ partition: Int, stream: Int) async throws -> EventPartitionState {
        try await executor.read { db in
            let key: [SQLiteValue] = [.integer(Int64(stream)), .integer(Int64(partition))]
            let tail = try db.query("SELECT last_seq, last_offset, last_enqueued_ms FROM stream_partitions WHERE stream = ? AND partition = ?",
                                    key).first
            let last = tail?[0].integer ?? -1
            let begin = try db.query("SELECT partition_seq FROM events WHERE stream = ? AND partition = ? ORDER BY partition_seq LIMIT 1",
                                     key).first?.first?.integer
            return EventPartitionState(beginSequenceNumber: begin ?? last, lastSequenceNumber: last,
                                       lastOffset: tail?[1].integer ?? -1, lastEnqueuedMilliseconds: tail?[2].integer ?? 0,
                                       isEmpty: begin == nil)
        }
    }

    public func partitionCursor(_ partition: Int, stream: Int, at position: EventPosition) async throws -> Int64 {
        try await executor.read { db in
            let p = SQLiteValue.integer(Int64(partition))
            let s = SQLiteValue.integer(Int64(stream))
            func newest() throws -> Int64 {
                try db.query("SELECT last_seq FROM stream_partitions WHERE stream = ? AND partition = ?", [s, p]).first?.first?.integer ?? -1
            }
            /// The cursor before the first row the query finds, or the newest when none.
            func before(_ sql: String, _ arguments: [SQLiteValue]) throws -> Int64 {
                if let found = try db.query(sql, arguments).first?.first?.integer { return found - 1 }
                return try newest()
            }
            switch position {
            case .start:
                return -1
            case .latest:
                return try newest()
            case .sequenceNumber(let number, let inclusive):
                return min(inclusive ? number - 1 : number, try newest())
            case .offset(let offset, let inclusive):
                // The offset is the log's sequence number (a rowid): found directly when it is in this partition.
                let first = inclusive ? offset : offset + 1
                return try before("""
                    SELECT partition_seq FROM events WHERE seq >= ? AND stream = ? AND partition = ? ORDER BY seq LIMIT 1
                    """, [.integer(first), s, p])
            case .enqueuedTime(let milliseconds, let inclusive):
                return try before("""
                    SELECT partition_seq FROM events WHERE stream = ? AND partition = ? AND enqueued_ms \(inclusive ? ">=" : ">") ?
                    ORDER BY partition_seq LIMIT 1
                    """, [s, p, .integer(milliseconds)])
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

    // MARK: Consumer groups

    public func consumerGroups(entity: String) async throws -> [ConsumerGroupRecord] {
        try await executor.read { db in
            try db.query("SELECT name, created_ms FROM consumer_groups WHERE entity = ? ORDER BY name", [.text(entity)]).map {
                ConsumerGroupRecord(name: $0[0].text ?? "", createdMilliseconds: $0[1].integer ?? 0)
            }
        }
    }

    public func createConsumerGroup(_ group: ConsumerGroupRecord, entity: String) async throws -> Bool {
        try await executor.write { db in
            try db.query("INSERT OR IGNORE INTO consumer_groups (entity, name, created_ms) VALUES (?, ?, ?)",
                         [.text(entity), .text(group.name), .integer(group.createdMilliseconds)])
            return db.changes > 0
        }
    }

    public func deleteConsumerGroup(_ name: String, entity: String) async throws -> Bool {
        try await executor.write { db in
            try db.query("DELETE FROM consumer_groups WHERE entity = ? AND name = ?", [.text(entity), .text(name)])
            return db.changes > 0
        }
    }
}

// MARK: - Routing outbox

extension SQLiteHubStore {
    public func outbox(endpoint: String, limit: Int) async throws -> [OutboxMessage] {
        try await executor.read { db in
            try db.query("""
                SELECT id, partition, enqueued_ms, body, properties, system, size FROM route_outbox WHERE endpoint = ?
                ORDER BY id LIMIT ?
                """, [.text(endpoint), .integer(Int64(limit))]).map { row in
                OutboxMessage(id: row[0].integer ?? 0, partition: Int(row[1].integer ?? 0), enqueuedMilliseconds: row[2].integer ?? 0,
                              body: row[3].bytes ?? [], properties: PropertyCoding.decode(row[4]), system: PropertyCoding.decode(row[5]),
                              size: row[6].integer ?? 0)
            }
        }
    }

    public func outboxSummary(endpoint: String) async throws -> (messages: Int, bytes: Int64, oldestMilliseconds: Int64)? {
        try await executor.read { db in
            let row = try db.query("SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(enqueued_ms) FROM route_outbox WHERE endpoint = ?",
                                   [.text(endpoint)])[0]
            guard let count = row[0].integer, count > 0 else { return nil }
            return (Int(count), row[1].integer ?? 0, row[2].integer ?? 0)
        }
    }

    public func removeFromOutbox(endpoint: String, through id: Int64) async throws {
        try await executor.write { db in
            _ = try db.query("DELETE FROM route_outbox WHERE endpoint = ? AND id <= ?", [.text(endpoint), .integer(id)])
        }
    }

    public func clearOutbox(endpoint: String) async throws -> Int {
        try await executor.write { db in
            try db.query("DELETE FROM route_outbox WHERE endpoint = ?", [.text(endpoint)])
            return db.changes
        }
    }
}
