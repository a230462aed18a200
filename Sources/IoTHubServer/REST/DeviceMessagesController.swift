import Foundation
import HTTPTypes
import Hummingbird
import IoTHubProtocol

/// The device HTTPS API: telemetry (`POST /devices/{id}/messages/events`) and cloud-to-device messages
/// (`GET /devices/{id}/messages/deviceBound`, complete, reject, abandon), authenticated with device SAS tokens.
struct DeviceMessagesController {
    let hub: HubServices

    func register(on router: Router<HubRequestContext>) {
        for base in ["devices/:deviceId", "devices/:deviceId/modules/:moduleId"] {
            router.post(RouterPath(base + "/messages/events")) { request, context in
                try await self.telemetry(request, context: context)
            }
            router.get(RouterPath(base + "/messages/deviceBound")) { request, context in
                try await self.receive(request, context: context)
            }
            router.requiring([.serviceConnect], hub).post(RouterPath(base + "/messages/deviceBound")) { request, context in
                try await self.send(request, context: context)
            }
            router.delete(RouterPath(base + "/messages/deviceBound/:lockToken")) { request, context in
                let identity = try await self.authenticate(request, context: context)
                let rejects = (request.uri.query ?? "").split(separator: "&").contains { $0 == "reject" || $0.hasPrefix("reject=") }
                let disposition: C2DDisposition = rejects ? .reject : .complete
                try await hub.cloudToDevice.settle(identity.identity, lockToken: try Self.lockToken(context), disposition: disposition)
                return Response(status: .noContent)
            }
            router.post(RouterPath(base + "/messages/deviceBound/:lockToken/abandon")) { request, context in
                let identity = try await self.authenticate(request, context: context)
                try await hub.cloudToDevice.settle(identity.identity, lockToken: try Self.lockToken(context), disposition: .abandon)
                return Response(status: .noContent)
            }
        }
    }

    static func lockToken(_ context: HubRequestContext) throws -> String {
        try context.identifier("lockToken").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    func authenticate(_ request: Request, context: HubRequestContext) async throws -> DeviceRecord {
        let identity = try TwinsController.identity(context)
        return try await hub.authenticator.authenticateDevice(identity, token: request.authorization)
    }

    func telemetry(_ request: Request, context: HubRequestContext) async throws -> Response {
        let record = try await authenticate(request, context: context)
        var message = IoTHubMessage(body: try await request.bodyBytes(limit: IoTHubMessage.maximumDeviceToCloudSize + 1))
        try await hub.throttle.admitRequest(.deviceToCloud, messageBytes: message.body.count)
        for field in request.headers where !Self.apply(field, to: &message) {
            if field.name.canonicalName == "iothub-creation-time-utc" { message.systemProperties.creationTimeUTC = field.value }
        }
        _ = try await hub.events.ingest(message, from: record.identity, authentication: .sas, generationId: record.generationId,
                                        protocol: "https")
        return Response(status: .noContent)
    }

    /// `POST /devices/{id}/messages/deviceBound` with a service token (ServiceConnect): queues a cloud-to-device
    /// message. This hub's addition for HTTP-only back ends and `iothub c2d send`; IoT Hub's own service path is AMQP.
    /// Headers: `iothub-messageid`, `iothub-correlationid`, `iothub-userid`, `iothub-ack` (none, positive, negative,
    /// full), `iothub-ttl` (seconds), `content-type`, `content-encoding`, `iothub-app-{name}`. Answers 204.
    func send(_ request: Request, context: HubRequestContext) async throws -> Response {
        var message = IoTHubMessage(body: try await request.bodyBytes(limit: C2DLimits.maximumSize + 1))
        try await hub.throttle.admitRequest(.cloudToDeviceSend, messageBytes: message.body.count)
        var acknowledgement = C2DAcknowledgement.none
        var timeToLive: Int?
        for field in request.headers where !Self.apply(field, to: &message) {
            switch field.name.canonicalName {
            case "iothub-ack":
                guard let value = C2DAcknowledgement(rawValue: field.value.lowercased()) else {
                    throw HubError.invalid("iothub-ack must be none, positive, negative or full")
                }
                acknowledgement = value
            case "iothub-ttl":
                guard let seconds = Int(field.value) else { throw HubError.invalid("iothub-ttl must be a number of seconds") }
                timeToLive = seconds
            default:
                break
            }
        }
        try await hub.cloudToDevice.send(message, to: try TwinsController.identity(context), acknowledgement: acknowledgement,
                                         timeToLive: timeToLive)
        return Response(status: .noContent)
    }

    /// Maps the message headers IoT Hub's HTTPS API shares for both directions (`iothub-messageid`,
    /// `iothub-correlationid`, `iothub-userid`, `content-type`, `content-encoding`, `iothub-app-{name}`) onto
    /// `message`; `false` for any other header.
    static func apply(_ field: HTTPField, to message: inout IoTHubMessage) -> Bool {
        let name = field.name.canonicalName
        switch name {
        case "iothub-messageid": message.systemProperties.messageId = field.value
        case "iothub-correlationid": message.systemProperties.correlationId = field.value
        case "iothub-userid": message.systemProperties.userId = field.value
        case "content-type", "iothub-contenttype": message.systemProperties.contentType = field.value
        case "content-encoding", "iothub-contentencoding": message.systemProperties.contentEncoding = field.value
        default:
            guard name.hasPrefix("iothub-app-") else { return false }
            message.properties[String(name.dropFirst("iothub-app-".count))] = field.value
        }
        return true
    }

    func receive(_ request: Request, context: HubRequestContext) async throws -> Response {
        let record = try await authenticate(request, context: context)
        try await hub.throttle.admitRequest(.cloudToDeviceReceive)
        guard let envelope = try await hub.cloudToDevice.lock(record.identity, maximum: 1).first else {
            return Response(status: .noContent)
        }
        var headers = HTTPFields()
        let system = envelope.message.systemProperties
        headers[.eTag] = "\"\(envelope.lockToken ?? "")\""
        func set(_ name: String, _ value: String?) {
            if let value, let field = HTTPField.Name(name) { headers[field] = value }
        }
        set("iothub-messageid", system.messageId)
        set("iothub-correlationid", system.correlationId)
        set("iothub-userid", system.userId)
        set("iothub-to", system.to)
        set("iothub-ack", system.ack)
        set("iothub-deliverycount", String(envelope.deliveryCount))
        set("iothub-enqueuedtime", Timestamps.iso8601(envelope.enqueuedTime))
        set("iothub-expiry", Timestamps.iso8601(envelope.expiryTime))
        set("content-type", system.contentType)
        set("content-encoding", system.contentEncoding)
        for (key, value) in envelope.message.properties { set("iothub-app-\(key)", value) }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: envelope.message.body)))
    }
}
