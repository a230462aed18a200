import IoTHubProtocol

/// What ``DeviceClient/uploadFile(named:from:options:)-(_,String,_)`` stored.
public struct FileUploadResult: Sendable, Hashable {
    /// The blob's name in the hub's container: `{deviceId}/{name}`.
    public var blobName: String
    /// The hub's correlation id for the upload (the one its notification completed).
    public var correlationId: String
    /// The content's size in bytes.
    public var size: Int64
    /// The SHA-256 of the whole content.
    public var sha256: [UInt8]
    /// Blocks sent in this call.
    public var blocksSent: Int
    /// Blocks the storage already held from an earlier attempt, not sent again.
    public var blocksSkipped: Int

    public init(blobName: String, correlationId: String, size: Int64, sha256: [UInt8], blocksSent: Int,
                blocksSkipped: Int) {
        self.blobName = blobName
        self.correlationId = correlationId
        self.size = size
        self.sha256 = sha256
        self.blocksSent = blocksSent
        self.blocksSkipped = blocksSkipped
    }

    /// ``sha256`` in lower-case hex, as `sha256sum` prints it.
    public var sha256Hex: String { LibCrypto.hexEncode(sha256).lowercased() }
}
