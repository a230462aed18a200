import Foundation

/// Runs database work on dedicated threads: one writer connection with group commit, and a pool of readers.
///
/// Every write job queued while the writer is busy goes into the next transaction, each inside its own savepoint
/// (a failing job rolls back alone), and the batch is committed once: many messages per fsync. A job's
/// completion runs only after its transaction committed, so whatever a caller acknowledges is on disk.
///
/// ```swift
/// let executor = try SQLiteExecutor(path: "hub.sqlite") { db in try db.execute("CREATE TABLE …") }
/// let id = try await executor.write { db in try db.query("INSERT …"); return db.lastInsertRowID }
/// ```
public final class SQLiteExecutor: @unchecked Sendable {
    /// How hard SQLite works to survive crashes. `.normal` survives a killed process (WAL), `.full` also
    /// survives power loss by syncing the WAL at every commit (one sync per batch).
    public enum Durability: String, Sendable {
        case normal = "NORMAL"
        case full = "FULL"

        /// The durability a command-line option names: `full` or `normal`.
        public init?(option: String) {
            switch option.lowercased() {
            case "full": self = .full
            case "normal": self = .normal
            default: return nil
            }
        }
    }

    private final class Job {
        /// Runs the work; `false` when it threw (its savepoint is then rolled back).
        let run: (SQLiteConnection) -> Bool
        let finish: (SQLiteError?) -> Void
        init(run: @escaping (SQLiteConnection) -> Bool, finish: @escaping (SQLiteError?) -> Void) {
            self.run = run
            self.finish = finish
        }
    }

    /// Jobs waiting for one kind of thread (the writer, or the readers), under their own lock, so that queueing a
    /// write takes one uncontended lock and wakes the writer only.
    private final class JobQueue {
        let condition = NSCondition()
        var jobs: [Job] = []
        var stopping = false
    }

    private let writes = JobQueue()
    private let reads = JobQueue()
    /// Guards ``runningThreads`` (shutdown waits for it to reach 0).
    private let threads = NSCondition()
    private var runningThreads = 0
    private let maximumBatch: Int

    /// Opens the database, applies WAL and `durability`, runs `setup` (schema migrations) on the writer, and
    /// starts `readers` reader threads.
    public init(path: String, readers: Int = 2, durability: Durability = .full, maximumBatch: Int = 2_000,
                setup: (SQLiteConnection) throws -> Void) throws {
        self.maximumBatch = maximumBatch
        let writer = try SQLiteConnection(path: path)
        try writer.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=\(durability.rawValue); PRAGMA foreign_keys=ON;")
        try setup(writer)
        var readerConnections: [SQLiteConnection] = []
        for _ in 0..<max(1, readers) {
            let reader = try SQLiteConnection(path: path)
            try reader.execute("PRAGMA query_only=ON;")
            readerConnections.append(reader)
        }
        let writerBox = ConnectionTransfer(writer)
        start(name: "sqlite-writer") { [unowned self] in self.writerLoop(writerBox.connection) }
        for (index, reader) in readerConnections.enumerated() {
            let readerBox = ConnectionTransfer(reader)
            start(name: "sqlite-reader-\(index)") { [unowned self] in self.readerLoop(readerBox.connection) }
        }
    }

    private func start(name: String, _ body: @escaping @Sendable () -> Void) {
        threads.lock()
        runningThreads += 1
        threads.unlock()
        let thread = Thread {
            body()
            self.threads.lock()
            self.runningThreads -= 1
            self.threads.broadcast()
            self.threads.unlock()
        }
        thread.name = name
        thread.start()
    }

    /// Queues a write; `completion` runs on the writer thread after the batch holding it committed (or failed).
    public func write<T>(_ body: @escaping (SQLiteConnection) throws -> T,
                         completion: @escaping (Result<T, Error>) -> Void) {
        var result: Result<T, Error>?
        let job = Job(run: { db in
            result = Result { try body(db) }
            if case .success = result { return true } else { return false }
        }, finish: { commitError in
            if let commitError, case .success = result { result = .failure(commitError) }
            completion(result ?? .failure(SQLiteError(code: 1, message: "the store is shutting down", sql: nil)))
        })
        enqueue(job, write: true)
    }

