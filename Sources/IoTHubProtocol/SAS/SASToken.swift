/// A Shared Access Signature token:
/// `SharedAccessSignature sr={enc(uri)}&sig={enc(base64(hmac))}&se={expiry}[&skn={policy}]`.
///
/// The string to sign is `{enc(uri)}\n{expiry}`, HMAC-SHA256 keyed with the base64-decoded key. Clients differ
/// in how they URL-encode (``Style``), so a verifier signs over `sr` exactly as it appears in the token and checks
/// separately that the decoded resource is the one being accessed (``validate(resource:key:now:allowPrefix:)``).
///
/// ```swift
/// let key = try SharedAccessKey(base64: "c2VjcmV0")
/// let token = SASToken.generate(
///     resource: .device(hostName: "hub.local", deviceId: "d1"), key: key, expiry: 1_900_000_000)
/// print(token)   // SharedAccessSignature sr=hub.local%2Fdevices%2Fd1&sig=…&se=1900000000
/// let parsed = try SASToken(parsing: token.description)
/// try parsed.validate(resource: "hub.local/devices/d1", key: key, now: 1_800_000_000)
/// ```
public struct SASToken: Sendable, Hashable, CustomStringConvertible {
    /// How a generator URL-encodes the resource and signature. Both verify the same way.
    public enum Style: Sendable, Hashable {
        /// As the device SDKs (`azure-iot-device`): `quote(uri, safe="")` and `quote(sig, safe="")`.
        case deviceSDK
        /// As the service SDK (`azure-iot-hub`): `quote_plus(uri)` and `quote(sig)` (which leaves `/` as is).
        case serviceSDK
    }

    /// The `sr` value exactly as it appears in the token (URL-encoded).
    public let encodedResource: String
    /// The decoded resource URI, e.g. `hub.local/devices/d1`.
    public let resourceURI: String
    /// The decoded signature (base64 text).
    public let signature: String
    /// The `se` value as it appears in the token; it is part of the signed string.
    public let expiryText: String
    /// Expiry, in Unix seconds.
    public let expiry: UInt64
    /// The shared access policy name (`skn`), when a policy key signed the token.
    public let keyName: String?
    /// The whole token text.
    public let description: String

