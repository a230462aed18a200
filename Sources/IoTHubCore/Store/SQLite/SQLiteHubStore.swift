import Foundation
import IoTHubProtocol

/// The embedded ``HubStore``: one SQLite database in WAL mode, written through a group-commit executor.
///
/// ```swift
/// let store = try SQLiteHubStore(path: dataDir + "/hub.sqlite")
/// defer { store.close() }
/// ```
public final class SQLiteHubStore: HubStore {
    let executor: SQLiteExecutor
    /// 2: `events` lost its indexes by time (retention walks the log from its oldest end instead) and by device (a
    /// read for one device filters the log after its cursor): a message is one append to one b-tree, where the
    /// device index wrote a random page per message and made every commit rewrite hundreds of them; `event_log_size` keeps the log's byte count, so retention never sums the table.
    /// 3: `events` has Event Hubs partitions: each message's `partition` and its `partition_seq` (from 0, without
    /// gaps within the partition), indexed together so a partition reader seeks; `event_partitions` keeps each
    /// partition's last sequence number, offset and time through retention. `meta.setting.event_partitions` is the count.
    /// 4: `events` has a `stream` (0 is the built-in endpoint; a custom event-stream endpoint has its own number),
    /// partitions are numbered per stream (`stream_partitions` replaces `event_partitions`), and `route_outbox`
    /// holds routed messages a storage endpoint has not written yet (the durable routing log).
    /// Tables added later without a version step (`file_uploads`) are created when missing.
    static let schemaVersion: Int64 = 4
    /// The partition count a data directory from before partitions gets.
    static let defaultPartitionCount = 4

    /// Opens or creates the database at `path`.
    /// - Parameter durability: `.full` syncs every committed batch to disk (survives power loss); `.normal`
    ///   survives a killed process.
    public init(path: String, durability: SQLiteExecutor.Durability = .full) throws {
        executor = try SQLiteExecutor(path: path, readers: 2, durability: durability) { db in
            try Self.migrate(db)
        }
    }

    /// Finishes queued writes and closes the database.
    public func close() {
        executor.shutdown()
    }