    /// Runs `body` in the next write transaction and returns its result once committed.
    public func write<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            write(body) { continuation.resume(with: $0) }
        }
    }

    /// Runs `body` on a reader connection (a consistent snapshot for the duration of `body`).
    public func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            var result: Result<T, Error>?
            let job = Job(run: { db in
                result = Result {
                    try db.execute("BEGIN")
                    defer { try? db.execute("COMMIT") }
                    return try body(db)
                }
                return true
            }, finish: { _ in
                continuation.resume(with: result ?? .failure(SQLiteError(code: 1, message: "the store is shutting down", sql: nil)))
            })
            enqueue(job, write: false)
        }
    }

    private func enqueue(_ job: Job, write: Bool) {
        let queue = write ? writes : reads
        queue.condition.lock()
        if queue.stopping {
            queue.condition.unlock()
            job.finish(SQLiteError(code: 1, message: "the store is shutting down", sql: nil))
            return
        }
        queue.jobs.append(job)
        // One job needs one thread: the writer (the only one waiting on writes), or one reader.
        queue.condition.signal()
        queue.condition.unlock()
    }

    /// Finishes every queued job, then stops the threads and closes the connections. Waits until done.
    public func shutdown() {
        for queue in [writes, reads] {
            queue.condition.lock()
            queue.stopping = true
            queue.condition.broadcast()
            queue.condition.unlock()
        }
        threads.lock()
        while runningThreads > 0 { threads.wait() }
        threads.unlock()
    }

    private func nextBatch(write: Bool) -> [Job]? {
        let queue = write ? writes : reads
        queue.condition.lock()
        defer { queue.condition.unlock() }
        while queue.jobs.isEmpty {
            if queue.stopping { return nil }
            queue.condition.wait()
        }
        if write {
            guard queue.jobs.count > maximumBatch else {
                // The usual case: take the whole queue, leaving an empty one of the same capacity behind.
                let batch = queue.jobs
                queue.jobs.removeAll(keepingCapacity: true)
                return batch
            }
            let batch = Array(queue.jobs.prefix(maximumBatch))
            queue.jobs.removeFirst(maximumBatch)
            return batch
        }
        return [queue.jobs.removeFirst()]
    }

    private func writerLoop(_ db: SQLiteConnection) {
        while let batch = nextBatch(write: true) {
            var commitError: SQLiteError?
            do {
                // Prepared once and kept on the connection: no SQL is parsed per job.
                let begin = try db.statement("BEGIN IMMEDIATE")
                let savepoint = try db.statement("SAVEPOINT job")
                let rollbackToSavepoint = try db.statement("ROLLBACK TO job")
                let release = try db.statement("RELEASE job")
                let commit = try db.statement("COMMIT")
                try begin.run()
                if batch.count == 1 {
                    // A job alone needs no savepoint: if it throws, the whole transaction is its own.
                    if !batch[0].run(db) { throw JobFailed() }
                } else {
                    for job in batch {
                        try savepoint.run()
                        if !job.run(db) {
                            // A job that threw rolls back its own work; the others in the batch stay.
                            try rollbackToSavepoint.run()
                        }
                        try release.run()
                    }
                }
                try commit.run()
            } catch is JobFailed {
                try? db.execute("ROLLBACK")
            } catch {
                commitError = error as? SQLiteError ?? SQLiteError(code: 1, message: "\(error)", sql: nil)
                try? db.execute("ROLLBACK")
            }
            for job in batch { job.finish(commitError) }
        }
    }


    /// The only job of a transaction threw: its result already says why, and the transaction is rolled back.
    private struct JobFailed: Error {}

    private func readerLoop(_ db: SQLiteConnection) {
        while let batch = nextBatch(write: false) {
            for job in batch {
                _ = job.run(db)
                job.finish(nil)
            }
        }
    }
}

/// Hands a connection to the thread that will own it from then on; nothing else touches it afterwards.
private struct ConnectionTransfer: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
