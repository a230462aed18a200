/// An IoT Hub connection string: `;`-separated `Key=Value` pairs.
///
/// Three kinds exist:
/// - device: `HostName=h;DeviceId=d;SharedAccessKey=k` (or `x509=true`, or `SharedAccessSignature=…`),
///   optionally with `GatewayHostName=g`;
/// - module: the device form plus `ModuleId=m`;
/// - policy (service side): `HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=k`.
///
/// Keys are matched case-insensitively; a value may itself contain `=` (base64 padding).
///
/// ```swift
/// let cs = try ConnectionString(parsing: "HostName=hub.local;DeviceId=dev1;SharedAccessKey=AAAA")
/// cs.kind          // .device
/// cs.deviceId      // "dev1"
/// cs.description   // "HostName=hub.local;DeviceId=dev1;SharedAccessKey=AAAA"
/// ```
public struct ConnectionString: Sendable, Hashable, CustomStringConvertible {
    /// What a connection string identifies.
    public enum Kind: String, Sendable, Hashable {
        /// A device identity.
        case device
        /// A module identity on a device.
        case module
        /// A shared access policy of the hub (service side).
        case policy
    }

    /// The IoT Hub host name, e.g. `myhub.azure-devices.net`.
    public var hostName: String
    /// The device id (device and module kinds).
    public var deviceId: String?
    /// The module id (module kind).
    public var moduleId: String?
    /// The shared access policy name (policy kind).
    public var sharedAccessKeyName: String?
    /// The base64 symmetric key.
    public var sharedAccessKey: String?
    /// A ready SAS token, instead of a key.
    public var sharedAccessSignature: String?
    /// A gateway (IoT Edge) to connect through instead of `hostName`.
    public var gatewayHostName: String?
    /// Whether the identity authenticates with an X.509 certificate (`x509=true`).
    public var usesX509: Bool

    /// The kind, derived from the fields present.
    public var kind: Kind {
        if deviceId == nil { return .policy }
        return moduleId == nil ? .device : .module
    }

    /// Builds a connection string from fields; use ``init(parsing:)`` for text.
    public init(
        hostName: String, deviceId: String? = nil, moduleId: String? = nil, sharedAccessKeyName: String? = nil,
        sharedAccessKey: String? = nil, sharedAccessSignature: String? = nil, gatewayHostName: String? = nil,
        usesX509: Bool = false
    ) {
        self.hostName = hostName
        self.deviceId = deviceId
        self.moduleId = moduleId
        self.sharedAccessKeyName = sharedAccessKeyName
        self.sharedAccessKey = sharedAccessKey
        self.sharedAccessSignature = sharedAccessSignature
        self.gatewayHostName = gatewayHostName
        self.usesX509 = usesX509
    }

    /// Parses and validates a connection string.
    /// - Throws: ``ConnectionStringError`` naming the bad or missing field.
    public init(parsing text: String) throws(ConnectionStringError) {
        let trimmed = text.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty else { throw .empty }
        var fields: [Field: String] = [:]
        // Split on Unicode scalars, as other IoT Hub SDKs do, not on grapheme clusters: a character such as U+0600
        // (a prepended mark) at the end of a value would otherwise swallow the ';' after it.
        for segment in trimmed.unicodeScalars.split(separator: ";", omittingEmptySubsequences: false) {
            if segment.isEmpty { throw .malformedSegment("") }
            guard let equals = segment.firstIndex(of: "=") else { throw .malformedSegment(String(segment)) }
            let name = String(segment[..<equals]).trimmingASCIIWhitespace()
            let value = String(segment[segment.index(after: equals)...]).trimmingASCIIWhitespace()
            guard let field = Field(name: name) else { throw .unknownKey(name) }
            guard fields[field] == nil else { throw .duplicateKey(field.rawValue) }
            guard !value.isEmpty else { throw .invalidValue(field: field.rawValue, reason: "it is empty") }
            fields[field] = value
        }
        guard let hostName = fields[.hostName] else { throw .missingField(Field.hostName.rawValue) }
        var x509 = false
        if let flag = fields[.x509] {
            switch flag.lowercased() {
            case "true": x509 = true
            case "false": x509 = false
            default: throw .invalidValue(field: Field.x509.rawValue, reason: "'\(flag)' is neither true nor false")
            }
        }
        self.init(
            hostName: hostName, deviceId: fields[.deviceId], moduleId: fields[.moduleId],
            sharedAccessKeyName: fields[.sharedAccessKeyName], sharedAccessKey: fields[.sharedAccessKey],
            sharedAccessSignature: fields[.sharedAccessSignature], gatewayHostName: fields[.gatewayHostName],
            usesX509: x509)
        try validate()
    }

