import Foundation
import HTTPTypes
import Hummingbird
import IoTHubProtocol

/// `POST /devices/query` with `{"query":"SELECT … FROM devices …"}`: twin queries with continuation paging
/// (`x-ms-max-item-count` and `x-ms-continuation` request headers; `x-ms-continuation` and `x-ms-item-type`
/// response headers, as IoT Hub and its SDKs use them).
struct QueryController {
    let hub: HubServices

    func register(on router: Router<HubRequestContext>) {
        // IoT Hub's documentation names ServiceConnect ("run queries") and RegistryRead (query the registry).
        router.requiring([.registryRead, .serviceConnect], hub).post("devices/query") { request, context in
            try await hub.throttle.admitRequest(.query)
            let body = try TwinService.parse(try await request.bodyBytes(limit: 64 * 1024))
            guard let text = body["query"]?.stringValue else { throw HubError.invalid("the body needs a \"query\" string") }
            let query: RegistryQuery
            do { query = try RegistryQuery(parsing: text) } catch { throw HubError.invalid("\(error)") }
            let maximum = min(max(Int(request.headers[HTTPField.Name("x-ms-max-item-count")!] ?? "") ?? 100, 1), 1000)
            let start = try request.headers[HTTPField.Name("x-ms-continuation")!].map(Self.decodeContinuation)
            let (items, next) = try await hub.twins.query(query, after: start, maximum: maximum)
            var headers = HTTPFields()
            headers[HTTPField.Name("x-ms-item-type")!] = query.selection == .all ? "twin" : "json"
            if let next { headers[HTTPField.Name("x-ms-continuation")!] = Self.encodeContinuation(next) }
            return JSONResponse.raw(JSONValue.array(items).serializedBytes(), headers: headers)
        }
    }

    static func encodeContinuation(_ identity: DeviceIdentity) -> String {
        LibCrypto.base64Encode(Array((identity.deviceId + "\n" + (identity.moduleId ?? "")).utf8))
    }

    static func decodeContinuation(_ text: String) throws -> DeviceIdentity {
        guard let bytes = LibCrypto.base64Decode(text), let decoded = String(validating: bytes, as: UTF8.self) else {
            throw HubError.invalid("x-ms-continuation is not a token this hub issued")
        }
        let parts = decoded.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        return DeviceIdentity(deviceId: String(parts[0]), moduleId: parts.count > 1 && !parts[1].isEmpty ? String(parts[1]) : nil)
    }
}
