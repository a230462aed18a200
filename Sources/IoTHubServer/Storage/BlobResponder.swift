import Foundation
import HTTPTypes
import Hummingbird
import IoTHubCore
import IoTHubProtocol
import Logging
import NIOCore

/// The storage endpoint devices upload to: Azure's block-blob REST API on one container, authorized by the service
/// SAS in each URL, as `azure-storage-blob` and the C SDK's upload speak it.
///
/// - `PUT /{container}/{blob}` (`x-ms-blob-type: BlockBlob`): Put Blob.
/// - `PUT …?comp=block&blockid=…`: Put Block. `PUT …?comp=blocklist`: Put Block List.
/// - `GET /{container}/{blob}` (with `Range` or `x-ms-range`): Get Blob. `HEAD`: Get Blob Properties.
/// - `GET …?comp=blocklist&blocklisttype=committed|uncommitted|all`: Get Block List.
///
/// The blob name is the rest of the path after the container, percent-decoded once (`%2f` and `/` are the same).
/// Refusals answer with Azure Storage's status, `x-ms-error-code` and `<Error>` XML, and leave a log line.
public struct BlobResponder: HTTPResponder {
    public typealias Context = HubRequestContext
    let uploads: FileUploadService
    let logger: Logger

    /// What a blob request names.
    struct Target {
        var container: String
        var blob: String
        var query: Substring
        var parameters: [String: String]
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        do {
            return try await handle(request)
        } catch let failure as StorageFailure {
            return refuse(request, failure.code, failure.message, headers: failure.headers)
        } catch let error as BlobSASError {
            return refuse(request, error.storageError, error.description)
        } catch let error as BlobStorageError {
            return refuse(request, error.storageError, error.description)
        } catch {
            logger.error("storage request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return refuse(request, .internalError, "the hub's storage failed to process the request; retry")
        }
    }

    private func handle(_ request: Request) async throws -> Response {
        let target = try Self.target(of: request.head.path ?? "/")
        guard target.container == uploads.configuration.containerName else {
            throw StorageFailure(.containerNotFound, "The specified container '\(target.container)' does not exist; this hub's container is '\(uploads.configuration.containerName)'")
        }
        guard !target.blob.isEmpty else {
            throw StorageFailure(.notImplemented, "container operations are not supported here; name a blob: /\(target.container)/{blob}")
        }
        let comp = target.parameters["comp"]
        switch (request.method, comp) {
        case (.put, nil):
            try authorize(target, request, needs: [.write])
            return try await putBlob(request, target)
        case (.put, "block"):
            try authorize(target, request, needs: [.write])
            return try await putBlock(request, target)
        case (.put, "blocklist"):
            try authorize(target, request, needs: [.write])
            return try await putBlockList(request, target)
        case (.get, "blocklist"):
            try authorize(target, request, needs: [.read])
            return try await getBlockList(target)
        case (.get, nil):
            try authorize(target, request, needs: [.read])
            return try await getBlob(request, target, includeBody: true)
        case (.head, nil):
            try authorize(target, request, needs: [.read])
            return try await getBlob(request, target, includeBody: false)
        case (.delete, nil):
            try authorize(target, request, needs: [.delete])
            throw StorageFailure(.notImplemented, "deleting blobs is not supported through a SAS; use iothub files")
        default:
            throw StorageFailure(.notImplemented, "the operation \(request.method) \(comp.map { "comp=\($0)" } ?? "") is not supported by this hub's storage")
        }
    }

    // MARK: Operations

    private func putBlob(_ request: Request, _ target: Target) async throws -> Response {
        guard let type = request.headers[Self.blobType] else {
            throw StorageFailure(.missingRequiredHeader, "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type (BlockBlob)")
        }
        guard type == "BlockBlob" else {
            throw StorageFailure(.invalidBlobType, "this storage keeps block blobs only; x-ms-blob-type must be BlockBlob, not '\(type)'")
        }
        try checkPreconditions(request, target)
        let staging = try await receiveBody(request, limit: uploads.configuration.maximumPutBlobBytes)
        try checkTransactionalMD5(request, staging)
        var properties = Self.properties(from: request)
        properties.contentMD5 = properties.contentMD5 ?? staging.md5Base64()
        let manifest = try await uploads.storage.putBlob(container: target.container, blob: target.blob, from: staging,
                                                         properties: properties)
        var headers = versionHeaders(manifest)
        headers[Self.contentMD5] = manifest.properties.contentMD5
        headers[Self.serverEncrypted] = "false"
        return Response(status: .created, headers: headers)
    }

