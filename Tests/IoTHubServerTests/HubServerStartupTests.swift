import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("hub startup")
struct HubServerStartupTests {
    @Test("a taken port is a clear startup error")
    func portTaken() async throws {
        let blocker = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(blocker.localAddress?.port)
        let configuration = HubConfiguration(dataDirectory: TestProcess.temporaryDirectory(), httpsPort: port)
        await #expect {
            try await HubServer.start(configuration, logger: Logger(label: "t"))
        } throws: { error in
            guard case .portUnavailable(port, "HTTPS", _) = error as? HubStartupError else { return false }
            return (error as? HubStartupError)?.description.contains("choose another port") == true
        }
        try await blocker.close()
    }

    @Test("an unusable data directory is a clear startup error")
    func badDataDirectory() async throws {
        let file = TestProcess.temporaryDirectory() + "/not-a-directory"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        await #expect {
            try await HubServer.start(HubConfiguration(dataDirectory: file + "/hub", httpsPort: 0), logger: Logger(label: "t"))
        } throws: { error in
            guard case .dataDirectoryUnusable = error as? HubStartupError else { return false }
            return true
        }
    }

    @Test("first start creates policies and TLS; a restart keeps them")
    func restart() async throws {
        let directory = TestProcess.temporaryDirectory()
        let configuration = HubConfiguration(dataDirectory: directory, httpsPort: 0)
        let first = try await HubDataDirectory.open(configuration)
        #expect(first.created && first.policies.map(\.name) == ["iothubowner", "service", "device", "registryRead", "registryReadWrite"])
        first.store.close()
        let second = try await HubDataDirectory.open(configuration)
        defer { second.store.close() }
        #expect(!second.created && second.policies == first.policies)
    }
}