    /// Checks that the fields form one of the three kinds, with valid ids and a decodable key.
    public func validate() throws(ConnectionStringError) {
        guard isValidHostName(hostName) else {
            throw .invalidValue(field: Field.hostName.rawValue, reason: "'\(hostName)' is not a host name")
        }
        if let gatewayHostName, !isValidHostName(gatewayHostName) {
            throw .invalidValue(field: Field.gatewayHostName.rawValue, reason: "'\(gatewayHostName)' is not a host name")
        }
        if let sharedAccessKey, LibCrypto.base64Decode(sharedAccessKey) == nil {
            throw .invalidValue(field: Field.sharedAccessKey.rawValue, reason: "it is not valid base64")
        }
        let credentials = [sharedAccessKey != nil, sharedAccessSignature != nil, usesX509].filter { $0 }.count
        if credentials > 1 { throw .mixedAuthentication }

        if let deviceId {
            do { try IdentityValidation.validateDeviceId(deviceId) } catch {
                throw .invalidValue(field: Field.deviceId.rawValue, reason: error.description)
            }
            if let moduleId {
                do { try IdentityValidation.validateModuleId(moduleId) } catch {
                    throw .invalidValue(field: Field.moduleId.rawValue, reason: error.description)
                }
            }
            if sharedAccessKeyName != nil {
                throw .invalidValue(
                    field: Field.sharedAccessKeyName.rawValue,
                    reason: "a device or module connection string carries no policy name")
            }
            if credentials == 0 { throw .missingField("SharedAccessKey, SharedAccessSignature or x509=true") }
        } else {
            if moduleId != nil { throw .missingField(Field.deviceId.rawValue) }
            if usesX509 || gatewayHostName != nil {
                throw .missingField(Field.deviceId.rawValue)
            }
            if sharedAccessSignature == nil {
                guard sharedAccessKeyName != nil else { throw .missingField(Field.sharedAccessKeyName.rawValue) }
                guard sharedAccessKey != nil else { throw .missingField(Field.sharedAccessKey.rawValue) }
            }
        }
    }

    /// The canonical text form: fields in IoT Hub's order with IoT Hub's key spelling.
    public var description: String {
        var parts = ["HostName=\(hostName)"]
        if let deviceId { parts.append("DeviceId=\(deviceId)") }
        if let moduleId { parts.append("ModuleId=\(moduleId)") }
        if let sharedAccessKeyName { parts.append("SharedAccessKeyName=\(sharedAccessKeyName)") }
        if let sharedAccessKey { parts.append("SharedAccessKey=\(sharedAccessKey)") }
        if let sharedAccessSignature { parts.append("SharedAccessSignature=\(sharedAccessSignature)") }
        if usesX509 { parts.append("x509=true") }
        if let gatewayHostName { parts.append("GatewayHostName=\(gatewayHostName)") }
        return parts.joined(separator: ";")
    }

    /// The SAS resource URI this identity signs: `h/devices/d`, `h/devices/d/modules/m`, or `h` for a policy.
    public var resourceURI: String {
        switch kind {
        case .policy: hostName
        case .device: SASResource.device(hostName: hostName, deviceId: deviceId ?? "").uri
        case .module:
            SASResource.module(hostName: hostName, deviceId: deviceId ?? "", moduleId: moduleId ?? "").uri
        }
    }

    enum Field: String, CaseIterable {
        case hostName = "HostName"
        case deviceId = "DeviceId"
        case moduleId = "ModuleId"
        case sharedAccessKeyName = "SharedAccessKeyName"
        case sharedAccessKey = "SharedAccessKey"
        case sharedAccessSignature = "SharedAccessSignature"
        case gatewayHostName = "GatewayHostName"
        case x509 = "x509"

        init?(name: String) {
            guard let field = Self.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
                return nil
            }
            self = field
        }
    }

    private func isValidHostName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9", "-", ".", ":", "[", "]", "_": true
            default: false
            }
        }
    }
}

/// A connection string could not be parsed or is incomplete.
public enum ConnectionStringError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text is empty.
    case empty
    /// A `;`-separated segment has no `=`.
    case malformedSegment(String)
    /// A key is not one IoT Hub defines.
    case unknownKey(String)
    /// A key appears twice.
    case duplicateKey(String)
    /// A required field is missing.
    case missingField(String)
    /// A field's value is invalid.
    case invalidValue(field: String, reason: String)
    /// More than one of SharedAccessKey, SharedAccessSignature and x509=true is present.
    case mixedAuthentication

    public var description: String {
        switch self {
        case .empty:
            "the connection string is empty; copy it from the hub (iothub device connection-string ID)"
        case .malformedSegment(let segment):
            segment.isEmpty
                ? "the connection string has an empty segment (';;' or a trailing ';'); remove it"
                : "the segment '\(segment)' has no '='; connection strings are Key=Value pairs separated by ';'"
        case .unknownKey(let key):
            "unknown key '\(key)'; expected HostName, DeviceId, ModuleId, SharedAccessKeyName, SharedAccessKey, SharedAccessSignature, GatewayHostName or x509"
        case .duplicateKey(let key):
            "the key '\(key)' appears more than once"
        case .missingField(let field):
            "the connection string lacks \(field)"
        case .invalidValue(let field, let reason):
            "the value of \(field) is invalid: \(reason)"
        case .mixedAuthentication:
            "the connection string mixes authentication kinds; give only one of SharedAccessKey, SharedAccessSignature or x509=true"
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces, tabs, CRs and LFs, compared as Unicode scalars (so "\r\n", one
    /// Swift `Character`, is trimmed too, and a space before a combining mark is trimmed as IoT Hub would).
    func trimmingASCIIWhitespace() -> String {
        // On UTF-8 bytes: an ASCII byte is never part of a multi-byte sequence, so the bounds found are scalar
        // boundaries.
        let bytes = utf8
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }) else { return "" }
        var last = first
        var index = first
        while index != bytes.endIndex {
            if !isSpace(bytes[index]) { last = index }
            bytes.formIndex(after: &index)
        }
        // A half-open range on UTF-8 positions: `last` is the final byte of a scalar, so the end is a scalar
        // boundary, and no grapheme cluster (a prepended mark and the space after it) carries a space along.
        return String(self[first..<bytes.index(after: last)])
    }
}
