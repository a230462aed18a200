import FleetSimulation
import Foundation

/// The coordinator's worker processes: one `fleetsim worker` per slice, each with its own source address on
/// loopback (127.0.0.2, .3, …) so no one address runs out of ephemeral ports; their progress lines feed one live
/// display, and their run documents merge into one.
struct WorkerPool {
    let arguments: [String]
    let slices: [Range<Int>]
    let total: Int
    /// Devices connect to a loopback address, so each worker may take a source address of its own.
    let gatewayIsLoopback: Bool
    /// `--bind` was given: workers use those addresses instead.
    let bindGiven: Bool

    /// Runs the workers; each one's run document stays in `directory` (`worker-N.json`) beside the merged report.
    func run(display: LiveDisplay?, devices: Int, directory: URL) async throws -> FleetRunDocument {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let control = RunControl(devices: total)
        let startedMs = Int64(Date().timeIntervalSince1970 * 1000)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var displayTask: Task<Void, Never>?
        if let display { displayTask = Task { await display.run(control: control, devices: devices) } }
        defer { displayTask?.cancel() }

        let outcomes = try await withThrowingTaskGroup(of: (Int, Int32).self) { group in
            for (index, slice) in slices.enumerated() {
                var workerArguments = arguments + ["--slice-start", String(slice.lowerBound), "--slice-end", String(slice.upperBound),
                                                   "--started-unix-ms", String(startedMs),
                                                   "--output-json", directory.appendingPathComponent("worker-\(index).json").path]
                if gatewayIsLoopback, !bindGiven { workerArguments += ["--bind", "127.0.0.\(2 + index % 250)"] }
                let process = Process()
                process.executableURL = executable
                process.arguments = workerArguments
                let output = Pipe()
                process.standardOutput = output
                let reader = WorkerOutputReader(handle: output.fileHandleForReading, worker: index, control: control)
                group.addTask {
                    let status: Int32 = try await withCheckedThrowingContinuation { continuation in
                        process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                        do {
                            try process.run()
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    }
                    reader.waitForEnd()
                    return (index, status)
                }
                reader.start()
            }
            var outcomes: [(Int, Int32)] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }
        }
        var merged: FleetRunDocument?
        for (index, status) in outcomes {
            let path = directory.appendingPathComponent("worker-\(index).json").path
            guard FileManager.default.fileExists(atPath: path) else {
                throw FleetError.invalidConfiguration("worker \(index) (devices \(slices[index].lowerBound)..<\(slices[index].upperBound)) exited with status \(status) and no report; its output is above")
            }
            let document = try FleetRunFiles.read(path)
            if merged == nil { merged = document } else { merged?.merge(document) }
        }
        guard let merged else { throw FleetError.invalidConfiguration("no worker ran") }
        return merged
    }
}

/// Reads one worker's standard output on a thread of its own (a blocking read must not hold a thread of Swift's
/// small cooperative pool): progress lines go to the coordinator's display, anything else is passed through.
final class WorkerOutputReader: @unchecked Sendable {
    private let handle: FileHandle
    private let worker: Int
    private let control: RunControl
    private let done = DispatchSemaphore(value: 0)

    init(handle: FileHandle, worker: Int, control: RunControl) {
        self.handle = handle
        self.worker = worker
        self.control = control
    }

    func start() {
        let thread = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    handle(line: String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            done.signal()
        }
        thread.start()
    }

    func waitForEnd() { done.wait() }

    private func handle(line: String) {
        if line.hasPrefix(LiveDisplay.progressPrefix),
           let snapshot = try? JSONDecoder().decode(RunControl.Snapshot.self, from: Data(line.dropFirst(LiveDisplay.progressPrefix.count).utf8)) {
            control.publish(snapshot, from: worker)
        } else if !line.isEmpty {
            print("[worker \(worker)] \(line)")
        }
    }
}
