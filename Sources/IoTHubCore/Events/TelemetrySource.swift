import IoTHubProtocol

/// Who sends a session's telemetry, as the hub stamps it on every message: the identity, how it authenticated, its
/// generation id and the protocol. A protocol head makes one when the session opens, so nothing of this is
/// recomputed per message.
public struct TelemetrySource: Sendable {
    /// The sending device or module.
    public let identity: DeviceIdentity
    /// How it authenticated.
    public let authentication: EventService.AuthenticationKind
    /// The registry generation id it authenticated against.
    public let generationId: String
    /// The protocol head's name for metrics: `mqtt`, `amqp`, `https`.
    public let protocolName: String
    /// The connection's system properties as JSON object members (`"iothub-connection-device-id":"d1",…`), encoded
    /// once for every message of the session, in three parts written one after the other: the identity's members,
    /// the authentication method's (one shared array per scope and kind, so a connection holds no copy) and the
    /// generation id's. Each per-connection part is sized to fit.
    let identityMembers: [UInt8]
    let authenticationMembers: [UInt8]
    let generationMembers: [UInt8]

    public init(identity: DeviceIdentity, authentication: EventService.AuthenticationKind, generationId: String,
                protocol protocolName: String) {
        self.identity = identity
        self.authentication = authentication
        self.generationId = generationId
        self.protocolName = protocolName
        var members: [UInt8] = []
        JSONStringMembers.append(key: "iothub-connection-device-id", value: identity.deviceId, first: true, to: &members)
        if let moduleId = identity.moduleId {
            JSONStringMembers.append(key: "iothub-connection-module-id", value: moduleId, first: false, to: &members)
        }
        identityMembers = Self.fitted(members)
        authenticationMembers = Self.authenticationMembers(module: identity.moduleId != nil, authentication)
        members.removeAll(keepingCapacity: true)
        JSONStringMembers.append(key: "iothub-connection-auth-generation-id", value: generationId, first: false, to: &members)
        generationMembers = Self.fitted(members)
    }

    /// A copy whose storage is no larger than its bytes (an array grown by appending holds up to twice as much).
    private static func fitted(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBufferPointer { Array($0) }
    }

    /// `,"iothub-connection-auth-method":"{…}"`, as IoT Hub writes it, for each scope and kind.
    private static let sharedAuthenticationMembers: [[UInt8]] = [false, true].flatMap { module in
        [EventService.AuthenticationKind.sas, .selfSigned, .certificateAuthority].map { kind in
            let method = #"{"scope":"\#(module ? "module" : "device")","type":"\#(kind.rawValue)","issuer":"iothub","acceptingIpFilterRule":null}"#
            var members: [UInt8] = []
            JSONStringMembers.append(key: "iothub-connection-auth-method", value: method, first: false, to: &members)
            return fitted(members)
        }
    }

    private static func authenticationMembers(module: Bool, _ kind: EventService.AuthenticationKind) -> [UInt8] {
        let index: Int
        switch kind {
        case .sas: index = 0
        case .selfSigned: index = 1
        case .certificateAuthority: index = 2
        }
        return sharedAuthenticationMembers[(module ? 3 : 0) + index]
    }
}

public struct EnqueueStamp: Sendable {
    /// Milliseconds since 1970, for the log's retention.
    public let milliseconds: Int64
    /// `iothub-enqueuedtime`: ISO 8601 with 100 ns ticks.
    public let iso8601: String
    /// `"iothub-enqueuedtime":"…","iothub-message-source":"Telemetry"`, encoded once for the batch.
    let encodedMembers: [UInt8]

    /// The stamp for `timestamp`.
    public init(_ timestamp: Timestamp) {
        milliseconds = timestamp.millisecondsSince1970
        iso8601 = timestamp.iso8601
        var members: [UInt8] = []
        JSONStringMembers.append(key: "iothub-enqueuedtime", value: iso8601, first: true, to: &members)
        JSONStringMembers.append(key: "iothub-message-source", value: "Telemetry", first: false, to: &members)
        encodedMembers = members
    }
}
