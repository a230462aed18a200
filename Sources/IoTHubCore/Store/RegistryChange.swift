import IoTHubProtocol

/// One change of a bulk registry call, for ``HubStore/applyRegistryChanges(_:)``.
///
/// ```swift
/// let outcomes = try await store.applyRegistryChanges([
///     .create(record, twin: "{}"),
///     .delete(DeviceIdentity(deviceId: "old-1"), condition: .any),
/// ])
/// ```
public enum RegistryChange: Sendable {
    /// Creates the identity with its initial twin document; 409001/409301 when it exists, 404001 for a module
    /// whose device does not.
    case create(DeviceRecord, twin: String)
    /// Changes an existing identity as ``HubStore/updateDevice(_:condition:_:)`` does: 404001/404010 when absent,
    /// 412002 for a stale etag.
    case update(DeviceIdentity, condition: ETagCondition, transform: @Sendable (inout DeviceRecord) throws -> Void)
    /// Changes the identity when it exists (unconditionally), else creates what `create` makes (IoT Hub's
    /// `createOrUpdate`); `create` runs only when the identity is absent.
    case createOrUpdate(DeviceIdentity, create: @Sendable () throws -> (record: DeviceRecord, twin: String),
                        transform: @Sendable (inout DeviceRecord) throws -> Void)
    /// Deletes the identity as ``HubStore/deleteDevice(_:condition:)`` does.
    case delete(DeviceIdentity, condition: ETagCondition)
}

/// What a ``RegistryChange`` did, with the identity as stored afterwards (as it was, for a delete).
public enum RegistryChangeOutcome: Sendable {
    /// A new identity, as stored.
    case created(DeviceRecord)
    /// An existing identity after the change (its version increased by one).
    case updated(DeviceRecord)
    /// The identity as it was before it was deleted.
    case deleted(DeviceRecord)
}

extension HubStore {
    /// The default: ``applyRegistryChangesOneByOne(_:)``, for a store without a batch write.
    public func applyRegistryChanges(_ changes: [RegistryChange]) async throws
        -> [Result<RegistryChangeOutcome, HubError>]
    {
        try await applyRegistryChangesOneByOne(changes)
    }

    /// Applies the changes one after the other with the single-identity methods, one commit each: the results a
    /// batch write must reproduce.
    public func applyRegistryChangesOneByOne(_ changes: [RegistryChange]) async throws
        -> [Result<RegistryChangeOutcome, HubError>]
    {
        var outcomes: [Result<RegistryChangeOutcome, HubError>] = []
        for change in changes {
            do {
                outcomes.append(.success(try await applyAlone(change)))
            } catch {
                outcomes.append(.failure(HubError(reportedBy: error)))
            }
        }
        return outcomes
    }

    private func applyAlone(_ change: RegistryChange) async throws -> RegistryChangeOutcome {
        switch change {
        case .create(let record, let twin):
            return .created(try await createDevice(record, twin: twin))
        case .update(let identity, let condition, let transform):
            return .updated(try await updateDevice(identity, condition: condition, transform))
        case .createOrUpdate(let identity, let create, let transform):
            do {
                return .updated(try await updateDevice(identity, condition: .any, transform))
            } catch let error as HubError where error.code == .deviceNotFound || error.code == .moduleNotFound {
                let (record, twin) = try create()
                return .created(try await createDevice(record, twin: twin))
            }
        case .delete(let identity, let condition):
            return .deleted(try await deleteDevice(identity, condition: condition))
        }
    }
}

extension HubError {
    /// `error` itself when it is a ``HubError``, else 500001 ServerError describing it.
    init(reportedBy error: any Error) {
        self = error as? HubError ?? HubError(.serverError, "\(error)")
    }
}
