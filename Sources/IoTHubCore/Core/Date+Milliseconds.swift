import Foundation

/// Times as the store, Event Hubs and IoT Hub's JSON count them: whole milliseconds since 1970.
extension Date {
    /// Milliseconds since 1970, rounded to the nearest.
    public var milliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    /// The time `milliseconds` after 1970-01-01T00:00:00Z.
    public init(milliseconds: Int64) { self.init(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
