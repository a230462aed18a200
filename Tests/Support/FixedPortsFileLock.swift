import Foundation
import Glibc
import Synchronization

/// An exclusive `flock(2)` on `/tmp/iothub-fixed-ports.lock`: held while a hub of the tests binds the fixed ports
/// 443 and 8883. Test modules share one process but not their code, so IoTHubServerTests' in-process
/// `InteropLock` cannot serialize them against this module; this lock does, and also separate test processes.
/// ``HeavyTestLock`` uses the same mechanism on another file.
public final class FixedPortsFileLock: Sendable {
    public static let path = "/tmp/iothub-fixed-ports.lock"

    private let descriptor: Int32
    private let released = Atomic<Bool>(false)

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Waits (polling, so no thread of the cooperative pool blocks) until the lock is free, up to `timeout`.
    public static func acquire(timeout: Duration = .seconds(600)) async throws -> FixedPortsFileLock {
        try await acquire(path: path, timeout: timeout)
    }

    /// An exclusive `flock(2)` on any file, polled as ``acquire(timeout:)`` does.
    static func acquire(path: String, timeout: Duration) async throws -> FixedPortsFileLock {
        // Each open(2) is its own open file description, so the lock also excludes other opens in this process.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else {
            throw FixedPortsLockError("cannot open \(path): errno \(errno)")
        }
        let deadline = ContinuousClock.now + timeout
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            guard error == EWOULDBLOCK || error == EINTR, ContinuousClock.now < deadline else {
                close(descriptor)
                throw FixedPortsLockError("cannot lock \(path) (errno \(error)) within \(timeout); another test holds it")
            }
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                close(descriptor)
                throw error
            }
        }
        return FixedPortsFileLock(descriptor: descriptor)
    }

    /// Unlocks; later calls do nothing.
    public func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}

/// The lock file could not be opened or locked in time.
public struct FixedPortsLockError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
