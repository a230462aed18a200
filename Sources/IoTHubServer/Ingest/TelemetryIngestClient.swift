import IoTHubCore

/// A protocol head's session whose telemetry goes through a ``TelemetryIngestQueue``: it hears back once per
/// message, on the queue's event loop, with the token it submitted the message with.
protocol TelemetryIngestClient: AnyObject {
    /// The message submitted with `token` is durable (`.success`), or was not stored.
    func telemetryIngested(token: UInt64, result: Result<Void, HubError>)
}
