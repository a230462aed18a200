import Foundation
import IoTHubProtocol

extension SQLiteHubStore {
    static let c2dColumns = "id, device_id, module_id, lock_token, enqueued_ms, expiry_ms, delivery_count, ack, body, properties, system"

    static func envelope(from row: [SQLiteValue]) -> CloudToDeviceEnvelope {
        let moduleId = row[2].text ?? ""
        return CloudToDeviceEnvelope(
            identity: DeviceIdentity(deviceId: row[1].text ?? "", moduleId: moduleId.isEmpty ? nil : moduleId),
            message: IoTHubMessage(body: row[8].bytes ?? [], properties: PropertyCoding.decode(row[9].text),
                                   systemProperties: PropertyCoding.decodeSystem(row[10].text)),
            enqueuedTime: Date(milliseconds: row[4].integer ?? 0), expiryTime: Date(milliseconds: row[5].integer ?? 0),
            deliveryCount: Int(row[6].integer ?? 0), lockToken: row[3].text,
            acknowledgement: C2DAcknowledgement(rawValue: row[7].text ?? "") ?? .none)
    }

    public func enqueueCloudToDevice(_ envelope: CloudToDeviceEnvelope, limit: Int) async throws {
        try await executor.write { db in
            guard try Self.loadDevice(db, envelope.identity) != nil else { throw HubError.deviceNotFound(envelope.identity) }
            let pending = try db.query("SELECT COUNT(*) FROM c2d WHERE device_id = ? AND module_id = ?",
                                       Self.key(envelope.identity))[0][0].integer ?? 0
            guard pending < limit else {
                throw HubError(.deviceMaximumQueueDepthExceeded,
                               "device '\(envelope.identity.clientId)' already has \(pending) pending cloud-to-device messages (limit \(limit)); wait for it to receive them")
            }
            try db.query("""
                INSERT INTO c2d (device_id, module_id, lock_token, locked_until_ms, enqueued_ms, expiry_ms, delivery_count,
                                 ack, body, properties, system)
                VALUES (?, ?, NULL, NULL, ?, ?, 0, ?, ?, ?, ?)
                """, Self.key(envelope.identity) + [
                    .integer(envelope.enqueuedTime.milliseconds), .integer(envelope.expiryTime.milliseconds),
                    .text(envelope.acknowledgement.rawValue), .blob(envelope.message.body),
                    .text(PropertyCoding.encode(envelope.message.properties)),
                    .text(PropertyCoding.encodeSystem(envelope.message.systemProperties)),
                ])
        }
    }

    public func lockCloudToDevice(_ identity: DeviceIdentity, now: Date, lockDuration: TimeInterval, maximum: Int,
                                  maximumDeliveryCount: Int) async throws
        -> (locked: [CloudToDeviceEnvelope], deadLettered: [(CloudToDeviceEnvelope, C2DFeedbackStatus)])
    {
        try await executor.write { db in
            let nowMs = now.milliseconds
            let rows = try db.query("""
                SELECT \(Self.c2dColumns) FROM c2d
                WHERE device_id = ? AND module_id = ? AND (lock_token IS NULL OR locked_until_ms <= ?)
                ORDER BY id
                """, Self.key(identity) + [.integer(nowMs)])
            var locked: [CloudToDeviceEnvelope] = []
            var dead: [(CloudToDeviceEnvelope, C2DFeedbackStatus)] = []
            for row in rows {
                guard locked.count < maximum else { break }
                let id = row[0]
                var envelope = Self.envelope(from: row)
                if envelope.expiryTime <= now {
                    dead.append((envelope, .expired))
                    try db.query("DELETE FROM c2d WHERE id = ?", [id])
                } else if envelope.deliveryCount >= maximumDeliveryCount {
                    dead.append((envelope, .deliveryCountExceeded))
                    try db.query("DELETE FROM c2d WHERE id = ?", [id])
                } else {
                    envelope.deliveryCount += 1
                    let token = UUID().uuidString.lowercased()
                    envelope.lockToken = token
                    try db.query("UPDATE c2d SET lock_token = ?, locked_until_ms = ?, delivery_count = ? WHERE id = ?",
                                 [.text(token), .integer(nowMs + Int64(lockDuration * 1000)),
                                  .integer(Int64(envelope.deliveryCount)), id])
                    locked.append(envelope)
                }
            }
            return (locked, dead)
        }
    }

    public func settleCloudToDevice(_ identity: DeviceIdentity, lockToken: String, disposition: C2DDisposition) async throws
        -> CloudToDeviceEnvelope
    {
        try await executor.write { db in
            guard let row = try db.query("SELECT \(Self.c2dColumns) FROM c2d WHERE lock_token = ? AND device_id = ? AND module_id = ?",
                                         [.text(lockToken)] + Self.key(identity)).first else {
                throw HubError(.deviceMessageLockLost, "no locked cloud-to-device message has lock token '\(lockToken)'; its lock may have expired")
            }
            switch disposition {
            case .complete, .reject:
                try db.query("DELETE FROM c2d WHERE id = ?", [row[0]])
            case .abandon:
                try db.query("UPDATE c2d SET lock_token = NULL, locked_until_ms = NULL WHERE id = ?", [row[0]])
            }
            return Self.envelope(from: row)
        }
    }

    public func releaseCloudToDeviceLocks(_ identity: DeviceIdentity) async throws {
        _ = try await executor.write { db in
            try db.query("UPDATE c2d SET lock_token = NULL, locked_until_ms = NULL WHERE device_id = ? AND module_id = ?",
                         Self.key(identity))
        }
    }

    public func pendingCloudToDeviceCount(_ identity: DeviceIdentity) async throws -> Int {
        try await executor.read { db in
            Int(try db.query("SELECT COUNT(*) FROM c2d WHERE device_id = ? AND module_id = ?", Self.key(identity))[0][0].integer ?? 0)
        }
    }

    public func purgeCloudToDevice(_ identity: DeviceIdentity) async throws -> [CloudToDeviceEnvelope] {
        try await executor.write { db in
            let rows = try db.query("SELECT \(Self.c2dColumns) FROM c2d WHERE device_id = ? AND module_id = ? ORDER BY id",
                                    Self.key(identity))
            try db.query("DELETE FROM c2d WHERE device_id = ? AND module_id = ?", Self.key(identity))
            return rows.map(Self.envelope(from:))
        }
    }
}
