import Foundation
import IoTHubProtocol
import Logging
import Synchronization
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

@Suite("SQLite hub store")
struct SQLiteHubStoreTests {
    static func makeStore() throws -> (SQLiteHubStore, String) {
        let path = TestProcess.temporaryDirectory() + "/hub.sqlite"
        return (try SQLiteHubStore(path: path, durability: .normal), path)
    }

    static func sasDevice(_ id: String, module: String? = nil) -> DeviceRecord {
        DeviceRecord(identity: DeviceIdentity(deviceId: id, moduleId: module),
                     authentication: .sas(primaryKey: .random(), secondaryKey: .random()))
    }

    @Test("policies round-trip")
    func policies() async throws {
        let (store, _) = try Self.makeStore()
        defer { store.close() }
        let defaults = AccessPolicy.defaults()
        try await store.savePolicies(defaults)
        #expect(try await store.policies() == defaults)
    }

    @Test("create, read, update with etags, delete; duplicates and stale etags are refused")
    func registry() async throws {
        let (store, _) = try Self.makeStore()
        defer { store.close() }
        let created = try await store.createDevice(Self.sasDevice("d1"), twin: "{}")
        let read = try #require(try await store.device(created.identity))
        #expect(read.identity == created.identity && read.etag == created.etag && read.generationId == created.generationId)
        #expect(read.authentication == created.authentication && read.status == .enabled)
        // Times are kept to the millisecond.
        #expect(abs(read.statusUpdatedTime.timeIntervalSince(created.statusUpdatedTime)) < 0.001)
        await #expect(throws: HubError.self) { try await store.createDevice(Self.sasDevice("d1"), twin: "{}") }

        let updated = try await store.updateDevice(created.identity, condition: .matches(created.etag)) { record in
            record.status = .disabled
            record.statusReason = "maintenance"
        }
        #expect(updated.version == created.version + 1)
        #expect(updated.etag != created.etag)
        #expect(updated.status == .disabled)
        await #expect {
            try await store.updateDevice(created.identity, condition: .matches(created.etag)) { _ in }
        } throws: { ($0 as? HubError)?.code == .preconditionFailed }

        try await store.recordConnection(created.identity, state: .connected, at: Date(timeIntervalSince1970: 1000))
        let connected = try #require(try await store.device(created.identity))
        #expect(connected.connectionState == .connected)
        #expect(connected.etag == updated.etag)

