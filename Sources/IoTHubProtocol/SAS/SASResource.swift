/// The resource a SAS token grants access to, before URL-encoding.
///
/// ```swift
/// SASResource.device(hostName: "hub.local", deviceId: "d1").uri   // "hub.local/devices/d1"
/// ```
public enum SASResource: Sendable, Hashable {
    /// The whole hub, for shared access policies: `h`.
    case hub(hostName: String)
    /// A device: `h/devices/d`.
    case device(hostName: String, deviceId: String)
    /// A module: `h/devices/d/modules/m`.
    case module(hostName: String, deviceId: String, moduleId: String)

    /// The resource URI, unencoded; device and module ids are not URL-encoded here.
    public var uri: String {
        switch self {
        case .hub(let hostName): hostName
        case .device(let hostName, let deviceId): "\(hostName)/devices/\(deviceId)"
        case .module(let hostName, let deviceId, let moduleId): "\(hostName)/devices/\(deviceId)/modules/\(moduleId)"
        }
    }

    /// Parses a resource URI (`h`, `h/devices/d`, `h/devices/d/modules/m`), tolerating an `amqps://` or `https://`
    /// scheme, as AMQP CBS audiences carry one. Returns `nil` for other shapes.
    public init?(uri: String) {
        var text = Substring(uri)
        for scheme in ["amqps://", "https://", "http://", "amqp://", "mqtts://"] where text.lowercased().hasPrefix(scheme) {
            text = text.dropFirst(scheme.count)
        }
        while text.hasSuffix("/") { text = text.dropLast() }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1 where !parts[0].isEmpty:
            self = .hub(hostName: parts[0])
        case 3 where parts[1].lowercased() == "devices" && !parts[0].isEmpty && !parts[2].isEmpty:
            self = .device(hostName: parts[0], deviceId: parts[2])
        case 5 where parts[1].lowercased() == "devices" && parts[3].lowercased() == "modules"
            && !parts[0].isEmpty && !parts[2].isEmpty && !parts[4].isEmpty:
            self = .module(hostName: parts[0], deviceId: parts[2], moduleId: parts[4])
        default:
            return nil
        }
    }

    /// The host name part.
    public var hostName: String {
        switch self {
        case .hub(let hostName), .device(let hostName, _), .module(let hostName, _, _): hostName
        }
    }
}
