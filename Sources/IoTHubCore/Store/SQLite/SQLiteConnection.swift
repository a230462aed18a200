import CSQLite

/// A value bound to or read from an SQLite statement.
public enum SQLiteValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// An SQLite call failed.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The SQLite result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT`, …).
    public var code: Int32
    /// SQLite's message.
    public var message: String
    /// The statement, when there was one.
    public var sql: String?

    public var description: String {
        "SQLite error \(code): \(message)" + (sql.map { " in `\($0.prefix(120))`" } ?? "")
    }

    /// Whether a UNIQUE or PRIMARY KEY constraint refused the write.
    public var isConstraintViolation: Bool { code & 0xFF == SQLITE_CONSTRAINT }
}

/// One SQLite connection. Not thread-safe: a connection belongs to one thread at a time (see ``SQLiteExecutor``).
///
/// This file and ``SQLiteStatement`` are the only places in the hub that touch SQLite's C pointers.
public final class SQLiteConnection {
    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens (creating if needed) the database at `path`.
    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            | SQLITE_OPEN_NOMUTEX
        var db: OpaquePointer?
        let status = sqlite3_open_v2(path, &db, flags, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(db)
            throw SQLiteError(code: status, message: "\(message) (\(path))", sql: nil)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5_000)
    }

    deinit {
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if status != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
            sqlite3_free(errorMessage)
            throw SQLiteError(code: status, message: message, sql: sql)
        }
    }

    /// A prepared statement for `sql`, cached on this connection and reset for reuse.
    public func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var raw: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard status == SQLITE_OK, let raw else {
            throw SQLiteError(code: status, message: lastErrorMessage, sql: sql)
        }
        let statement = SQLiteStatement(raw, connection: self, sql: sql)
        statements[sql] = statement
        return statement
    }

    /// Runs `sql` with `arguments` and returns every row.
    @discardableResult
    public func query(_ sql: String, _ arguments: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        let statement = try statement(sql)
        try statement.bind(arguments)
        var rows: [[SQLiteValue]] = []
        while try statement.step() { rows.append(statement.row()) }
        statement.reset()
        return rows
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// The rowid of the last INSERT.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    var lastErrorMessage: String { String(cString: sqlite3_errmsg(handle)) }
}

/// A prepared statement, owned by its ``SQLiteConnection``.
public final class SQLiteStatement {
    private let raw: OpaquePointer
    private unowned let connection: SQLiteConnection
    let sql: String

    init(_ raw: OpaquePointer, connection: SQLiteConnection, sql: String) {
        self.raw = raw
        self.connection = connection
        self.sql = sql
    }

    deinit { sqlite3_finalize(raw) }

    /// Clears bindings and rewinds.
    public func reset() {
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
    }

    /// Binds positional parameters (`?`), starting at 1.
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .null: status = sqlite3_bind_null(raw, index)
            case .integer(let number): status = sqlite3_bind_int64(raw, index, number)
            case .real(let number): status = sqlite3_bind_double(raw, index, number)
            case .text(let text):
                // With its byte length, not -1: a NUL inside the text must not end it early (`d1\0x` is not `d1`).
                var text = text
                status = text.withUTF8 { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { chars in
                        guard let base = chars.baseAddress else { return sqlite3_bind_text(raw, index, "", 0, csqlite_transient()) }
                        return sqlite3_bind_text64(raw, index, base, sqlite3_uint64(chars.count), csqlite_transient(),
                                                   UInt8(SQLITE_UTF8))
                    }
                }
            case .blob(let bytes):
                status = bytes.withUnsafeBytes { buffer in
                    // A zero-length blob must still be a blob, not NULL.
                    sqlite3_bind_blob64(raw, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                        sqlite3_uint64(buffer.count), csqlite_transient())
                }
            }
            try check(status)
        }
    }

    /// Binds an integer to parameter `index` (1-based).
    public func bind(_ index: Int32, integer: Int64) throws(SQLiteError) {
        try check(sqlite3_bind_int64(raw, index, integer))
    }

    /// Binds UTF-8 text to parameter `index` without copying it: `bytes` must stay valid until the statement is
    /// run (``run()``) within the caller's scope.
    public func bind(_ index: Int32, unsafeText bytes: UnsafeRawBufferPointer) throws(SQLiteError) {
        // A zero-length value must still be text, not NULL: SQLite reads no byte of it, any non-nil address does.
        let base = (bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
        try check(sqlite3_bind_text64(raw, index, base, sqlite3_uint64(bytes.count), nil, UInt8(SQLITE_UTF8)))
    }

    /// Binds a blob to parameter `index` without copying it; the same lifetime rule as ``bind(_:unsafeText:)``.
    public func bind(_ index: Int32, unsafeBlob bytes: UnsafeRawBufferPointer) throws(SQLiteError) {
        try check(sqlite3_bind_blob64(raw, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), sqlite3_uint64(bytes.count), nil))
    }

    /// Steps a statement that returns no rows, then rewinds it (bindings stay until the next bind).
    public func run() throws(SQLiteError) {
        let status = sqlite3_step(raw)
        sqlite3_reset(raw)
        guard status == SQLITE_DONE || status == SQLITE_ROW else {
            throw SQLiteError(code: status, message: connection.lastErrorMessage, sql: sql)
        }
    }

    private func check(_ status: Int32) throws(SQLiteError) {
        guard status == SQLITE_OK else { throw SQLiteError(code: status, message: connection.lastErrorMessage, sql: sql) }
    }

    /// Advances; `true` when a row is available.
    public func step() throws(SQLiteError) -> Bool {
        switch sqlite3_step(raw) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let status: throw SQLiteError(code: status, message: connection.lastErrorMessage, sql: sql)
        }
    }

    /// The current row's values.
    public func row() -> [SQLiteValue] {
        (0..<sqlite3_column_count(raw)).map { column($0) }
    }

    /// One column of the current row.
    public func column(_ index: Int32) -> SQLiteValue {
        switch sqlite3_column_type(raw, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(raw, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(raw, index))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(raw, index))
            guard let text = sqlite3_column_text(raw, index) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(raw, index))
            guard count > 0, let bytes = sqlite3_column_blob(raw, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }
}

extension SQLiteValue {
    /// The text, or `nil` for other kinds.
    public var text: String? { if case .text(let value) = self { value } else { nil } }
    /// The integer, or `nil` for other kinds.
    public var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    /// The bytes of a blob (or of text), or `nil`.
    public var bytes: [UInt8]? {
        switch self {
        case .blob(let value): value
        case .text(let value): Array(value.utf8)
        default: nil
        }
    }
}