        _ = try await store.deleteDevice(created.identity, condition: .any)
        #expect(try await store.device(created.identity) == nil)
        await #expect { try await store.deleteDevice(created.identity, condition: .any) } throws: {
            ($0 as? HubError)?.code == .deviceNotFound
        }
    }

    @Test("modules need their device, list separately and go away with it")
    func modules() async throws {
        let (store, _) = try Self.makeStore()
        defer { store.close() }
        await #expect { try await store.createDevice(Self.sasDevice("d", module: "m"), twin: "{}") } throws: {
            ($0 as? HubError)?.code == .deviceNotFound
        }
        _ = try await store.createDevice(Self.sasDevice("d"), twin: "{}")
        _ = try await store.createDevice(Self.sasDevice("d", module: "m"), twin: "{}")
        #expect(try await store.modules(of: "d").map(\.identity.moduleId) == ["m"])
        #expect(try await store.devices(after: nil, limit: 10).count == 1)
        _ = try await store.deleteDevice(DeviceIdentity(deviceId: "d"), condition: .any)
        #expect(try await store.device(DeviceIdentity(deviceId: "d", moduleId: "m")) == nil)
    }

    @Test("paging devices and counting them")
    func paging() async throws {
        let (store, _) = try Self.makeStore()
        defer { store.close() }
        for index in 0..<25 { _ = try await store.createDevice(Self.sasDevice(String(format: "dev%02d", index)), twin: "{}") }
        _ = try await store.updateDevice(DeviceIdentity(deviceId: "dev03"), condition: .any) { $0.status = .disabled }
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = try await store.devices(after: cursor, limit: 10)
            seen += page.map(\.identity.deviceId)
            cursor = page.count == 10 ? page.last?.identity.deviceId : nil
        } while cursor != nil
        #expect(seen == (0..<25).map { String(format: "dev%02d", $0) })
        let counts = try await store.deviceCounts()
        #expect(counts.total == 25 && counts.enabled == 24 && counts.disabled == 1)
    }

    @Test("twin updates are atomic read-modify-writes")
    func twins() async throws {
        let (store, _) = try Self.makeStore()
        defer { store.close() }
        _ = try await store.createDevice(Self.sasDevice("t"), twin: "0")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    _ = try await store.updateTwin(DeviceIdentity(deviceId: "t")) { _, document in
                        (String(Int(document)! + 1), ())
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.twin(DeviceIdentity(deviceId: "t"))?.document == "100")
    }

    @Test("a version 1 database is upgraded: the event indexes go, the log's byte count is taken once, events stay and get partitions")
    func upgradesSchemaOne() async throws {
        let path = TestProcess.temporaryDirectory() + "/hub.sqlite"
        do {
            let old = try SQLiteConnection(path: path)
            try old.execute("""
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                INSERT INTO meta (key, value) VALUES ('schema_version', '1');
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, module_id TEXT NOT NULL,
                    enqueued_ms INTEGER NOT NULL, body BLOB NOT NULL, properties TEXT NOT NULL, system TEXT NOT NULL,
                    size INTEGER NOT NULL);
                CREATE INDEX events_by_device ON events (device_id, seq);
                CREATE INDEX events_by_time ON events (enqueued_ms);
                INSERT INTO events (device_id, module_id, enqueued_ms, body, properties, system, size)
                    VALUES ('d1', '', 1000, x'6869', '{"k":"v"}', '{"message-id":"m"}', 30), ('d2', '', 2000, x'', '{}', '{}', 12);
                """)
        }
        let store = try SQLiteHubStore(path: path, durability: .normal)
        defer { store.close() }
        let events = try await store.events(after: 0, deviceId: nil, limit: 10)
        #expect(events.map(\.sequenceNumber) == [1, 2])
        #expect(events[0].message.properties == ["k": "v"])
        #expect(events[0].message.systemProperties.messageId == "m")
        let check = try SQLiteConnection(path: path, readOnly: true)
        #expect(try check.query("SELECT value FROM meta WHERE key = 'schema_version'").first?.first?.text == "4")
        #expect(try check.query("SELECT name FROM sqlite_master WHERE name LIKE 'events_by_%'").map { $0[0].text } == ["events_by_stream"])
        // Version 3: each kept message got its device's partition (of 4) and a number within it.
        let partitioner = EventHubPartitioner(count: 4)
        #expect(events.map(\.partition) == ["d1", "d2"].map(partitioner.partition(for:)))
        #expect(try await store.setting("event_partitions") == "4")
        let state = try await store.partitionState(partitioner.partition(for: "d1"))
        #expect(state.lastOffset >= 1 && !state.isEmpty)
        #expect(try check.query("SELECT bytes FROM event_log_size").first?.first?.integer == 42)
        // Over the size bound: the oldest goes first.
        #expect(try await store.pruneEvents(olderThan: Date(timeIntervalSince1970: 0), maximumBytes: 20) == 1)
        #expect(try await store.events(after: 0, deviceId: nil, limit: 10).map(\.sequenceNumber) == [2])
    }

    @Test("events: durable append, read by device and after a sequence number, prune by age and size")
    func events() async throws {
        let (store, path) = try Self.makeStore()
        var message = IoTHubMessage(text: "hello", properties: ["k": "v"])
        message.systemProperties.messageId = "m1"
        message.systemProperties.connectionDeviceId = "d1"
        var properties: [UInt8] = [], system: [UInt8] = []
        JSONStringMembers.write([("k", "v")], to: &properties)
        JSONStringMembers.write([("message-id", "m1"), ("iothub-connection-device-id", "d1")], to: &system)
        func record(_ index: Int) -> EventRecord {
            EventRecord(identity: DeviceIdentity(deviceId: index % 2 == 0 ? "d1" : "d2"),
                        enqueuedMilliseconds: Int64(1000 + index) * 1000, body: message.body, properties: properties,
                        system: system)
        }
        func append(_ records: [EventRecord]) async throws -> ClosedRange<Int64> {
            try await withCheckedThrowingContinuation { continuation in
                store.appendEvents(records) { continuation.resume(with: $0) }
            }
        }
        for index in 0..<4 {
            #expect(try await append([record(index)]) == Int64(index + 1)...Int64(index + 1))
        }
        // A batch gets consecutive sequence numbers in its order.
        #expect(try await append((4..<10).map(record)) == 5...10)
        store.close()
        let reopened = try SQLiteHubStore(path: path, durability: .normal)
        defer { reopened.close() }
        let all = try await reopened.events(after: 0, deviceId: nil, limit: 100)
        #expect(all.count == 10)
        #expect(all[0].message == message)
        #expect(try await reopened.events(after: 4, deviceId: "d1", limit: 100).map(\.sequenceNumber) == [5, 7, 9])
        #expect(try await reopened.pruneEvents(olderThan: Date(timeIntervalSince1970: 1003), maximumBytes: .max) == 3)
        let remaining = try await reopened.events(after: 0, deviceId: nil, limit: 100)
        let oneSize = Int64(remaining.count > 0 ? 5 + #"{"k":"v"}"#.utf8.count + PropertyCoding.encodeSystem(message.systemProperties).utf8.count : 0)
        #expect(try await reopened.pruneEvents(olderThan: .distantPast, maximumBytes: oneSize * 2) == 5)
        #expect(try await reopened.events(after: 0, deviceId: nil, limit: 100).map(\.sequenceNumber) == [9, 10])
        #expect(try await reopened.lastEventSequenceNumber() == 10)
    }

    @Test("C2D: queue limit, lock, complete, abandon, reject, expiry and delivery count")
    func cloudToDevice() async throws {
        let (store, _) = try Self.makeStore()
        defer { store.close() }
        let me = DeviceIdentity(deviceId: "c")
        _ = try await store.createDevice(Self.sasDevice("c"), twin: "{}")
        let now = Date(timeIntervalSince1970: 10_000)
        func envelope(_ text: String, ttl: TimeInterval = 3600) -> CloudToDeviceEnvelope {
            CloudToDeviceEnvelope(identity: me, message: IoTHubMessage(text: text), enqueuedTime: now,
                                  expiryTime: now.addingTimeInterval(ttl), acknowledgement: .full)
        }
        for index in 0..<3 { try await store.enqueueCloudToDevice(envelope("m\(index)"), limit: 3) }
        await #expect { try await store.enqueueCloudToDevice(envelope("m3"), limit: 3) } throws: {
            ($0 as? HubError)?.code == .deviceMaximumQueueDepthExceeded
        }
        let first = try await store.lockCloudToDevice(me, now: now, lockDuration: 60, maximum: 2, maximumDeliveryCount: 2)
        #expect(first.locked.map { String(decoding: $0.message.body, as: UTF8.self) } == ["m0", "m1"])
        #expect(first.locked.allSatisfy { $0.deliveryCount == 1 && $0.lockToken != nil })
        // Locked messages are invisible until the lock expires.
        let second = try await store.lockCloudToDevice(me, now: now, lockDuration: 60, maximum: 10, maximumDeliveryCount: 2)
        #expect(second.locked.map { String(decoding: $0.message.body, as: UTF8.self) } == ["m2"])

        _ = try await store.settleCloudToDevice(me, lockToken: first.locked[0].lockToken!, disposition: .complete)
        _ = try await store.settleCloudToDevice(me, lockToken: first.locked[1].lockToken!, disposition: .abandon)
        _ = try await store.settleCloudToDevice(me, lockToken: second.locked[0].lockToken!, disposition: .reject)
        await #expect { try await store.settleCloudToDevice(me, lockToken: "nope", disposition: .complete) } throws: {
            ($0 as? HubError)?.code == .deviceMessageLockLost
        }
        #expect(try await store.pendingCloudToDeviceCount(me) == 1)
        // m1 was delivered once; a second delivery is allowed, a third dead-letters it.
        let third = try await store.lockCloudToDevice(me, now: now, lockDuration: 60, maximum: 10, maximumDeliveryCount: 2)
        #expect(third.locked.first?.deliveryCount == 2)
        try await store.releaseCloudToDeviceLocks(me)
        let fourth = try await store.lockCloudToDevice(me, now: now, lockDuration: 60, maximum: 10, maximumDeliveryCount: 2)
        #expect(fourth.locked.isEmpty)
        #expect(fourth.deadLettered.map(\.1) == [.deliveryCountExceeded])

        try await store.enqueueCloudToDevice(envelope("short", ttl: 5), limit: 50)
        let later = try await store.lockCloudToDevice(me, now: now.addingTimeInterval(6), lockDuration: 60, maximum: 10,
                                                      maximumDeliveryCount: 10)
        #expect(later.locked.isEmpty && later.deadLettered.map(\.1) == [.expired])
        try await store.enqueueCloudToDevice(envelope("purge me"), limit: 50)
        #expect(try await store.purgeCloudToDevice(me).count == 1)
        #expect(try await store.pendingCloudToDeviceCount(me) == 0)
    }
}

