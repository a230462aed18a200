import Foundation
import IoTHubProtocol

/// A device or module as IoT Hub's REST API writes and reads it (`GET/PUT /devices/{id}[/modules/{m}]`).
struct DeviceJSON: Codable, Sendable {
    struct SymmetricKey: Codable, Sendable {
        var primaryKey: String?
        var secondaryKey: String?
    }

    struct Thumbprint: Codable, Sendable {
        var primaryThumbprint: String?
        var secondaryThumbprint: String?
    }

    struct Authentication: Codable, Sendable {
        var symmetricKey: SymmetricKey?
        var x509Thumbprint: Thumbprint?
        var type: String?
    }

    struct Capabilities: Codable, Sendable {
        var iotEdge: Bool?
    }

    var deviceId: String?
    var moduleId: String?
    var managedBy: String?
    var generationId: String?
    var etag: String?
    var connectionState: String?
    var status: String?
    var statusReason: String?
    var connectionStateUpdatedTime: String?
    var statusUpdatedTime: String?
    var lastActivityTime: String?
    var cloudToDeviceMessageCount: Int?
    var authentication: Authentication?
    var capabilities: Capabilities?

    /// An empty body.
    init() {}

    init(_ record: DeviceRecord) {
        deviceId = record.identity.deviceId
        moduleId = record.identity.moduleId
        managedBy = record.managedBy
        generationId = record.generationId
        etag = record.etag
        connectionState = record.connectionState.rawValue
        status = record.status.rawValue
        statusReason = record.statusReason
        connectionStateUpdatedTime = Self.time(record.connectionStateUpdatedTime)
        statusUpdatedTime = Self.time(record.statusUpdatedTime)
        lastActivityTime = Self.time(record.lastActivityTime)
        cloudToDeviceMessageCount = record.cloudToDeviceMessageCount
        switch record.authentication {
        case .sas(let primary, let secondary):
            authentication = Authentication(
                symmetricKey: SymmetricKey(primaryKey: primary.base64, secondaryKey: secondary.base64),
                x509Thumbprint: Thumbprint(), type: "sas")
        case .selfSigned(let primary, let secondary):
            authentication = Authentication(
                symmetricKey: SymmetricKey(), x509Thumbprint: Thumbprint(primaryThumbprint: primary, secondaryThumbprint: secondary),
                type: "selfSigned")
        case .certificateAuthority:
            authentication = Authentication(symmetricKey: SymmetricKey(), x509Thumbprint: Thumbprint(), type: "certificateAuthority")
        }
        if record.identity.moduleId == nil { capabilities = Capabilities(iotEdge: record.isEdgeDevice) }
    }

    static func time(_ date: Date) -> String { DeviceTime.format(date) }

    /// The registry request this body asks for, for the identity named in the URL.
    func request(for identity: DeviceIdentity) throws -> RegistryService.Request {
        if let bodyId = deviceId, !bodyId.isEmpty, bodyId != identity.deviceId {
            throw HubError.invalid("the body's deviceId '\(bodyId)' differs from the URL's '\(identity.deviceId)'")
        }
        if let bodyModule = moduleId, !bodyModule.isEmpty, bodyModule != identity.moduleId {
            throw HubError.invalid("the body's moduleId '\(bodyModule)' differs from the URL's")
        }
        var parsedStatus: DeviceStatus?
        if let status {
            guard let value = DeviceStatus(rawValue: status.lowercased()) else {
                throw HubError.invalid("status must be 'enabled' or 'disabled', not '\(status)'")
            }
            parsedStatus = value
        }
        return RegistryService.Request(
            identity: identity, status: parsedStatus, statusReason: statusReason,
            authentication: try authentication.map(Self.authenticationRequest), isEdgeDevice: capabilities?.iotEdge ?? false,
            managedBy: managedBy)
    }

    static func authenticationRequest(_ authentication: Authentication) throws -> RegistryService.AuthenticationRequest {
        switch authentication.type?.lowercased() ?? "sas" {
        case "sas":
            return .sas(primaryKey: authentication.symmetricKey?.primaryKey, secondaryKey: authentication.symmetricKey?.secondaryKey)
        case "selfsigned":
            return .selfSigned(primaryThumbprint: authentication.x509Thumbprint?.primaryThumbprint,
                               secondaryThumbprint: authentication.x509Thumbprint?.secondaryThumbprint)
        case "certificateauthority":
            return .certificateAuthority
        case let other:
            throw HubError.invalid("authentication type '\(other)' is not sas, selfSigned or certificateAuthority")
        }
    }
}

/// One entry of a bulk registry call (`POST /devices`).
struct BulkDeviceJSON: Codable, Sendable {
    var id: String
    var moduleId: String?
    var eTag: String?
    var importMode: String?
    var status: String?
    var statusReason: String?
    var authentication: DeviceJSON.Authentication?
    var capabilities: DeviceJSON.Capabilities?
}

/// The answer to a bulk registry call.
struct BulkResultJSON: Codable, Sendable {
    struct Failure: Codable, Sendable {
        var deviceId: String
        var moduleId: String?
        var errorCode: String
        var errorStatus: String
    }

    var isSuccessful: Bool
    var errors: [Failure]
    var warnings: [Failure]
}
