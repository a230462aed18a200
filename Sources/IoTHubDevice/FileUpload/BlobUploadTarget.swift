import IoTHubProtocol

/// Where the hub says to put a blob: its answer to `POST /devices/{id}/files`
/// (`{"correlationId","hostName","containerName","blobName","sasToken"}`), and the storage URLs built from it.
struct BlobUploadTarget: Sendable, Hashable {
    var correlationId: String
    /// The storage host, possibly with a port (`localhost:10443`).
    var hostName: String
    var containerName: String
    /// The blob's name in the container (`{deviceId}/{name}`).
    var blobName: String
    /// The SAS query, starting with `?`.
    var sasToken: String

    /// Parses the hub's answer.
    /// - Throws: ``FileUploadError/hubRefused(_:status:message:)`` when a member is missing.
    init(parsing body: [UInt8]) throws(FileUploadError) {
        guard let object = (try? JSONValue(parsing: body))?.objectValue else {
            throw .hubRefused("POST /files", status: 200,
                              message: "the answer is not a JSON object: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        func member(_ key: String) throws(FileUploadError) -> String {
            guard let value = object[key]?.stringValue, !value.isEmpty else {
                throw .hubRefused("POST /files", status: 200, message: "the answer has no '\(key)'")
            }
            return value
        }
        self.init(correlationId: try member("correlationId"), hostName: try member("hostName"),
                  containerName: try member("containerName"), blobName: try member("blobName"),
                  sasToken: try member("sasToken"))
    }

    init(correlationId: String, hostName: String, containerName: String, blobName: String, sasToken: String) {
        self.correlationId = correlationId
        self.hostName = hostName
        self.containerName = containerName
        self.blobName = blobName
        self.sasToken = sasToken.hasPrefix("?") || sasToken.isEmpty ? sasToken : "?" + sasToken
    }

    /// `https://{hostName}/{containerName}/{blobName}{sasToken}`, then `&` and `query` when given.
    func url(_ query: String? = nil) -> String {
        var url = "https://\(hostName)/\(PercentEncoding.encode(containerName))/"
            + PercentEncoding.encode(blobName, safe: "/") + sasToken
        if let query { url += (sasToken.isEmpty ? "?" : "&") + query }
        return url
    }

    /// The SAS's expiry (`se`), seconds since 1970; `nil` when the token has none the SDK can read.
    var expiry: Int64? {
        let query = sasToken.hasPrefix("?") ? Substring(sasToken.dropFirst()) : Substring(sasToken)
        for field in query.split(separator: "&") where field.hasPrefix("se=") {
            let text = PercentEncoding.decodeLenient(field.dropFirst(3))
            return Timestamp(iso8601: text)?.secondsSince1970
        }
        return nil
    }

    /// Whether the SAS expires within `margin` seconds of `now` (an unknown expiry counts as valid: the storage
    /// will say).
    func sasExpires(now: Int64, margin: Int64 = 60) -> Bool {
        guard let expiry else { return false }
        return expiry <= now + margin
    }
}