@Suite("etag conditions")
struct ETagConditionTests {
    @Test("If-Match values as the official SDK and curl send them", arguments: [
        (nil, ETagCondition.any), ("*", .any), ("\"*\"", .any), ("", .any), ("  ", .any), ("\"\"", .matches("")),
        ("W/\"\"", .matches("")), ("\"MQ==\"", .matches("MQ==")),
        ("MQ==", .matches("MQ==")), ("W/\"Mg==\"", .matches("Mg==")),
    ])
    func parse(header: String?, expected: ETagCondition) {
        #expect(ETagCondition(ifMatch: header) == expected)
    }
}

@Suite("SQLite hub store: event-stream partitions and consumer groups")
struct EventPartitionStoreTests {
    static func append(_ store: SQLiteHubStore, _ records: [EventRecord]) async throws -> ClosedRange<Int64> {
        try await withCheckedThrowingContinuation { continuation in
            store.appendEvents(records) { continuation.resume(with: $0) }
        }
    }

    static func record(_ device: String, partition: Int, at milliseconds: Int64) -> EventRecord {
        EventRecord(identity: DeviceIdentity(deviceId: device), enqueuedMilliseconds: milliseconds,
                    body: Array(device.utf8), properties: Array("{}".utf8), system: Array("{}".utf8), partition: partition)
    }

