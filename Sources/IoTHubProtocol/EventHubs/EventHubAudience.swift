/// A CBS audience (or SAS resource) that names an event stream rather than the IoT Hub: what Event Hubs clients
/// put tokens for.
///
/// ```swift
/// EventHubAudience(parsing: "sb://127.0.0.1:5671/myhub/consumergroups/$Default")
/// // host "127.0.0.1", entity "myhub", consumer group "$Default"
/// EventHubAudience(parsing: "127.0.0.1")            // nil: that is the IoT Hub itself
/// EventHubAudience(parsing: "h/devices/d1")         // nil: a device
/// ```
public struct EventHubAudience: Sendable, Hashable {
    /// The host, without a port.
    public var host: String
    /// The event hub's name (the connection string's `EntityPath`).
    public var entity: String
    /// The consumer group, when the audience is scoped to one.
    public var consumerGroup: String?

    /// Parses `[sb://|amqps://]host[:port]/entity[/consumergroups/group[/partitions/id]]`; `nil` for any other
    /// shape, IoT Hub's `host`, `host/devices/…` and `host/messages/…` included.
    public init?(parsing audience: String) {
        var text = Substring(audience)
        for scheme in ["sb://", "amqps://", "amqp://"] where text.lowercased().hasPrefix(scheme) {
            text = text.dropFirst(scheme.count)
        }
        while text.hasSuffix("/") { text = text.dropLast() }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        let lowered = parts.map { $0.lowercased() }
        guard !["devices", "messages", "twins", "jobs", "configurations", "$cbs", "$management"].contains(lowered[1]) else {
            return nil
        }
        var host = parts[0]
        if let colon = host.lastIndex(of: ":"), host[host.index(after: colon)...].allSatisfy(\.isNumber) {
            host = String(host[..<colon])
        }
        self.host = host
        entity = parts[1]
        switch parts.count {
        case 2:
            consumerGroup = nil
        case 4 where lowered[2] == "consumergroups" && !parts[3].isEmpty,
             6 where lowered[2] == "consumergroups" && !parts[3].isEmpty && lowered[4] == "partitions":
            consumerGroup = parts[3]
        default:
            return nil
        }
    }

    /// The resource this audience grants, below the host: `/entity` or `/entity/consumergroups/group`.
    public var resourcePath: String {
        "/" + entity + (consumerGroup.map { "/consumergroups/" + $0 } ?? "")
    }
}
