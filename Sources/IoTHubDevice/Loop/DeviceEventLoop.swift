import CLinuxSystem
import Glibc
import Synchronization

/// An object that owns a socket registered with a ``DeviceEventLoop``; called on the loop thread.
protocol DeviceLoopSocketHandler: AnyObject {
    /// The socket is readable, writable, or has an error or hang-up pending.
    func socketReady(readable: Bool, writable: Bool, error: Bool)
}

/// One thread with an epoll loop that drives many device clients.
///
/// Every ``DeviceClient`` runs on a loop: its connection's socket, timers and state live there, so clients need no
/// locks and no thread of their own. Thousands of clients can share one loop; by default they share
/// ``shared``. A simulator that wants several threads creates several loops and spreads clients over them.
///
/// Nothing that blocks runs on the loop: host names are resolved and sockets opened on a background queue.
///
/// ```swift
/// let loop = try DeviceEventLoop(name: "fleet-0")
/// var options = DeviceClientOptions()
/// options.eventLoop = loop
/// ```
public final class DeviceEventLoop: @unchecked Sendable {
    /// One read buffer for every socket on this loop (only the loop thread touches it): reads happen one at a
    /// time, so thousands of idle sockets need no buffer each.
    var readScratch = [UInt8](repeating: 0, count: 32_768)

    // @unchecked: `pending`, `stopping` and `threadId` are synchronized (Mutex / Atomic); everything else is only
    // touched on the loop thread, which `preconditionInEventLoop()` checks in the callers.

    /// The loop clients use when ``DeviceClientOptions/eventLoop`` is not set; it runs for the process's lifetime.
    public static let shared: DeviceEventLoop = {
        do {
            return try DeviceEventLoop(name: "iothub-device-loop")
        } catch {
            fatalError("cannot start the shared device event loop: \(error)")
        }
    }()

    /// The loop's name, for logs and diagnostics.
    public let name: String

    private let epollFD: Int32
    private let wakeFD: Int32
    private let pending = Mutex<[@Sendable () -> Void]>([])
    private let stopping = Atomic<Bool>(false)
    private let threadId = Atomic<UInt>(0)
    private let finished = Atomic<Bool>(false)
    private var thread: pthread_t?

    // Loop-confined state.
    private var sockets: [Int32: (handler: any DeviceLoopSocketHandler, generation: UInt32)] = [:]
    private var nextGeneration: UInt32 = 1
    private var timers = TimerHeap()

