/// A blob service SAS, as Azure Storage issues and checks it: the query string of a blob URL that grants one blob
/// for a time (`?sv=…&st=…&se=…&sr=b&sp=rw&sig=…`).
///
/// The signature is HMAC-SHA256, keyed with the storage account key, over
/// `sp \n st \n se \n /blob/{account}/{container}/{blob} \n si \n sip \n spr \n sv \n sr \n snapshot \n ses \n rscc
/// \n rscd \n rsce \n rscl \n rsct` (the string Azure Storage signs from version 2020-12-06 on). Because the blob's
/// path is signed, a SAS used for another blob fails its signature check.
///
/// ```swift
/// let sas = BlobServiceSAS.sign(account: "iothub", container: "uploads", blob: "d1/log.txt",
///                               permissions: [.read, .write], expiry: Timestamp(secondsSince1970: 1_900_000_000),
///                               key: accountKey)
/// let url = "https://storage.local/uploads/d1/log.txt" + sas.queryString
/// let parsed = try BlobServiceSAS(query: Substring(sas.queryString.dropFirst()))
/// try parsed.verify(account: "iothub", container: "uploads", blob: "d1/log.txt", key: accountKey,
///                   now: Timestamp(secondsSince1970: 1_800_000_000), requires: [.write])
/// ```
public struct BlobServiceSAS: Sendable, Hashable {
    /// The storage service version the hub signs with (`sv`).
    public static let version = "2021-08-06"

    /// `sv`.
    public var signedVersion: String
    /// `sr`: `b` for a blob, `c` for a container.
    public var signedResource: String
    /// `sp`, as it appears (the letters are signed in their order).
    public var permissionsText: String
    /// `st`, when present.
    public var startText: String?
    /// `se`.
    public var expiryText: String
    /// `spr`, when present (`https` or `https,http`).
    public var protocolText: String?
    /// `sig`: base64 text.
    public var signature: String
    /// Fields signed as empty by this hub when absent but kept when a client sends them: `si`, `sip`, `ses` and the
    /// response overrides `rscc`, `rscd`, `rsce`, `rscl`, `rsct`.
    public var otherSignedFields: [String: String]

    /// The permissions `sp` grants; letters this hub does not know are ignored.
    public var permissions: BlobSASPermissions { BlobSASPermissions(letters: permissionsText) }

    /// Signs a SAS for one blob.
    public static func sign(account: String, container: String, blob: String, permissions: BlobSASPermissions,
                            expiry: Timestamp, start: Timestamp? = nil, key: SharedAccessKey) -> BlobServiceSAS
    {
        var sas = BlobServiceSAS(signedVersion: version, signedResource: "b", permissionsText: permissions.letters,
                                 startText: start.map(Self.format), expiryText: Self.format(expiry), protocolText: "https,http",
                                 signature: "", otherSignedFields: [:])
        sas.signature = key.sign(sas.stringToSign(account: account, container: container, blob: blob))
        return sas
    }

    /// The query string to append to the blob URL, starting with `?`; values percent-encoded as Azure does.
    public var queryString: String {
        var fields = [("sv", signedVersion)]
        if let startText { fields.append(("st", startText)) }
        fields.append(("se", expiryText))
        fields.append(("sr", signedResource))
        fields.append(("sp", permissionsText))
        if let protocolText { fields.append(("spr", protocolText)) }
        fields.append(("sig", signature))
        return "?" + fields.map { $0.0 + "=" + PercentEncoding.encode($0.1) }.joined(separator: "&")
    }

