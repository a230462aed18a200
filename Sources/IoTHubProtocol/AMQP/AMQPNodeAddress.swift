/// The nodes an IoT Hub AMQP link can attach to, parsed from a link's source or target address.
///
/// Addresses come with or without the `amqps://{host}` prefix the official C SDK and the service SDKs put on them:
///
/// ```swift
/// try AMQPNodeAddress(parsing: "amqps://hub.local/devices/d1/messages/events", hostName: "hub.local")
/// // .telemetry(DeviceIdentity(deviceId: "d1"))
/// try AMQPNodeAddress(parsing: "/messages/devicebound", hostName: "hub.local")   // .serviceCloudToDevice
/// ```
public enum AMQPNodeAddress: Sendable, Hashable, CustomStringConvertible {
    /// `$cbs`: the claims-based-security node, where clients put tokens.
    case claimsBasedSecurity
    /// `/devices/d/messages/events`: device-to-cloud telemetry (the device sends).
    case telemetry(DeviceIdentity)
    /// `/devices/d/messages/devicebound`: cloud-to-device messages (the device receives).
    case cloudToDevice(DeviceIdentity)
    /// `/devices/d/twin`: twin requests (device → hub) and their answers and desired patches (hub → device).
    case twin(DeviceIdentity)
    /// `/devices/d/methods/devicebound`: method requests (hub → device) and responses (device → hub).
    case methods(DeviceIdentity)
    /// `/messages/devicebound`: a back end sends cloud-to-device messages.
    case serviceCloudToDevice
    /// `/messages/servicebound/feedback`: a back end receives cloud-to-device delivery feedback.
    case serviceFeedback
    /// `/messages/servicebound/filenotifications`: a back end receives file-upload notifications.
    case serviceFileNotifications
    /// `$management`: Event Hubs' management node (hub and partition properties).
    case management
    /// `{entity}/ConsumerGroups/{group}/Partitions/{id}`: an Event Hubs receiver reads one partition of an event
    /// stream (the built-in endpoint, or a custom event-stream endpoint) for a consumer group.
    case eventHubPartition(entity: String, consumerGroup: String, partition: String)

    /// The identity whose node this is, for device and module nodes.
    public var identity: DeviceIdentity? {
        switch self {
        case .telemetry(let identity), .cloudToDevice(let identity), .twin(let identity), .methods(let identity):
            identity
        case .claimsBasedSecurity, .serviceCloudToDevice, .serviceFeedback, .serviceFileNotifications, .management,
             .eventHubPartition:
            nil
        }
    }

    /// The address without the scheme and host, as IoT Hub documents it.
    public var description: String {
        switch self {
        case .claimsBasedSecurity: "$cbs"
        case .telemetry(let identity): "/\(identity.topicBase)/messages/events"
        case .cloudToDevice(let identity): "/\(identity.topicBase)/messages/devicebound"
        case .twin(let identity): "/\(identity.topicBase)/twin"
        case .methods(let identity): "/\(identity.topicBase)/methods/devicebound"
        case .serviceCloudToDevice: "/messages/devicebound"
        case .serviceFeedback: "/messages/servicebound/feedback"
        case .serviceFileNotifications: "/messages/servicebound/filenotifications"
        case .management: "$management"
        case .eventHubPartition(let entity, let group, let partition): "\(entity)/ConsumerGroups/\(group)/Partitions/\(partition)"
        }
    }

    /// Parses a link address.
    /// - Parameters:
    ///   - hostName: this hub's host name; an `amqps://` address must name it or one of `aliases` (a port after it
    ///     is allowed).
    ///   - aliases: other names the hub answers to.
    /// - Throws: ``AMQPAddressError`` for another host, an unknown node, or an invalid device or module id.
    public init(parsing address: String, hostName: String, aliases: [String] = []) throws(AMQPAddressError) {
        if address == "$cbs" {
            self = .claimsBasedSecurity
            return
        }
        if address == "$management" {
            self = .management
            return
        }
        var path = Substring(address)
        for scheme in ["amqps://", "amqp://", "wss://", "sb://"] where path.lowercased().hasPrefix(scheme) {
            path = path.dropFirst(scheme.count)
            let host = path.prefix { $0 != "/" }
            path = path.dropFirst(host.count)
            let name = host.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            guard name.lowercased() == hostName.lowercased() || aliases.contains(where: { $0.lowercased() == name.lowercased() })
            else {
                throw .otherHost(address: address, host: name, expected: hostName)
            }
            break
        }
        if let query = path.firstIndex(of: "?") { path = path[..<query] }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let lowered = parts.map { $0.lowercased() }
        if parts == ["$cbs"] {
            self = .claimsBasedSecurity
            return
        }
        // `$management`, or `{entity}/$management` (uamqp puts the event hub's name before it).
        if parts.last == "$management", parts.count <= 2 {
            self = .management
            return
        }
        if parts.count == 5, lowered[1] == "consumergroups", lowered[3] == "partitions" {
            self = .eventHubPartition(entity: parts[0], consumerGroup: parts[2], partition: parts[4])
            return
        }
        switch lowered {
        case ["messages", "devicebound"]:
            self = .serviceCloudToDevice
            return
        case ["messages", "servicebound", "feedback"]:
            self = .serviceFeedback
            return
        case ["messages", "servicebound", "filenotifications"]:
            self = .serviceFileNotifications
            return
        default:
            break
        }
        guard parts.count >= 3, lowered[0] == "devices" else { throw .unknownNode(address) }
        var identity = DeviceIdentity(deviceId: parts[1])
        var rest = Array(lowered.dropFirst(2))
        if rest.first == "modules" {
            guard parts.count >= 5 else { throw .unknownNode(address) }
            identity.moduleId = parts[3]
            rest = Array(rest.dropFirst(2))
        }
        do { try identity.validate() } catch { throw .invalidIdentity(address: address, reason: error.description) }
        switch rest {
        case ["messages", "events"]: self = .telemetry(identity)
        case ["messages", "devicebound"]: self = .cloudToDevice(identity)
        case ["twin"]: self = .twin(identity)
        case ["methods", "devicebound"]: self = .methods(identity)
        default: throw .unknownNode(address)
        }
    }
}

/// Why a link address is not one of IoT Hub's nodes.
public enum AMQPAddressError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The address names another hub.
    case otherHost(address: String, host: String, expected: String)
    /// The address is not an IoT Hub node.
    case unknownNode(String)
    /// The device or module id in the address breaks IoT Hub's naming rules.
    case invalidIdentity(address: String, reason: String)

    public var description: String {
        switch self {
        case .otherHost(let address, let host, let expected):
            "address '\(address)' names host '\(host)'; this hub is '\(expected)'"
        case .unknownNode(let address):
            "'\(address)' is not an IoT Hub node; devices use /devices/{id}/messages/events, "
                + "/devices/{id}/messages/devicebound, /devices/{id}/twin or /devices/{id}/methods/devicebound; "
                + "Event Hubs receivers use {event hub}/ConsumerGroups/{group}/Partitions/{id}"
        case .invalidIdentity(let address, let reason):
            "address '\(address)': \(reason)"
        }
    }
}