    /// Starts a loop thread.
    /// - Throws: ``DeviceClientError/invalidConfiguration(_:)`` when the process is out of file descriptors or
    ///   threads.
    public init(name: String = "iothub-device-loop") throws(DeviceClientError) {
        self.name = name
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw .invalidConfiguration("epoll_create1 failed: \(Self.errnoText())") }
        let wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wakeFD >= 0 else {
            close(epollFD)
            throw .invalidConfiguration("eventfd failed: \(Self.errnoText())")
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = UInt64(UInt32.max)
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0 else {
            close(wakeFD)
            close(epollFD)
            throw .invalidConfiguration("epoll_ctl failed: \(Self.errnoText())")
        }
        var thread = pthread_t()
        let unmanaged = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { argument in
            let loop = Unmanaged<DeviceEventLoop>.fromOpaque(argument!).takeRetainedValue()
            loop.run()
            return nil
        }, unmanaged.toOpaque())
        guard rc == 0 else {
            unmanaged.release()
            close(wakeFD)
            close(epollFD)
            throw .invalidConfiguration("cannot start the loop thread: \(String(cString: strerror(rc)))")
        }
        self.thread = thread
    }

    deinit {
        close(wakeFD)
        close(epollFD)
    }

    /// Whether the caller runs on this loop's thread.
    public var inEventLoop: Bool {
        threadId.load(ordering: .acquiring) == UInt(pthread_self())
    }

    /// Whether the loop thread has ended (after ``shutdown()``).
    var hasStopped: Bool { finished.load(ordering: .acquiring) }

    /// Stops with a message when the caller is not on the loop thread.
    func preconditionInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        precondition(inEventLoop, "must run on the device event loop '\(name)'", file: file, line: line)
    }

    /// Runs `work` on the loop thread, soon (after the current event when called on the loop).
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let wasEmpty = pending.withLock { queue in
            queue.append(work)
            return queue.count == 1
        }
        if wasEmpty || !inEventLoop { wake() }
    }

    /// Runs `work` on the loop and returns its result.
    public func submit<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            execute { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Runs `work` on the loop after `delay`; cancel the returned timer to skip it.
    @discardableResult
    public func schedule(after delay: Duration, _ work: @escaping @Sendable () -> Void) -> DeviceLoopTimer {
        let timer = DeviceLoopTimer()
        let nanoseconds = max(0, delay.components.seconds) * 1_000_000_000 + max(0, delay.components.attoseconds) / 1_000_000_000
        let deadline = Self.now() &+ UInt64(nanoseconds)
        if inEventLoop {
            timers.insert(deadline: deadline, timer: timer, work: work)
        } else {
            let box = LoopHandoff(self)
            execute { box.value.timers.insert(deadline: deadline, timer: timer, work: work) }
        }
        return timer
    }

    /// Stops the loop thread after the work queued so far, and waits for it (unless called on the loop).
    ///
    /// Clients still on the loop stop being driven; close them first. ``shared`` should never be shut down.
    public func shutdown() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake()
        if !inEventLoop, let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
    }

    // MARK: Sockets (loop only)

    /// Watches `fd` for `handler`.
    func register(_ fd: Int32, handler: any DeviceLoopSocketHandler, read: Bool, write: Bool) throws(DeviceClientError) {
        preconditionInEventLoop()
        let generation = nextGeneration
        nextGeneration = nextGeneration == UInt32.max - 1 ? 1 : nextGeneration + 1
        var event = Self.event(fd: fd, generation: generation, read: read, write: write)
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            throw .connectionFailed("cannot watch socket \(fd): \(Self.errnoText())")
        }
        sockets[fd] = (handler, generation)
    }

    /// Changes which events `fd` is watched for.
    func setInterest(_ fd: Int32, read: Bool, write: Bool) throws(DeviceClientError) {
        preconditionInEventLoop()
        guard let entry = sockets[fd] else { return }
        var event = Self.event(fd: fd, generation: entry.generation, read: read, write: write)
        guard epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event) == 0 else {
            throw .connectionFailed("cannot change the watch of socket \(fd): \(Self.errnoText())")
        }
    }

    /// Stops watching `fd` (before it is closed).
    func unregister(_ fd: Int32) {
        preconditionInEventLoop()
        guard sockets.removeValue(forKey: fd) != nil else { return }
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
    }

    /// Sockets watched now (for tests and diagnostics).
    var registeredSocketCount: Int {
        preconditionInEventLoop()
        return sockets.count
    }

    // MARK: The loop

    private func run() {
        threadId.store(UInt(pthread_self()), ordering: .releasing)
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        while true {
            runPending()
            runDueTimers()
            if stopping.load(ordering: .acquiring) {
                runPending()
                break
            }
            let timeout = waitTimeout()
            let count = epoll_wait(epollFD, events, Int32(capacity), timeout)
            if count < 0 {
                if errno == EINTR { continue }
                fatalError("epoll_wait failed on device loop '\(name)': \(Self.errnoText())")
            }
            for index in 0..<Int(count) {
                let event = events[index]
                let fd = Int32(truncatingIfNeeded: event.data.u64 & 0xFFFF_FFFF)
                let generation = UInt32(truncatingIfNeeded: event.data.u64 >> 32)
                if event.data.u64 == UInt64(UInt32.max) {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    continue
                }
                // A handler unregistered (and its fd maybe reused) earlier in this batch must not see the event.
                guard let entry = sockets[fd], entry.generation == generation else { continue }
                let flags = event.events
                entry.handler.socketReady(
                    readable: flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0,
                    writable: flags & EPOLLOUT.rawValue != 0,
                    error: flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0)
            }
        }
        finished.store(true, ordering: .releasing)
        sockets.removeAll()
        timers.removeAll()
    }

    private func runPending() {
        // Work queued by this batch runs in the next turn, so a busy client cannot starve socket events.
        let batch = pending.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        for work in batch { work() }
    }

    private func runDueTimers() {
        let now = Self.now()
        while let entry = timers.popDue(now: now) {
            if !entry.timer.isCancelled { entry.work() }
        }
    }

    private func waitTimeout() -> Int32 {
        if pending.withLock({ !$0.isEmpty }) { return 0 }
        guard let deadline = timers.nextDeadline else { return -1 }
        let now = Self.now()
        guard deadline > now else { return 0 }
        let milliseconds = (deadline - now + 999_999) / 1_000_000
        return Int32(min(milliseconds, UInt64(Int32.max)))
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    private static func event(fd: Int32, generation: UInt32, read: Bool, write: Bool) -> epoll_event {
        var event = epoll_event()
        var flags = EPOLLRDHUP.rawValue
        if read { flags |= EPOLLIN.rawValue }
        if write { flags |= EPOLLOUT.rawValue }
        event.events = flags
        event.data.u64 = UInt64(UInt32(bitPattern: fd)) | UInt64(generation) << 32
        return event
    }

    /// Monotonic nanoseconds.
    static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

/// A handle to work scheduled with ``DeviceEventLoop/schedule(after:_:)``.
public final class DeviceLoopTimer: Sendable {
    private let cancelled = Atomic<Bool>(false)

    init() {}

    /// Skips the work if it has not run yet; safe from any thread.
    public func cancel() {
        cancelled.store(true, ordering: .releasing)
    }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
}

/// A binary min-heap of timers by deadline (ties in insertion order).
struct TimerHeap {
    struct Entry {
        let deadline: UInt64
        let sequence: UInt64
        let timer: DeviceLoopTimer
        let work: @Sendable () -> Void

        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var entries: [Entry] = []
    private var sequence: UInt64 = 0

    var count: Int { entries.count }
    var nextDeadline: UInt64? { entries.first?.deadline }

    mutating func insert(deadline: UInt64, timer: DeviceLoopTimer, work: @escaping @Sendable () -> Void) {
        sequence &+= 1
        entries.append(Entry(deadline: deadline, sequence: sequence, timer: timer, work: work))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest entry if its deadline is at or before `now`.
    mutating func popDue(now: UInt64) -> Entry? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < entries.count, entries[left].precedes(entries[smallest]) { smallest = left }
                if right < entries.count, entries[right].precedes(entries[smallest]) { smallest = right }
                guard smallest != parent else { break }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }

    mutating func removeAll() { entries.removeAll() }
}
