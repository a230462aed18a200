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

    /// - Parameter uploads: file uploads on a blob store in a fresh directory, advertised as `storage.test:10443`.
    init(hostName: String = "hub.test", throttling: ThrottlingConfiguration = .unlimited,
         uploads: FileUploadConfiguration? = nil) throws {
        let directory = TestProcess.temporaryDirectory()
        store = try SQLiteHubStore(path: directory + "/hub.sqlite", durability: .normal)
        policies = AccessPolicy.defaults()
        var fileUploads: FileUploadService?
        if let uploads {
            let storage = try BlobStorage(root: directory + "/blobs", maximumBytes: uploads.maximumBytes, syncs: false,
                                          logger: Logger(label: "test"))
            fileUploads = FileUploadService(configuration: uploads, storage: storage, store: store,
                                            accountKey: .random(), storageHostName: "storage.test:10443",
                                            logger: Logger(label: "test"))
        }
        services = HubServices(hostName: hostName, store: store, policies: policies, logger: Logger(label: "test"),
                               throttling: throttling, fileUploads: fileUploads)
    }

    /// A service token signed by policy `name`.
    func token(_ name: String = "iothubowner") -> String {
        let policy = policies.first { $0.name == name }!
        return SASToken.generate(resourceURI: services.hostName, key: policy.primaryKey,
                                 expiry: UInt64(Date().timeIntervalSince1970) + 3600, keyName: name, style: .serviceSDK).description
    }
}
