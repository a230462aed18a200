/// The operations a fleet run times, one histogram each.
public enum FleetOperation: String, Sendable, Codable, CodingKeyRepresentable, CaseIterable, Comparable {
    /// Connect until the hub accepted the device (CONNACK, or CBS put-token and links attached).
    case connect
    /// Telemetry send until the hub acknowledged it (PUBACK, or AMQP disposition).
    case d2cAck = "d2c-ack"
    /// Telemetry send until the service side read it from the hub's event stream.
    case d2cEndToEnd = "d2c-e2e"
    /// A twin request (GET or reported PATCH) until its answer.
    case twin
    /// A desired-property patch from the service until the device saw it.
    case desired
    /// A direct method from the service until its answer.
    case method
    /// A C2D message from the service until the device received it.
    case c2d

    public static func < (lhs: FleetOperation, rhs: FleetOperation) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// What went wrong, by class, so a report separates a hub that pushes back (throttling) from one that fails.
public enum FleetErrorClass: String, Sendable, Codable, CodingKeyRepresentable, CaseIterable, Comparable {
    /// The hub asked the device to slow down (429, CONNACK 3 under throttling, AMQP resource-limit-exceeded).
    case throttled
    /// Credentials refused (401, CONNACK 4/5, CBS 401).
    case unauthorized
    /// No answer in time.
    case timeout
    /// The hub refused the request for another reason (4xx other than 401/429, AMQP rejected).
    case refused
    /// The connection failed or dropped.
    case network
    /// Anything else.
    case other

    public static func < (lhs: FleetErrorClass, rhs: FleetErrorClass) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
