/// The Event Hubs-compatible connection string of a hub's built-in endpoint, as IoT Hub prints it:
/// `Endpoint=sb://{host}/;SharedAccessKeyName={policy};SharedAccessKey={key};EntityPath={name}`.
///
/// The official `azure-eventhub` clients read it with `EventHubConsumerClient.from_connection_string`.
public struct EventHubConnectionString: Sendable, Hashable, CustomStringConvertible {
    /// The host the endpoint is reached at.
    public var hostName: String
    /// The shared access policy (it needs ServiceConnect).
    public var keyName: String
    /// The policy's key, base64.
    public var key: String
    /// The event hub's name: the built-in endpoint's, or a custom event-stream endpoint's.
    public var entityPath: String

    public init(hostName: String, keyName: String, key: String, entityPath: String) {
        self.hostName = hostName
        self.keyName = keyName
        self.key = key
        self.entityPath = entityPath
    }

    public var description: String {
        "Endpoint=sb://\(hostName)/;SharedAccessKeyName=\(keyName);SharedAccessKey=\(key);EntityPath=\(entityPath)"
    }
}
