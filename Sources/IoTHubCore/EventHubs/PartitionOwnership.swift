import Synchronization

/// Who reads each partition for each consumer group, with Event Hubs' rules for epoch (owner-level) receivers:
///
/// - a receiver with an epoch takes the partition from every receiver with the same, a lower or no epoch, which
///   are disconnected;
/// - a receiver whose epoch is lower than the current owner's, or a receiver without an epoch while an epoch
///   receiver owns the partition, is refused;
/// - at most ``maximumReceivers`` receivers without an epoch read one partition for one group.
///
/// The rules hold for the receivers of this hub process.
public final class PartitionOwnership: Sendable {
    /// A receiver's place in the table; ``release(_:)`` gives it back.
    public struct Claim: Sendable, Hashable {
        public let id: Int
        public let key: Key
        public let epoch: Int64?
    }

    /// A consumer group's partition of one event stream.
    public struct Key: Sendable, Hashable, CustomStringConvertible {
        public var entity: String
        public var consumerGroup: String
        public var partition: Int

        public init(entity: String, consumerGroup: String, partition: Int) {
            self.entity = entity.lowercased()
            self.consumerGroup = consumerGroup.lowercased()
            self.partition = partition
        }

        public var description: String { "\(entity)/ConsumerGroups/\(consumerGroup)/Partitions/\(partition)" }
    }

    /// The answer to ``claim(_:epoch:evict:)``.
    public enum Decision: Sendable {
        /// The receiver may read; the receivers it displaced were told through their `evict` callbacks.
        case granted(Claim)
        /// A receiver with a higher epoch owns the partition.
        case refusedByEpoch(owner: Int64)
        /// A receiver without an epoch while an epoch receiver owns the partition.
        case refusedNoEpoch(owner: Int64)
        /// Already ``maximumReceivers`` receivers without an epoch.
        case tooManyReceivers(Int)
    }

    /// Tells a displaced receiver: its claim, and the epoch that displaced it.
    public typealias Eviction = @Sendable (_ claim: Claim, _ byEpoch: Int64) -> Void

    private struct Holder {
        var claim: Claim
        var evict: Eviction
    }

    private struct State {
        var nextId = 0
        var holders: [Key: [Int: Holder]] = [:]
    }

    /// Event Hubs' limit of non-epoch receivers per consumer group and partition.
    public let maximumReceivers: Int
    private let state = Mutex(State())

    public init(maximumReceivers: Int = 5) {
        self.maximumReceivers = maximumReceivers
    }

    /// Claims `key` for a receiver. `evict` runs (from this call, on the caller's thread) when a later receiver
    /// with a higher epoch takes the partition; the evicted receiver's claim is then already released.
    public func claim(_ key: Key, epoch: Int64?, evict: @escaping Eviction) -> Decision {
        let (decision, evicted) = state.withLock { state -> (Decision, [Holder]) in
            let holders = state.holders[key] ?? [:]
            let owner = holders.values.compactMap(\.claim.epoch).max()
            var evicted: [Holder] = []
            if let epoch {
                if let owner, owner > epoch { return (.refusedByEpoch(owner: owner), []) }
                // The new owner displaces every receiver with the same or a lower epoch, or none (as Event Hubs:
                // e1 <= e2 disconnects e1).
                evicted = Array(holders.values)
                state.holders[key] = [:]
            } else {
                if let owner { return (.refusedNoEpoch(owner: owner), []) }
                if holders.count >= maximumReceivers { return (.tooManyReceivers(maximumReceivers), []) }
            }
            let claim = Claim(id: state.nextId, key: key, epoch: epoch)
            state.nextId += 1
            state.holders[key, default: [:]][claim.id] = Holder(claim: claim, evict: evict)
            return (.granted(claim), evicted)
        }
        if let epoch { for holder in evicted { holder.evict(holder.claim, epoch) } }
        return decision
    }

    /// Gives a claim back (the receiver detached or its connection closed). Releasing twice is harmless.
    public func release(_ claim: Claim) {
        state.withLock { state in
            state.holders[claim.key]?[claim.id] = nil
            if state.holders[claim.key]?.isEmpty == true { state.holders[claim.key] = nil }
        }
    }

    /// How many receivers read `key` now.
    public func receivers(_ key: Key) -> Int {
        state.withLock { $0.holders[key]?.count ?? 0 }
    }
}
