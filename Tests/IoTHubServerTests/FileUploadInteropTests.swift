import Foundation
import IoTHubProtocol
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// The official `azure-iot-device` upload calls and `azure-storage-blob`'s `BlobClient` against our hub and its
/// storage endpoint, a back end reading the notifications with uamqp, and `iothub files` reading the result.
@Suite("interop: azure-iot-device + azure-storage-blob file upload", .serialized)
struct FileUploadInteropTests {
    @Test("single-shot and chunked uploads, downloads, SAS refusals, the 10-upload limit, notifications, iothub files")
    func officialClients() async throws {
        let hub = try await RunningHub.start()
        let result: Result<([String: Any], [String]), any Error>
        do {
            let record = try await hub.server.services.registry.create(.init(identity: DeviceIdentity(deviceId: "uploader")))
            guard case .sas(let key, _) = record.authentication else { throw HubError.invalid("not SAS") }
            let out = try await Python.runJSON(
                "file_upload_scenario.py",
                ["HostName=localhost;DeviceId=uploader;SharedAccessKey=\(key.base64)", hub.caPath, hub.ownerConnectionString],
                caPath: hub.caPath)
            // The operator's view.
            let cli = ["--connection-string", hub.ownerConnectionString, "--ca-file", hub.caPath]
            let target = TestProcess.temporaryDirectory() + "/large.bin"
            let listed = try await TestProcess.runOffPool(CommandLineTests.binary, ["files", "list", "--device", "uploader"] + cli)
            let shown = try await TestProcess.runOffPool(CommandLineTests.binary, ["files", "show", "uploader/large.bin"] + cli)
            let downloaded = try await TestProcess.runOffPool(
                CommandLineTests.binary, ["files", "download", "uploader/large.bin", "--output", target] + cli)
            let bytes = FileManager.default.contents(atPath: target).map { [UInt8]($0) } ?? []
            result = .success((out, [listed.output, shown.output, downloaded.output, LibCrypto.hexEncode(LibCrypto.sha256(bytes)).lowercased(),
                                     "\(listed.status) \(shown.status) \(downloaded.status)"]))
        } catch {
            result = .failure(error)
        }
        await hub.stop()
        let (out, cli) = try result.get()

        let info = try #require(out["info"] as? [String: Any])
        #expect(info["blobName"] as? String == "uploader/logs/small.txt")
        #expect(info["containerName"] as? String == "fileupload")
        #expect((info["hostName"] as? String)?.hasPrefix("localhost:") == true, "the primary host name, with the bound port")
        #expect(out["infoKeys"] as? [String] == ["blobName", "containerName", "correlationId", "hostName", "sasToken"])
        #expect(out["smallDownload"] as? String == out["smallSha256"] as? String)
        #expect(out["smallRange"] as? String == "from")
        #expect(out["smallSize"] as? Int == 290)
        #expect((out["largeBlocks"] as? Int ?? 0) >= 11, "the chunked upload used Put Block")
        #expect(out["largeDownload"] as? String == out["largeSha256"] as? String)
        #expect(out["emptyDownload"] as? Int == 0)

        func refusal(_ key: String) -> (Int?, String?) {
            let value = out[key] as? [String: Any]
            return (value?["status"] as? Int, value?["code"] as? String)
        }
        #expect(refusal("tampered") == (403, "AuthenticationFailed"))
        #expect(refusal("otherBlob") == (403, "AuthenticationFailed"))
        #expect(refusal("noSas").0 == 401)
        #expect(refusal("beyondEnd") == (416, "InvalidRange"))
        // 4 uploads were reported already, so the device has room for 10 more, then the 11th is refused.
        #expect(out["inProgressGranted"] as? Int == 10)
        #expect((out["limitError"] as? String)?.isEmpty == false)

        let notifications = try #require(out["notifications"] as? [[String: Any]])
        #expect(Set(notifications.compactMap { $0["blobName"] as? String })
            == ["uploader/logs/small.txt", "uploader/large.bin", "uploader/empty.txt"])
        let large = notifications.first { $0["blobName"] as? String == "uploader/large.bin" }
        #expect(large?["deviceId"] as? String == "uploader")
        #expect(large?["blobSizeInBytes"] as? Int == 700 * 1024 + 123)
        #expect((large?["blobUri"] as? String)?.hasSuffix("/fileupload/uploader/large.bin") == true)
        #expect(large?["lastUpdatedTime"] is String && large?["enqueuedTimeUtc"] is String)

        #expect(cli[4] == "0 0 0", "\(cli)")
        #expect(cli[0].contains("\"failed\"") && cli[0].contains("the device ran out of battery"), "\(cli[0])")
        #expect(cli[1].contains("\"downloadUrl\""), "\(cli[1])")
        #expect(cli[3] == out["largeSha256"] as? String, "\(cli[2])")
        #expect(cli[2].contains(out["largeSha256"] as? String ?? "-"), "iothub files download prints the SHA-256")
    }
}
