import Synchronization

/// Spaces bulk calls so that the devices they carry stay at or under a rate, across every request in flight.
///
/// Each call reserves the next slot: the first goes at once, and every later one `devices / rate` seconds after
/// the one before (or at once, when the run is behind). Reservations never overlap, so N workers together keep the
/// rate. Without a rate every call goes at once.
package final class ProvisioningPacer: Sendable {
    private let devicesPerSecond: Double?
    private let nextSlot = Mutex<Duration?>(nil)

    package init(devicesPerSecond: Double?) {
        self.devicesPerSecond = devicesPerSecond.flatMap { $0 > 0 ? $0 : nil }
    }

    /// Reserves a slot for a call carrying `devices` at time `now`.
    /// - Returns: how long to wait before sending it.
    package func reserve(devices: Int, now: Duration) -> Duration {
        guard let devicesPerSecond else { return .zero }
        let spacing = Duration.seconds(Double(devices) / devicesPerSecond)
        return nextSlot.withLock { next in
            let slot = max(next ?? now, now)
            next = slot + spacing
            return slot - now
        }
    }
}
