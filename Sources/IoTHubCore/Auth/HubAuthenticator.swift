import Foundation
import IoTHubProtocol

/// Checks device credentials and service (policy) tokens against the registry and the hub's policies.
///
/// Every protocol head authenticates through this type, so MQTT, AMQP and HTTPS accept exactly the same
/// credentials.
public struct HubAuthenticator: Sendable {
    /// The host name tokens must be scoped to.
    public let hostName: String
    /// Other names the hub answers to (`127.0.0.1`, a LAN name); a token scoped to one of them is as good.
    public let aliases: [String]
    let store: any HubStore
    let policies: [AccessPolicy]
    /// CA certificates (PEM) trusted for CA-signed (`certificateAuthority`) devices besides the verified ones of the
    /// store: the hub's own CA.
    let deviceCertificateAuthorities: [String]
    private let caVerifiers = DeviceCAVerifierCache()

    /// - Parameter deviceCertificateAuthorities: PEM certificates of the CAs whose signed device certificates the
    ///   hub accepts for `certificateAuthority` devices (the hub's own CA, which `iothub cert issue` signs with).
    public init(hostName: String, store: any HubStore, policies: [AccessPolicy], deviceCertificateAuthorities: [String] = [],
                aliases: [String] = []) {
        self.hostName = hostName
        self.aliases = aliases.filter { $0.lowercased() != hostName.lowercased() }
        self.store = store
        self.policies = policies
        self.deviceCertificateAuthorities = deviceCertificateAuthorities
    }

    /// Authenticates a device or module presenting a SAS token (MQTT password, HTTPS `Authorization`, AMQP CBS).
    ///
    /// The token must name this identity's resource, be signed by the identity's primary or secondary key (or by a
    /// policy with DeviceConnect, with `skn`, whose `sr` may be any whole-segment prefix of the identity's resource,
    /// `{host}` or `{host}/devices` as protocol gateways use), and be unexpired; the identity must exist, be enabled
    /// and use SAS, and a module's device must be enabled too.
    /// - Throws: ``HubError`` 401002 with the reason, or 403005 for a disabled device.
    public func authenticateDevice(_ identity: DeviceIdentity, token text: String?, now: Date = Date()) async throws -> DeviceRecord {
        try await authenticateSAS(identity, token: text, now: now).record
    }

    private func authenticateSAS(_ identity: DeviceIdentity, token text: String?, now: Date) async throws
        -> AuthenticatedDevice {
        guard let text, !text.isEmpty else {
            throw HubError.unauthorized("no SAS token: send it as the MQTT password or Authorization header")
        }
        let token: SASToken
        do { token = try SASToken(parsing: text) } catch { throw HubError.unauthorized(error.description) }
        let record = try await enabledRecord(identity)
        let resource = identity.sasResource(hostName: name(scoping: token)).uri
        let keys: [SharedAccessKey]
        if let keyName = token.keyName, !keyName.isEmpty {
            guard let policy = policies.first(where: { $0.name == keyName }), policy.permissions.contains(.deviceConnect) else {
                throw HubError.unauthorized("policy '\(keyName)' does not exist or lacks DeviceConnect")
            }
            keys = [policy.primaryKey, policy.secondaryKey]
        } else if case .sas(let primary, let secondary) = record.authentication {
            keys = [primary, secondary]
        } else {
            throw HubError.unauthorized("'\(identity.clientId)' authenticates with X.509 certificates, not SAS tokens")
        }
        // A policy token may cover many identities (`sr={host}/devices`); a device key signs for its own resource only.
        let isPolicyToken = !(token.keyName ?? "").isEmpty
        try Self.check(token, resource: resource, keys: keys, now: now, allowPrefix: isPolicyToken)
        return AuthenticatedDevice(record: record, method: .sas,
                                   tokenExpiry: Date(timeIntervalSince1970: TimeInterval(token.expiry)))
    }

