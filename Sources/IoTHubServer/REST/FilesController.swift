import Foundation
import Hummingbird
import IoTHubCore
import IoTHubProtocol

/// The back end's view of file uploads (this hub's addition, for `iothub files`; IoT Hub's own back ends read
/// notifications over AMQP): ServiceConnect tokens.
/// - `GET /files?deviceId=&after=&limit=`: uploads, oldest first, each with its state and outcome.
/// - `GET /files/{correlationId or blob name}`: one upload (the newest for a blob name), with `downloadUrl`, a
///   read-only SAS URL valid for an hour when the blob is committed.
struct FilesController {
    let hub: HubServices

    func register(on router: Router<HubRequestContext>) {
        let group = router.requiring([.serviceConnect], hub)
        group.get("files") { request, context in
            let uploads = try hub.requireFileUploads()
            let query = request.uri.queryParameters
            let after = Int64(query["after"].map(String.init) ?? "") ?? 0
            let limit = min(max(Int(query["limit"].map(String.init) ?? "") ?? 1000, 1), 1000)
            let deviceId = query["deviceId"].map { PercentEncoding.decodeLenient(Substring($0)) }
            let records = try await uploads.uploads(deviceId: deviceId, after: after, limit: limit)
            let manifests = await self.manifests(records, uploads)
            return JSONResponse.raw(JSONValue.array(records.map { self.json($0, uploads, manifests[$0.blobName] ?? nil) })
                .serializedBytes())
        }
        group.get("files/**") { request, context in
            let uploads = try hub.requireFileUploads()
            let key = try PercentEncoding.decode(context.parameters.getCatchAll().joined(separator: "/"))
            var record = try await uploads.upload(correlationId: key)
            if record == nil {
                // A blob name: its newest upload.
                var after: Int64 = 0
                while true {
                    let page = try await uploads.uploads(deviceId: key.split(separator: "/").first.map(String.init),
                                                         after: after, limit: 1000)
                    if let match = page.last(where: { $0.blobName == key }) { record = match }
                    guard page.count == 1000, let last = page.last else { break }
                    after = last.sequenceNumber
                }
            }
            guard let record else {
                throw HubError(.argumentInvalid, "no file upload has correlationId or blob name '\(key)'; list them with `iothub files list`")
            }
            let manifest = await uploads.storage.manifest(container: uploads.configuration.containerName, blob: record.blobName)
            return JSONResponse.raw(self.json(record, uploads, manifest).serializedBytes())
        }
    }

    private func manifests(_ records: [FileUploadRecord], _ uploads: FileUploadService) async -> [String: BlobManifest?] {
        var result: [String: BlobManifest?] = [:]
        for record in records where result[record.blobName] == nil {
            result[record.blobName] = await uploads.storage.manifest(container: uploads.configuration.containerName,
                                                                     blob: record.blobName)
        }
        return result
    }

    func json(_ record: FileUploadRecord, _ uploads: FileUploadService, _ manifest: BlobManifest?) -> JSONValue {
        var object: JSONObject = [
            "correlationId": .string(record.correlationId),
            "sequenceNumber": .integer(record.sequenceNumber),
            "deviceId": .string(record.deviceId),
            "blobName": .string(record.blobName),
            "containerName": .string(uploads.configuration.containerName),
            "state": .string(record.state(at: Date())),
            "created": .string(Timestamps.iso8601(record.created)),
            "sasExpiry": .string(Timestamps.iso8601(record.expiry)),
            "notification": .string(record.delivery.rawValue),
        ]
        if let outcome = record.outcome {
            object["isSuccess"] = .bool(outcome.isSuccess)
            object["statusCode"] = .integer(Int64(outcome.statusCode))
            object["statusDescription"] = .string(outcome.statusDescription)
            object["notified"] = .string(Timestamps.iso8601(outcome.notified))
        }
        if let manifest {
            object["blobSizeInBytes"] = .integer(manifest.size)
            object["lastUpdatedTime"] = .string(Timestamps.iso8601(manifest.lastModified))
            if let md5 = manifest.properties.contentMD5 { object["contentMD5"] = .string(md5) }
            object["downloadUrl"] = .string(uploads.readURL(blobName: record.blobName))
        }
        return .object(object)
    }
}
