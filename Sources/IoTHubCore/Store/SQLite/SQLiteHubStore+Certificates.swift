import Foundation

extension SQLiteHubStore {
    public func caCertificates() async throws -> [CACertificateRecord] {
        try await executor.read { db in
            try db.query("""
                SELECT name, pem, subject, thumbprint, expiry_ms, verified, verification_code, etag, created_ms, updated_ms
                FROM ca_certificates ORDER BY name
                """).map { row in
                CACertificateRecord(
                    name: row[0].text ?? "", pem: row[1].text ?? "", subject: row[2].text ?? "", thumbprint: row[3].text ?? "",
                    expiry: Date(milliseconds: row[4].integer ?? 0), isVerified: (row[5].integer ?? 0) != 0,
                    verificationCode: row[6].text, etag: row[7].text ?? "",
                    created: Date(milliseconds: row[8].integer ?? 0), updated: Date(milliseconds: row[9].integer ?? 0))
            }
        }
    }

    public func saveCACertificate(_ record: CACertificateRecord, condition: ETagCondition) async throws -> CACertificateRecord {
        try await executor.write { db in
            if let current = try db.query("SELECT etag FROM ca_certificates WHERE name = ?", [.text(record.name)]).first {
                try condition.check(current[0].text ?? "")
            } else if case .matches = condition {
                throw HubError(.certificateNotFound, "no CA certificate named '\(record.name)'")
            }
            try db.query("""
                INSERT OR REPLACE INTO ca_certificates
                    (name, pem, subject, thumbprint, expiry_ms, verified, verification_code, etag, created_ms, updated_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(record.name), .text(record.pem), .text(record.subject), .text(record.thumbprint),
                      .integer(record.expiry.milliseconds), .integer(record.isVerified ? 1 : 0),
                      .optionalText(record.verificationCode), .text(record.etag), .integer(record.created.milliseconds),
                      .integer(record.updated.milliseconds)])
            return record
        }
    }

    public func deleteCACertificate(named name: String, condition: ETagCondition) async throws {
        try await executor.write { db in
            guard let current = try db.query("SELECT etag FROM ca_certificates WHERE name = ?", [.text(name)]).first else {
                throw HubError(.certificateNotFound, "no CA certificate named '\(name)'")
            }
            try condition.check(current[0].text ?? "")
            try db.query("DELETE FROM ca_certificates WHERE name = ?", [.text(name)])
        }
    }
}
