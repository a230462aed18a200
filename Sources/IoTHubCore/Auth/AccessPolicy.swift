import IoTHubProtocol

/// A right a shared access policy grants.
public enum Permission: String, Sendable, Hashable, CaseIterable, Codable {
    /// Read the identity registry.
    case registryRead = "RegistryRead"
    /// Create, update and delete identities.
    case registryWrite = "RegistryWrite"
    /// Back-end operations: twins, methods, cloud-to-device messages, monitoring.
    case serviceConnect = "ServiceConnect"
    /// Sign device tokens.
    case deviceConnect = "DeviceConnect"
}

/// A hub-level shared access policy: a name, its rights and two keys.
public struct AccessPolicy: Sendable, Hashable {
    public var name: String
    public var permissions: Set<Permission>
    public var primaryKey: SharedAccessKey
    public var secondaryKey: SharedAccessKey

    public init(name: String, permissions: Set<Permission>, primaryKey: SharedAccessKey = .random(),
                secondaryKey: SharedAccessKey = .random()) {
        self.name = name
        self.permissions = permissions
        self.primaryKey = primaryKey
        self.secondaryKey = secondaryKey
    }

    /// IoT Hub's default policies, with new random keys.
    public static func defaults() -> [AccessPolicy] {
        [
            AccessPolicy(name: "iothubowner", permissions: [.registryRead, .registryWrite, .serviceConnect, .deviceConnect]),
            AccessPolicy(name: "service", permissions: [.serviceConnect]),
            AccessPolicy(name: "device", permissions: [.deviceConnect]),
            AccessPolicy(name: "registryRead", permissions: [.registryRead]),
            AccessPolicy(name: "registryReadWrite", permissions: [.registryRead, .registryWrite]),
        ]
    }

    /// The policy's connection string for `hostName`.
    public func connectionString(hostName: String) -> ConnectionString {
        ConnectionString(hostName: hostName, sharedAccessKeyName: name, sharedAccessKey: primaryKey.base64)
    }

    /// Whether either key signed `token`.
    public func signed(_ token: SASToken) -> Bool {
        token.isSigned(by: primaryKey) || token.isSigned(by: secondaryKey)
    }
}
