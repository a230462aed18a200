import Foundation
import IoTHubProtocol
import Logging
@testable import IoTHubCore
@testable import IoTHubServer

/// Hub services on a fresh store, with the default policies.
struct TestHub {
    let services: HubServices
    let store: SQLiteHubStore
    let policies: [AccessPolicy]

    init(hostName: String = "hub.test", throttling: ThrottlingConfiguration = .unlimited) throws {
        store = try SQLiteHubStore(path: TestProcess.temporaryDirectory() + "/hub.sqlite", durability: .normal)
        policies = AccessPolicy.defaults()
        services = HubServices(hostName: hostName, store: store, policies: policies, logger: Logger(label: "test"),
                               throttling: throttling)
    }

    /// A service token signed by policy `name`.
    func token(_ name: String = "iothubowner") -> String {
        let policy = policies.first { $0.name == name }!
        return SASToken.generate(resourceURI: services.hostName, key: policy.primaryKey,
                                 expiry: UInt64(Date().timeIntervalSince1970) + 3600, keyName: name, style: .serviceSDK).description
    }
}
