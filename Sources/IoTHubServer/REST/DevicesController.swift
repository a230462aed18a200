import Foundation
import Hummingbird
import IoTHubProtocol

/// `/devices` and `/devices/{id}/modules`: the identity registry over REST.
struct DevicesController {
    let hub: HubServices

    func register(on router: Router<HubRequestContext>) {
        let (read, write) = (router.requiring([.registryRead], hub), router.requiring([.registryWrite], hub))
        write.put("devices/:deviceId") { request, context in
            try await self.put(request, context: context, identity: DeviceIdentity(deviceId: try context.identityComponent("deviceId")))
        }
        read.get("devices/:deviceId") { request, context in
            try await self.get(request, identity: DeviceIdentity(deviceId: try context.identityComponent("deviceId")))
        }
        write.delete("devices/:deviceId") { request, context in
            try await self.delete(request, identity: DeviceIdentity(deviceId: try context.identityComponent("deviceId")))
        }
        write.put("devices/:deviceId/modules/:moduleId") { request, context in
            try await self.put(request, context: context, identity: try Self.module(context))
        }
        read.get("devices/:deviceId/modules/:moduleId") { request, context in
            try await self.get(request, identity: try Self.module(context))
        }
        write.delete("devices/:deviceId/modules/:moduleId") { request, context in
            try await self.delete(request, identity: try Self.module(context))
        }
        read.get("devices/:deviceId/modules") { request, context in
            try await hub.throttle.admitRequest(.registry)
            let deviceId = try context.identityComponent("deviceId")
            _ = try await hub.registry.get(DeviceIdentity(deviceId: deviceId))
            return try JSONResponse.make(try await hub.store.modules(of: deviceId).map(DeviceJSON.init))
        }
        read.get("devices") { request, _ in
            try await hub.throttle.admitRequest(.registry)
            let top = request.uri.queryParameters.get("top", as: Int.self) ?? 1000
            return try JSONResponse.make(try await hub.registry.list(limit: top).map(DeviceJSON.init))
        }
        write.post("devices") { request, context in
            try await self.bulk(request, context: context)
        }
    }

    static func module(_ context: HubRequestContext) throws -> DeviceIdentity {
        DeviceIdentity(deviceId: try context.identityComponent("deviceId"), moduleId: try context.identityComponent("moduleId"))
    }

    func put(_ request: Request, context: HubRequestContext, identity: DeviceIdentity) async throws -> Response {
        try await hub.throttle.admitRequest(.registry)
        let body = try await request.decodeJSON(DeviceJSON.self, context: context)
        let record = try await hub.registry.createOrUpdate(try body.request(for: identity), ifMatch: request.ifMatch)
        return try JSONResponse.make(DeviceJSON(record), etag: record.etag)
    }

    func get(_ request: Request, identity: DeviceIdentity) async throws -> Response {
        try await hub.throttle.admitRequest(.registry)
        let record = try await hub.registry.get(identity)
        return try JSONResponse.make(DeviceJSON(record), etag: record.etag)
    }

    func delete(_ request: Request, identity: DeviceIdentity) async throws -> Response {
        try await hub.throttle.admitRequest(.registry)
        try await hub.registry.delete(identity, condition: ETagCondition(ifMatch: request.ifMatch))
        return Response(status: .noContent)
    }

    /// `POST /devices`: up to 100 create, update or delete operations; each succeeds or fails on its own.
    func bulk(_ request: Request, context: HubRequestContext) async throws -> Response {
        try await hub.throttle.admitRequest(.registry)
        let operations = try await request.decodeJSON([BulkDeviceJSON].self, context: context)
        guard operations.count <= 100 else {
            throw HubError.invalid("a bulk registry call takes at most 100 devices, not \(operations.count)")
        }
        var failures: [BulkResultJSON.Failure] = []
        for operation in operations {
            let identity = DeviceIdentity(deviceId: operation.id, moduleId: operation.moduleId)
            do {
                let body = DeviceJSON.bulkBody(operation)
                switch operation.importMode?.lowercased() ?? "create" {
                case "create":
                    _ = try await hub.registry.create(try body.request(for: identity))
                case "update", "createorupdate":
                    do {
                        _ = try await hub.registry.update(try body.request(for: identity), condition: .any)
                    } catch let error as HubError where error.code == .deviceNotFound || error.code == .moduleNotFound {
                        _ = try await hub.registry.create(try body.request(for: identity))
                    }
                case "updateifmatchetag":
                    _ = try await hub.registry.update(try body.request(for: identity), condition: ETagCondition(ifMatch: operation.eTag))
                case "delete":
                    try await hub.registry.delete(identity, condition: .any)
                case "deleteifmatchetag":
                    try await hub.registry.delete(identity, condition: ETagCondition(ifMatch: operation.eTag))
                case let mode:
                    throw HubError.invalid("importMode '\(mode)' is not supported")
                }
            } catch let error as HubError {
                failures.append(.init(deviceId: operation.id, moduleId: operation.moduleId, errorCode: error.code.name,
                                      errorStatus: error.message))
            }
        }
        let status: HTTPResponse.Status = failures.isEmpty ? .ok : .badRequest
        return try JSONResponse.make(BulkResultJSON(isSuccessful: failures.isEmpty, errors: failures, warnings: []), status: status)
    }
}

extension DeviceJSON {
    static func bulkBody(_ operation: BulkDeviceJSON) -> DeviceJSON {
        var body = DeviceJSON()
        body.deviceId = operation.id
        body.moduleId = operation.moduleId
        body.status = operation.status
        body.statusReason = operation.statusReason
        body.authentication = operation.authentication
        body.capabilities = operation.capabilities
        return body
    }
}
