import Foundation

/// The HTTP properties Azure Storage keeps with a blob (`x-ms-blob-content-*` on upload, the plain headers on
/// download) and its metadata (`x-ms-meta-*`).
public struct BlobProperties: Sendable, Hashable, Codable {
    public var contentType: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var contentDisposition: String?
    public var cacheControl: String?
    /// Base64 MD5 of the whole blob.
    public var contentMD5: String?
    public var metadata: [String: String]

    public init(contentType: String? = nil, contentEncoding: String? = nil, contentLanguage: String? = nil,
                contentDisposition: String? = nil, cacheControl: String? = nil, contentMD5: String? = nil,
                metadata: [String: String] = [:])
    {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.contentLanguage = contentLanguage
        self.contentDisposition = contentDisposition
        self.cacheControl = cacheControl
        self.contentMD5 = contentMD5
        self.metadata = metadata
    }
}

/// What a committed blob is: its name, size, properties, committed blocks and version (`ETag`, last change).
public struct BlobManifest: Sendable, Hashable, Codable {
    /// One committed block.
    public struct Block: Sendable, Hashable, Codable {
        public var id: String
        public var size: Int64
    }

    public var name: String
    public var size: Int64
    public var properties: BlobProperties
    /// The committed block list; empty for a blob written with Put Blob.
    public var blocks: [Block]
    /// A quoted ETag, new with every commit.
    public var etag: String
    /// Milliseconds since 1970.
    public var lastModifiedMilliseconds: Int64

    public var lastModified: Date { Date(milliseconds: lastModifiedMilliseconds) }

    init(name: String, properties: BlobProperties, size: Int64, blocks: [Block], now: Date = Date()) {
        self.name = name
        self.size = size
        self.properties = properties
        self.blocks = blocks
        lastModifiedMilliseconds = now.milliseconds
        etag = "\"0x" + String(UInt64(lastModifiedMilliseconds) &* 10_000 &+ UInt64.random(in: 0..<10_000), radix: 16,
                                uppercase: true) + "\""
    }
}
