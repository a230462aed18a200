import Foundation
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("SQLite executor")
struct SQLiteExecutorTests {
    static func temporaryPath() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("iothub-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent("store.sqlite").path
    }

    static func open(_ path: String) throws -> SQLiteExecutor {
        try SQLiteExecutor(path: path, durability: .normal) { db in
            try db.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, data BLOB)")
        }
    }

    @Test("concurrent writes all commit, and readers see them")
    func concurrentWrites() async throws {
        let executor = try Self.open(Self.temporaryPath())
        defer { executor.shutdown() }
        try await withThrowingTaskGroup(of: Int64.self) { group in
            for index in 0..<500 {
                group.addTask {
                    try await executor.write { db in
                        try db.query("INSERT INTO items (name, data) VALUES (?, ?)", [.text("item-\(index)"), .blob([UInt8(index & 0xFF)])])
                        return db.lastInsertRowID
                    }
                }
            }
            var ids = Set<Int64>()
            for try await id in group { ids.insert(id) }
            #expect(ids.count == 500)
        }
        let count = try await executor.read { db in try db.query("SELECT COUNT(*) FROM items")[0][0].integer }
        #expect(count == 500)
    }

    @Test("a failing job rolls back alone; the rest of its batch commits")
    func failingJobIsolated() async throws {
        let executor = try Self.open(Self.temporaryPath())
        defer { executor.shutdown() }
        _ = try await executor.write { db in try db.query("INSERT INTO items (name) VALUES ('taken')") }
        await withTaskGroup(of: Bool.self) { group in
            for index in 0..<50 {
                group.addTask {
                    do {
                        try await executor.write { db in
                            try db.query("INSERT INTO items (name) VALUES (?)", [.text("partial-\(index)")])
                            if index % 2 == 0 { try db.query("INSERT INTO items (name) VALUES ('taken')") }
                        }
                        return true
                    } catch let error as SQLiteError {
                        #expect(error.isConstraintViolation)
                        return false
                    } catch {
                        Issue.record("unexpected \(error)")
                        return false
                    }
                }
            }
            var successes = 0
            for await ok in group where ok { successes += 1 }
            #expect(successes == 25)
        }
        let names = try await executor.read { db in
            try db.query("SELECT name FROM items WHERE name LIKE 'partial-%'").compactMap { $0[0].text }
        }
        // Only odd jobs' first inserts survive: the even ones rolled back their own savepoint.
        #expect(Set(names) == Set((0..<50).filter { $0 % 2 == 1 }.map { "partial-\($0)" }))
    }

    @Test("committed writes survive closing and reopening")
    func reopen() async throws {
        let path = Self.temporaryPath()
        do {
            let executor = try Self.open(path)
            for index in 0..<20 {
                _ = try await executor.write { db in try db.query("INSERT INTO items (name) VALUES (?)", [.text("n\(index)")]) }
            }
            executor.shutdown()
        }
        let executor = try Self.open(path)
        defer { executor.shutdown() }
        let count = try await executor.read { db in try db.query("SELECT COUNT(*) FROM items")[0][0].integer }
        #expect(count == 20)
    }

    @Test("after shutdown, work fails with a clear error instead of hanging")
    func afterShutdown() async throws {
        let executor = try Self.open(Self.temporaryPath())
        executor.shutdown()
        await #expect(throws: SQLiteError.self) { try await executor.write { db in try db.query("SELECT 1") } }
        await #expect(throws: SQLiteError.self) { try await executor.read { db in try db.query("SELECT 1") } }
    }

    @Test("blobs, text, integers, reals and nulls round-trip")
    func values() async throws {
        let executor = try SQLiteExecutor(path: Self.temporaryPath()) { db in
            try db.execute("CREATE TABLE v (a, b, c, d, e, f)")
        }
        defer { executor.shutdown() }
        let row = try await executor.write { db in
            try db.query("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)",
                         [.blob([0, 1, 255]), .text("héllo"), .integer(-42), .real(2.5), .null, .blob([])])
            return try db.query("SELECT * FROM v")[0]
        }
        #expect(row == [.blob([0, 1, 255]), .text("héllo"), .integer(-42), .real(2.5), .null, .blob([])])
    }

    @Test("opening an unusable path is a clear error")
    func badPath() {
        #expect(throws: SQLiteError.self) {
            try SQLiteExecutor(path: "/proc/no-such-dir/store.sqlite") { _ in }
        }
    }
}
