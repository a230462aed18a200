import Foundation
import Hummingbird
import IoTHubProtocol

/// `/twins/{id}` and `/twins/{id}/modules/{m}`: twin reads, patches and replacements, and direct-method calls.
struct TwinsController {
    let hub: HubServices

    func register(on router: Router<HubRequestContext>) {
        // IoT Hub: every back-end twin operation needs ServiceConnect.
        let router = router.requiring([.serviceConnect], hub)
        for path in ["twins/:deviceId", "twins/:deviceId/modules/:moduleId"] {
            router.get(RouterPath(path)) { request, context in
                try await hub.throttle.admitRequest(.twinRead)
                let view = try await hub.twins.serviceView(try Self.identity(context))
                return Self.response(view)
            }
            router.patch(RouterPath(path)) { request, context in
                try await self.update(request, context: context, replace: false)
            }
            router.put(RouterPath(path)) { request, context in
                try await self.update(request, context: context, replace: true)
            }
            router.post(RouterPath(path + "/methods")) { request, context in
                try await self.invoke(request, context: context)
            }
        }
    }

    static func identity(_ context: HubRequestContext) throws -> DeviceIdentity {
        let moduleId: String? = context.parameters.get("moduleId") == nil ? nil : try context.identityComponent("moduleId")
        return DeviceIdentity(deviceId: try context.identityComponent("deviceId"), moduleId: moduleId)
    }

    static func response(_ view: JSONObject) -> Response {
        JSONResponse.raw(JSONValue.object(view).serializedBytes(), etag: view["etag"]?.stringValue)
    }

    func update(_ request: Request, context: HubRequestContext, replace: Bool) async throws -> Response {
        let bytes = try await request.bodyBytes(limit: 1 << 20)
        try await hub.throttle.admitRequest(.twinUpdate, messageBytes: bytes.count)
        let body = try TwinService.parse(bytes)
        let view = try await hub.twins.update(try Self.identity(context), body: body, ifMatch: request.ifMatch, replace: replace)
        return Self.response(view)
    }

    /// `POST /twins/{id}/methods`: `{"methodName","payload","responseTimeoutInSeconds","connectTimeoutInSeconds"}`
    /// → `{"status","payload"}`.
    func invoke(_ request: Request, context: HubRequestContext) async throws -> Response {
        let bytes = try await request.bodyBytes(limit: DirectMethodLimits.maximumPayloadSize + 4096)
        // Methods are metered by payload, in 4 KB chunks.
        try await hub.throttle.admitRequest(.methodInvoke, cost: ThrottledOperation.methodInvoke.cost(payloadBytes: bytes.count),
                                            messageBytes: bytes.count)
        let body = try TwinService.parse(bytes)
        guard case .object(let call) = body else { throw HubError.invalid("the method call must be a JSON object") }
        guard let name = call["methodName"]?.stringValue, !name.isEmpty else {
            throw HubError.invalid("methodName is missing")
        }
        func seconds(_ key: String, default value: Int) throws -> Int {
            guard let member = call[key], !member.isNull else { return value }
            guard let number = member.int64Value else { throw HubError.invalid("\(key) must be an integer") }
            return Int(clamping: number)
        }
        let payload = (call["payload"] ?? .null).serializedBytes()
        let response = try await hub.methods.invoke(
            try Self.identity(context), method: name, payload: payload,
            responseTimeout: try seconds("responseTimeoutInSeconds", default: DirectMethodLimits.defaultResponseTimeout),
            connectTimeout: try seconds("connectTimeoutInSeconds", default: DirectMethodLimits.defaultConnectTimeout))
        let devicePayload = (try? JSONValue(parsing: response.payload)) ?? .null
        let result: JSONObject = ["status": .integer(Int64(response.status)), "payload": devicePayload]
        return JSONResponse.raw(JSONValue.object(result).serializedBytes())
    }
}
