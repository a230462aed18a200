/// How a fleet splits into contiguous parts: over machines (`--shard i/N`) and, within one, over worker processes.
public enum FleetSlices {
    /// `count` devices in `parts` contiguous slices whose sizes differ by at most one.
    public static func split(_ range: Range<Int>, into parts: Int) -> [Range<Int>] {
        let parts = max(1, parts)
        let base = range.count / parts, extra = range.count % parts
        var slices: [Range<Int>] = []
        var start = range.lowerBound
        for index in 0..<parts {
            let size = base + (index < extra ? 1 : 0)
            slices.append(start..<start + size)
            start += size
        }
        return slices
    }

    /// The worker processes `devices` need when one process may carry `perProcess` of them.
    public static func workers(devices: Int, perProcess: Int) -> Int {
        max(1, (devices + max(1, perProcess) - 1) / max(1, perProcess))
    }

    /// Parses `i/N` (0 ≤ i < N), as a Kubernetes Indexed Job's completion index and completions give it.
    public static func shard(_ text: String) -> (index: Int, count: Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (0..<count).contains(index)
        else { return nil }
        return (index, count)
    }
}
