import IoTHubCore
import IoTHubProtocol

/// One attached link of an AMQP connection and what it is for.
final class AMQPLink {
    /// What the link carries, from the hub's side.
    enum Role: Equatable, CustomStringConvertible {
        /// The hub receives put-token requests.
        case tokenRequests
        /// The hub sends put-token answers.
        case tokenReplies
        /// The hub receives a device's telemetry.
        case telemetry(DeviceIdentity)
        /// The hub sends a device its C2D messages.
        case cloudToDevice(DeviceIdentity)
        /// The hub receives a device's twin requests.
        case twinRequests(DeviceIdentity)
        /// The hub sends twin answers and desired patches.
        case twinResponses(DeviceIdentity)
        /// The hub sends method requests.
        case methodRequests(DeviceIdentity)
        /// The hub receives method responses.
        case methodResponses(DeviceIdentity)
        /// The hub receives a back end's C2D messages.
        case serviceCloudToDevice
        /// The hub sends a back end C2D feedback.
        case serviceFeedback
        /// The hub sends a back end file-upload notifications.
        case serviceFileNotifications
        /// The hub receives Event Hubs management requests (`$management`).
        case managementRequests
        /// The hub sends Event Hubs management answers.
        case managementReplies
        /// The hub sends an Event Hubs receiver one partition's events.
        case eventHubReceiver(entity: String, consumerGroup: String, partition: String)

        var identity: DeviceIdentity? {
            switch self {
            case .telemetry(let identity), .cloudToDevice(let identity), .twinRequests(let identity),
                 .twinResponses(let identity), .methodRequests(let identity), .methodResponses(let identity):
                identity
            default: nil
            }
        }

        /// The role of a link attached to `node`; `nil` when that node takes no link in this direction.
        /// - Parameter hubReceives: whether the peer sends on the link (the hub's end is a receiver).
        init?(node: AMQPNodeAddress, hubReceives: Bool) {
            switch (node, hubReceives) {
            case (.claimsBasedSecurity, true): self = .tokenRequests
            case (.claimsBasedSecurity, false): self = .tokenReplies
            case (.telemetry(let identity), true): self = .telemetry(identity)
            case (.cloudToDevice(let identity), false): self = .cloudToDevice(identity)
            case (.twin(let identity), true): self = .twinRequests(identity)
            case (.twin(let identity), false): self = .twinResponses(identity)
            case (.methods(let identity), false): self = .methodRequests(identity)
            case (.methods(let identity), true): self = .methodResponses(identity)
            case (.serviceCloudToDevice, true): self = .serviceCloudToDevice
            case (.serviceFeedback, false): self = .serviceFeedback
            case (.serviceFileNotifications, false): self = .serviceFileNotifications
            case (.management, true): self = .managementRequests
            case (.management, false): self = .managementReplies
            case (.eventHubPartition(let entity, let group, let partition), false):
                self = .eventHubReceiver(entity: entity, consumerGroup: group, partition: partition)
            default: return nil
            }
        }

        var description: String {
            switch self {
            case .tokenRequests: "CBS requests"
            case .tokenReplies: "CBS replies"
            case .telemetry(let identity): "telemetry of \(identity)"
            case .cloudToDevice(let identity): "C2D to \(identity)"
            case .twinRequests(let identity): "twin requests of \(identity)"
            case .twinResponses(let identity): "twin responses to \(identity)"
            case .methodRequests(let identity): "method requests to \(identity)"
            case .methodResponses(let identity): "method responses of \(identity)"
            case .serviceCloudToDevice: "service C2D"
            case .serviceFeedback: "C2D feedback"
            case .serviceFileNotifications: "file notifications"
            case .managementRequests: "$management requests"
            case .managementReplies: "$management replies"
            case .eventHubReceiver(let entity, let group, let partition):
                "Event Hubs receiver of \(entity)/ConsumerGroups/\(group)/Partitions/\(partition)"
            }
        }
    }

    /// The `pn_link_t`, owned by the connection's Proton engine.
    let link: OpaquePointer
    let role: Role
    /// Set once the hub closed its end; nothing more is sent or settled on it.
    var closed = false
    /// C2D deliveries in flight (cloud-to-device links), by delivery tag.
    var cloudToDevice = CloudToDeviceCredit<UInt64>()
    /// Feedback batches in flight (feedback links), by delivery tag.
    var feedback: [UInt64: [C2DFeedbackRecord]] = [:]
    /// File-upload notifications in flight (file notification links): correlation ids by delivery tag.
    var fileNotifications: [UInt64: String] = [:]
    /// Whether a fetch of notifications from the store is under way for this link.
    var fetchingNotifications = false
    /// What an Event Hubs receiver link has read (Event Hubs receiver links).
    var eventHub: EventHubReceiverState?

    init(link: OpaquePointer, role: Role) {
        self.link = link
        self.role = role
    }
}

/// An Event Hubs receiver link's reading position.
final class EventHubReceiverState {
    /// The event stream it reads (the built-in endpoint, or a custom event-stream endpoint).
    let stream: EventHubService
    let partition: Int
    /// The partition sequence number of the last event sent.
    var cursor: Int64
    /// Its place among the partition's receivers (epoch rules); released when the link ends.
    let claim: PartitionOwnership.Claim
    /// A read from the store, or a wait for new events, is under way.
    var busy = false

    init(stream: EventHubService, partition: Int, cursor: Int64, claim: PartitionOwnership.Claim) {
        self.stream = stream
        self.partition = partition
        self.cursor = cursor
        self.claim = claim
    }
}
