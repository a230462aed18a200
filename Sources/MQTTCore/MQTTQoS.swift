/// An MQTT quality-of-service level (MQTT 3.1.1 §4.3).
///
/// Levels are ordered, so a server can grant `min(requested, maximum)`:
///
/// ```swift
/// let granted = min(MQTTQoS.exactlyOnce, .atLeastOnce)   // .atLeastOnce
/// ```
public enum MQTTQoS: UInt8, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    /// QoS 0: fire and forget.
    case atMostOnce = 0
    /// QoS 1: acknowledged with PUBACK; may be delivered more than once.
    case atLeastOnce = 1
    /// QoS 2: four-part handshake (PUBREC, PUBREL, PUBCOMP); delivered exactly once.
    case exactlyOnce = 2

    /// Orders levels by their numeric value: QoS 0 < QoS 1 < QoS 2.
    public static func < (lhs: MQTTQoS, rhs: MQTTQoS) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// `"QoS 0"`, `"QoS 1"` or `"QoS 2"`.
    public var description: String { "QoS \(rawValue)" }
}
