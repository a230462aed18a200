import Foundation
import Hummingbird
import IoTHubProtocol
import NIOCore

extension Request {
    /// Reads and decodes a JSON body, refusing bad JSON with 400004 and a message that says where it broke.
    func decodeJSON<T: Decodable>(_ type: T.Type, context: some RequestContext, limit: Int = 1 << 20) async throws -> T {
        let buffer: ByteBuffer
        do { buffer = try await body.collect(upTo: limit) } catch {
            throw HubError(.messageTooLarge, "the request body is larger than \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch let error as DecodingError {
            throw HubError.invalid("the body is not the expected JSON: \(Self.describe(error))")
        } catch {
            throw HubError.invalid("the body is not valid JSON")
        }
    }

    /// The raw body bytes, up to `limit`.
    func bodyBytes(limit: Int) async throws -> [UInt8] {
        do { return Array(buffer: try await body.collect(upTo: limit)) } catch {
            throw HubError(.messageTooLarge, "the request body is larger than \(limit) bytes")
        }
    }

    /// The `Authorization` header.
    var authorization: String? { headers[.authorization] }

    /// The `If-Match` header.
    var ifMatch: String? { headers[.ifMatch] }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context): context.debugDescription
        case .keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        @unknown default: "\(error)"
        }
    }
}

extension HubAuthenticator {
    /// Authorizes a service request by its `Authorization` header, for the resource its path names (so a token
    /// scoped to `{host}/devices/B` reaches `/devices/B` and nothing else).
    @discardableResult
    func authorize(_ request: Request, requires permissions: Set<Permission>) throws -> AccessPolicy {
        let path = (try? PercentEncoding.decode(request.uri.path)) ?? request.uri.path
        return try authorizeService(request.authorization, requires: permissions, resource: path)
    }
}

extension RequestContext {
    /// A path parameter, percent-decoded once.
    func identifier(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        do { return try PercentEncoding.decode(raw) } catch {
            throw HubError.invalid("the \(name) in the path is badly URL-encoded: \(error.description)")
        }
    }

    /// A device id or module id from the path, percent-decoded once and checked against IoT Hub's naming rules
    /// (1 to 128 ASCII letters, digits and `- . % _ * ? ! ( ) , : = @ $ '`), so an id such as `d1%00` is refused
    /// with 400 on every path, not only on create.
    func identityComponent(_ name: String) throws -> String {
        let id = try identifier(name)
        do { try IdentityValidation.validateDeviceId(id) } catch {
            throw HubError.invalid("the \(name) in the path is not a valid id: \(error.description)")
        }
        return id
    }
}

/// JSON responses with IoT Hub's content type.
enum JSONResponse {
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, etag: String? = nil) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return raw(Array(try encoder.encode(value)), status: status, etag: etag)
    }

    static func raw(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, etag: String? = nil,
                    headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json; charset=utf-8"
        if let etag { headers[.eTag] = "\"\(etag)\"" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
