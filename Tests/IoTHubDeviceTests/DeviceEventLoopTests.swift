import Foundation
import Testing
@testable import IoTHubDevice

@Suite struct DeviceEventLoopTests {
    @Test func executeRunsOnTheLoopInOrderFromManyThreads() async throws {
        let loop = try DeviceEventLoop(name: "order")
        defer { loop.shutdown() }
        let seen = Locked<[Int: [Int]]>([:])
        let onLoop = Counter()
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<4 {
                group.addTask {
                    for index in 0..<1000 {
                        loop.execute {
                            if loop.inEventLoop { onLoop.increment() }
                            seen.withLock { $0[producer, default: []].append(index) }
                        }
                    }
                }
            }
        }
        _ = try await loop.submit { 0 }
        #expect(onLoop.value == 4000)
        #expect(!loop.inEventLoop)
        seen.withLock { seen in
            for producer in 0..<4 { #expect(seen[producer] == Array(0..<1000)) }
        }
    }

    @Test func timersFireInDeadlineOrderAndCancelledOnesDoNot() async throws {
        let loop = try DeviceEventLoop(name: "timers")
        defer { loop.shutdown() }
        let fired = Locked<[Int]>([])
        let delays = [50, 10, 30, 20, 40]
        var timers: [DeviceLoopTimer] = []
        for delay in delays {
            timers.append(loop.schedule(after: .milliseconds(delay)) { fired.withLock { $0.append(delay) } })
        }
        timers[2].cancel()   // 30 ms
        let started = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(150))
        #expect(fired.withLock { $0 } == [10, 20, 40, 50])
        // Not early: the 50 ms timer did not run before 50 ms had passed.
        #expect(ContinuousClock.now - started >= .milliseconds(50))
    }

    @Test func timerHeapKeepsOrderUnderRandomInsertions() {
        var heap = TimerHeap()
        var generator = SystemRandomNumberGenerator()
        var deadlines: [UInt64] = []
        for _ in 0..<2000 {
            let deadline = UInt64.random(in: 0..<10_000, using: &generator)
            deadlines.append(deadline)
            heap.insert(deadline: deadline, timer: DeviceLoopTimer(), work: {})
        }
        var popped: [UInt64] = []
        while let entry = heap.popDue(now: .max) { popped.append(entry.deadline) }
        #expect(popped == deadlines.sorted())
        #expect(heap.count == 0)
    }

    @Test func submitReturnsValuesAndErrors() async throws {
        struct Failure: Error {}
        let loop = try DeviceEventLoop(name: "submit")
        defer { loop.shutdown() }
        #expect(try await loop.submit { 6 * 7 } == 42)
        await #expect(throws: Failure.self) { try await loop.submit { throw Failure() } }
    }

    @Test func shutdownStopsTheThreadAndIsIdempotent() async throws {
        let loops = try (0..<8).map { try DeviceEventLoop(name: "loop-\($0)") }
        let ran = Counter()
        for loop in loops { loop.execute { ran.increment() } }
        for loop in loops { loop.shutdown() }
        for loop in loops { loop.shutdown() }
        // Work queued before the shutdown ran; the threads have ended (shutdown joins them).
        #expect(ran.value == 8)
        let stopped = loops.filter { $0.hasStopped }.count
        #expect(stopped == 8)
    }
}

/// A value behind a lock, shareable between tasks and the loop thread.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
}
