import Foundation
import IoTHubProtocol

/// Checks device credentials and service (policy) tokens against the registry and the hub's policies.
///
/// Every protocol head authenticates through this type, so MQTT, AMQP and HTTPS accept exactly the same
/// credentials.
public struct HubAuthenticator: Sendable {
    /// The host name tokens must be scoped to.
    public let hostName: String
    let store: any HubStore
    let policies: [AccessPolicy]
    /// CA certificates (PEM) trusted for CA-signed (`certificateAuthority`) devices besides the verified ones of the
    /// store: the hub's own CA.
    let deviceCertificateAuthorities: [String]
    private let caVerifiers = DeviceCAVerifierCache()

    /// - Parameter deviceCertificateAuthorities: PEM certificates of the CAs whose signed device certificates the
    ///   hub accepts for `certificateAuthority` devices (the hub's own CA, which `iothub cert issue` signs with).
    public init(hostName: String, store: any HubStore, policies: [AccessPolicy], deviceCertificateAuthorities: [String] = []) {
        self.hostName = hostName
        self.store = store
        self.policies = policies
        self.deviceCertificateAuthorities = deviceCertificateAuthorities
    }

    /// Authenticates a device or module presenting a SAS token (MQTT password, HTTPS `Authorization`, AMQP CBS).
    ///
    /// The token must name this identity's resource, be signed by the identity's primary or secondary key (or by a
    /// policy with DeviceConnect, with `skn`), and be unexpired; the identity must exist, be enabled and use SAS.
    /// - Throws: ``HubError`` 401002 with the reason, or 403005 for a disabled device.
    public func authenticateDevice(_ identity: DeviceIdentity, token text: String?, now: Date = Date()) async throws -> DeviceRecord {
        guard let text, !text.isEmpty else {
            throw HubError.unauthorized("no SAS token: send it as the MQTT password or Authorization header")
        }
        let token: SASToken
        do { token = try SASToken(parsing: text) } catch { throw HubError.unauthorized(error.description) }
        guard let record = try await store.device(identity) else {
            throw HubError.unauthorized("'\(identity.clientId)' is not registered in this hub")
        }
        guard record.status == .enabled else {
            throw HubError(.deviceDisabled, "'\(identity.clientId)' is disabled\(record.statusReason.map { " (\($0))" } ?? "")")
        }
        let resource = identity.sasResource(hostName: hostName).uri
        let keys: [SharedAccessKey]
        if let keyName = token.keyName {
            guard let policy = policies.first(where: { $0.name == keyName }), policy.permissions.contains(.deviceConnect) else {
                throw HubError.unauthorized("policy '\(keyName)' does not exist or lacks DeviceConnect")
            }
            keys = [policy.primaryKey, policy.secondaryKey]
        } else if case .sas(let primary, let secondary) = record.authentication {
            keys = [primary, secondary]
        } else {
            throw HubError.unauthorized("'\(identity.clientId)' authenticates with X.509 certificates, not SAS tokens")
        }
        try Self.check(token, resource: resource, keys: keys, now: now)
        return record
    }

    /// Authenticates a device or module by a SAS token when it sent one, else by the client certificate it presented
    /// in the TLS handshake (X.509 self-signed: the certificate's SHA-1 or SHA-256 thumbprint must be one the
    /// registry holds for the identity, and the certificate must be within its validity period).
    /// - Returns: the device record and how it authenticated.
    /// - Throws: ``HubError`` 401002 saying why (no credential, unknown thumbprint, expired or not yet valid
    ///   certificate, wrong authentication type), or 403005 for a disabled device.
    public func authenticateDevice(_ identity: DeviceIdentity, token: String?, certificate: PresentedCertificate?,
                                   now: Date = Date()) async throws -> (DeviceRecord, EventService.AuthenticationKind) {
        if let token, !token.isEmpty {
            return (try await authenticateDevice(identity, token: token, now: now), .sas)
        }
        guard let certificate else {
            throw HubError.unauthorized("no credential: send a SAS token as the MQTT password, or a client certificate")
        }
        guard let record = try await store.device(identity) else {
            throw HubError.unauthorized("'\(identity.clientId)' is not registered in this hub")
        }
        guard record.status == .enabled else {
            throw HubError(.deviceDisabled, "'\(identity.clientId)' is disabled\(record.statusReason.map { " (\($0))" } ?? "")")
        }
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
            return (record, .selfSigned)
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
            return (record, .certificateAuthority)
        case .sas:
            throw HubError.unauthorized("'\(identity.clientId)' authenticates with SAS tokens; send one as the MQTT password")
        }
    }

    /// Authorizes a service request carrying a policy token (`Authorization: SharedAccessSignature …&skn=…`).
    /// - Returns: the policy that signed it.
    /// - Throws: ``HubError`` 401002 when the token is missing, invalid, expired, or its policy lacks `permission`.
    @discardableResult
    public func authorizeService(_ header: String?, requires permission: Permission, now: Date = Date()) throws -> AccessPolicy {
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
        // A service token is scoped to the hub (`sr=h`) or to a path inside it (`sr=h/devices`).
        guard SASToken.resource(token.resourceURI, isWithin: hostName) else {
            throw HubError.unauthorized(SASTokenError.resourceMismatch(token: token.resourceURI, expected: hostName).description)
        }
        try Self.check(token, resource: token.resourceURI, keys: [policy.primaryKey, policy.secondaryKey], now: now)
        guard policy.permissions.contains(permission) else {
            throw HubError.unauthorized("policy '\(keyName)' lacks the \(permission.rawValue) permission this operation needs")
        }
        return policy
    }

    static func check(_ token: SASToken, resource: String, keys: [SharedAccessKey], now: Date) throws {
        let seconds = UInt64(max(0, now.timeIntervalSince1970))
        guard token.covers(resource: resource, allowPrefix: false) else {
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
