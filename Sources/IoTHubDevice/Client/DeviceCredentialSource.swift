import IoTHubProtocol

/// How a client proves its identity to the hub.
enum DeviceCredential: Sendable {
    /// A device or module key; the client makes and renews tokens.
    case key(SharedAccessKey, keyName: String?)
    /// A fixed token (from a connection string's `SharedAccessSignature`); cannot be renewed.
    case token(String)
    /// A callback that returns a fresh token for the requested lifetime.
    case provider(@Sendable (Duration) async throws -> String)
    /// An X.509 client certificate in the TLS context: no password, nothing to renew.
    case x509
}

/// A token a transport presents, and when it expires (seconds since 1970, when known).
struct DeviceToken: Sendable, Hashable {
    var value: String
    var expiry: UInt64?
}

/// Makes fresh tokens for a transport, the protocol-neutral half of token renewal: the transport asks whenever it
/// needs one (MQTT: at every connect; AMQP: also for an in-band renewal).
struct DeviceCredentialSource: Sendable {
    let credential: DeviceCredential
    let resource: SASResource
    /// The lifetime asked for (``DeviceClientOptions/sasTokenTTL``).
    let lifetime: Duration
    let clock: any DeviceClientClock

    /// Whether a fresh token can be made: not for a fixed token or X.509.
    var isRenewable: Bool {
        switch credential {
        case .key, .provider: true
        case .token, .x509: false
        }
    }

    /// A token now (`nil` for X.509), through `completion` on the core's thread: at once for a key or a fixed
    /// token, after the provider answers for a provider.
    func token(_ completion: @escaping @Sendable (Result<DeviceToken?, DeviceClientError>) -> Void) {
        switch credential {
        case .key(let key, let keyName):
            let expiry = clock.unixTime() + UInt64(max(1, lifetime.components.seconds))
            let token = SASToken.generate(resource: resource, key: key, expiry: expiry, keyName: keyName)
            completion(.success(DeviceToken(value: token.description, expiry: expiry)))
        case .token(let token):
            completion(.success(DeviceToken(value: token, expiry: (try? SASToken(parsing: token))?.expiry)))
        case .x509:
            completion(.success(nil))
        case .provider(let provider):
            let lifetime = self.lifetime
            let clock = self.clock
            Task {
                let result: Result<DeviceToken?, DeviceClientError>
                do {
                    let token = try await provider(lifetime)
                    result = .success(DeviceToken(value: token, expiry: (try? SASToken(parsing: token))?.expiry))
                } catch {
                    result = .failure(.connectionFailed("the token provider failed: \(error)"))
                }
                clock.execute { completion(result) }
            }
        }
    }
}