    /// The identity's record, if it exists and may connect: it is enabled, and for a module, so is its device.
    private func enabledRecord(_ identity: DeviceIdentity) async throws -> DeviceRecord {
        guard let record = try await store.device(identity) else {
            throw HubError.unauthorized("'\(identity.clientId)' is not registered in this hub")
        }
        guard record.status == .enabled else {
            throw HubError(.deviceDisabled, "'\(identity.clientId)' is disabled\(record.statusReason.map { " (\($0))" } ?? "")")
        }
        if identity.moduleId != nil {
            let device = DeviceIdentity(deviceId: identity.deviceId)
            guard let parent = try await store.device(device), parent.status == .enabled else {
                throw HubError(.deviceDisabled, "module '\(identity.clientId)' cannot connect: its device '\(identity.deviceId)' "
                               + "is disabled or gone; enable the device first")
            }
        }
        return record
    }

    /// Authenticates a device or module by a SAS token when it sent one, else by the client certificate it presented
    /// in the TLS handshake (X.509 self-signed: the certificate's SHA-1 or SHA-256 thumbprint must be one the
    /// registry holds for the identity, and the certificate must be within its validity period).
    /// - Returns: the device record, how it authenticated and until when its credential holds.
    /// - Throws: ``HubError`` 401002 saying why (no credential, unknown thumbprint, expired or not yet valid
    ///   certificate, wrong authentication type), or 403005 for a disabled device.
    public func authenticateDevice(_ identity: DeviceIdentity, token: String?, certificate: PresentedCertificate?,
                                   now: Date = Date()) async throws -> AuthenticatedDevice {
        if let token, !token.isEmpty {
            return try await authenticateSAS(identity, token: token, now: now)
        }
        guard let certificate else {
            throw HubError.unauthorized("no credential: send a SAS token as the MQTT password, or a client certificate")
        }
        let record = try await enabledRecord(identity)
        switch record.authentication {
        case .selfSigned(let primary, let secondary):
            let presented = [certificate.sha1Thumbprint, certificate.sha256Thumbprint]
            guard [primary, secondary].contains(where: { $0.map(presented.contains) ?? false }) else {
                throw HubError.unauthorized("the client certificate's thumbprint (SHA-1 \(presented[0])) is not registered "
                                            + "for '\(identity.clientId)'")
            }
            guard now >= certificate.notBefore else {
                throw HubError.unauthorized("the client certificate is not valid before \(Timestamps.iso8601(certificate.notBefore))")
            }
            guard now <= certificate.notAfter else {
                throw HubError.unauthorized("the client certificate expired at \(Timestamps.iso8601(certificate.notAfter))")
            }
            return AuthenticatedDevice(record: record, method: .selfSigned, tokenExpiry: nil)
        case .certificateAuthority:
            // The hub's own CA and every CA whose owner proved possession of its key.
            let trusted = deviceCertificateAuthorities + (try await store.caCertificates().filter(\.isVerified).map(\.pem))
            guard !trusted.isEmpty else {
                throw HubError.unauthorized("'\(identity.clientId)' uses CA-signed certificates and this hub trusts no device CA")
            }
            let commonName: String
            do {
                commonName = try caVerifiers.verifier(trusting: trusted)
                    .verify(leaf: certificate.der, intermediates: certificate.intermediates, at: now)
            } catch {
                throw HubError.unauthorized("the client certificate of '\(identity.clientId)' is refused: \(error)")
            }
            guard commonName == identity.clientId else {
                throw HubError.unauthorized("the client certificate's CN is '\(commonName)', not the device id '\(identity.clientId)'")
            }
            return AuthenticatedDevice(record: record, method: .certificateAuthority, tokenExpiry: nil)
        case .sas:
            throw HubError.unauthorized("'\(identity.clientId)' authenticates with SAS tokens; send one as the MQTT password")
        }
    }