    /// Parses a token. Field order is free; `sr`, `sig` and `se` are required, `skn` is optional.
    /// - Throws: ``SASTokenError`` naming the problem.
    public init(parsing text: String) throws(SASTokenError) {
        let prefix = "SharedAccessSignature ".utf8
        let trimmed = text.trimmingASCIIWhitespace()
        guard trimmed.utf8.starts(with: prefix) else { throw .notASASToken }
        // Split on Unicode scalars, as IoT Hub does, not on grapheme clusters (which can join a '&' or '=' to the
        // character before it, e.g. after U+0600). On UTF-8 bytes that is splitting on the bytes of '&' and '=':
        // an ASCII byte never occurs inside a multi-byte sequence.
        let body = trimmed.utf8.dropFirst(prefix.count)
        var fields: [String: String] = [:]
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: false) {
            guard let equals = pair.firstIndex(of: UInt8(ascii: "=")) else {
                throw .malformedField(String(decoding: pair, as: UTF8.self))
            }
            let name = String(decoding: pair[..<equals], as: UTF8.self).trimmingASCIIWhitespace()
            let value = String(decoding: pair[pair.index(after: equals)...], as: UTF8.self).trimmingASCIIWhitespace()
            guard ["sr", "sig", "se", "skn"].contains(name) else { throw .unknownField(name) }
            guard fields[name] == nil else { throw .duplicateField(name) }
            fields[name] = value
        }
        guard let sr = fields["sr"], !sr.isEmpty else { throw .missingField("sr") }
        guard let sig = fields["sig"], !sig.isEmpty else { throw .missingField("sig") }
        guard let se = fields["se"], !se.isEmpty else { throw .missingField("se") }
        guard se.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let expiry = UInt64(se)
        else { throw .invalidExpiry(se) }
        do {
            self.resourceURI = try PercentEncoding.decode(sr)
            self.signature = try PercentEncoding.decode(sig)
        } catch {
            throw .invalidEncoding(error.description)
        }
        // Clients write the policy name unencoded, so it is taken as it appears.
        self.keyName = fields["skn"]
        self.encodedResource = sr
        self.expiryText = se
        self.expiry = expiry
        self.description = trimmed
    }

    private init(encodedResource: String, resourceURI: String, signature: String, encodedSignature: String,
                 expiry: UInt64, keyName: String?) {
        self.encodedResource = encodedResource
        self.resourceURI = resourceURI
        self.signature = signature
        self.expiryText = String(expiry)
        self.expiry = expiry
        self.keyName = keyName
        var text = "SharedAccessSignature sr=\(encodedResource)&sig=\(encodedSignature)&se=\(expiry)"
        if let keyName { text += "&skn=\(keyName)" }
        self.description = text
    }

    /// Creates a token for a resource URI, valid until `expiry` (Unix seconds).
    /// - Parameters:
    ///   - keyName: the policy name, when signing with a shared access policy key.
    ///   - style: how to URL-encode; the result verifies the same either way.
    public static func generate(
        resourceURI: String, key: SharedAccessKey, expiry: UInt64, keyName: String? = nil, style: Style = .deviceSDK
    ) -> SASToken {
        let encodedResource: String
        switch style {
        case .deviceSDK: encodedResource = PercentEncoding.encode(resourceURI)
        case .serviceSDK: encodedResource = PercentEncoding.encode(resourceURI, spaceAsPlus: true)
        }
        let signature = key.sign(encodedResource + "\n" + String(expiry))
        let encodedSignature: String
        switch style {
        case .deviceSDK: encodedSignature = PercentEncoding.encode(signature)
        case .serviceSDK: encodedSignature = PercentEncoding.encode(signature, safe: "/")
        }
        return SASToken(encodedResource: encodedResource, resourceURI: resourceURI, signature: signature,
                        encodedSignature: encodedSignature, expiry: expiry, keyName: keyName)
    }

    /// Creates a token for a resource, valid until `expiry` (Unix seconds).
    public static func generate(
        resource: SASResource, key: SharedAccessKey, expiry: UInt64, keyName: String? = nil, style: Style = .deviceSDK
    ) -> SASToken {
        generate(resourceURI: resource.uri, key: key, expiry: expiry, keyName: keyName, style: style)
    }

    /// Whether the token has expired at `now` (Unix seconds). A token is valid up to and including its `se` second.
    public func isExpired(now: UInt64) -> Bool { expiry < now }

    /// Whether `key` produced the signature. Signs over `sr` and `se` exactly as they appear in the token and
    /// compares in constant time.
    public func isSigned(by key: SharedAccessKey) -> Bool {
        let expected = key.sign(encodedResource + "\n" + expiryText)
        return ConstantTime.equals(Array(expected.utf8), Array(signature.utf8))
    }

    /// Checks the token for an access to `resource` (an unencoded URI such as `h/devices/d`).
    /// - Parameters:
    ///   - allowPrefix: accept a token whose resource is a path prefix of `resource` (policy tokens scoped to `h`
    ///     or `h/devices`). Device tokens must match exactly.
    /// - Throws: ``SASTokenError/expired(expiry:now:)``, ``SASTokenError/resourceMismatch(token:expected:)`` or
    ///   ``SASTokenError/signatureMismatch``.
    public func validate(resource: String, key: SharedAccessKey, now: UInt64, allowPrefix: Bool = false)
        throws(SASTokenError)
    {
        guard covers(resource: resource, allowPrefix: allowPrefix) else {
            throw .resourceMismatch(token: resourceURI, expected: resource)
        }
        guard isSigned(by: key) else { throw .signatureMismatch }
        guard !isExpired(now: now) else { throw .expired(expiry: expiry, now: now) }
    }

    /// Whether the token's resource names `resource`, compared case-insensitively after stripping any scheme and
    /// trailing `/`; with `allowPrefix`, a token resource that is a whole-segment prefix also covers it.
    public func covers(resource: String, allowPrefix: Bool) -> Bool {
        allowPrefix ? Self.resource(resource, isWithin: resourceURI)
            : Self.normalized(resourceURI) == Self.normalized(resource)
    }

    /// Whether resource URI `inner` equals `outer` or lies below it on a `/` boundary, compared
    /// case-insensitively after stripping any scheme and trailing `/` (`h/devices/d` is within `h`).
    public static func resource(_ inner: String, isWithin outer: String) -> Bool {
        let inner = normalized(inner), outer = normalized(outer)
        return inner == outer || (inner.hasPrefix(outer) && inner.dropFirst(outer.count).hasPrefix("/"))
    }

    /// A resource URI lower case, without a scheme, a port after the host (Event Hubs clients put the endpoint's
    /// port in their audience) or trailing `/`: the form in which resources are compared.
    public static func normalized(_ uri: String) -> String {
        var text = Substring(uri.lowercased())
        for scheme in ["amqps://", "https://", "http://", "amqp://", "mqtts://", "sb://"] where text.hasPrefix(scheme) {
            text = text.dropFirst(scheme.count)
        }
        while text.hasSuffix("/") { text = text.dropLast() }
        let host = text.prefix { $0 != "/" }
        if let colon = host.lastIndex(of: ":"), !host[host.index(after: colon)...].isEmpty,
           host[host.index(after: colon)...].allSatisfy(\.isNumber) {
            return String(host[..<colon]) + String(text[host.endIndex...])
        }
        return String(text)
    }
}

