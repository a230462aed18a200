import COpenSSL
import Glibc
import Synchronization

/// A TLS client configuration shared by many device clients: one OpenSSL `SSL_CTX`.
///
/// Each libmosquitto client that creates its own context costs 40–800 KB and parses the CA bundle again; clients
/// that share one of these cost about 25 KB. Peers are always verified (TLS 1.2 minimum, certificate chain and host
/// name); there is no option to turn verification off.
///
/// ```swift
/// let tls = try DeviceTLSContext(trust: .caFile("/etc/iothub/ca.pem"))
/// ```
public final class DeviceTLSContext: @unchecked Sendable {
    // @unchecked: the SSL_CTX is configured once in init and only read afterwards; OpenSSL reference-counts it and
    // allows concurrent use of a configured context from many connections.

    /// Where trusted root certificates come from.
    public enum Trust: Sendable, Hashable {
        /// The operating system's trust store (`/etc/ssl/certs`).
        case system
        /// A PEM file of CA certificates (for example the companion hub's `tls/ca.pem`).
        case caFile(String)
    }

    let context: OpaquePointer
    /// The trust this context was built with.
    public let trust: Trust
    /// Whether the context carries a client certificate (X.509 authentication).
    public let hasClientCertificate: Bool

    /// Creates a client context that verifies servers against `trust`.
    /// - Throws: ``DeviceClientError/tlsConfiguration(_:)`` when OpenSSL cannot create the context or load the CAs.
    public convenience init(trust: Trust = .system) throws(DeviceClientError) {
        try self.init(trust: trust, hasClientCertificate: false)
    }

