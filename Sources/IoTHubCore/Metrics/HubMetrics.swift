import CoreMetrics
import IoTHubProtocol
import Synchronization
import Prometheus

/// The hub's metrics, through swift-metrics, into a Prometheus registry owned by this hub (served at `/metrics`).
///
/// Every protocol head reports through the same counters, labelled by `protocol`, so dashboards compare MQTT,
/// AMQP and HTTPS directly.
public final class HubMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let counters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let connected: CoreMetrics.Meter
    private let eventHubDelay: CoreMetrics.Timer

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["iothub_eventhub_delivery_delay_seconds"] = [
            1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000,
        ].map { Duration.milliseconds($0) }
        self.factory = factory
        connected = CoreMetrics.Meter(label: "iothub_connected_devices", dimensions: [], factory: factory)
        eventHubDelay = CoreMetrics.Timer(label: "iothub_eventhub_delivery_delay_seconds", dimensions: [], factory: factory)
    }

    /// An event went out to an Event Hubs reader `milliseconds` after the hub enqueued it: the hub's share of a
    /// back end's latency (a histogram, `iothub_eventhub_delivery_delay_seconds`).
    public func eventHubDeliveryDelay(milliseconds: Int64) {
        eventHubDelay.recordMilliseconds(max(0, milliseconds))
    }

    /// A counter by name and labels, created once.
    func counter(_ name: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        let key = name + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return counters.withLock { table in
            if let existing = table[key] { return existing }
            let counter = CoreMetrics.Counter(label: name, dimensions: dimensions, factory: factory)
            table[key] = counter
            return counter
        }
    }

    /// A device-to-cloud message was accepted.
    public func messageReceived(protocol name: String) {
        messagesReceived(1, protocol: name)
    }

    /// `count` device-to-cloud messages were accepted (a committed batch).
    public func messagesReceived(_ count: Int, protocol name: String) {
        counter("iothub_messages_in_total", [("protocol", name)]).increment(by: Int64(count))
    }

    /// A cloud-to-device message (or method request, or twin notification) went out.
    public func messageSent(kind: String) {
        counter("iothub_messages_out_total", [("kind", kind)]).increment()
    }

    /// Events went out to Event Hubs readers of the built-in endpoint.
    public func eventHubEventsSent(_ count: Int) {
        counter("iothub_eventhub_events_out_total", []).increment(by: Int64(count))
    }

    /// System events (twin changes, lifecycle, connection state) were stored for the endpoints routes sent them to.
    public func systemEventsRouted(_ count: Int, source: String) {
        counter("iothub_routing_system_events_total", [("source", source)]).increment(by: Int64(count))
    }

    /// A storage endpoint wrote a batch.
    public func storageBatchWritten(endpoint: String, messages: Int, bytes: Int) {
        counter("iothub_routing_storage_batches_total", [("endpoint", endpoint)]).increment()
        counter("iothub_routing_storage_messages_total", [("endpoint", endpoint)]).increment(by: Int64(messages))
        counter("iothub_routing_storage_bytes_total", [("endpoint", endpoint)]).increment(by: Int64(bytes))
    }

    /// A twin operation completed.
    public func twinOperation(_ operation: String) {
        counter("iothub_twin_operations_total", [("operation", operation)]).increment()
    }

    /// A direct method call finished with `outcome` (`ok`, or an error name).
    public func methodCall(outcome: String) {
        counter("iothub_method_calls_total", [("outcome", outcome)]).increment()
    }

    /// A request or connection failed with an IoT Hub error.
    public func error(_ code: IoTHubErrorCode, protocol name: String) {
        counter("iothub_errors_total", [("protocol", name), ("code", code.name)]).increment()
    }

    /// Connections opened or refused.
    public func connection(protocol name: String, accepted: Bool) {
        counter("iothub_connections_total", [("protocol", name), ("result", accepted ? "accepted" : "refused")]).increment()
    }

    /// A connection closed before it could authenticate, for `reason` (a ``ConnectionAdmission/Refusal`` raw value).
    public func connectionShed(protocol name: String, reason: String) {
        counter("iothub_connections_shed_total", [("protocol", name), ("reason", reason)]).increment()
    }

    /// The number of connected identities.
    public func setConnectedDevices(_ count: Int) {
        connected.set(count)
    }

    /// Prometheus text exposition of every metric.
    public func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}