    @Test("each partition numbers its messages from 0 without gaps; offsets, state and cursors for every position")
    func partitions() async throws {
        let (store, path) = try SQLiteHubStoreTests.makeStore()
        // Partition 0 gets a0..a4, partition 1 b0..b2, interleaved in two batches.
        var records: [EventRecord] = []
        for index in 0..<5 { records.append(Self.record("a", partition: 0, at: 1000 + Int64(index) * 10)) }
        for index in 0..<3 { records.insert(Self.record("b", partition: 1, at: 1001 + Int64(index) * 10), at: index * 2 + 1) }
        _ = try await Self.append(store, Array(records[..<4]))
        _ = try await Self.append(store, Array(records[4...]))
        let zero = try await store.partitionEvents(0, after: -1, limit: 100)
        let one = try await store.partitionEvents(1, after: -1, limit: 100)
        #expect(zero.map(\.partitionSequenceNumber) == [0, 1, 2, 3, 4])
        #expect(one.map(\.partitionSequenceNumber) == [0, 1, 2])
        #expect(zero.allSatisfy { $0.partition == 0 } && one.allSatisfy { $0.partition == 1 })
        #expect(zero.map(\.sequenceNumber) == zero.map(\.sequenceNumber).sorted())
        #expect(try await store.partitionEvents(0, after: 2, limit: 1).map(\.partitionSequenceNumber) == [3])

        let state = try await store.partitionState(0)
        #expect(state == EventPartitionState(beginSequenceNumber: 0, lastSequenceNumber: 4, lastOffset: zero[4].sequenceNumber,
                                             lastEnqueuedMilliseconds: 1040, isEmpty: false))
        let empty = try await store.partitionState(3)
        #expect(empty == EventPartitionState(beginSequenceNumber: -1, lastSequenceNumber: -1, lastOffset: -1,
                                             lastEnqueuedMilliseconds: 0, isEmpty: true))

        #expect(try await store.partitionCursor(0, at: .start) == -1)
        #expect(try await store.partitionCursor(0, at: .latest) == 4)
        #expect(try await store.partitionCursor(0, at: .sequenceNumber(2, inclusive: false)) == 2)
        #expect(try await store.partitionCursor(0, at: .sequenceNumber(2, inclusive: true)) == 1)
        let offset = zero[2].sequenceNumber
        #expect(try await store.partitionCursor(0, at: .offset(offset, inclusive: false)) == 2)
        #expect(try await store.partitionCursor(0, at: .offset(offset, inclusive: true)) == 1)
        // An offset of another partition's message starts at this partition's next one.
        #expect(try await store.partitionCursor(0, at: .offset(one[2].sequenceNumber, inclusive: true))
                == (zero.first { $0.sequenceNumber > one[2].sequenceNumber }?.partitionSequenceNumber ?? 5) - 1)
        #expect(try await store.partitionCursor(0, at: .enqueuedTime(1020, inclusive: true)) == 1)
        #expect(try await store.partitionCursor(0, at: .enqueuedTime(1020, inclusive: false)) == 2)
        #expect(try await store.partitionCursor(0, at: .enqueuedTime(99_999, inclusive: false)) == 4)

        // Retention keeps the numbers: what is left keeps its number, and new messages continue after the last.
        _ = try await store.pruneEvents(olderThan: Date(timeIntervalSince1970: 1.025), maximumBytes: 1 << 30)
        #expect(try await store.partitionState(0).beginSequenceNumber == 3)
        store.close()
        let reopened = try SQLiteHubStore(path: path, durability: .normal)
        defer { reopened.close() }
        _ = try await Self.append(reopened, [Self.record("a", partition: 0, at: 2000)])
        #expect(try await reopened.partitionEvents(0, after: 4, limit: 10).map(\.partitionSequenceNumber) == [5])
        _ = try await reopened.pruneEvents(olderThan: Date(timeIntervalSince1970: 10), maximumBytes: 1 << 30)
        let pruned = try await reopened.partitionState(0)
        #expect(pruned.isEmpty && pruned.lastSequenceNumber == 5 && pruned.beginSequenceNumber == 5)
    }

    @Test("consumer groups: created once, names without case, deleted; $Default is implicit")
    func consumerGroups() async throws {
        let (store, _) = try SQLiteHubStoreTests.makeStore()
        defer { store.close() }
        let service = EventHubService(name: "hub", events: EventService(store: store, logger: Logger(label: "test")),
                                      store: store, createdAt: Date(), logger: Logger(label: "test"))
        #expect(try await service.consumerGroups().map(\.name) == ["$Default"])
        try await service.createConsumerGroup("analytics")
        await #expect(throws: HubError.self) { try await service.createConsumerGroup("Analytics") }
        await #expect(throws: HubError.self) { try await service.createConsumerGroup("$Default") }
        await #expect(throws: HubError.self) { try await service.createConsumerGroup("-bad") }
        await #expect(throws: HubError.self) { try await service.createConsumerGroup(String(repeating: "a", count: 51)) }
        #expect(try await service.consumerGroups().map(\.name) == ["$Default", "analytics"])
        #expect(try await service.consumerGroupExists("ANALYTICS"))
        #expect(try await service.consumerGroupExists("$default"))
        try await service.deleteConsumerGroup("analytics")
        await #expect(throws: HubError.self) { try await service.deleteConsumerGroup("analytics") }
        await #expect(throws: HubError.self) { try await service.deleteConsumerGroup("$Default") }
        #expect(try await !service.consumerGroupExists("analytics"))
    }

    @Test("epoch rules: a higher or equal epoch takes over, a lower one and one without are refused, 5 without at most")
    func ownership() {
        let table = PartitionOwnership(maximumReceivers: 5)
        let key = PartitionOwnership.Key(entity: "hub", consumerGroup: "$Default", partition: 0)
        let evicted = Mutex<[Int]>([])
        func claim(_ epoch: Int64?) -> PartitionOwnership.Decision {
            table.claim(key, epoch: epoch) { claim, _ in evicted.withLock { $0.append(claim.id) } }
        }
        var plain: [PartitionOwnership.Claim] = []
        for _ in 0..<5 { if case .granted(let c) = claim(nil) { plain.append(c) } }
        #expect(plain.count == 5)
        guard case .tooManyReceivers(5) = claim(nil) else { Issue.record("a sixth receiver was admitted"); return }
        guard case .granted(let one) = claim(1) else { Issue.record("epoch 1 refused"); return }
        #expect(Set(evicted.withLock { $0 }) == Set(plain.map(\.id)))
        guard case .refusedNoEpoch(owner: 1) = claim(nil) else { Issue.record("a receiver without epoch was admitted"); return }
        guard case .refusedByEpoch(owner: 1) = claim(0) else { Issue.record("a lower epoch was admitted"); return }
        guard case .granted(let again) = claim(1) else { Issue.record("the same epoch did not take over"); return }
        #expect(evicted.withLock { $0.last } == one.id)
        table.release(again)
        #expect(table.receivers(key) == 0)
        guard case .granted = claim(nil) else { Issue.record("the partition stayed owned after release"); return }
    }
}