    /// Authorizes a service request carrying a policy token (`Authorization: SharedAccessSignature …&skn=…`).
    ///
    /// As IoT Hub scopes tokens, the token's resource (`sr`) must be the hub or a whole-segment prefix of the
    /// resource accessed: a token for `{host}/devices/B` reaches `/devices/B` and below, nothing else.
    /// - Parameters:
    ///   - permissions: the operation needs any one of these.
    ///   - resource: the path accessed, such as `/devices/B` or `/twins/B` (the hub itself when empty).
    /// - Returns: the policy that signed it.
    /// - Throws: ``HubError`` 401002 when the token is missing, invalid, expired, scoped to another resource, or its
    ///   policy has none of `permissions`.
    @discardableResult
    /// - Parameter eventHubs: the token was made by an Event Hubs client, which signs with the policy key's base64
    ///   text as the HMAC key (IoT Hub clients sign with the decoded bytes); both forms are accepted then.
    public func authorizeService(_ header: String?, requires permissions: Set<Permission>, resource: String,
                                 eventHubs: Bool = false, now: Date = Date()) throws -> AccessPolicy {
        guard let header, !header.isEmpty else {
            throw HubError.unauthorized("missing Authorization header; send a SharedAccessSignature signed with a policy key")
        }
        let token: SASToken
        do { token = try SASToken(parsing: header) } catch { throw HubError.unauthorized(error.description) }
        guard let keyName = token.keyName else {
            throw HubError.unauthorized("the token has no skn; service calls need a shared access policy token")
        }
        guard let policy = policies.first(where: { $0.name == keyName }) else {
            throw HubError.unauthorized("no shared access policy named '\(keyName)'")
        }
        // A service token is scoped to the hub (`sr=h`) or to a path inside it (`sr=h/devices`), and reaches only
        // what lies below its scope.
        let host = name(scoping: token)
        let accessed = resource.isEmpty || resource == "/" ? host
            : host + (resource.hasPrefix("/") ? resource : "/" + resource)
        var keys = [policy.primaryKey, policy.secondaryKey]
        if eventHubs { keys += keys.map { SharedAccessKey(bytes: Array($0.base64.utf8)) } }
        try Self.check(token, resource: accessed, keys: keys, now: now, allowPrefix: true)
        guard !policy.permissions.isDisjoint(with: permissions) else {
            let names = permissions.map(\.rawValue).sorted().joined(separator: " or ")
            throw HubError.unauthorized("policy '\(keyName)' lacks the \(names) permission this operation needs")
        }
        return policy
    }

    /// The hub name a token is scoped to: the alias its resource starts with, else ``hostName`` (so a token for
    /// another hub is refused naming this one).
    func name(scoping token: SASToken) -> String {
        let resource = SASToken.normalized(token.resourceURI)
        for alias in aliases {
            let lower = alias.lowercased()
            if resource == lower || resource.hasPrefix(lower + "/") { return alias }
        }
        return hostName
    }

    /// Whether `name` is one of the hub's names, compared without case.
    public func isHubName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower == hostName.lowercased() || aliases.contains { $0.lowercased() == lower }
    }

    /// ``authorizeService(_:requires:resource:now:)`` for an operation that needs one permission.
    @discardableResult
    public func authorizeService(_ header: String?, requires permission: Permission, resource: String,
                                 now: Date = Date()) throws -> AccessPolicy {
        try authorizeService(header, requires: [permission], resource: resource, now: now)
    }

    static func check(_ token: SASToken, resource: String, keys: [SharedAccessKey], now: Date,
                      allowPrefix: Bool = false) throws {
        let seconds = UInt64(max(0, now.timeIntervalSince1970))
        guard token.covers(resource: resource, allowPrefix: allowPrefix) else {
            throw HubError.unauthorized(SASTokenError.resourceMismatch(token: token.resourceURI, expected: resource).description)
        }
        guard keys.contains(where: token.isSigned(by:)) else {
            throw HubError.unauthorized(SASTokenError.signatureMismatch.description)
        }
        guard !token.isExpired(now: seconds) else {
            throw HubError.unauthorized(SASTokenError.expired(expiry: token.expiry, now: seconds).description)
        }
    }
}

/// A device or module that passed authentication.
public struct AuthenticatedDevice: Sendable {
    /// Its registry record.
    public var record: DeviceRecord
    /// How it authenticated (stamped on its telemetry as `iothub-connection-auth-method`).
    public var method: EventService.AuthenticationKind
    /// When its SAS token expires (`se`); the hub ends a session that outlives it. `nil` for certificates.
    public var tokenExpiry: Date?
}
