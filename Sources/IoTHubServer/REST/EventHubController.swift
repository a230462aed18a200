import Foundation
import Hummingbird
import IoTHubCore
import IoTHubProtocol

/// The built-in endpoint's consumer groups and partitions over REST (this hub's addition, for `iothub
/// consumer-group` and `iothub eventhub show`; IoT Hub manages them through Azure Resource Manager):
/// - `GET /eventhub`: name, partition ids, creation time and each partition's state (ServiceConnect);
/// - `GET /eventhub/consumergroups`, `PUT` and `DELETE /eventhub/consumergroups/{name}` (ServiceConnect to read,
///   RegistryWrite to change).
///
/// Each takes `?eventHub=NAME` for a custom event-stream routing endpoint instead of the built-in one.
struct EventHubController {
    let hub: HubServices

    /// The event stream `?eventHub=` names, the built-in endpoint without it. - Throws: 404160 for an unknown name.
    static func stream(_ request: Request, _ hub: HubServices) throws -> EventHubService {
        guard let name = request.uri.queryParameters.get("eventHub"), !name.isEmpty else { return hub.eventHub }
        guard let stream = hub.routing.eventStream(named: name) else {
            throw HubError(.routingResourceNotFound, "there is no event stream '\(name)'; this hub serves "
                           + hub.routing.eventStreamList)
        }
        return stream
    }

    func register(on router: Router<HubRequestContext>) {
        let hub = self.hub
        let (read, write) = (router.requiring([.serviceConnect], hub), router.requiring([.registryWrite], hub))
        read.get("eventhub") { request, _ in
            let eventHub = try Self.stream(request, hub)
            var partitions: [JSONValue] = []
            for (partition, id) in eventHub.partitioner.partitionIds.enumerated() {
                let state = try await eventHub.partitionState(partition)
                partitions.append(.object([
                    "partitionId": .string(id),
                    "beginSequenceNumber": .integer(state.beginSequenceNumber),
                    "lastEnqueuedSequenceNumber": .integer(state.lastSequenceNumber),
                    "lastEnqueuedOffset": .string(String(state.lastOffset)),
                    "lastEnqueuedTimeUtc": state.lastEnqueuedMilliseconds > 0
                        ? .string(Timestamps.iso8601(Date(milliseconds: state.lastEnqueuedMilliseconds)))
                        : .null,
                    "isEmpty": .bool(state.isEmpty),
                ]))
            }
            return JSONResponse.raw(JSONValue.object([
                "name": .string(eventHub.name),
                "createdAtUtc": .string(Timestamps.iso8601(eventHub.createdAt)),
                "partitionCount": .integer(Int64(eventHub.partitioner.count)),
                "partitionIds": .array(eventHub.partitioner.partitionIds.map(JSONValue.string)),
                "partitions": .array(partitions),
            ]).serializedBytes())
        }
        read.get("eventhub/consumergroups") { request, _ in
            let eventHub = try Self.stream(request, hub)
            return JSONResponse.raw(JSONValue.array(try await eventHub.consumerGroups().map(Self.json)).serializedBytes())
        }
        write.put("eventhub/consumergroups/:name") { request, context in
            let eventHub = try Self.stream(request, hub)
            let record = try await eventHub.createConsumerGroup(try context.identifier("name"))
            return JSONResponse.raw(Self.json(record).serializedBytes())
        }
        write.delete("eventhub/consumergroups/:name") { request, context in
            let eventHub = try Self.stream(request, hub)
            try await eventHub.deleteConsumerGroup(try context.identifier("name"))
            return Response(status: .ok)
        }
    }

    static func json(_ record: ConsumerGroupRecord) -> JSONValue {
        .object([
            "name": .string(record.name),
            "createdAtUtc": .string(Timestamps.iso8601(Date(milliseconds: record.createdMilliseconds))),
        ])
    }
}
