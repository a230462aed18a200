import Synchronization

/// Hands each value to every current listener: the client's multi-consumer event streams.
///
/// Each call to ``stream(initial:)`` returns a new `AsyncStream`; a listener that stops iterating is removed. Each
/// listener buffers at most `bufferLimit` values (the oldest are kept), so a slow listener cannot grow memory
/// without bound.
final class Broadcast<Element: Sendable>: Sendable {
    private struct State {
        var nextId = 0
        var listeners: [Int: AsyncStream<Element>.Continuation] = [:]
        var finished = false
        /// Values yielded while nobody listened, for the next listener (only with `holdsUnheard`).
        var unheard: [Element] = []
    }

    private let state = Mutex(State())
    private let bufferLimit: Int
    private let holdsUnheard: Bool

    /// - Parameter holdsUnheard: keep values yielded while nobody listens (up to `bufferLimit`) and give them to the
    ///   next listener, so that messages the hub already considers delivered are not lost before the app listens.
    init(bufferLimit: Int = 1024, holdsUnheard: Bool = false) {
        self.bufferLimit = bufferLimit
        self.holdsUnheard = holdsUnheard
    }

    /// A new stream of the values yielded from now on, starting with `initial` when given.
    func stream(initial: Element? = nil) -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingOldest(bufferLimit))
        if let initial { continuation.yield(initial) }
        let id: Int? = state.withLock { state in
            for value in state.unheard { continuation.yield(value) }
            state.unheard.removeAll()
            guard !state.finished else { return nil }
            defer { state.nextId += 1 }
            state.listeners[state.nextId] = continuation
            return state.nextId
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.listeners.removeValue(forKey: id) }
        }
        return stream
    }

    /// Gives `value` to every listener; returns whether any listener dropped it because its buffer was full.
    @discardableResult
    func yield(_ value: Element) -> Bool {
        let listeners: [AsyncStream<Element>.Continuation]? = state.withLock { state in
            if state.listeners.isEmpty, holdsUnheard, !state.finished {
                guard state.unheard.count < bufferLimit else { return nil }
                state.unheard.append(value)
                return []
            }
            return Array(state.listeners.values)
        }
        guard let listeners else { return true }
        var dropped = false
        for listener in listeners {
            if case .dropped = listener.yield(value) { dropped = true }
        }
        return dropped
    }

    /// Whether anyone listens.
    var hasListeners: Bool { state.withLock { !$0.listeners.isEmpty } }

    /// Ends every stream; later streams end at once.
    func finish() {
        let listeners = state.withLock { state in
            state.finished = true
            defer { state.listeners.removeAll() }
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.finish() }
    }
}
