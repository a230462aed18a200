/// What a route takes messages from: IoT Hub's four routing sources.
public enum RouteSource: String, Sendable, Hashable, CaseIterable {
    /// Device-to-cloud telemetry.
    case deviceMessages = "DeviceMessages"
    /// Twin changes (tags, desired and reported properties).
    case twinChangeEvents = "TwinChangeEvents"
    /// Devices and modules created and deleted.
    case deviceLifecycleEvents = "DeviceLifecycleEvents"
    /// Devices and modules connected and disconnected.
    case deviceConnectionStateEvents = "DeviceConnectionStateEvents"

    /// Parses a source by IoT Hub's name, without case (`DeviceMessages`, `twinchangeevents`).
    /// - Throws: 400004 naming the four sources.
    public init(name: String) throws(HubError) {
        guard let source = Self.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
            throw HubError(.argumentInvalid, "unknown route source '\(name)'; use one of "
                           + Self.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self = source
    }

    /// The `iothub-message-source` system property IoT Hub stamps on messages from this source.
    public var messageSource: String {
        switch self {
        case .deviceMessages: "Telemetry"
        case .twinChangeEvents: "twinChangeEvents"
        case .deviceLifecycleEvents: "deviceLifecycleEvents"
        case .deviceConnectionStateEvents: "deviceConnectionStateEvents"
        }
    }
}
