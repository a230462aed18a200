import NIOCore
import NIOEmbedded
import Testing
@testable import IoTHubServer

@Suite("connection timer wheel (manual clock)")
struct ConnectionTimerWheelTests {
    /// Records each firing with the loop's time, in whole milliseconds since the start.
    final class Target: ConnectionTimerTarget {
        let loop: EmbeddedEventLoop
        var fired: [(ConnectionTimerWheel.Kind, Int64)] = []
        var onFire: ((ConnectionTimerWheel.Kind) -> Void)?
        init(loop: EmbeddedEventLoop) { self.loop = loop }

        func connectionTimerFired(_ timer: ConnectionTimerWheel.Kind) {
            fired.append((timer, Int64(loop.now.uptimeNanoseconds / 1_000_000)))
            onFire?(timer)
        }
    }

    @Test("a timer fires at the first turn at or after its deadline: never early, at most one resolution late")
    func firesOnTime() {
        let loop = EmbeddedEventLoop()
        let wheel = ConnectionTimerWheel(eventLoop: loop, resolution: .seconds(1), slots: 8)
        let target = Target(loop: loop)
        _ = wheel.schedule(.keepAlive, in: .milliseconds(2_500), for: target)
        _ = wheel.schedule(.connect, in: .seconds(3), for: target)
        loop.advanceTime(by: .milliseconds(2_499))
        #expect(target.fired.isEmpty)
        loop.advanceTime(by: .milliseconds(501))
        #expect(target.fired.map(\.0) == [.keepAlive, .connect])
        #expect(target.fired.allSatisfy { $0.1 == 3_000 })
        #expect(wheel.count == 0)
    }

    @Test("a cancelled timer never fires, and the wheel stops turning when it holds none")
    func cancel() {
        let loop = EmbeddedEventLoop()
        let wheel = ConnectionTimerWheel(eventLoop: loop, slots: 8)
        let target = Target(loop: loop)
        let first = wheel.schedule(.connect, in: .seconds(2), for: target)
        let second = wheel.schedule(.tokenExpiry, in: .seconds(2), for: target)
        wheel.cancel(first)
        wheel.cancel(first)  // twice is harmless
        loop.advanceTime(by: .seconds(5))
        #expect(target.fired.map(\.0) == [.tokenExpiry])
        wheel.cancel(second)  // after it fired: harmless
        #expect(wheel.count == 0)
        let third = wheel.schedule(.keepAlive, in: .seconds(1), for: target)
        wheel.cancel(third)
        loop.advanceTime(by: .seconds(5))
        #expect(target.fired.count == 1)
    }

    @Test("deadlines further than the wheel's span wait their turn; a long stall fires everything due at once")
    func farDeadlinesAndStalls() {
        let loop = EmbeddedEventLoop()
        let wheel = ConnectionTimerWheel(eventLoop: loop, resolution: .seconds(1), slots: 4)
        let target = Target(loop: loop)
        _ = wheel.schedule(.tokenExpiry, in: .seconds(10), for: target)  // same bucket as 2 s and 6 s
        _ = wheel.schedule(.keepAlive, in: .seconds(2), for: target)
        loop.advanceTime(by: .seconds(2))
        #expect(target.fired.map(\.0) == [.keepAlive])
        loop.advanceTime(by: .seconds(7))
        #expect(target.fired.count == 1, "not due before 10 s although its bucket came round twice")
        loop.advanceTime(by: .seconds(1))
        #expect(target.fired.map(\.0) == [.keepAlive, .tokenExpiry])
        #expect(target.fired.last?.1 == 10_000)

        // Several due timers across every bucket, then the clock jumps far past all of them.
        for seconds in [1, 2, 3, 5, 8, 13] { _ = wheel.schedule(.connect, in: .seconds(Int64(seconds)), for: target) }
        loop.advanceTime(by: .seconds(100))
        #expect(target.fired.count == 8)
        #expect(wheel.count == 0)
    }

    @Test("a target may schedule again from its callback (a keep-alive check that finds activity)")
    func rescheduleFromCallback() {
        let loop = EmbeddedEventLoop()
        let wheel = ConnectionTimerWheel(eventLoop: loop, slots: 8)
        let target = Target(loop: loop)
        var rounds = 0
        target.onFire = { kind in
            rounds += 1
            if rounds < 3 { _ = wheel.schedule(kind, in: .seconds(3), for: target) }
        }
        _ = wheel.schedule(.keepAlive, in: .seconds(3), for: target)
        loop.advanceTime(by: .seconds(20))
        #expect(target.fired.map(\.1) == [3_000, 6_000, 9_000])
        #expect(wheel.count == 0)
    }

    @Test("many timers on one loop: each fires once, in its own turn")
    func manyTimers() {
        let loop = EmbeddedEventLoop()
        let wheel = ConnectionTimerWheel(eventLoop: loop, resolution: .milliseconds(100), slots: 64)
        let targets = (0..<1_000).map { _ in Target(loop: loop) }
        var timers: [ConnectionTimerWheel.Timer] = []
        for (index, target) in targets.enumerated() {
            timers.append(wheel.schedule(.keepAlive, in: .milliseconds(Int64(index * 10)), for: target))
        }
        for index in stride(from: 0, to: 1_000, by: 2) { wheel.cancel(timers[index]) }
        loop.advanceTime(by: .seconds(11))
        for (index, target) in targets.enumerated() {
            if index % 2 == 0 {
                #expect(target.fired.isEmpty)
            } else {
                let deadline = Int64(index * 10)
                #expect(target.fired.count == 1)
                #expect(target.fired.first.map { $0.1 >= deadline && $0.1 < deadline + 100 } == true)
            }
        }
    }
}
