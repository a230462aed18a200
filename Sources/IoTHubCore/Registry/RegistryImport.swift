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

    /// Applies bulk operations in order; each succeeds or fails on its own.
    /// - Returns: the failures, by the index of their operation.
    /// - Throws: ``HubError`` 400004 for more than ``maximumImportOperations`` operations.
    public func apply(_ operations: [RegistryImport]) async throws -> [(index: Int, error: HubError)] {
        guard operations.count <= Self.maximumImportOperations else {
            throw HubError.invalid("a bulk registry call takes at most \(Self.maximumImportOperations) devices, not \(operations.count)")
        }
        var failures: [(index: Int, error: HubError)] = []
        for (index, operation) in operations.enumerated() {
            do {
                try await apply(operation)
            } catch let error as HubError {
                failures.append((index, error))
            } catch {
                failures.append((index, HubError(.serverError, "\(error)")))
            }
        }
        return failures
    }

    private func apply(_ operation: RegistryImport) async throws {
        func request() throws -> Request {
            guard let request = operation.request else { throw HubError.invalid("'\(operation.identity)' has no device body") }
            return request
        }
        switch operation.mode {
        case .create:
            _ = try await create(try request())
        case .update:
            do {
                _ = try await update(try request(), condition: .any)
            } catch let error as HubError where error.code == .deviceNotFound || error.code == .moduleNotFound {
                _ = try await create(try request())
            }
        case .updateIfMatchETag:
            _ = try await update(try request(), condition: ETagCondition(ifMatch: operation.eTag))
        case .delete:
            try await delete(operation.identity, condition: .any)
        case .deleteIfMatchETag:
            try await delete(operation.identity, condition: ETagCondition(ifMatch: operation.eTag))
        }
    }
}
