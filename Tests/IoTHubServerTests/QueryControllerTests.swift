import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("REST: twin queries")
struct QueryControllerTests {
    @Test("WHERE over tags and properties, COUNT, continuation paging, bad queries")
    func query() async throws {
        let hub = try TestHub()
        defer { hub.store.close() }
        for index in 0..<12 {
            let identity = DeviceIdentity(deviceId: String(format: "q%02d", index))
            _ = try await hub.services.registry.create(.init(identity: identity))
            _ = try await hub.services.twins.update(identity, body: ["tags": ["floor": .integer(Int64(index % 3))]], ifMatch: nil, replace: false)
        }
        let app = Application(router: HubRouter.make(hub.services))
        try await app.test(.router) { client in
            func post(_ query: String, continuation: String? = nil, max: Int? = nil) async throws -> (TestResponse, [JSONValue]) {
                var headers: HTTPFields = [.authorization: hub.token("registryRead")]
                if let continuation { headers[HTTPField.Name("x-ms-continuation")!] = continuation }
                if let max { headers[HTTPField.Name("x-ms-max-item-count")!] = String(max) }
                let body = JSONValue.object(["query": .string(query)]).serialized()
                return try await client.execute(uri: "/devices/query?api-version=2021-04-12", method: .post, headers: headers,
                                                body: ByteBuffer(string: body)) { response in
                    (response, (try? JSONValue(parsing: Array(buffer: response.body)))?.arrayValue ?? [])
                }
            }
            let (all, floorOne) = try await post("SELECT * FROM devices WHERE tags.floor = 1")
            #expect(all.status == .ok)
            #expect(floorOne.compactMap { $0["deviceId"]?.stringValue } == ["q01", "q04", "q07", "q10"])
            #expect(all.headers[HTTPField.Name("x-ms-item-type")!] == "twin")
            #expect(all.headers[HTTPField.Name("x-ms-continuation")!] == nil)

            var seen: [String] = []
            var continuation: String?
            var pages = 0
            repeat {
                let (response, items) = try await post("SELECT * FROM devices", continuation: continuation, max: 5)
                seen += items.compactMap { $0["deviceId"]?.stringValue }
                continuation = response.headers[HTTPField.Name("x-ms-continuation")!]
                pages += 1
            } while continuation != nil && pages < 10
            #expect(seen == (0..<12).map { String(format: "q%02d", $0) })
            #expect(pages == 3)

            let (_, count) = try await post("SELECT COUNT() AS n FROM devices WHERE tags.floor IN [0, 2]")
            #expect(count == [["n": 8]])
            let (bad, _) = try await post("SELECT * FROM devices WHERE tags.floor = = 1")
            #expect(bad.status == .badRequest)
        }
    }
}
