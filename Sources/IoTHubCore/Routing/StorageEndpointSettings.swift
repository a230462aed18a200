import IoTHubProtocol

/// A storage endpoint's settings, as IoT Hub names them: where batches go, how they are encoded and named, and
/// when a batch is written (whichever of the frequency and the size comes first).
public struct StorageEndpointSettings: Sendable, Hashable {
    /// The blob container (3 to 63 lowercase letters, digits and single hyphens).
    public var containerName: String
    /// Avro (IoT Hub's default) or JSON lines.
    public var encoding: StorageEncoding
    /// The blob name format, with every one of `{iothub}`, `{partition}`, `{YYYY}`, `{MM}`, `{DD}`, `{HH}`, `{mm}`.
    public var fileNameFormat: StorageFileNameFormat
    /// Seconds between batches (60 to 720; IoT Hub's default is 300).
    public var batchFrequencySeconds: Int
    /// A batch is written early once it holds this many bytes (10 MiB to 500 MiB; IoT Hub's default is 300 MiB).
    public var maxChunkSizeBytes: Int64

    /// IoT Hub's defaults and bounds.
    public static let defaultBatchFrequencySeconds = 300
    public static let defaultMaxChunkSizeBytes: Int64 = 314_572_800
    public static let batchFrequencyRange = 60...720
    public static let maxChunkSizeRange: ClosedRange<Int64> = 10_485_760...524_288_000

    /// Settings with IoT Hub's defaults for what is not given.
    public init(containerName: String, encoding: StorageEncoding = .avro,
                fileNameFormat: StorageFileNameFormat = .default,
                batchFrequencySeconds: Int = Self.defaultBatchFrequencySeconds,
                maxChunkSizeBytes: Int64 = Self.defaultMaxChunkSizeBytes) {
        self.containerName = containerName
        self.encoding = encoding
        self.fileNameFormat = fileNameFormat
        self.batchFrequencySeconds = batchFrequencySeconds
        self.maxChunkSizeBytes = maxChunkSizeBytes
    }

    func validate() throws(HubError) {
        let name = Array(containerName.unicodeScalars)
        let allowed = name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        guard (3...63).contains(name.count), allowed, name.first != "-", name.last != "-", !containerName.contains("--") else {
            throw HubError(.argumentInvalid, "container name '\(containerName)': 3 to 63 lowercase letters, digits and single "
                           + "hyphens, starting and ending with a letter or digit")
        }
        guard Self.batchFrequencyRange.contains(batchFrequencySeconds) else {
            throw HubError(.argumentInvalid, "the batch frequency is 60 to 720 seconds, not \(batchFrequencySeconds)")
        }
        guard Self.maxChunkSizeRange.contains(maxChunkSizeBytes) else {
            throw HubError(.argumentInvalid, "the chunk size is 10485760 to 524288000 bytes, not \(maxChunkSizeBytes)")
        }
    }
}