/// A SAS token could not be parsed, created or accepted.
public enum SASTokenError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text does not start with `SharedAccessSignature `.
    case notASASToken
    /// A field has no `=`.
    case malformedField(String)
    /// A field other than `sr`, `sig`, `se` and `skn`.
    case unknownField(String)
    /// A field appears twice.
    case duplicateField(String)
    /// A required field is missing or empty.
    case missingField(String)
    /// `se` is not a number of seconds.
    case invalidExpiry(String)
    /// A field's percent-encoding is broken.
    case invalidEncoding(String)
    /// The key is not base64 or is empty.
    case invalidKey
    /// The token expired before `now`.
    case expired(expiry: UInt64, now: UInt64)
    /// The signature does not match the key.
    case signatureMismatch
    /// The token grants access to another resource.
    case resourceMismatch(token: String, expected: String)

    public var description: String {
        switch self {
        case .notASASToken: "not a SAS token: it must start with 'SharedAccessSignature '"
        case .malformedField(let field): "SAS token field '\(field)' has no '='"
        case .unknownField(let name): "SAS token has an unknown field '\(name)'; only sr, sig, se and skn are allowed"
        case .duplicateField(let name): "SAS token field '\(name)' appears twice"
        case .missingField(let name): "SAS token lacks the '\(name)' field"
        case .invalidExpiry(let value): "SAS token expiry se='\(value)' is not Unix seconds"
        case .invalidEncoding(let reason): "SAS token is badly URL-encoded: \(reason)"
        case .invalidKey: "the shared access key is not valid base64; copy it again from the connection string"
        case .expired(let expiry, let now):
            "SAS token expired at \(expiry) (now \(now)); create a new token, and check the device clock"
        case .signatureMismatch:
            "SAS token signature does not match the registered key; check the key, or regenerate the token"
        case .resourceMismatch(let token, let expected):
            "SAS token is for '\(token)', not '\(expected)'; sign the token for this device's resource URI"
        }
    }
}

/// Comparison whose duration does not depend on where inputs differ.
enum ConstantTime {
    static func equals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
