/// Whether a run's counts add up, as the QA engineer reading a report would check them: every device connected,
/// every message sent was acknowledged (and seen at the service side when it read the stream), every method call
/// answered, every twin request answered, every C2D message received, and nothing failed but throttling.
public enum FleetRunChecks {
    /// What does not add up, one sentence each; empty when the run is clean.
    public static func problems(_ document: FleetRunDocument) -> [String] {
        var problems: [String] = []
        let counter = document.counter
        if counter("devices.connected") < counter("devices.planned") {
            problems.append("\(counter("devices.planned") - counter("devices.connected")) of \(counter("devices.planned")) devices never connected")
        }
        if counter("d2c.acknowledged") < counter("d2c.sent") {
            problems.append("\(counter("d2c.sent") - counter("d2c.acknowledged")) of \(counter("d2c.sent")) telemetry messages were not acknowledged")
        }
        if document.metrics.counters["d2c.seen"] != nil || document.metrics.operations[.d2cEndToEnd] != nil,
           counter("d2c.seen") < counter("d2c.acknowledged") {
            problems.append("the service side saw \(counter("d2c.seen")) of \(counter("d2c.acknowledged")) acknowledged messages")
        }
        if counter("method.succeeded") < counter("method.called") {
            problems.append("\(counter("method.called") - counter("method.succeeded")) of \(counter("method.called")) method calls were not answered")
        }
        if counter("c2d.received") < counter("c2d.sent") {
            problems.append("devices received \(counter("c2d.received")) of \(counter("c2d.sent")) C2D messages")
        } else if counter("c2d.completed") + counter("c2d.rejected") < counter("c2d.sent") {
            problems.append("devices settled \(counter("c2d.completed") + counter("c2d.rejected")) of \(counter("c2d.sent")) C2D messages for good (completed or rejected)")
        }
        for (operation, metrics) in document.metrics.operations.sorted(by: { $0.key < $1.key }) where metrics.errors > 0 {
            let classes = metrics.failures.filter { $0.key != .throttled }.sorted { $0.key < $1.key }
                .map { "\($0.value) \($0.key.rawValue)" }.joined(separator: ", ")
            problems.append("\(operation.rawValue) failed: \(classes)")
        }
        return problems
    }
}
