import ArgumentParser
import AsyncHTTPClient
import Foundation
import IoTHubProtocol
import NIOCore

/// `iothub files list|show|download`: the uploads devices made, their outcome, and their bytes.
struct FilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files", abstract: "List, inspect and download the files devices uploaded.",
        subcommands: [List.self, Show.self, Download.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List uploads, oldest first, as JSON lines.")
        @Option(name: .customLong("device"), help: "Only this device's uploads.") var deviceId: String?
        @Option(help: "Stop after this many.") var limit: Int?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                var after: Int64 = 0
                var printed = 0
                while true {
                    var path = "/files?after=\(after)&limit=1000"
                    if let deviceId { path += "&deviceId=" + PercentEncoding.encode(deviceId) }
                    let page = try JSONValue(parsing: try await client.send(.GET, path).body)
                    guard case .array(let items) = page, !items.isEmpty else { return }
                    for item in items {
                        if let limit, printed >= limit { return }
                        print(item.serialized())
                        printed += 1
                    }
                    guard case .integer(let last)? = items.last?["sequenceNumber"] else { return }
                    after = last
                    if items.count < 1000 { return }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one upload (by correlation id or blob name).")
        @Argument(help: "A correlation id, or a blob name such as DEVICE/NAME (its newest upload).") var upload: String
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                printJSON(try await client.send(.GET, "/files/" + FileNames.path(upload)).body)
            }
        }
    }

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download an uploaded file from the hub's storage.")
        @Argument(help: "A correlation id, or a blob name such as DEVICE/NAME.") var upload: String
        @Option(name: [.short, .customLong("output")], help: "Where to write it (default: the blob name's last part; - for standard output).")
        var output: String?
        @OptionGroup var hub: HubClientOptions

        func run() async throws {
            try await withHub(hub) { client in
                let info = try JSONValue(parsing: try await client.send(.GET, "/files/" + FileNames.path(upload)).body)
                guard let url = info["downloadUrl"]?.stringValue, let name = info["blobName"]?.stringValue else {
                    throw HubClientError("'\(upload)' has no committed blob to download (state: \(info["state"]?.stringValue ?? "?"))")
                }
                let target = output ?? String(name.split(separator: "/").last ?? "download")
                let (bytes, sha256) = try await client.download(url, to: target)
                FileHandle.standardError.write(Data("downloaded \(name): \(bytes) bytes, SHA-256 \(sha256)\(target == "-" ? "" : " to \(target)")\n".utf8))
            }
        }
    }
}

enum FileNames {
    /// A correlation id or blob name as a URL path: each `/`-separated part percent-encoded.
    static func path(_ text: String) -> String {
        text.split(separator: "/", omittingEmptySubsequences: false).map { PercentEncoding.encode(String($0)) }
            .joined(separator: "/")
    }
}

extension HubClient {
    /// Streams `url` (the hub's storage, with a read SAS) to `path` (`-`: standard output), through a temporary
    /// file renamed into place; returns the size and SHA-256 hex.
    func download(_ url: String, to path: String) async throws -> (Int64, String) {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "x-ms-version", value: BlobServiceSAS.version)
        let response = try await http.execute(request, timeout: .hours(24))
        guard response.status.code == 200 else {
            let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
            throw HubClientError("the storage answered \(response.status.code): \(body)")
        }
        let temporary = path == "-" ? nil : path + ".download-\(getpid())"
        let handle: FileHandle
        if let temporary {
            guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
                throw HubClientError("cannot write \(temporary)")
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        } else {
            handle = FileHandle.standardOutput
        }
        let digest = StreamingDigest(.sha256)
        var total: Int64 = 0
        do {
            for try await chunk in response.body {
                let data = Data(buffer: chunk)
                data.withUnsafeBytes { digest.update($0) }
                try handle.write(contentsOf: data)
                total += Int64(chunk.readableBytes)
            }
            if let temporary {
                try handle.close()
                if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
                try FileManager.default.moveItem(atPath: temporary, toPath: path)
            }
        } catch {
            if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
            throw error
        }
        return (total, LibCrypto.hexEncode(digest.finish()).lowercased())
    }
}