    /// Creates a client context that also presents a client certificate: X.509 authentication.
    /// - Parameters:
    ///   - trust: the certificate authorities that verify the server.
    ///   - certificateFile: PEM with the device certificate, followed by any intermediate certificates.
    ///   - privateKeyFile: PEM with the certificate's private key.
    ///   - passphrase: the key's passphrase, when it is encrypted.
    /// - Throws: ``DeviceClientError/tlsConfiguration(_:)`` naming the file or the mismatch.
    public convenience init(trust: Trust = .system, certificateFile: String, privateKeyFile: String, passphrase: String? = nil)
        throws(DeviceClientError)
    {
        try self.init(trust: trust, hasClientCertificate: true)
        guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
            throw .tlsConfiguration("could not load the client certificate from '\(certificateFile)': \(Self.lastError())")
        }
        guard let bio = BIO_new_file(privateKeyFile, "r") else {
            throw .tlsConfiguration("could not open the private key '\(privateKeyFile)': \(Self.lastError())")
        }
        defer { BIO_free(bio) }
        // With no callback, OpenSSL uses the last argument as the passphrase itself.
        let key = passphrase.map { text in
            text.withCString { PEM_read_bio_PrivateKey(bio, nil, nil, UnsafeMutableRawPointer(mutating: $0)) }
        } ?? PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        guard let key else {
            throw .tlsConfiguration("could not read the private key '\(privateKeyFile)' (\(Self.lastError())); "
                                    + (passphrase == nil ? "is it encrypted? pass its passphrase" : "check the passphrase"))
        }
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_PrivateKey(context, key) == 1, SSL_CTX_check_private_key(context) == 1 else {
            throw .tlsConfiguration("the private key does not match the client certificate: \(Self.lastError())")
        }
    }

    /// Creates a client context that presents a client certificate held in memory rather than in files: for keys
    /// read from a secure element or a provisioning service, or certificates made on the fly (as the fleet
    /// simulator does).
    /// - Parameters:
    ///   - trust: the certificate authorities that verify the server.
    ///   - certificatePEM: the device certificate, PEM, followed by any intermediate certificates.
    ///   - privateKeyPEM: the certificate's private key, unencrypted PEM (PKCS #8 or the algorithm's own form).
    /// - Throws: ``DeviceClientError/tlsConfiguration(_:)`` for PEM that holds no certificate or key, or a key that
    ///   does not match the certificate.
    public convenience init(trust: Trust = .system, certificatePEM: String, privateKeyPEM: String)
        throws(DeviceClientError)
    {
        try self.init(trust: trust, hasClientCertificate: true)
        guard let certificates = Self.memoryBIO(certificatePEM) else {
            throw .tlsConfiguration("OpenSSL could not read the certificate PEM: \(Self.lastError())")
        }
        defer { BIO_free(certificates) }
        guard let leaf = PEM_read_bio_X509(certificates, nil, nil, nil) else {
            throw .tlsConfiguration("the certificate PEM holds no certificate: \(Self.lastError())")
        }
        defer { X509_free(leaf) }
        guard SSL_CTX_use_certificate(context, leaf) == 1 else {
            throw .tlsConfiguration("OpenSSL refused the client certificate: \(Self.lastError())")
        }
        // Intermediates after the leaf: the context takes ownership of each one it adds.
        while let intermediate = PEM_read_bio_X509(certificates, nil, nil, nil) {
            guard copenssl_ctx_add_extra_chain_cert(context, intermediate) == 1 else {
                X509_free(intermediate)
                throw .tlsConfiguration("OpenSSL refused an intermediate certificate: \(Self.lastError())")
            }
        }
        ERR_clear_error()   // the loop above ends on "no start line"
        guard let keyBIO = Self.memoryBIO(privateKeyPEM) else {
            throw .tlsConfiguration("OpenSSL could not read the private key PEM: \(Self.lastError())")
        }
        defer { BIO_free(keyBIO) }
        guard let key = PEM_read_bio_PrivateKey(keyBIO, nil, { _, _, _, _ in 0 }, nil) else {
            throw .tlsConfiguration("the private key PEM holds no unencrypted key: \(Self.lastError())")
        }
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_PrivateKey(context, key) == 1, SSL_CTX_check_private_key(context) == 1 else {
            throw .tlsConfiguration("the private key does not match the client certificate: \(Self.lastError())")
        }
    }

    /// A read-only memory BIO over a copy of `text` (OpenSSL copies nothing, so the BIO owns the bytes it reads).
    private static func memoryBIO(_ text: String) -> OpaquePointer? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ BIO_write(bio, $0.baseAddress, Int32($0.count)) }) == Int32(bytes.count) else {
            BIO_free(bio)
            return nil
        }
        return bio
    }

    /// Wraps an `SSL_CTX` configured elsewhere (for example with a key in an HSM through an OpenSSL engine or
    /// provider). The context is reference-counted: this takes a reference and releases it in `deinit`.
    /// - Parameters:
    ///   - sslContext: a system-OpenSSL `SSL_CTX *` for TLS clients; it must verify the server.
    ///   - presentsClientCertificate: whether the context presents a client certificate (X.509 authentication);
    ///     ``DeviceClient/init(hostName:deviceId:moduleId:x509Context:options:)`` requires it.
    public init(sslContext: OpaquePointer, presentsClientCertificate: Bool = true) {
        SSL_CTX_up_ref(sslContext)
        self.context = sslContext
        self.trust = .system
        self.hasClientCertificate = presentsClientCertificate
    }

    /// A new client context that verifies servers against `trust`; the public initialisers add to it.
    private init(trust: Trust, hasClientCertificate: Bool) throws(DeviceClientError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw .tlsConfiguration("OpenSSL could not create a TLS context: \(Self.lastError())")
        }
        self.context = context
        self.trust = trust
        self.hasClientCertificate = hasClientCertificate
        try Self.configure(context, trust: trust)
    }

    private static func configure(_ context: OpaquePointer, trust: Trust) throws(DeviceClientError) {
        _ = copenssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        _ = copenssl_ctx_set_options_no_compression(context)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        switch trust {
        case .system:
            // On a throw, deinit frees the context (every stored property is set by then).
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw .tlsConfiguration("could not load the system trust store: \(Self.lastError())")
            }
        case .caFile(let path):
            guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                throw .tlsConfiguration("could not load CA certificates from '\(path)': \(Self.lastError()); "
                                        + "check that the file exists and holds PEM certificates")
            }
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    private static let cache = Mutex<[Trust: DeviceTLSContext]>([:])

    /// The process-wide context for `trust`, created on first use: clients that do not bring their own context
    /// share one per trust setting.
    public static func shared(trust: Trust) throws(DeviceClientError) -> DeviceTLSContext {
        if let context = cache.withLock({ $0[trust] }) { return context }
        let context = try DeviceTLSContext(trust: trust)
        return cache.withLock { cache in
            if let existing = cache[trust] { return existing }
            cache[trust] = context
            return context
        }
    }

    /// Makes the TLS session of a connection check that the server certificate names `host` (DNS name or IP).
    /// - Parameter ssl: the connection's `SSL*` (from `mosquitto_ssl_get`).
    static func verifyHost(_ host: String, ssl: UnsafeMutableRawPointer) -> Bool {
        let connection = OpaquePointer(ssl)
        SSL_set_hostflags(connection, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        if Self.isIPAddress(host) {
            return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(connection), host) == 1
        }
        return SSL_set1_host(connection, host) == 1
    }

    private static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "no OpenSSL error queued" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
