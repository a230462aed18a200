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
        guard operations.count <= RegistryService.maximumImportOperations else {
            throw HubError.invalid("a bulk registry call takes at most 100 devices, not \(operations.count)")
        }
        // The wire JSON becomes the core's operations here; one that does not convert fails on its own.
        var failed: [Int: HubError] = [:]
        var imports: [(index: Int, operation: RegistryImport)] = []
        for (index, operation) in operations.enumerated() {
            let identity = DeviceIdentity(deviceId: operation.id, moduleId: operation.moduleId)
            do {
                let mode = try RegistryImport.Mode(parsing: operation.importMode)
                let body = mode == .delete || mode == .deleteIfMatchETag
                    ? nil : try DeviceJSON.bulkBody(operation).request(for: identity)
                imports.append((index, RegistryImport(identity: identity, mode: mode, request: body, eTag: operation.eTag)))
            } catch let error as HubError {
                failed[index] = error
            }
        }
        for (position, error) in try await hub.registry.apply(imports.map(\.operation)) {
            failed[imports[position].index] = error
        }
        let failures = failed.sorted { $0.key < $1.key }.map { index, error in
            BulkResultJSON.Failure(deviceId: operations[index].id, moduleId: operations[index].moduleId,
                                   errorCode: error.code.name, errorStatus: error.message)
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
