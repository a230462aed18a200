import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IoTHubProtocol
import Logging
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("REST: device file-upload endpoints and the storage endpoint")
struct FileUploadControllerTests {
    func deviceToken(_ hub: TestHub, _ record: DeviceRecord) -> String {
        guard case .sas(let key, _) = record.authentication else { return "" }
        return SASToken.generate(resource: record.identity.sasResource(hostName: hub.services.hostName), key: key,
                                 expiry: UInt64(Date().timeIntervalSince1970) + 600).description
    }

    func json(_ buffer: ByteBuffer) throws -> JSONValue { try JSONValue(parsing: Array(buffer: buffer)) }

    @Test("POST /files as the C SDK sends it (slash before ?, empty skn), the 10-upload limit, notifications")
    func deviceEndpoints() async throws {
        let hub = try TestHub(uploads: FileUploadConfiguration())
        defer { hub.store.close() }
        let record = try await hub.services.registry.create(.init(identity: DeviceIdentity(deviceId: "up-1")))
        let token = deviceToken(hub, record) + "&skn="
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            var correlationIds: [String] = []
            for index in 0..<10 {
                try await client.execute(uri: "/devices/up-1/files/?api-version=2016-11-14", method: .post,
                                         headers: [.authorization: token], body: ByteBuffer(string: #"{"blobName":"f\#(index).bin"}"#)) { response in
                    #expect(response.status == .ok)
                    let body = try json(response.body)
                    #expect(body["blobName"]?.stringValue == "up-1/f\(index).bin")
                    #expect(body["hostName"]?.stringValue == "storage.test:10443")
                    #expect(body["containerName"]?.stringValue == "fileupload")
                    #expect(body["sasToken"]?.stringValue?.hasPrefix("?sv=") == true)
                    correlationIds.append(body["correlationId"]?.stringValue ?? "")
                }
            }
            try await client.execute(uri: "/devices/up-1/files?api-version=2020-09-30", method: .post,
                                     headers: [.authorization: token], body: ByteBuffer(string: #"{"blobName":"eleven"}"#)) { response in
                #expect(response.status == .forbidden)
                #expect(String(buffer: response.body).contains("DeviceMaximumActiveFileUploadLimitExceeded"))
            }
            // A report frees a slot; a repeated report answers the same; an unknown id is refused.
            for _ in 0..<2 {
                try await client.execute(uri: "/devices/up-1/files/notifications/?api-version=2016-11-14", method: .post,
                                         headers: [.authorization: token],
                                         body: ByteBuffer(string: #"{"correlationId":"\#(correlationIds[0])","isSuccess":false,"statusCode":"500","statusDescription":"no signal"}"#)) { response in
                    #expect(response.status == .noContent)
                }
            }
            try await client.execute(uri: "/devices/up-1/files/notifications", method: .post, headers: [.authorization: token],
                                     body: ByteBuffer(string: #"{"correlationId":"nope","isSuccess":true}"#)) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/devices/up-1/files", method: .post, headers: [.authorization: token],
                                     body: ByteBuffer(string: #"{"blobName":"again.bin"}"#)) { response in
                #expect(response.status == .ok)
            }
            for bad in [#"{"blobName":""}"#, #"{"blobName":"../escape"}"#, #"{"name":"x"}"#, "not json"] {
                try await client.execute(uri: "/devices/up-1/files", method: .post, headers: [.authorization: token],
                                         body: ByteBuffer(string: bad)) { response in
                    #expect(response.status == .badRequest, "\(bad)")
                }
            }
            try await client.execute(uri: "/devices/up-1/files", method: .post, headers: [.authorization: "SharedAccessSignature sr=x&sig=y&se=1"],
                                     body: ByteBuffer(string: #"{"blobName":"x"}"#)) { response in
                #expect(response.status == .unauthorized)
            }
        }
        let failed = try #require(try await hub.services.fileUploads?.uploads(deviceId: "up-1").first)
        #expect(failed.outcome?.isSuccess == false && failed.outcome?.statusCode == 500 && failed.delivery == .none)
    }

    @Test("an upload whose SAS expired no longer counts, and its SAS is refused")
    func expiry() async throws {
        let hub = try TestHub(uploads: FileUploadConfiguration())
        defer { hub.store.close() }
        let uploads = try #require(hub.services.fileUploads)
        let past = Date().addingTimeInterval(-7200)
        var grants: [FileUploadGrant] = []
        for index in 0..<10 { grants.append(try await uploads.beginUpload(deviceId: "d", blobName: "old\(index)", now: past)) }
        _ = try await uploads.beginUpload(deviceId: "d", blobName: "new")
        let expired = grants[0]
        let responder = Application(router: BlobResponderBuilder(uploads: uploads, logger: Logger(label: "test")))
        try await responder.test(.router) { client in
            try await client.execute(uri: Self.path(expired), method: .put, headers: [Self.blobType: "BlockBlob"],
                                     body: ByteBuffer(string: "late")) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[HTTPField.Name("x-ms-error-code")!] == "AuthenticationFailed")
                #expect(String(buffer: response.body).contains("expiry"))
            }
        }
    }

    static let blobType = HTTPField.Name("x-ms-blob-type")!

    /// The request target of a grant's blob URL.
    static func path(_ grant: FileUploadGrant, blob: String? = nil, extra: String = "") -> String {
        "/\(grant.containerName)/" + FileUploadService.encodePath(blob ?? grant.blobName) + grant.sasToken + extra
    }

    @Test("the C SDK's upload: Put Block with %2f in the path and no x-ms-version, Put Block List, ranges, refusals")
    func storageEndpoint() async throws {
        var configuration = FileUploadConfiguration()
        configuration.maximumBytes = 64 << 10
        let hub = try TestHub(uploads: configuration)
        defer { hub.store.close() }
        let uploads = try #require(hub.services.fileUploads)
        let grant = try await uploads.beginUpload(deviceId: "c-dev", blobName: "dir/file.txt")
        let encoded = "/fileupload/c-dev%2fdir%2ffile.txt" + grant.sasToken
        let app = Application(router: BlobResponderBuilder(uploads: uploads, logger: Logger(label: "test")))
        try await app.test(.router) { client in
            for (index, text) in ["hello, ", "world"].enumerated() {
                let id = PercentEncoding.encode(LibCrypto.base64Encode(Array(String(format: "%6d", index).utf8)))
                try await client.execute(uri: encoded + "&comp=block&blockid=\(id)", method: .put,
                                         body: ByteBuffer(string: text)) { response in
                    #expect(response.status == .created)
                    #expect(response.headers[HTTPField.Name("Content-MD5")!] == LibCrypto.base64Encode(BlobMD5.of(text)))
                }
            }
            try await client.execute(uri: encoded + "&comp=blocklist&blocklisttype=uncommitted", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("<UncommittedBlocks><Block><Name>"))
            }
            // Invisible until committed.
            try await client.execute(uri: encoded, method: .get) { response in #expect(response.status == .notFound) }
            let ids = (0..<2).map { LibCrypto.base64Encode(Array(String(format: "%6d", $0).utf8)) }
            let list = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>" + ids.map { "<Latest>\($0)</Latest>" }.joined() + "</BlockList>"
            try await client.execute(uri: encoded + "&comp=blocklist", method: .put, body: ByteBuffer(string: list)) { response in
                #expect(response.status == .created && response.headers[.eTag] != nil)
            }
            // The same blob, spelled with plain slashes.
            try await client.execute(uri: Self.path(grant), method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body) == "hello, world")
                #expect(response.headers[Self.blobType] == "BlockBlob")
            }
            try await client.execute(uri: Self.path(grant), method: .get, headers: [HTTPField.Name("x-ms-range")!: "bytes=7-"]) { response in
                #expect(response.status == .partialContent && String(buffer: response.body) == "world")
                #expect(response.headers[.contentRange] == "bytes 7-11/12")
            }
            try await client.execute(uri: Self.path(grant), method: .get, headers: [.range: "bytes=50-60"]) { response in
                #expect(response.status == .rangeNotSatisfiable)
                #expect(response.headers[HTTPField.Name("x-ms-error-code")!] == "InvalidRange")
            }
            try await client.execute(uri: Self.path(grant), method: .head) { response in
                #expect(response.status == .ok && response.headers[.contentLength] == "12")
            }
            // Refusals.
            try await client.execute(uri: Self.path(grant), method: .put, body: ByteBuffer(string: "x")) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[HTTPField.Name("x-ms-error-code")!] == "MissingRequiredHeader")
            }
            let readOnly = uploads.readURL(blobName: grant.blobName)
            let readOnlyPath = String(readOnly.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })
            try await client.execute(uri: readOnlyPath, method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: readOnlyPath, method: .put, headers: [Self.blobType: "BlockBlob"],
                                     body: ByteBuffer(string: "overwrite")) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[HTTPField.Name("x-ms-error-code")!] == "AuthorizationPermissionMismatch")
            }
            try await client.execute(uri: "/fileupload/c-dev/dir/file.txt", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("<Code>NoAuthenticationInformation</Code>"))
            }
            try await client.execute(uri: "/other/c-dev/dir/file.txt" + grant.sasToken, method: .get) { response in
                #expect(response.status == .notFound)
            }
            // Over the bound: refused, and the old blob stays whole.
            try await client.execute(uri: Self.path(grant), method: .put, headers: [Self.blobType: "BlockBlob"],
                                     body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 80 << 10))) { response in
                #expect(response.status.code == 507)
                #expect(String(buffer: response.body).contains("--storage-max-bytes"))
            }
            try await client.execute(uri: Self.path(grant), method: .get) { response in
                #expect(String(buffer: response.body) == "hello, world")
            }
        }
    }
}
