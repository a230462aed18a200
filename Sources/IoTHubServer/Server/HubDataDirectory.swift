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
        return HubDataDirectory(store: store, policies: policies, tls: tls, created: created, storageKey: storageKey)
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
