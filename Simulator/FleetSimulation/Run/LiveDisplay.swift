import Foundation
import Glibc

/// The live view of a run: devices connected out of the target, telemetry per second, p50/p99 per operation
/// over the last second, and errors. On a terminal it redraws two lines in place every second; elsewhere (a CI
/// log, a pipe) it prints one plain line every few seconds.
public struct LiveDisplay: Sendable {
    /// The prefix of a worker's progress lines (``workerProgress(write:)``).
    public static let progressPrefix = "progress "

    public var isTerminal: Bool
    /// Write each second's totals as one JSON line (a worker's progress for its coordinator) instead of text.
    public var emitsSnapshots = false
    public var interval: Duration
    public var write: @Sendable (String) -> Void

    /// To standard output, redrawn when that is a terminal.
    public static func standardOutput() -> LiveDisplay {
        let terminal = isatty(STDOUT_FILENO) == 1
        return LiveDisplay(isTerminal: terminal, interval: terminal ? .seconds(1) : .seconds(5)) { text in
            print(text, terminator: "")
            fflush(nil)
        }
    }

    public init(isTerminal: Bool, interval: Duration, write: @escaping @Sendable (String) -> Void) {
        self.isTerminal = isTerminal
        self.interval = interval
        self.write = write
    }

    /// A worker's progress for its coordinator: the totals as a JSON line every second.
    public static func workerProgress(write: @escaping @Sendable (String) -> Void) -> LiveDisplay {
        var display = LiveDisplay(isTerminal: false, interval: .seconds(1), write: write)
        display.emitsSnapshots = true
        return display
    }

    /// Shows `control`'s totals until cancelled.
    public func run(control: RunControl, devices: Int) async {
        var previous = control.totals()
        var previousAt = ContinuousClock.now
        var drawn = false
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let now = ContinuousClock.now
            let totals = control.totals()
            if emitsSnapshots {
                if let json = try? JSONEncoder().encode(totals) { write(Self.progressPrefix + String(decoding: json, as: UTF8.self) + "\n") }
                continue
            }
            let lines = Self.lines(totals, previous: previous, over: now - previousAt,
                                   elapsed: now - control.started, devices: devices, phase: control.phase)
            if isTerminal {
                write((drawn ? "\u{1B}[2F" : "") + lines.map { "\u{1B}[2K" + $0 + "\n" }.joined())
                drawn = true
            } else {
                write(lines.joined(separator: " | ") + "\n")
            }
            previous = totals
            previousAt = now
        }
    }

    /// The two lines for `totals`, with rates against `previous` (taken `over` ago).
    static func lines(_ totals: RunControl.Snapshot, previous: RunControl.Snapshot, over: Duration, elapsed: Duration,
                      devices: Int, phase: RunControl.Phase) -> [String] {
        let seconds = max(over.seconds, 0.001)
        func rate(_ name: String) -> Int {
            Int((Double((totals.counters[name] ?? 0) - (previous.counters[name] ?? 0)) / seconds).rounded())
        }
        let errors = totals.failures.filter { $0.key != .throttled }.values.reduce(0, +)
        let state = phase == .running ? "" : " [\(phase)]"
        var first = "fleetsim \(Int(elapsed.seconds))s\(state): \(group(totals.connected))/\(group(devices)) connected"
        first += " · d2c \(group(rate("d2c.acknowledged")))/s acked (\(group(totals.counters["d2c.acknowledged"] ?? 0)) total)"
        if totals.counters["d2c.seen"] != nil { first += " · seen \(group(totals.counters["d2c.seen"] ?? 0))" }
        first += " · errors \(group(errors)) · throttled \(group(totals.failures[.throttled] ?? 0))"
        var second = "  p50/p99 ms:"
        if totals.lastSecond.isEmpty { second += " (nothing finished in the last second)" }
        for operation in totals.lastSecond.keys.sorted() {
            guard let window = totals.lastSecond[operation] else { continue }
            second += " \(operation.rawValue) \(FleetMarkdownReport.format(window.milliseconds(atPercentile: 50)))"
                + "/\(FleetMarkdownReport.format(window.milliseconds(atPercentile: 99)))"
        }
        return [first, second]
    }

    /// 12345 as "12,345".
    static func group(_ value: Int) -> String {
        let digits = String(abs(value))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }
}
