import Foundation
import IoTHubProtocol

/// Whether a device may connect.
public enum DeviceStatus: String, Sendable, Hashable, Codable {
    case enabled
    case disabled
}

/// Whether a device currently has a connection to the hub.
public enum ConnectionState: String, Sendable, Hashable, Codable {
    case connected = "Connected"
    case disconnected = "Disconnected"
}

/// How a device proves its identity.
public enum DeviceAuthentication: Sendable, Hashable {
    /// Symmetric keys (SAS tokens signed with either key).
    case sas(primaryKey: SharedAccessKey, secondaryKey: SharedAccessKey)
    /// A self-signed X.509 certificate whose SHA-1 or SHA-256 thumbprint is registered (upper-case hex).
    case selfSigned(primaryThumbprint: String?, secondaryThumbprint: String?)
    /// An X.509 certificate chaining to a verified CA, with CN = device id.
    case certificateAuthority

    /// IoT Hub's name for the type: `sas`, `selfSigned`, `certificateAuthority`.
    public var typeName: String {
        switch self {
        case .sas: "sas"
        case .selfSigned: "selfSigned"
        case .certificateAuthority: "certificateAuthority"
        }
    }
}

/// A device (or module) identity in the registry.
public struct DeviceRecord: Sendable, Hashable {
    /// Device id, and module id for a module identity.
    public var identity: DeviceIdentity
    /// Random id set when the identity is created; distinguishes re-created devices with the same id.
    public var generationId: String
    /// Incremented on every change; the etag is derived from it.
    public var version: Int64
    public var status: DeviceStatus
    public var statusReason: String?
    public var statusUpdatedTime: Date
    public var authentication: DeviceAuthentication
    /// `capabilities.iotEdge`.
    public var isEdgeDevice: Bool
    public var connectionState: ConnectionState
    public var connectionStateUpdatedTime: Date
    public var lastActivityTime: Date
    /// Messages pending in the device's cloud-to-device queue.
    public var cloudToDeviceMessageCount: Int
    /// The module's `managedBy`, for module identities.
    public var managedBy: String?

    public init(identity: DeviceIdentity, generationId: String = DeviceRecord.newGenerationId(), version: Int64 = 1,
                status: DeviceStatus = .enabled, statusReason: String? = nil, statusUpdatedTime: Date = Date(),
                authentication: DeviceAuthentication, isEdgeDevice: Bool = false,
                connectionState: ConnectionState = .disconnected, connectionStateUpdatedTime: Date = Date(timeIntervalSince1970: 0),
                lastActivityTime: Date = Date(timeIntervalSince1970: 0), cloudToDeviceMessageCount: Int = 0,
                managedBy: String? = nil) {
        self.identity = identity
        self.generationId = generationId
        self.version = version
        self.status = status
        self.statusReason = statusReason
        self.statusUpdatedTime = statusUpdatedTime
        self.authentication = authentication
        self.isEdgeDevice = isEdgeDevice
        self.connectionState = connectionState
        self.connectionStateUpdatedTime = connectionStateUpdatedTime
        self.lastActivityTime = lastActivityTime
        self.cloudToDeviceMessageCount = cloudToDeviceMessageCount
        self.managedBy = managedBy
    }

    /// The etag IoT Hub shows for this version: base64 of the version number, quoted in HTTP headers.
    public var etag: String { LibCrypto.base64Encode(Array(String(version).utf8)) }

    /// An 18-digit random generation id, the shape IoT Hub uses.
    public static func newGenerationId() -> String {
        let digits = LibCrypto.randomBytes(count: 18).map { Character(String($0 % 10)) }
        return "6" + String(digits.dropFirst())
    }
}