    private func putBlock(_ request: Request, _ target: Target) async throws -> Response {
        guard let blockId = target.parameters["blockid"], BlockList.isValidBlockId(blockId) else {
            throw StorageFailure(.invalidQueryParameterValue, "blockid must be base64 of at most 64 bytes, the same length for every block of a blob")
        }
        let staging = try await receiveBody(request, limit: uploads.configuration.maximumBlockBytes)
        try checkTransactionalMD5(request, staging)
        let md5 = staging.md5Base64()
        try await uploads.storage.putBlock(container: target.container, blob: target.blob, blockId: blockId, from: staging)
        var headers = baseHeaders()
        headers[Self.contentMD5] = md5
        headers[Self.serverEncrypted] = "false"
        return Response(status: .created, headers: headers)
    }

    private func putBlockList(_ request: Request, _ target: Target) async throws -> Response {
        try checkPreconditions(request, target)
        let body: [UInt8]
        do { body = Array(buffer: try await request.body.collect(upTo: 8 << 20)) } catch {
            throw StorageFailure(.requestBodyTooLarge, "the block list is larger than 8 MiB")
        }
        let entries: [BlockList.Entry]
        do { entries = try BlockList.parseRequest(body) } catch {
            throw StorageFailure(.invalidXmlDocument, "XML specified is not syntactically valid: \(error.description)")
        }
        let manifest = try await uploads.storage.putBlockList(container: target.container, blob: target.blob,
                                                              entries: entries, properties: Self.properties(from: request))
        var headers = versionHeaders(manifest)
        headers[Self.serverEncrypted] = "false"
        return Response(status: .created, headers: headers)
    }

