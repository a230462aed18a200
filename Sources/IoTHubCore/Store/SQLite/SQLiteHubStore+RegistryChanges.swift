import IoTHubProtocol

extension SQLiteHubStore {
    /// A bulk registry call as one write job: one transaction (and one sync) for every change, each change in its
    /// own savepoint so that a failing one rolls back alone, as it would in a transaction of its own.
    public func applyRegistryChanges(_ changes: [RegistryChange]) async throws
        -> [Result<RegistryChangeOutcome, HubError>]
    {
        try await executor.write { db in try changes.map { try Self.applyInSavepoint($0, db) } }
    }

    /// Applies one change; its own failure is returned after rolling it back. Throws only when the savepoint
    /// itself fails (the transaction is broken: the executor rolls back the whole call).
    static func applyInSavepoint(_ change: RegistryChange, _ db: SQLiteConnection) throws
        -> Result<RegistryChangeOutcome, HubError>
    {
        try db.execute("SAVEPOINT registry_change")
        let outcome: Result<RegistryChangeOutcome, HubError>
        do {
            outcome = .success(try apply(change, db))
        } catch {
            try db.execute("ROLLBACK TO registry_change")
            outcome = .failure(HubError(reportedBy: error))
        }
        try db.execute("RELEASE registry_change")
        return outcome
    }

    private static func apply(_ change: RegistryChange, _ db: SQLiteConnection) throws -> RegistryChangeOutcome {
        switch change {
        case .create(let record, let twin):
            return .created(try insertDevice(db, record, twin: twin))
        case .update(let identity, let condition, let transform):
            return .updated(try changeDevice(db, identity, condition: condition, transform))
        case .createOrUpdate(let identity, let create, let transform):
            if try loadDevice(db, identity) != nil {
                return .updated(try changeDevice(db, identity, condition: .any, transform))
            }
            let (record, twin) = try create()
            return .created(try insertDevice(db, record, twin: twin))
        case .delete(let identity, let condition):
            return .deleted(try removeDevice(db, identity, condition: condition))
        }
    }
}
