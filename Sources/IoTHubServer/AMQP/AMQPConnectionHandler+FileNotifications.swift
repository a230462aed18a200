import CProton
import Foundation
import IoTHubProtocol
import Logging

/// File-upload notifications on `/messages/servicebound/filenotifications`: one JSON message per successful
/// upload (`deviceId`, `blobUri`, `blobName`, `lastUpdatedTime`, `blobSizeInBytes`, `enqueuedTimeUtc`), sent
/// unsettled; accepted marks it delivered, any other outcome (or a detach) puts it back for the next receiver.
extension AMQPConnectionHandler {
    /// Fetches as many pending notifications as each attached link has credit for, and sends them.
    func sendFileNotifications() {
        guard let uploads = services.fileUploads else { return }
        for link in links.values where link.role == .serviceFileNotifications && !link.closed && !link.fetchingNotifications {
            let credit = Int(pn_link_credit(link.link)) - link.fileNotifications.count
            guard credit > 0 else { continue }
            link.fetchingNotifications = true
            perform({ try await uploads.takeNotifications(maximum: min(credit, 100)) }) { [self] result in
                link.fetchingNotifications = false
                guard case .success(let records) = result else {
                    if case .failure(let error) = result {
                        logger.warning("reading file notifications failed", metadata: ["error": "\(error)"])
                    }
                    return
                }
                guard !link.closed else { return releaseFileNotifications(records.map(\.correlationId)) }
                for record in records {
                    var message = AMQPMessage(body: uploads.notificationJSON(record))
                    message.messageId = .string(UUID().uuidString.lowercased())
                    message.contentType = "application/json"
                    message.contentEncoding = "utf-8"
                    message.to = "/messages/servicebound/filenotifications"
                    let tag = send(message, on: link, settled: false)
                    link.fileNotifications[tag] = record.correlationId
                }
            }
        }
    }

    func fileNotificationSettled(_ delivery: OpaquePointer, outcome: UInt64, on link: AMQPLink) {
        let correlationId = Self.tag(of: delivery).flatMap { link.fileNotifications.removeValue(forKey: $0) }
        pn_delivery_settle(delivery)
        if let correlationId, let uploads = services.fileUploads {
            let accepted = outcome == UInt64(PN_ACCEPTED)
            Task { await uploads.settleNotification(correlationId, accepted: accepted) }
        }
        sendFileNotifications()
    }

    func releaseFileNotifications(_ correlationIds: [String]) {
        guard let uploads = services.fileUploads, !correlationIds.isEmpty else { return }
        Task {
            for id in correlationIds { await uploads.settleNotification(id, accepted: false) }
        }
    }
}
