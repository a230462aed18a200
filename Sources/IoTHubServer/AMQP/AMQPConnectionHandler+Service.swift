import CProton
import Foundation
import IoTHubProtocol
import ProtonCodec
import Logging
import NIOCore

/// Back-end links: C2D sends on `/messages/devicebound` and feedback on `/messages/servicebound/feedback`.
extension AMQPConnectionHandler {
    /// A back end's C2D message: `to` names the device (`/devices/{id}/messages/devicebound`), `message-id`,
    /// `correlation-id`, content type and encoding, `absolute-expiry-time` and application properties go with
    /// it, and application property `iothub-ack` asks for feedback. Accepted once queued; refused with the
    /// hub's error (unknown device, full queue, too large) otherwise.
    func handleServiceSend(_ delivery: OpaquePointer, bytes: [UInt8], on link: AMQPLink) {
        guard serviceAuthorized(.serviceConnect) else {
            return refuseSend(delivery, link, HubError.unauthorized("the back end's token expired; put a new one on $cbs"))
        }
        let message: AMQPMessage
        do { message = try ProtonMessageCodec.decode(bytes) } catch {
            return refuseSend(delivery, link, HubError.invalid(error.description))
        }
        guard let to = message.to, case .cloudToDevice(let identity)? = try? AMQPNodeAddress(parsing: to, hostName: services.hostName, aliases: services.authenticator.aliases) else {
            return refuseSend(delivery, link, HubError.invalid(
                "'to' is '\(message.to ?? "")'; a cloud-to-device message needs 'to' = /devices/{id}/messages/devicebound"))
        }
        var outgoing = message.iotHubMessage
        outgoing.systemProperties.to = nil
        var acknowledgement = C2DAcknowledgement.none
        if let ack = outgoing.properties.removeValue(forKey: "iothub-ack") {
            guard let parsed = C2DAcknowledgement(rawValue: ack.lowercased()) else {
                return refuseSend(delivery, link, HubError.invalid("iothub-ack '\(ack)' is not none, positive, negative or full"))
            }
            acknowledgement = parsed
        }
        outgoing.systemProperties.expiryTimeUTC = nil
        var timeToLive: Int?
        if let expiry = message.absoluteExpiryTime {
            timeToLive = Int((Double(expiry) / 1000 - Date().timeIntervalSince1970).rounded(.up))
        }
        let service = services.cloudToDevice
        let (send, ack, ttl) = (outgoing, acknowledgement, timeToLive)
        perform({ try await service.send(send, to: identity, acknowledgement: ack, timeToLive: ttl) }) { [self] result in
            switch result {
            case .success:
                settle(delivery, on: link, outcome: UInt64(PN_ACCEPTED))
                pn_link_flow(link.link, 1)
            case .failure(let error):
                refuseSend(delivery, link, error as? HubError ?? HubError(.serverError, "\(error)"))
            }
        }
    }

    private func refuseSend(_ delivery: OpaquePointer, _ link: AMQPLink, _ error: HubError) {
        logger.info("cloud-to-device send refused", metadata: ["code": "\(error.code.rawValue)", "reason": "\(error.message)"])
        services.metrics.error(error.code, protocol: Self.protocolName)
        settle(delivery, on: link, outcome: UInt64(PN_REJECTED),
               condition: (Self.condition(for: error), "\(error.code.rawValue) \(error.code.name): \(error.message)"))
        pn_link_flow(link.link, 1)
    }

    // MARK: Feedback

    /// Looks for feedback records and file-upload notifications while a feedback or file-notification link is
    /// attached.
    func scheduleFeedback() {
        guard feedbackTimer == nil, let context else { return }
        feedbackTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.feedbackInterval) { [self] in
            feedbackTimer = nil
            guard links.values.contains(where: { $0.role == .serviceFeedback || $0.role == .serviceFileNotifications })
            else { return }
            sendFeedback()
            sendFileNotifications()
            pump()
            scheduleFeedback()
        }
    }

    /// Sends pending feedback, one batch in flight per link: a JSON array of records, content type
    /// `application/vnd.microsoft.iothub.feedback.json`.
    func sendFeedback() {
        for link in links.values where link.role == .serviceFeedback && !link.closed && link.feedback.isEmpty {
            guard pn_link_credit(link.link) > 0 else { continue }
            let records = services.cloudToDevice.takeFeedback(maximum: 100)
            guard !records.isEmpty else { return }
            var message = AMQPMessage(body: Self.feedbackJSON(records))
            message.messageId = .string(UUID().uuidString.lowercased())
            message.contentType = "application/vnd.microsoft.iothub.feedback.json"
            message.contentEncoding = "utf-8"
            let tag = send(message, on: link, settled: false)
            link.feedback[tag] = records
        }
    }

    func feedbackSettled(_ delivery: OpaquePointer, outcome: UInt64, on link: AMQPLink) {
        let records = Self.tag(of: delivery).flatMap { link.feedback.removeValue(forKey: $0) } ?? []
        pn_delivery_settle(delivery)
        if outcome != UInt64(PN_ACCEPTED) { returnFeedback(records) }
        sendFeedback()
    }

    func returnFeedback(_ records: [C2DFeedbackRecord]) {
        services.cloudToDevice.returnFeedback(records)
    }

    static func feedbackJSON(_ records: [C2DFeedbackRecord]) -> [UInt8] {
        JSONValue.array(records.map { record in
            .object([
                "originalMessageId": .string(record.originalMessageId),
                "deviceGenerationId": .string(record.deviceGenerationId),
                "deviceId": .string(record.deviceId),
                "enqueuedTimeUtc": .string(Timestamps.iso8601(record.enqueuedTime)),
                "statusCode": .string(record.status.rawValue),
                "description": .string(record.description),
            ])
        }).serializedBytes()
    }
}
