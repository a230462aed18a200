import Synchronization

/// The service side's measurements (method round trips, end-to-end telemetry, its own calls' failures), taken
/// from many tasks at once: one lock, the same figures a shard keeps, and a snapshot for the live display each
/// second.
final class ServiceRecorder: Sendable {
    private struct State {
        var metrics = FleetMetrics()
        var timeline = FleetTimeline()
        var window: [FleetOperation: LatencyHistogram] = [:]
        var second = 0
    }

    private let state = Mutex(State())
    private let control: RunControl
    private let source: Int

    init(control: RunControl, source: Int) {
        self.control = control
        self.source = source
    }

    private var currentSecond: Int { Int((ContinuousClock.now - control.started).components.seconds) }

    func record(_ operation: FleetOperation, latency: Duration, count name: String? = nil) {
        let second = currentSecond
        state.withLock { state in
            roll(&state, to: second)
            state.metrics.record(operation, latency: latency)
            state.window[operation, default: LatencyHistogram()].record(latency)
            if let name {
                state.metrics.count(name)
                state.timeline.count(name, at: second)
            }
        }
    }

    func count(_ name: String) {
        let second = currentSecond
        state.withLock { state in
            roll(&state, to: second)
            state.metrics.count(name)
            state.timeline.count(name, at: second)
        }
    }

    func fail(_ operation: FleetOperation, _ errorClass: FleetErrorClass) {
        let second = currentSecond
        state.withLock { state in
            roll(&state, to: second)
            state.metrics.fail(operation, errorClass)
            state.timeline.count(errorClass == .throttled ? "throttled" : "errors", at: second)
        }
    }

    /// Publishes the last whole second to the live display (call about once a second).
    func tick() {
        let second = currentSecond
        state.withLock { roll(&$0, to: second) }
    }

    func counter(_ name: String) -> Int { state.withLock { $0.metrics.counters[name] ?? 0 } }

    /// Everything measured, the open second included.
    func finish() -> (metrics: FleetMetrics, timeline: FleetTimeline) {
        state.withLock { state in
            roll(&state, to: state.second + 1)
            return (state.metrics, state.timeline)
        }
    }

    private func roll(_ state: inout State, to second: Int) {
        guard second > state.second else { return }
        var snapshot = RunControl.Snapshot()
        for (operation, histogram) in state.window where histogram.count > 0 {
            let compact = CompactLatency(histogram)
            state.timeline.latency(operation, compact, at: state.second)
            snapshot.lastSecond[operation] = compact
            state.window[operation]?.reset()
        }
        state.second = second
        snapshot.counters = state.metrics.counters
        for operation in state.metrics.operations.values { snapshot.failures.merge(operation.failures, uniquingKeysWith: +) }
        control.publish(snapshot, from: source)
    }
}