    static func migrate(_ db: SQLiteConnection) throws {
        try db.execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS policies (
                name TEXT PRIMARY KEY, permissions TEXT NOT NULL, primary_key TEXT NOT NULL, secondary_key TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS devices (
                device_id TEXT NOT NULL, module_id TEXT NOT NULL DEFAULT '',
                generation_id TEXT NOT NULL, version INTEGER NOT NULL,
                status TEXT NOT NULL, status_reason TEXT, status_updated_ms INTEGER NOT NULL,
                auth_type TEXT NOT NULL, primary_secret TEXT, secondary_secret TEXT,
                is_edge INTEGER NOT NULL DEFAULT 0, managed_by TEXT,
                connection_state TEXT NOT NULL, connection_updated_ms INTEGER NOT NULL,
                last_activity_ms INTEGER NOT NULL,
                twin TEXT NOT NULL,
                PRIMARY KEY (device_id, module_id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, module_id TEXT NOT NULL,
                enqueued_ms INTEGER NOT NULL, body BLOB NOT NULL, properties TEXT NOT NULL, system TEXT NOT NULL,
                size INTEGER NOT NULL, partition INTEGER NOT NULL DEFAULT 0, partition_seq INTEGER NOT NULL DEFAULT 0,
                stream INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS stream_partitions (
                stream INTEGER NOT NULL, partition INTEGER NOT NULL, last_seq INTEGER NOT NULL, last_offset INTEGER NOT NULL,
                last_enqueued_ms INTEGER NOT NULL, PRIMARY KEY (stream, partition)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS route_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, partition INTEGER NOT NULL,
                enqueued_ms INTEGER NOT NULL, body BLOB NOT NULL, properties TEXT NOT NULL, system TEXT NOT NULL,
                size INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS route_outbox_by_endpoint ON route_outbox (endpoint, id);
            CREATE TABLE IF NOT EXISTS event_log_size (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
            INSERT OR IGNORE INTO event_log_size (id, bytes) SELECT 1, COALESCE(SUM(size), 0) FROM events;
            CREATE TABLE IF NOT EXISTS c2d (
                id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, module_id TEXT NOT NULL,
                lock_token TEXT, locked_until_ms INTEGER, enqueued_ms INTEGER NOT NULL, expiry_ms INTEGER NOT NULL,
                delivery_count INTEGER NOT NULL, ack TEXT NOT NULL, body BLOB NOT NULL, properties TEXT NOT NULL,
                system TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS c2d_by_device ON c2d (device_id, module_id, id);
            CREATE UNIQUE INDEX IF NOT EXISTS c2d_by_lock ON c2d (lock_token) WHERE lock_token IS NOT NULL;
            CREATE TABLE IF NOT EXISTS ca_certificates (
                name TEXT PRIMARY KEY, pem TEXT NOT NULL, subject TEXT NOT NULL, thumbprint TEXT NOT NULL,
                expiry_ms INTEGER NOT NULL, verified INTEGER NOT NULL, verification_code TEXT, etag TEXT NOT NULL,
                created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS file_uploads (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, correlation_id TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL,
                blob_name TEXT NOT NULL, created_ms INTEGER NOT NULL, expiry_ms INTEGER NOT NULL, notified_ms INTEGER,
                is_success INTEGER, status_code INTEGER, status_description TEXT, blob_size INTEGER,
                blob_updated_ms INTEGER, delivery TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS file_uploads_by_device ON file_uploads (device_id, seq);
            CREATE TABLE IF NOT EXISTS consumer_groups (
                entity TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE, created_ms INTEGER NOT NULL,
                PRIMARY KEY (entity, name)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS file_uploads_pending ON file_uploads (notified_ms) WHERE delivery = 'pending';
            INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '\(schemaVersion)');
            """)
        var version = try db.query("SELECT value FROM meta WHERE key = 'schema_version'").first?.first?.text
        if version == "1" {
            try db.execute("""
                DROP INDEX IF EXISTS events_by_time;
                DROP INDEX IF EXISTS events_by_device;
                UPDATE meta SET value = '2' WHERE key = 'schema_version';
                """)
            version = "2"
        }
        if version == "2" {
            try migratePartitions(db)
            version = "3"
        }
        if version == "3" {
            try migrateStreams(db)
            version = "4"
        }
        try db.execute("CREATE INDEX IF NOT EXISTS events_by_stream ON events (stream, partition, partition_seq)")
        guard version == String(schemaVersion) else {
            throw SQLiteError(code: 1, message: "the database has schema version \(version ?? "?"); this hub understands \(schemaVersion). Use a matching hub version or a new --data-dir", sql: nil)
        }
    }

    /// Version 2 → 3: every kept message gets its device's partition (of the default count) and a partition
    /// sequence number in log order.
    private static func migratePartitions(_ db: SQLiteConnection) throws {
        try db.execute("""
            ALTER TABLE events ADD COLUMN partition INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE events ADD COLUMN partition_seq INTEGER NOT NULL DEFAULT 0;
            CREATE TABLE IF NOT EXISTS event_partitions (
                partition INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, last_offset INTEGER NOT NULL,
                last_enqueued_ms INTEGER NOT NULL);
            """)
        let count = Int(try db.query("SELECT value FROM meta WHERE key = 'setting.event_partitions'").first?.first?.text ?? "")
            ?? defaultPartitionCount
        let partitioner = EventHubPartitioner(count: count)
        var last: [Int: (sequence: Int64, offset: Int64, enqueued: Int64)] = [:]
        let rows = try db.statement("SELECT seq, device_id, enqueued_ms FROM events ORDER BY seq")
        let update = try db.statement("UPDATE events SET partition = ?, partition_seq = ? WHERE seq = ?")
        var updates: [(Int64, Int, Int64)] = []
        while try rows.step() {
            let seq = rows.column(0).integer ?? 0
            let partition = partitioner.partition(for: rows.column(1).text ?? "")
            let next = (last[partition]?.sequence ?? -1) + 1
            last[partition] = (next, seq, rows.column(2).integer ?? 0)
            updates.append((seq, partition, next))
        }
        rows.reset()
        for (seq, partition, sequence) in updates {
            try update.bind([.integer(Int64(partition)), .integer(sequence), .integer(seq)])
            try update.run()
            update.reset()
        }
        for (partition, state) in last {
            try db.query("INSERT OR REPLACE INTO event_partitions (partition, last_seq, last_offset, last_enqueued_ms) VALUES (?, ?, ?, ?)",
                         [.integer(Int64(partition)), .integer(state.sequence), .integer(state.offset), .integer(state.enqueued)])
        }
        try db.query("INSERT OR IGNORE INTO meta (key, value) VALUES ('setting.event_partitions', ?)", [.text(String(count))])
        try db.query("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    }

    /// Version 3 → 4: every kept message is the built-in endpoint's (stream 0), and so are the partitions' tails.
    private static func migrateStreams(_ db: SQLiteConnection) throws {
        try db.execute("""
            ALTER TABLE events ADD COLUMN stream INTEGER NOT NULL DEFAULT 0;
            DROP INDEX IF EXISTS events_by_partition;
            INSERT OR REPLACE INTO stream_partitions (stream, partition, last_seq, last_offset, last_enqueued_ms)
                SELECT 0, partition, last_seq, last_offset, last_enqueued_ms FROM event_partitions;
            DROP TABLE event_partitions;
            UPDATE meta SET value = '4' WHERE key = 'schema_version';
            """)
    }

    // MARK: Access policies

    public func policies() async throws -> [AccessPolicy] {
        try await executor.read { db in
            try db.query("SELECT name, permissions, primary_key, secondary_key FROM policies ORDER BY rowid").map { row in
                AccessPolicy(
                    name: row[0].text ?? "",
                    permissions: Set((row[1].text ?? "").split(separator: ",").compactMap { Permission(rawValue: String($0)) }),
                    primaryKey: try SharedAccessKey(base64: row[2].text ?? ""),
                    secondaryKey: try SharedAccessKey(base64: row[3].text ?? ""))
            }
        }
    }

    public func savePolicies(_ policies: [AccessPolicy]) async throws {
        try await executor.write { db in
            try db.query("DELETE FROM policies")
            for policy in policies {
                let permissions = Permission.allCases.filter(policy.permissions.contains).map(\.rawValue).joined(separator: ",")
                try db.query("INSERT INTO policies (name, permissions, primary_key, secondary_key) VALUES (?, ?, ?, ?)",
                             [.text(policy.name), .text(permissions), .text(policy.primaryKey.base64),
                              .text(policy.secondaryKey.base64)])
            }
        }
    }
}

// MARK: - Value helpers

extension SQLiteValue {
    static func optionalText(_ text: String?) -> SQLiteValue { text.map { .text($0) } ?? .null }
}

/// How the SQLite store keeps properties: a JSON object of strings per column (``JSONStringMembers``), readable
/// with the `sqlite3` shell and its JSON functions.
enum PropertyCoding {
    static func encode(_ properties: [String: String]) -> String {
        var bytes: [UInt8] = []
        JSONStringMembers.write(properties.sorted { $0.key < $1.key }.lazy.map { ($0.key, $0.value) }, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func decode(_ value: SQLiteValue) -> [String: String] {
        guard let bytes = value.bytes, let members = try? JSONStringMembers.parse(bytes) else { return [:] }
        return Dictionary(members, uniquingKeysWith: { $1 })
    }

    static func decode(_ text: String?) -> [String: String] {
        decode(text.map { .text($0) } ?? .null)
    }

    static func encodeSystem(_ properties: MessageSystemProperties) -> String {
        var bytes: [UInt8] = []
        JSONStringMembers.write(properties.namedValues.lazy.map { ($0.name, $0.value) }, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func decodeSystem(_ value: SQLiteValue) -> MessageSystemProperties {
        MessageSystemProperties(namedValues: decode(value))
    }

    static func decodeSystem(_ text: String?) -> MessageSystemProperties {
        MessageSystemProperties(namedValues: decode(text))
    }
}
