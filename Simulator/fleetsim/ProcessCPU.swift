import Glibc

/// The simulator's own CPU time (user + system, with its finished worker processes), so a run shows what the
/// simulator cost beside what it sent: the figure that says whether the simulator or the hub was the limit.
enum ProcessCPU {
    static func seconds(includingWorkers: Bool) -> Double {
        var total = 0.0
        for who in includingWorkers ? [RUSAGE_SELF, RUSAGE_CHILDREN] : [RUSAGE_SELF] {
            var usage = rusage()
            getrusage(__rusage_who_t(who.rawValue), &usage)
            total += Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        }
        return total
    }

    static func summary(messages: Int, includingWorkers: Bool = false) -> String {
        let cpu = seconds(includingWorkers: includingWorkers)
        let perThousand = messages > 0 ? cpu / Double(messages) * 1000 * 1000 : 0
        return "fleetsim: CPU \(format(cpu)) s (user + system\(includingWorkers ? ", workers included" : "")); "
            + (messages > 0 ? "\(format(perThousand)) ms per 1,000 acknowledged messages" : "no messages acknowledged")
    }

    private static func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        return "\(hundredths / 100).\(String(hundredths % 100).leftPadded(2))"
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
