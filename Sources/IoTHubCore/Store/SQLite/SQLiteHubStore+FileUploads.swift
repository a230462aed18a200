import Foundation
import IoTHubProtocol

extension SQLiteHubStore {
    static let fileUploadColumns = """
        correlation_id, device_id, blob_name, created_ms, expiry_ms, notified_ms, is_success, status_code,
        status_description, blob_size, blob_updated_ms, delivery, seq
        """

    static func fileUpload(_ row: [SQLiteValue]) -> FileUploadRecord {
        var outcome: FileUploadRecord.Outcome?
        if let notified = row[5].integer {
            outcome = .init(isSuccess: (row[6].integer ?? 0) != 0, statusCode: Int(row[7].integer ?? 0),
                            statusDescription: row[8].text ?? "", notified: Date(milliseconds: notified))
        }
        return FileUploadRecord(
            correlationId: row[0].text ?? "", deviceId: row[1].text ?? "", blobName: row[2].text ?? "",
            created: Date(milliseconds: row[3].integer ?? 0), expiry: Date(milliseconds: row[4].integer ?? 0),
            outcome: outcome, blobSize: row[9].integer, blobUpdated: row[10].integer.map(Date.init(milliseconds:)),
            delivery: FileUploadRecord.Delivery(rawValue: row[11].text ?? "") ?? .none, sequenceNumber: row[12].integer ?? 0)
    }

    public func beginFileUpload(_ record: FileUploadRecord, maximumActive: Int) async throws -> FileUploadRecord {
        try await executor.write { db in
            let active = try db.query("""
                SELECT COUNT(*) FROM file_uploads WHERE device_id = ? AND notified_ms IS NULL AND expiry_ms > ?
                """, [.text(record.deviceId), .integer(record.created.milliseconds)]).first?.first?.integer ?? 0
            guard active < maximumActive else {
                throw HubError(.deviceMaximumActiveFileUploadLimitExceeded,
                               "device '\(record.deviceId)' already has \(active) file uploads in progress (at most \(maximumActive)); notify the hub of finished uploads (POST /devices/\(record.deviceId)/files/notifications) or wait for their SAS URIs to expire")
            }
            try db.query("""
                INSERT INTO file_uploads (correlation_id, device_id, blob_name, created_ms, expiry_ms, delivery)
                VALUES (?, ?, ?, ?, ?, 'none')
                """, [.text(record.correlationId), .text(record.deviceId), .text(record.blobName),
                      .integer(record.created.milliseconds), .integer(record.expiry.milliseconds)])
            var saved = record
            saved.sequenceNumber = try db.query("SELECT last_insert_rowid()").first?.first?.integer ?? 0
            return saved
        }
    }

    public func finishFileUpload(correlationId: String, deviceId: String, outcome: FileUploadRecord.Outcome,
                                 blob: (size: Int64, updated: Date)?) async throws -> FileUploadRecord
    {
        try await executor.write { db in
            guard let row = try db.query("SELECT \(Self.fileUploadColumns) FROM file_uploads WHERE correlation_id = ?",
                                         [.text(correlationId)]).first,
                  row[1].text == deviceId
            else {
                throw HubError(.argumentInvalid, "no file upload with correlationId '\(correlationId)' for device '\(deviceId)'; report the correlationId the hub returned from POST /devices/\(deviceId)/files")
            }
            var record = Self.fileUpload(row)
            if let previous = record.outcome {
                // A device that retries its notification gets the same answer; the first report stands.
                guard previous.isSuccess == outcome.isSuccess else {
                    throw HubError(.preconditionFailed, "the upload '\(correlationId)' was already reported as \(previous.isSuccess ? "succeeded" : "failed")")
                }
                return record
            }
            record.outcome = outcome
            record.blobSize = blob?.size
            record.blobUpdated = blob?.updated
            record.delivery = outcome.isSuccess && blob != nil ? .pending : .none
            try db.query("""
                UPDATE file_uploads SET notified_ms = ?, is_success = ?, status_code = ?, status_description = ?,
                    blob_size = ?, blob_updated_ms = ?, delivery = ? WHERE correlation_id = ?
                """, [.integer(outcome.notified.milliseconds), .integer(outcome.isSuccess ? 1 : 0),
                      .integer(Int64(outcome.statusCode)), .text(outcome.statusDescription),
                      blob.map { .integer($0.size) } ?? .null, blob.map { .integer($0.updated.milliseconds) } ?? .null,
                      .text(record.delivery.rawValue), .text(correlationId)])
            return record
        }
    }

    public func fileUpload(correlationId: String) async throws -> FileUploadRecord? {
        try await executor.read { db in
            try db.query("SELECT \(Self.fileUploadColumns) FROM file_uploads WHERE correlation_id = ?",
                         [.text(correlationId)]).first.map(Self.fileUpload)
        }
    }

    public func fileUploads(deviceId: String?, after sequenceNumber: Int64, limit: Int) async throws -> [FileUploadRecord] {
        try await executor.read { db in
            if let deviceId {
                return try db.query("""
                    SELECT \(Self.fileUploadColumns) FROM file_uploads WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?
                    """, [.text(deviceId), .integer(sequenceNumber), .integer(Int64(limit))]).map(Self.fileUpload)
            }
            return try db.query("SELECT \(Self.fileUploadColumns) FROM file_uploads WHERE seq > ? ORDER BY seq LIMIT ?",
                                [.integer(sequenceNumber), .integer(Int64(limit))]).map(Self.fileUpload)
        }
    }

    public func pendingFileNotifications(excluding taken: Set<String>, limit: Int) async throws -> [FileUploadRecord] {
        try await executor.read { db in
            // Few are ever taken at once (one batch per attached link), so filtering here is cheap.
            try db.query("""
                SELECT \(Self.fileUploadColumns) FROM file_uploads WHERE delivery = 'pending' ORDER BY notified_ms, seq LIMIT ?
                """, [.integer(Int64(limit + taken.count))]).map(Self.fileUpload)
                .filter { !taken.contains($0.correlationId) }.prefix(limit).map { $0 }
        }
    }

    public func markFileNotificationsDelivered(_ correlationIds: [String]) async throws {
        guard !correlationIds.isEmpty else { return }
        try await executor.write { db in
            for id in correlationIds {
                try db.query("UPDATE file_uploads SET delivery = 'delivered' WHERE correlation_id = ? AND delivery = 'pending'",
                             [.text(id)])
            }
        }
    }
}
