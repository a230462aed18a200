import Foundation
import IoTHubProtocol

/// Opens a hub's data directory: creates it on first use, with policies and TLS material, and checks it is usable.
public struct HubDataDirectory: Sendable {
    public let store: SQLiteHubStore
    public let policies: [AccessPolicy]
    public let tls: HubCertificateAuthority
    /// Whether this call created the directory's policies (first start).
    public let created: Bool
    /// The storage account key that signs and checks the blob SAS URIs of file uploads (`storage.key`).
    public let storageKey: SharedAccessKey
    /// The built-in endpoint's partitions and creation time, as the directory keeps them.
    public let builtInEndpoint: BuiltInEndpoint

    /// - Throws: ``HubStartupError/dataDirectoryUnusable(_:reason:)`` with what to do.
    public static func open(_ configuration: HubConfiguration) async throws -> HubDataDirectory {
        let path = configuration.dataDirectory
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw HubStartupError.dataDirectoryUnusable(path, reason: "cannot create it: \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: path) else {
            throw HubStartupError.dataDirectoryUnusable(path, reason: "it is not writable by this user")
        }
        let store: SQLiteHubStore
        do { store = try SQLiteHubStore(path: configuration.databasePath, durability: configuration.durability) } catch {
            throw HubStartupError.dataDirectoryUnusable(path, reason: "\(error)")
        }
        let tls: HubCertificateAuthority
        do { tls = try HubCertificateAuthority.loadOrCreate(directory: configuration.tlsDirectory, hostName: configuration.hostName,
                                                         aliases: configuration.hostNameAliases) } catch {
            store.close()
            throw HubStartupError.dataDirectoryUnusable(path, reason: "TLS material: \(error)")
        }
        var policies = try await store.policies()
        var created = false
        if policies.isEmpty {
            policies = AccessPolicy.defaults()
            try await store.savePolicies(policies)
            created = true
        }
        HubHostNames.remember([configuration.hostName] + configuration.hostNameAliases, dataDirectory: path)
        let storageKey: SharedAccessKey
        do { storageKey = try Self.loadOrCreateKey(path + "/storage.key") } catch {
            store.close()
            throw HubStartupError.dataDirectoryUnusable(path, reason: "the storage key: \(error)")
        }
        let endpoint: BuiltInEndpoint
        do { endpoint = try await Self.builtInEndpoint(store, configuration) } catch {
            store.close()
            throw error
        }
        return HubDataDirectory(store: store, policies: policies, tls: tls, created: created, storageKey: storageKey,
                                builtInEndpoint: endpoint)
    }

    /// The partition count is fixed when the directory is first used (Event Hubs cannot repartition either); a
    /// different `--partitions` later is refused rather than moving devices between partitions.
    static func builtInEndpoint(_ store: SQLiteHubStore, _ configuration: HubConfiguration) async throws -> BuiltInEndpoint {
        let count: Int
        if let stored = Int(try await store.setting("event_partitions") ?? "") {
            if let wanted = configuration.eventPartitions, wanted != stored {
                throw HubStartupError.dataDirectoryUnusable(configuration.dataDirectory, reason:
                    "its event log has \(stored) partitions and --partitions asks for \(wanted); partitions are fixed "
                    + "when the data directory is created: start without --partitions, or use a new --data-dir")
            }
            count = stored
        } else {
            count = configuration.eventPartitions ?? 4
            guard EventHubPartitioner.allowedCounts.contains(count) else {
                throw HubStartupError.dataDirectoryUnusable(configuration.dataDirectory,
                                                            reason: "--partitions must be 1 to 32, not \(count)")
            }
            try await store.saveSetting("event_partitions", String(count))
        }
        let created: Date
        if let milliseconds = Int64(try await store.setting("event_hub_created_ms") ?? "") {
            created = Date(milliseconds: milliseconds)
        } else {
            created = Date()
            try await store.saveSetting("event_hub_created_ms", String(created.milliseconds))
        }
        // The name is kept too, so `iothub connection-string --eventhub` prints what the running hub serves.
        let stored = try await store.setting("event_hub_name")
        let name = configuration.eventHubName ?? stored ?? EventHubService.defaultName(hostName: configuration.hostName)
        try await store.saveSetting("event_hub_name", name)
        return BuiltInEndpoint(name: name, partitionCount: count, createdAt: created)
    }

    /// Reads a base64 key file, or writes a new random key there (mode 0600).
    static func loadOrCreateKey(_ path: String) throws -> SharedAccessKey {
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            return try SharedAccessKey(base64: text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let key = SharedAccessKey.random()
        guard FileManager.default.createFile(atPath: path, contents: Data((key.base64 + "\n").utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw HubStartupError.dataDirectoryUnusable(path, reason: "cannot write the storage key")
        }
        return key
    }
}

/// The hub cannot start.
public enum HubStartupError: Error, CustomStringConvertible {
    case dataDirectoryUnusable(String, reason: String)
    case portUnavailable(Int, name: String, reason: String)

    public var description: String {
        switch self {
        case .dataDirectoryUnusable(let path, let reason):
            "the data directory \(path) is unusable: \(reason). Choose another with --data-dir"
        case .portUnavailable(let port, let name, let reason):
            "cannot listen for \(name) on port \(port): \(reason). Stop whatever uses it or choose another port"
        }
    }
}
