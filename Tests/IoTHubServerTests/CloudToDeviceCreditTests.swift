import NIOCore
import Testing
@testable import IoTHubCore
@testable import IoTHubServer

/// C2D delivery by credit: the window, the device's credit, lock expiry and fetches under way.
struct CloudToDeviceCreditTests {
    private let lock = Duration.seconds(60)

    @Test func roomIsTheWindowLessWhatIsInFlightCappedByCredit() {
        var credit = CloudToDeviceCredit<Int>()
        var room = credit.startFetch(window: 8, now: .seconds(0), lock: lock)
        #expect(room == 8)
        var again = credit.fetched(3, requested: 8)
        #expect(again == false)
        for key in 0..<3 { credit.sent(key, lockToken: "t\(key)", now: .seconds(0)) }
        room = credit.startFetch(window: 8, now: .seconds(1), lock: lock)
        #expect(room == 5)
        again = credit.fetched(0, requested: 5)
        room = credit.startFetch(window: 8, credit: 2, now: .seconds(1), lock: lock)
        #expect(room == 2)
        again = credit.fetched(0, requested: 2)
        room = credit.startFetch(window: 8, credit: 0, now: .seconds(1), lock: lock)
        #expect(room == 0 && again == false)
    }

    @Test func anExpiredDeliveryGivesBackItsPlaceInTheSameCall() {
        var credit = CloudToDeviceCredit<Int>()
        _ = credit.startFetch(window: 2, now: .seconds(0), lock: lock)
        _ = credit.fetched(2, requested: 2)
        credit.sent(1, lockToken: "old", now: .seconds(0))
        credit.sent(2, lockToken: "new", now: .seconds(50))
        var room = credit.startFetch(window: 2, now: .seconds(55), lock: lock)
        #expect(room == 0)
        room = credit.startFetch(window: 2, now: .seconds(61), lock: lock)
        #expect(room == 1)
        let late = credit.settled(1)
        #expect(late == nil, "the expired delivery's lock is gone; a late settlement finds nothing")
        let current = credit.settled(2)
        #expect(current == "new")
    }

    @Test func aFetchUnderWayIsRememberedAndAFullFetchAsksForMore() {
        var credit = CloudToDeviceCredit<Int>()
        var room = credit.startFetch(window: 4, now: .zero, lock: lock)
        #expect(room == 4)
        room = credit.startFetch(window: 4, now: .zero, lock: lock)
        #expect(room == 0, "one fetch at a time")
        var again = credit.fetched(1, requested: 4)
        #expect(again, "messages were announced meanwhile: fetch again")
        room = credit.startFetch(window: 4, now: .zero, lock: lock)
        #expect(room == 4)
        again = credit.fetched(4, requested: 4)
        #expect(again, "a full fetch may have left more behind")
        room = credit.startFetch(window: 4, now: .zero, lock: lock)
        again = credit.fetched(2, requested: 4)
        #expect(room == 4 && again == false)
        let remaining = credit.removeAll()
        #expect(remaining.isEmpty)
    }

    @Test func mqttWindowAllocatesFreePacketIdsAndExpiresInTheFetch() {
        var window = MQTTCloudToDeviceWindow(capacity: 2)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var room = window.startFetch(now: start, lock: .seconds(60))
        #expect(room == 2)
        _ = window.fetched(2, requested: 2)
        let first = window.add(lockToken: "a", now: start)
        let second = window.add(lockToken: "b", now: start + .seconds(30))
        #expect(first != 0 && second != 0 && first != second)
        #expect(window.available == 0)
        room = window.startFetch(now: start + .seconds(61), lock: .seconds(60))
        #expect(room == 1)
        _ = window.fetched(0, requested: 1)
        let expired = window.acknowledge(first)
        let live = window.acknowledge(second)
        #expect(expired == nil && live == "b")
        let remaining = window.removeAll()
        #expect(remaining.isEmpty)
    }
}