    /// Reads a SAS from a URL's query (without the `?`). Parameters that are not SAS fields (`comp`, `blockid`, …)
    /// are ignored.
    /// - Throws: ``BlobSASError/missing(_:)`` when a required field is absent, ``BlobSASError/malformed(_:)`` when a
    ///   value is not percent-encoded properly.
    public init(query: Substring) throws(BlobSASError) {
        var fields: [String: String] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: "=") ?? pair.endIndex
            let name = String(pair[..<equals])
            guard Self.signedFieldNames.contains(name) else { continue }
            let raw = equals == pair.endIndex ? Substring() : pair[pair.index(after: equals)...]
            do { fields[name] = try PercentEncoding.decode(raw) } catch { throw .malformed(name) }
        }
        guard let version = fields["sv"] else { throw .missing("sv") }
        guard let resource = fields["sr"] else { throw .missing("sr") }
        guard let permissions = fields["sp"] else { throw .missing("sp") }
        guard let expiry = fields["se"] else { throw .missing("se") }
        guard let signature = fields["sig"] else { throw .missing("sig") }
        var others = fields
        for name in ["sv", "sr", "sp", "st", "se", "spr", "sig"] { others[name] = nil }
        self.init(signedVersion: version, signedResource: resource, permissionsText: permissions, startText: fields["st"],
                  expiryText: expiry, protocolText: fields["spr"], signature: signature, otherSignedFields: others)
    }

    /// Whether a URL query carries SAS fields at all (`sig` or `sv`), to tell an anonymous request from a bad SAS.
    public static func isPresent(in query: Substring) -> Bool {
        query.split(separator: "&").contains { $0.hasPrefix("sig=") || $0.hasPrefix("sv=") }
    }

    /// Checks the SAS for an operation on `blob`: signature (constant time), `sr`, `sp`, `st`, `se` and `spr`.
    /// - Throws: the ``BlobSASError`` Azure Storage would answer with.
    public func verify(account: String, container: String, blob: String, key: SharedAccessKey, now: Timestamp,
                       requires needed: BlobSASPermissions, overHTTPS: Bool = true) throws(BlobSASError)
    {
        let expected = key.sign(stringToSign(account: account, container: container, blob: blob))
        guard ConstantTime.equals(Array(expected.utf8), Array(signature.utf8)) else { throw .signatureMismatch }
        guard let expiry = Timestamp(iso8601: expiryText) else { throw .malformed("se") }
        if let startText {
            guard let start = Timestamp(iso8601: startText) else { throw .malformed("st") }
            guard start <= now else { throw .notYetValid(start: startText) }
        }
        guard now < expiry else { throw .expired(expiry: expiryText) }
        guard signedResource == "b" || signedResource == "c" else { throw .resourceTypeMismatch(signedResource) }
        if let protocolText, protocolText == "https", !overHTTPS { throw .protocolNotAllowed }
        guard permissions.isSuperset(of: needed) else {
            throw .permissionMismatch(granted: permissionsText, needed: needed.letters)
        }
    }

    /// The string this SAS signs for `blob`.
    public func stringToSign(account: String, container: String, blob: String) -> String {
        let resource = signedResource == "c" ? "/blob/\(account)/\(container)" : "/blob/\(account)/\(container)/\(blob)"
        func other(_ name: String) -> String { otherSignedFields[name] ?? "" }
        return [permissionsText, startText ?? "", expiryText, resource, other("si"), other("sip"), protocolText ?? "",
                signedVersion, signedResource, other("snapshot"), other("ses"), other("rscc"), other("rscd"),
                other("rsce"), other("rscl"), other("rsct")].joined(separator: "\n")
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, the form Azure Storage writes `st` and `se` in.
    public static func format(_ time: Timestamp) -> String {
        let text = Timestamp(secondsSince1970: time.secondsSince1970).iso8601
        return String(text.prefix(19)) + "Z"
    }

    static let signedFieldNames: Set<String> = [
        "sv", "sr", "sp", "st", "se", "spr", "sig", "si", "sip", "ses", "snapshot", "rscc", "rscd", "rsce", "rscl", "rsct",
    ]

    init(signedVersion: String, signedResource: String, permissionsText: String, startText: String?, expiryText: String,
         protocolText: String?, signature: String, otherSignedFields: [String: String])
    {
        self.signedVersion = signedVersion
        self.signedResource = signedResource
        self.permissionsText = permissionsText
        self.startText = startText
        self.expiryText = expiryText
        self.protocolText = protocolText
        self.signature = signature
        self.otherSignedFields = otherSignedFields
    }
}

/// What a blob SAS grants (`sp`), in Azure's letters: `r` read, `a` add, `c` create, `w` write, `d` delete.
public struct BlobSASPermissions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `r`: Get Blob, Get Blob Properties, Get Block List.
    public static let read = BlobSASPermissions(rawValue: 1)
    /// `a`: append (accepted, not needed by block blobs).
    public static let add = BlobSASPermissions(rawValue: 2)
    /// `c`: create a new blob.
    public static let create = BlobSASPermissions(rawValue: 4)
    /// `w`: Put Blob, Put Block, Put Block List.
    public static let write = BlobSASPermissions(rawValue: 8)
    /// `d`: Delete Blob.
    public static let delete = BlobSASPermissions(rawValue: 16)

    private static let order: [(Character, BlobSASPermissions)] = [
        ("r", .read), ("a", .add), ("c", .create), ("w", .write), ("d", .delete),
    ]

    /// Parses `sp` letters.
    public init(letters: String) {
        var value = BlobSASPermissions()
        for letter in letters {
            if let match = Self.order.first(where: { $0.0 == letter }) { value.insert(match.1) }
        }
        self = value
    }

    /// The letters in Azure's canonical order (`racwd`).
    public var letters: String { String(Self.order.filter { contains($0.1) }.map(\.0)) }
}

/// Why a blob SAS is refused, with the Azure Storage error it answers as.
public enum BlobSASError: Error, Sendable, Hashable, CustomStringConvertible {
    case missing(String)
    case malformed(String)
    case signatureMismatch
    case expired(expiry: String)
    case notYetValid(start: String)
    case resourceTypeMismatch(String)
    case permissionMismatch(granted: String, needed: String)
    case protocolNotAllowed

    /// The storage error this refusal is answered with.
    public var storageError: StorageErrorCode {
        switch self {
        case .permissionMismatch: .authorizationPermissionMismatch
        case .resourceTypeMismatch: .authorizationResourceTypeMismatch
        case .protocolNotAllowed: .authorizationProtocolMismatch
        default: .authenticationFailed
        }
    }

    public var description: String {
        switch self {
        case .missing(let field): "the SAS has no '\(field)' field; ask the hub for a new SAS URI"
        case .malformed(let field): "the SAS field '\(field)' is malformed; use the SAS exactly as the hub issued it"
        case .signatureMismatch:
            "Signature did not match: the SAS was altered or issued for another blob; ask the hub for a SAS URI for this blob"
        case .expired(let expiry): "Signed expiry time [\(expiry)] has passed; ask the hub for a new SAS URI"
        case .notYetValid(let start): "the SAS is valid only from \(start)"
        case .resourceTypeMismatch(let resource): "the SAS resource type '\(resource)' does not grant blob access"
        case .permissionMismatch(let granted, let needed):
            "This request is not authorized to perform this operation using this permission: the SAS grants '\(granted)', the operation needs '\(needed)'"
        case .protocolNotAllowed: "the SAS allows HTTPS only"
        }
    }
}