    private func getBlockList(_ target: Target) async throws -> Response {
        let type = target.parameters["blocklisttype"]?.lowercased() ?? "committed"
        guard ["committed", "uncommitted", "all"].contains(type) else {
            throw StorageFailure(.invalidQueryParameterValue, "blocklisttype must be committed, uncommitted or all, not '\(type)'")
        }
        let lists = try await uploads.storage.blockList(container: target.container, blob: target.blob)
        let xml = BlockList.responseXML(committed: lists.committed, uncommitted: lists.uncommitted,
                                        includeCommitted: type != "uncommitted", includeUncommitted: type != "committed")
        var headers = baseHeaders()
        headers[.contentType] = "application/xml"
        if let manifest = await uploads.storage.manifest(container: target.container, blob: target.blob) {
            headers[.eTag] = manifest.etag
            headers[.lastModified] = Self.httpDate(manifest.lastModified)
            headers[Self.contentLengthBlob] = String(manifest.size)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: xml)))
    }

    private func getBlob(_ request: Request, _ target: Target, includeBody: Bool) async throws -> Response {
        let reader = try await uploads.storage.open(container: target.container, blob: target.blob)
        let manifest = reader.manifest
        var headers = versionHeaders(manifest)
        headers[Self.blobType] = "BlockBlob"
        headers[.acceptRanges] = "bytes"
        headers[Self.leaseState] = "available"
        headers[Self.leaseStatus] = "unlocked"
        headers[Self.serverEncrypted] = "false"
        headers[Self.creationTime] = Self.httpDate(manifest.lastModified)
        let properties = manifest.properties
        headers[.contentType] = properties.contentType ?? "application/octet-stream"
        if let value = properties.contentEncoding { headers[.contentEncoding] = value }
        if let value = properties.contentLanguage { headers[.contentLanguage] = value }
        if let value = properties.contentDisposition { headers[.contentDisposition] = value }
        if let value = properties.cacheControl { headers[.cacheControl] = value }
        for (key, value) in properties.metadata {
            if let name = HTTPField.Name("x-ms-meta-" + key) { headers[name] = value }
        }
        var start: Int64 = 0
        var length = manifest.size
        var status = HTTPResponse.Status.ok
        if let rangeText = request.headers[Self.msRange] ?? request.headers[.range] {
            guard let range = Self.parseRange(rangeText, size: manifest.size) else {
                headers[.contentRange] = "bytes */\(manifest.size)"
                throw StorageFailure(.invalidRange, "The range specified is invalid for the current size of the resource.",
                                     headers: headers)
            }
            start = range.lowerBound
            length = range.upperBound - range.lowerBound
            status = .partialContent
            headers[.contentRange] = "bytes \(start)-\(start + length - 1)/\(manifest.size)"
            if request.headers[Self.rangeGetContentMD5] == "true", length <= 4 << 20 {
                let bytes = try reader.read(offset: start, count: Int(length))
                headers[Self.contentMD5] = LibCrypto.base64Encode(Self.md5(bytes))
            }
        } else if let md5 = properties.contentMD5 {
            headers[Self.contentMD5] = md5
        }
        headers[.contentLength] = String(length)
        guard includeBody, length > 0 else {
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: Int(length)) { writer in
                try await writer.finish(nil)
            })
        }
        let (offset, total) = (start, length)
        return Response(status: status, headers: headers, body: ResponseBody(contentLength: Int(length)) { writer in
            var sent: Int64 = 0
            while sent < total {
                let chunk = try reader.read(offset: offset + sent, count: Int(min(total - sent, 1 << 20)))
                guard !chunk.isEmpty else { break }
                try await writer.write(ByteBuffer(bytes: chunk))
                sent += Int64(chunk.count)
            }
            try await writer.finish(nil)
        })
    }

    // MARK: Pieces

    private func authorize(_ target: Target, _ request: Request, needs: BlobSASPermissions) throws {
        guard BlobServiceSAS.isPresent(in: target.query) else {
            if request.headers[.authorization] != nil {
                throw StorageFailure(.authenticationFailed, "this storage accepts the SAS in the blob URL only (from POST /devices/{id}/files), not an Authorization header")
            }
            throw StorageFailure(.noAuthenticationInformation, "Server failed to authenticate the request: the URL carries no SAS; use the sasToken from POST /devices/{id}/files")
        }
        try uploads.authorize(container: target.container, blob: target.blob, query: target.query, needs: needs)
    }

    /// Streams the body into a staging file, refusing it once it passes `limit`.
    private func receiveBody(_ request: Request, limit: Int64) async throws -> StagingFile {
        if let declared = request.headers[.contentLength].flatMap({ Int64($0) }), declared > limit {
            throw StorageFailure(.requestBodyTooLarge, "The request body is too large: \(declared) bytes, at most \(limit)")
        }
        let staging = try uploads.storage.stagingFile()
        do {
            for try await buffer in request.body {
                guard staging.size + Int64(buffer.readableBytes) <= limit else {
                    throw StorageFailure(.requestBodyTooLarge, "The request body is too large: more than \(limit) bytes")
                }
                try buffer.withUnsafeReadableBytes { raw throws(BlobStorageError) in try staging.write(raw) }
            }
        } catch {
            staging.discard()
            throw error
        }
        return staging
    }

    private func checkTransactionalMD5(_ request: Request, _ staging: StagingFile) throws {
        guard let expected = request.headers[Self.contentMD5] else { return }
        guard expected == staging.md5Base64() else {
            staging.discard()
            throw StorageFailure(.md5Mismatch, "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
        }
    }

    /// `If-None-Match: *` (create only), which `upload_blob(overwrite=False)` sends.
    private func checkPreconditions(_ request: Request, _ target: Target) throws {
        if request.headers[.ifNoneMatch] == "*",
           uploads.storage.committedBlobExists(container: target.container, blob: target.blob) {
            throw StorageFailure(.blobAlreadyExists, "The specified blob already exists.")
        }
    }

    private func baseHeaders() -> HTTPFields {
        var headers = HTTPFields()
        headers[Self.requestId] = UUID().uuidString.lowercased()
        headers[Self.version] = BlobServiceSAS.version
        headers[.date] = Self.httpDate(Date())
        return headers
    }

    private func versionHeaders(_ manifest: BlobManifest) -> HTTPFields {
        var headers = baseHeaders()
        headers[.eTag] = manifest.etag
        headers[.lastModified] = Self.httpDate(manifest.lastModified)
        return headers
    }

    private func refuse(_ request: Request, _ code: StorageErrorCode, _ message: String, headers extra: HTTPFields = [:])
        -> Response
    {
        let metadata: Logger.Metadata = [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(code.status)",
            "errorCode": "\(code.code)", "reason": "\(message)",
        ]
        if code.status >= 500 { logger.error("storage request failed", metadata: metadata) } else {
            logger.info("storage request refused", metadata: metadata)
        }
        var headers = baseHeaders()
        for field in extra { headers[field.name] = field.value }
        headers[Self.errorCode] = code.code
        headers[.contentType] = "application/xml"
        let body = request.method == .head ? ByteBuffer() : ByteBuffer(string: code.xml(message: message))
        return Response(status: HTTPResponse.Status(code: code.status), headers: headers,
                        body: ResponseBody(byteBuffer: body))
    }

    static func properties(from request: Request) -> BlobProperties {
        var properties = BlobProperties()
        properties.contentType = request.headers[HTTPField.Name("x-ms-blob-content-type")!]
        properties.contentEncoding = request.headers[HTTPField.Name("x-ms-blob-content-encoding")!]
        properties.contentLanguage = request.headers[HTTPField.Name("x-ms-blob-content-language")!]
        properties.contentDisposition = request.headers[HTTPField.Name("x-ms-blob-content-disposition")!]
        properties.cacheControl = request.headers[HTTPField.Name("x-ms-blob-cache-control")!]
        properties.contentMD5 = request.headers[HTTPField.Name("x-ms-blob-content-md5")!]
        for field in request.headers where field.name.canonicalName.hasPrefix("x-ms-meta-") {
            properties.metadata[String(field.name.canonicalName.dropFirst("x-ms-meta-".count))] = field.value
        }
        return properties
    }

    /// Splits a request target into container, blob (percent-decoded) and query.
    static func target(of requestTarget: String) throws -> Target {
        let queryStart = requestTarget.firstIndex(of: "?") ?? requestTarget.endIndex
        let path = requestTarget[..<queryStart].drop { $0 == "/" }
        let query = queryStart == requestTarget.endIndex ? Substring() : requestTarget[requestTarget.index(after: queryStart)...]
        let slash = path.firstIndex(of: "/") ?? path.endIndex
        let container: String
        let blob: String
        do {
            container = try PercentEncoding.decode(path[..<slash])
            blob = slash == path.endIndex ? "" : try PercentEncoding.decode(path[path.index(after: slash)...])
        } catch {
            throw StorageFailure(.invalidQueryParameterValue, "the blob path is badly URL-encoded: \(error)")
        }
        var parameters: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let equals = pair.firstIndex(of: "=") ?? pair.endIndex
            let name = String(pair[..<equals]).lowercased()
            let value = equals == pair.endIndex ? "" : PercentEncoding.decodeLenient(pair[pair.index(after: equals)...])
            parameters[name] = value
        }
        return Target(container: container, blob: blob, query: query, parameters: parameters)
    }

    /// `bytes=a-b`, `bytes=a-` or `bytes=-n` within `size`; `nil` when unsatisfiable.
    static func parseRange(_ text: String, size: Int64) -> Range<Int64>? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes=") else { return nil }
        let spec = trimmed.dropFirst("bytes=".count)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            guard let suffix = Int64(last), suffix > 0, size > 0 else { return nil }
            return max(0, size - suffix)..<size
        }
        guard let start = Int64(first), start >= 0, start < size else { return nil }
        if last.isEmpty { return start..<size }
        guard let end = Int64(last), end >= start else { return nil }
        return start..<min(end + 1, size)
    }

    static func md5(_ bytes: [UInt8]) -> [UInt8] {
        let digest = StreamingDigest(.md5)
        digest.update(bytes)
        return digest.finish()
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    static let blobType = HTTPField.Name("x-ms-blob-type")!
    static let contentMD5 = HTTPField.Name("Content-MD5")!
    static let serverEncrypted = HTTPField.Name("x-ms-request-server-encrypted")!
    static let requestId = HTTPField.Name("x-ms-request-id")!
    static let version = HTTPField.Name("x-ms-version")!
    static let errorCode = HTTPField.Name("x-ms-error-code")!
    static let msRange = HTTPField.Name("x-ms-range")!
    static let rangeGetContentMD5 = HTTPField.Name("x-ms-range-get-content-md5")!
    static let leaseState = HTTPField.Name("x-ms-lease-state")!
    static let leaseStatus = HTTPField.Name("x-ms-lease-status")!
    static let creationTime = HTTPField.Name("x-ms-creation-time")!
    static let contentLengthBlob = HTTPField.Name("x-ms-blob-content-length")!
}

/// A storage refusal with Azure's code and message.
struct StorageFailure: Error {
    let code: StorageErrorCode
    let message: String
    var headers: HTTPFields = [:]

    init(_ code: StorageErrorCode, _ message: String, headers: HTTPFields = [:]) {
        self.code = code
        self.message = message
        self.headers = headers
    }
}

/// The storage endpoint's responder, as an `Application` takes it.
public struct BlobResponderBuilder: HTTPResponderBuilder {
    let uploads: FileUploadService
    let logger: Logger

    public init(uploads: FileUploadService, logger: Logger) {
        self.uploads = uploads
        self.logger = logger
    }

    public func buildResponder() -> BlobResponder {
        BlobResponder(uploads: uploads, logger: logger)
    }
}
