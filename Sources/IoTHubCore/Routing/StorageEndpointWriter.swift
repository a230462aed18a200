import Foundation
import IoTHubProtocol
import Logging

/// Writes storage endpoints' batches: the routed messages waiting in each endpoint's outbox (the durable routing
/// log) become blobs in the hub's blob store, a blob per partition, encoded and named as the endpoint says, once
/// the oldest has waited the batch frequency or the outbox holds a chunk's worth. A batch leaves the outbox only
/// after its blobs are committed, so a crash writes it again (at least once) and never loses it.
///
/// ``flush(now:force:)`` does one round; ``RoutingMaintenance`` calls it every few seconds, tests with the time
/// they choose.
public final class StorageEndpointWriter: Sendable {
    let routing: RoutingService
    let store: any HubStore
    let blobs: BlobStorage?
    let logger: Logger
    let metrics: HubMetrics?
    /// The most messages read from an outbox at a time.
    let pageSize: Int

    /// - Parameter blobs: the hub's blob store; `nil` for a hub without storage (batches then wait, with an error
    ///   logged, until the hub runs with storage).
    public init(routing: RoutingService, store: any HubStore, blobs: BlobStorage?, logger: Logger,
                metrics: HubMetrics? = nil, pageSize: Int = 5000) {
        self.routing = routing
        self.store = store
        self.blobs = blobs
        self.logger = logger
        self.metrics = metrics
        self.pageSize = pageSize
    }

    /// Writes every batch that is due at `now` (or every waiting message, with `force`).
    /// - Returns: the blobs written.
    @discardableResult
    public func flush(now: Date = Date(), force: Bool = false) async throws -> [String] {
        var written: [String] = []
        for endpoint in routing.configuration.endpoints {
            guard case .storage(let settings) = endpoint.kind else { continue }
            while let summary = try await store.outboxSummary(endpoint: endpoint.name) {
                let age = now.timeIntervalSince1970 - Double(summary.oldestMilliseconds) / 1000
                guard force || summary.bytes >= settings.maxChunkSizeBytes || age >= Double(settings.batchFrequencySeconds) else { break }
                guard let blobs else {
                    logger.error("a storage endpoint has messages but the hub runs without storage; start it with storage enabled",
                                 metadata: ["endpoint": "\(endpoint.name)", "messages": "\(summary.messages)"])
                    break
                }
                let names = try await writeBatch(endpoint.name, settings, into: blobs)
                written += names
                if names.isEmpty { break }
            }
        }
        return written
    }

    /// Writes one batch (at most a chunk, at most a page) of an endpoint's outbox and removes it.
    private func writeBatch(_ endpoint: String, _ settings: StorageEndpointSettings, into blobs: BlobStorage) async throws -> [String] {
        let messages = try await store.outbox(endpoint: endpoint, limit: pageSize)
        guard !messages.isEmpty else { return [] }
        var batch: [OutboxMessage] = []
        var bytes: Int64 = 0
        for message in messages {
            batch.append(message)
            bytes += message.size
            if bytes >= settings.maxChunkSizeBytes { break }
        }
        var names: [String] = []
        for (partition, group) in Dictionary(grouping: batch, by: \.partition).sorted(by: { $0.key < $1.key }) {
            let encoded = StorageBatchEncoder.encode(group.map(Self.storageMessage), as: settings.encoding,
                                                     syncMarker: Self.randomSyncMarker())
            let first = Date(milliseconds: group[0].enqueuedMilliseconds)
            let name = try await uniqueName(settings, partition: partition, time: first, in: blobs)
            try await write(encoded, container: settings.containerName, blob: name, encoding: settings.encoding, to: blobs)
            names.append(name)
            metrics?.storageBatchWritten(endpoint: endpoint, messages: group.count, bytes: encoded.count)
            logger.debug("storage endpoint wrote a batch", metadata: [
                "endpoint": "\(endpoint)", "blob": "\(settings.containerName)/\(name)", "messages": "\(group.count)"])
        }
        try await store.removeFromOutbox(endpoint: endpoint, through: batch[batch.count - 1].id)
        return names
    }

    /// The endpoint's blob name for the batch; when a blob of that name exists (several batches in one minute,
    /// or a batch written again after a crash), `_1`, `_2`, … is appended.
    private func uniqueName(_ settings: StorageEndpointSettings, partition: Int, time: Date, in blobs: BlobStorage) async throws -> String {
        let base = try settings.fileNameFormat.blobName(iotHub: routing.hubName, partition: partition,
                                                        time: Timestamps.timestamp(time))
        var name = base
        var suffix = 0
        while blobs.committedBlobExists(container: settings.containerName, blob: name) {
            suffix += 1
            name = base + "_\(suffix)"
        }
        return name
    }

    private func write(_ bytes: [UInt8], container: String, blob: String, encoding: StorageEncoding, to blobs: BlobStorage) async throws {
        let staging = try blobs.stagingFile()
        // (A typed-throws closure here crashes the 6.3 compiler's IR generation; the error is caught instead.)
        let failure: (any Error)? = bytes.withUnsafeBytes { buffer -> (any Error)? in
            do { try staging.write(buffer) } catch { return error }
            return nil
        }
        if let failure {
            staging.discard()
            throw failure
        }
        let type = encoding == .avro ? "avro/binary" : "application/json"
        _ = try await blobs.putBlob(container: container, blob: blob, from: staging,
                                    properties: BlobProperties(contentType: type, contentEncoding: "utf-8"))
    }

    static func storageMessage(_ message: OutboxMessage) -> RoutedStorageMessage {
        let enqueued = message.system["iothub-enqueuedtime"]
            ?? Timestamps.iso8601(Date(milliseconds: message.enqueuedMilliseconds))
        return RoutedStorageMessage(
            enqueuedTimeUtc: enqueued,
            properties: message.properties.sorted { $0.key < $1.key }.map { StorageProperty($0.key, $0.value) },
            systemProperties: message.system.sorted { $0.key < $1.key }.map { StorageProperty($0.key, $0.value) },
            body: message.body)
    }

    static func randomSyncMarker() -> AvroSyncMarker {
        var generator = SystemRandomNumberGenerator()
        // 16 bytes are always a valid marker.
        return try! AvroSyncMarker((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}
