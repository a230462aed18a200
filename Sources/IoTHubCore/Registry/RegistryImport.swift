import Foundation
import IoTHubProtocol

/// One operation of a bulk registry call (`POST /devices`, IoT Hub's import): what to do to one identity.
public struct RegistryImport: Sendable {
    /// IoT Hub's import modes.
    public enum Mode: String, Sendable, CaseIterable {
        case create
        /// Update, or create when the identity does not exist (`update` and `createOrUpdate`).
        case update
        case updateIfMatchETag
        case delete
        case deleteIfMatchETag

        /// Parses an `importMode` (case-insensitive; `createOrUpdate` is `update`; absent is `create`).
        public init(parsing text: String?) throws(HubError) {
            switch text?.lowercased() ?? "create" {
            case "create": self = .create
            case "update", "createorupdate": self = .update
            case "updateifmatchetag": self = .updateIfMatchETag
            case "delete": self = .delete
            case "deleteifmatchetag": self = .deleteIfMatchETag
            case let mode: throw HubError.invalid("importMode '\(mode)' is not supported")
            }
        }
    }

    public var identity: DeviceIdentity
    public var mode: Mode
    /// The identity's new state, for creates and updates.
    public var request: RegistryService.Request?
    /// The etag an `…IfMatchETag` mode compares with.
    public var eTag: String?

    public init(identity: DeviceIdentity, mode: Mode, request: RegistryService.Request?, eTag: String? = nil) {
        self.identity = identity
        self.mode = mode
        self.request = request
        self.eTag = eTag
    }
}

extension RegistryService {
    /// The most operations one bulk call takes (IoT Hub: 100).
    public static let maximumImportOperations = 100

    /// Applies bulk operations in order; each succeeds or fails on its own, and the ones that succeed are stored in
    /// one transaction (one sync for the call), committed before this returns.
    /// - Returns: the failures, by the index of their operation, in index order.
    /// - Throws: ``HubError`` 400004 for more than ``maximumImportOperations`` operations.
    public func apply(_ operations: [RegistryImport], now: Date = Date()) async throws -> [(index: Int, error: HubError)] {
        guard operations.count <= Self.maximumImportOperations else {
            throw HubError.invalid("a bulk registry call takes at most \(Self.maximumImportOperations) devices, not \(operations.count)")
        }
        var failures: [(index: Int, error: HubError)] = []
        var changes: [(index: Int, change: RegistryChange)] = []
        for (index, operation) in operations.enumerated() {
            do {
                changes.append((index, try change(for: operation, now: now)))
            } catch {
                failures.append((index, HubError(reportedBy: error)))
            }
        }
        let outcomes: [Result<RegistryChangeOutcome, HubError>]
        do {
            outcomes = try await store.applyRegistryChanges(changes.map(\.change))
        } catch {
            // Nothing of the call was committed: every change fails with the store's error.
            outcomes = Array(repeating: .failure(HubError(reportedBy: error)), count: changes.count)
        }
        for ((index, _), outcome) in zip(changes, outcomes) {
            switch outcome {
            case .success(let done): finish(done)
            case .failure(let error): failures.append((index, error))
            }
        }
        return failures.sorted { $0.index < $1.index }
    }

    /// The store change for one operation, checked as the single-identity calls check it.
    private func change(for operation: RegistryImport, now: Date) throws -> RegistryChange {
        func request() throws -> Request {
            guard let request = operation.request else { throw HubError.invalid("'\(operation.identity)' has no device body") }
            try validate(request.identity)
            return request
        }
        switch operation.mode {
        case .create:
            return .create(try Self.newRecord(try request(), now: now), twin: "{}")
        case .update:
            let request = try request()
            return .createOrUpdate(request.identity, create: { (try Self.newRecord(request, now: now), "{}") },
                                   transform: Self.replacement(request, now: now))
        case .updateIfMatchETag:
            let request = try request()
            return .update(request.identity, condition: ETagCondition(ifMatch: operation.eTag),
                           transform: Self.replacement(request, now: now))
        case .delete:
            return .delete(operation.identity, condition: .any)
        case .deleteIfMatchETag:
            return .delete(operation.identity, condition: ETagCondition(ifMatch: operation.eTag))
        }
    }
}
