import Foundation
import Hummingbird
import IoTHubProtocol

/// `/certificates`: CA certificates for X.509 CA-signed devices, shaped as IoT Hub's certificate resources
/// (`CertificateDescription`), with the proof-of-possession calls `generateVerificationCode` and `verify`.
///
/// Reads need RegistryRead, changes RegistryWrite. Changes take `If-Match` (the resource's etag, or `*`).
struct CertificatesController {
    let hub: HubServices

    /// `{"properties":{"certificate":"PEM or base64 DER","isVerified":false}}`
    struct UploadBody: Decodable {
        struct Properties: Decodable {
            var certificate: String
            var isVerified: Bool?
        }
        var properties: Properties
    }

    /// `{"certificate":"PEM"}`: the certificate signed with the CA's key whose CN is the verification code.
    struct VerifyBody: Decodable {
        var certificate: String
    }

    struct Description: Encodable {
        struct Properties: Encodable {
            var subject: String
            var expiry: String
            var thumbprint: String
            var isVerified: Bool
            var created: String
            var updated: String
            var certificate: String
            var verificationCode: String?
        }
        var id: String
        var name: String
        var etag: String
        var type = "Microsoft.Devices/IotHubs/Certificates"
        var properties: Properties

        init(_ record: CACertificateRecord) {
            id = "/certificates/\(record.name)"
            name = record.name
            etag = record.etag
            properties = Properties(
                subject: record.subject, expiry: Timestamps.iso8601(record.expiry), thumbprint: record.thumbprint,
                isVerified: record.isVerified, created: Timestamps.iso8601(record.created),
                updated: Timestamps.iso8601(record.updated), certificate: record.pem, verificationCode: record.verificationCode)
        }
    }

    struct ListBody: Encodable {
        var value: [Description]
    }

    func register(on router: Router<HubRequestContext>) {
        let certificates = hub.certificates
        let (read, write) = (router.requiring([.registryRead], hub), router.requiring([.registryWrite], hub))
        read.get("certificates") { request, _ in
            return try JSONResponse.make(ListBody(value: try await certificates.list().map(Description.init)))
        }
        read.get("certificates/:name") { request, context in
            let record = try await certificates.get(try context.identifier("name"))
            return try JSONResponse.make(Description(record), etag: record.etag)
        }
        write.put("certificates/:name") { request, context in
            let body = try await request.decodeJSON(UploadBody.self, context: context)
            let record = try await certificates.upload(try context.identifier("name"), certificate: body.properties.certificate,
                                                       verified: body.properties.isVerified ?? false, ifMatch: request.ifMatch)
            return try JSONResponse.make(Description(record), etag: record.etag)
        }
        write.post("certificates/:name/generateVerificationCode") { request, context in
            let record = try await certificates.generateVerificationCode(try context.identifier("name"), ifMatch: request.ifMatch)
            return try JSONResponse.make(Description(record), etag: record.etag)
        }
        write.post("certificates/:name/verify") { request, context in
            let body = try await request.decodeJSON(VerifyBody.self, context: context)
            let record = try await certificates.verify(try context.identifier("name"), proof: body.certificate,
                                                       ifMatch: request.ifMatch)
            return try JSONResponse.make(Description(record), etag: record.etag)
        }
        write.delete("certificates/:name") { request, context in
            try await certificates.delete(try context.identifier("name"), ifMatch: request.ifMatch)
            return Response(status: .ok)
        }
    }
}
