import Glibc
import IoTHubDevice
import SampleSupport
import Synchronization

/// Uploads a file to the hub's storage in blocks, printing progress, and prints the blob's SHA-256.
///
/// Interrupted (Ctrl-C, a network outage), run it again with the same `--resume-state` file: it sends only the
/// blocks the storage lacks. It links only the SDK, like `sample-telemetry`.
@main
struct FileUploadSample {
    static let usage = """
        USAGE: sample-file-upload PATH [--blob-name NAME] [--resume-state FILE] [--block-size BYTES]

        Upload the file at PATH to the hub's storage, in blocks, and notify the hub.
        Reads IOTHUB_DEVICE_CONNECTION_STRING and, optionally, IOTHUB_CA_FILE and IOTHUB_HTTPS_PORT.

        OPTIONS:
          --blob-name     The blob's name below the device's folder (default: the file's name).
          --resume-state  A file that keeps the upload's state, to continue it after an interruption.
          --block-size    Bytes per block (default: 4194304, at most 4194304000).
          -h, --help      Show this help.
        """

    static func main() async {
        var rest = Array(CommandLine.arguments.dropFirst())
        // PATH is the one argument that is neither an option nor an option's value.
        var path: String?
        var index = 0
        while index < rest.count {
            let argument = rest[index]
            if argument.hasPrefix("-") {
                index += argument.contains("=") || argument == "-h" || argument == "--help" ? 1 : 2
            } else if path == nil {
                path = argument
                rest.remove(at: index)
            } else {
                index += 1
            }
        }
        let arguments = SampleArguments(rest, options: ["blob-name", "resume-state", "block-size"], usage: usage)
        guard let path else { SampleEnvironment.fail("give the PATH of the file to upload\n\n\(usage)") }
        var options = FileUploadOptions()
        options.blockSize = arguments.integer("block-size", default: 4 << 20, minimum: 1)
        options.resumeStatePath = arguments.string("resume-state")
        let started = ContinuousClock.now
        let printer = ProgressPrinter()
        options.progress = { printer.print($0) }
        let name = arguments.string("blob-name") ?? String(path.split(separator: "/").last ?? Substring(path))

        let client = SampleEnvironment.makeClient()
        do {
            let result = try await client.uploadFile(named: name, from: path, options: options)
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = seconds > 0 ? Double(result.size) / seconds / 1_048_576 : 0
            print("uploaded \(result.blobName): \(result.size) bytes in \(result.blocksSent) blocks sent, "
                  + "\(result.blocksSkipped) already stored, \(elapsed) (\(Int(rate)) MiB/s)")
            print("sha256 \(result.sha256Hex)")
        } catch {
            await client.close()
            SampleEnvironment.fail("\(error)")
        }
        await client.close()
    }
}

/// Prints a progress line to standard error each time another 5 % is done (every block when the size is unknown).
final class ProgressPrinter: Sendable {
    private let lastStep = Mutex<Int64>(-1)

    func print(_ progress: FileUploadProgress) {
        guard let total = progress.totalBytes, total > 0 else {
            SampleEnvironment.printError("progress: \(progress)")
            return
        }
        let step = progress.bytesDone * 20 / total
        let due = lastStep.withLock { last in
            defer { last = max(last, step) }
            return step > last
        }
        if due { SampleEnvironment.printError("progress: \(step * 5)% \(progress)") }
    }
}
