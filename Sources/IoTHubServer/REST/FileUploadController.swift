import Foundation
import Hummingbird
import IoTHubCore
import IoTHubProtocol

/// The device file-upload API, with IoT Hub's JSON:
/// - `POST /devices/{id}/files` with `{"blobName":"name"}` → 200
///   `{"correlationId","hostName","containerName","blobName":"{id}/name","sasToken":"?sv=…"}`;
/// - `POST /devices/{id}/files/notifications` with `{"correlationId","isSuccess","statusCode","statusDescription"}`
///   → 204.
///
/// Both take the device's SAS token (an empty `skn=` is a device token, as the C SDK sends).
struct FileUploadController {
    let hub: HubServices

    struct UploadRequest: Decodable {
        let blobName: String
    }

    struct UploadGrant: Encodable {
        let correlationId: String
        let hostName: String
        let containerName: String
        let blobName: String
        let sasToken: String
    }

    struct Notification: Decodable {
        let correlationId: String
        let isSuccess: Bool
        let statusCode: Int?
        let statusDescription: String?

        enum CodingKeys: String, CodingKey { case correlationId, isSuccess, statusCode, statusDescription }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            correlationId = try container.decode(String.self, forKey: .correlationId)
            isSuccess = try container.decode(Bool.self, forKey: .isSuccess)
            // Some clients send the status as text.
            if let number = try? container.decodeIfPresent(Int.self, forKey: .statusCode) {
                statusCode = number
            } else {
                statusCode = (try? container.decodeIfPresent(String.self, forKey: .statusCode)).flatMap { $0.flatMap { Int($0) } }
            }
            statusDescription = try container.decodeIfPresent(String.self, forKey: .statusDescription)
        }
    }

    func register(on router: Router<HubRequestContext>) {
        router.post("devices/:deviceId/files") { request, context in
            let device = try await self.authenticate(request, context: context)
            let body = try await request.decodeJSON(UploadRequest.self, context: context, limit: 16 << 10)
            try await hub.throttle.admitRequest(.fileUploadInitiate)
            let grant = try await hub.requireFileUploads().beginUpload(deviceId: device.identity.deviceId, blobName: body.blobName)
            return try JSONResponse.make(UploadGrant(
                correlationId: grant.correlationId, hostName: grant.hostName, containerName: grant.containerName,
                blobName: grant.blobName, sasToken: grant.sasToken))
        }
        router.post("devices/:deviceId/files/notifications") { request, context in
            let device = try await self.authenticate(request, context: context)
            let body = try await request.decodeJSON(Notification.self, context: context, limit: 16 << 10)
            try await hub.requireFileUploads().finishUpload(
                deviceId: device.identity.deviceId, correlationId: body.correlationId, isSuccess: body.isSuccess,
                statusCode: body.statusCode ?? (body.isSuccess ? 200 : 500), statusDescription: body.statusDescription ?? "")
            return Response(status: .noContent)
        }
    }

    func authenticate(_ request: Request, context: HubRequestContext) async throws -> DeviceRecord {
        let deviceId = try context.identityComponent("deviceId")
        return try await hub.authenticator.authenticateDevice(DeviceIdentity(deviceId: deviceId), token: request.authorization)
    }
}

extension HubServices {
    /// File uploads, or the error a hub without storage answers with.
    func requireFileUploads() throws -> FileUploadService {
        guard let fileUploads else {
            throw HubError.invalid("this hub has no file storage; start it with a storage port (iothub serve --storage-port)")
        }
        return fileUploads
    }
}
