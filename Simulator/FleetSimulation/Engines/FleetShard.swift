import Glibc
import IoTHubDevice
import IoTHubProtocol
import MQTTCore

/// What a shard asks of each of its devices, whatever protocol the engine speaks.
protocol ShardDevice: AnyObject {
    var index: Int { get }
    var planned: PlannedDevice { get }
    var behaviour: DeviceBehaviour { get }
    var phase: ShardDevicePhase { get }
    var connectedAt: Duration { get }
    var retryAt: Duration? { get set }
    /// Telemetry handed over and not yet acknowledged.
    var pending: Int { get }
    var sent: Int { get }
    var acknowledged: Int { get }
    func connect(now: Duration)
    func tick(now: Duration)
    /// When ``tick(now:)`` next has something to do (a send, a keep-alive, a held answer, a timeout, a renewal, the
    /// end of a duty cycle); `nil` for nothing timed.
    func nextDue(now: Duration) -> Duration?
    func leave(graceful: Bool, returnAt: Duration)
    func abandon()
}

extension ShardDevice {
    var isFinished: Bool { phase == .done }
}

enum ShardDevicePhase { case waiting, connecting, connected, done }

/// The devices of a native engine that one event-loop thread drives: connect pacing per group, a sweep that
/// runs every device's keep-alive and sends what is due, the groups' lifecycles (duty cycle, churn, reconnect
/// storms), and the metrics of its devices (merged with the other shards' at the end). Confined to its loop:
/// every method runs on `loop`.
final class FleetShard: @unchecked Sendable {
    let loop: DeviceEventLoop
    let configuration: NativeMQTTEngine.Configuration
    let encoder = MQTTPacketEncoder()
    private let behaviours: [DeviceBehaviour]
    private let control: RunControl
    private let shardIndex: Int
    /// This shard's part of each group's connect rate.
    private let rateShare: Double
    private let clock = ContinuousClock()
    private var random: SplitMix64
    /// Per group: the body when its template has no generators (rendered once), and the property-bag suffix.
    private var staticBodies: [[UInt8]?]
    private var topicSuffixes: [String]
    private var devices: [any ShardDevice] = []
    /// Each device's group, by index (the sweep reads it without copying the device's plan or behaviour).
    private var groups: [Int] = []
    /// Per group: its duty cycle, if it has one.
    private let dutyCycles: [Lifecycle.DutyCycle?]
    /// When each device (by index) next needs a tick: the sweep looks at this array, not at every device, so a
    /// loop carries hundreds of thousands of idle devices.
    private var dueAt: [Duration] = []
    /// The longest a device goes untouched by the sweep. Every device says when it next has work (``ShardDevice/nextDue(now:)``)
    /// and events reschedule it, so this is a safety net; an idle device costs a tick per this interval (at 1 s,
    /// 100,000 idle devices took 0.7 of a core against Mosquitto's 0.25).
    private static let maximumIdleTick = Duration.seconds(5)
    /// Makes each assigned device (the engine's kind) for this shard.
    var makeDevice: ((Int, PlannedDevice, DeviceBehaviour, FleetShard) -> any ShardDevice)?
    /// Per group: its devices' places in `devices` in connect order, the next to connect first, and the allowance.
    private var firstConnects: [[Int]]
    private var nextFirstConnect: [Int]
    private var connectAllowance: [Double]
    private var churnAllowance: [Double]
    private var stormsDone: [[Bool]]
    private var connecting = 0
    private var lastSweep: Duration = .zero
    private var remaining = 0
    /// Devices whose first connect succeeded, or who gave up before one did.
    private var firstSettled: [Bool] = []
    private var firstSettledCount = 0
    private var everConnected = 0
    /// When the last device connected for the first time (since the run started).
    private var lastFirstConnect: Duration = .zero
    private var connectedNow = 0
    private var second = 0
    private var sending = true
    private var sweepTimer: DeviceLoopTimer?
    private var completion: CheckedContinuation<NativeMQTTEngine.ShardResult, Never>?
    private var metrics = FleetMetrics()
    private var timeline = FleetTimeline()
    /// This second's latencies, per operation (folded into the timeline when the second ends).
    private var window: [FleetOperation: LatencyHistogram] = [:]
    private var errors: [String: Int] = [:]

    init(index: Int, loop: DeviceEventLoop, configuration: NativeMQTTEngine.Configuration,
         behaviours: [DeviceBehaviour], control: RunControl, rateShare: Double) {
        self.shardIndex = index
        self.loop = loop
        self.configuration = configuration
        self.behaviours = behaviours
        self.control = control
        self.rateShare = rateShare
        random = SplitMix64(seed: 0x5EED_0000 &+ UInt64(index))
        staticBodies = behaviours.map { behaviour in
            guard let telemetry = behaviour.telemetry else { return nil }
            let constant = telemetry.payload.fields.allSatisfy { if case .constant = $0.generator { true } else { false } }
            guard constant else { return nil }
            var renderer = PayloadRenderer(template: telemetry.payload, seed: 0)
            return renderer.bytes(elapsed: .zero, now: Timestamp(secondsSince1970: 0), size: telemetry.size)
        }
        topicSuffixes = behaviours.map { behaviour in
            var pairs: [(String, String?)] = [("$.ct", "application/json"), ("$.ce", "utf-8")]
            for key in (behaviour.telemetry?.properties.keys.sorted() ?? []) {
                pairs.append((key, behaviour.telemetry?.properties[key]))
            }
            return PropertyBag(pairs).encoded
        }
        dutyCycles = behaviours.map(\.lifecycle.dutyCycle)
        firstConnects = behaviours.map { _ in [] }
        nextFirstConnect = behaviours.map { _ in 0 }
        connectAllowance = behaviours.map { _ in 0 }
        churnAllowance = behaviours.map { _ in 0 }
        stormsDone = behaviours.map { $0.lifecycle.reconnectStorms.map { _ in false } }
    }

    // MARK: What devices ask of their shard

    /// Time since the run started (one time line for every shard and worker, so timelines merge second by second).
    func now() -> Duration { clock.now - control.started }

    func unixTime() -> Int { time(nil) }

    var isSending: Bool { sending }

    func hasStaticBody(group: Int) -> Bool { staticBodies[group] != nil }
    func staticBody(group: Int) -> [UInt8]? { staticBodies[group] }

    /// The telemetry topic for one message: the group's properties, and its send time when the service side reads
    /// the telemetry stream for end-to-end latency.
    func telemetryTopic(for identity: DeviceIdentity, group: Int) -> String {
        var topic = identity.topicBase + "/messages/events/"
        if configuration.stampTelemetry { topic += "\(FleetTimestamps.property)=\(Self.wallMilliseconds())&" }
        return topic + topicSuffixes[group]
    }

    func wallClockTimestamp() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(secondsSince1970: Int64(spec.tv_sec), nanoseconds: Int32(spec.tv_nsec))
    }

    static func wallMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// The time since `milliseconds` (Unix time) by the wall clock: another process's send time.
    func sinceWallClock(milliseconds: Int64) -> Duration {
        .milliseconds(max(0, Self.wallMilliseconds() - milliseconds))
    }

    func randomDuration(upTo limit: Duration) -> Duration {
        limit > .zero ? .milliseconds(Int64(random.unit() * limit.seconds * 1000)) : .zero
    }

    /// How to settle one C2D message by the group's mix (complete when it has none).
    func settlement(_ mix: CloudToDeviceBehaviour?) -> AMQPIdentitySession.Settlement {
        guard let mix else { return .complete }
        let draw = random.unit()
        return draw < mix.complete ? .complete : draw < mix.complete + mix.reject ? .reject : .abandon
    }

    func randomJitter(_ jitter: Duration) -> Duration {
        jitter > .zero ? .milliseconds(Int64((random.unit() * 2 - 1) * jitter.seconds * 1000)) : .zero
    }

    /// The socket settings for the `attempt`-th connection of the device at `index` in this shard: source
    /// addresses rotate over the devices, and over one device's attempts. `tls` replaces the shared context (a
    /// device that presents its own certificate).
    func socketSettings(device index: Int, attempt: Int, tls: DeviceTLSContext? = nil) -> DeviceSocket.Settings {
        let bind = configuration.bindAddresses.isEmpty ? nil
            : configuration.bindAddresses[(index + attempt) % configuration.bindAddresses.count]
        return DeviceSocket.Settings(host: configuration.gateway(forDevice: devices[index].planned.index),
                                     port: configuration.port, bindAddress: bind, tls: tls ?? configuration.tls,
                                     connectTimeout: configuration.responseTimeout)
    }

    func record(_ operation: FleetOperation, latency: Duration, count name: String?) {
        metrics.record(operation, latency: latency)
        window[operation, default: LatencyHistogram()].record(latency)
        if let name { count(name) }
    }

    func count(_ name: String) {
        metrics.count(name)
        timeline.count(name, at: second)
    }

    func fail(_ operation: FleetOperation, _ errorClass: FleetErrorClass) {
        metrics.fail(operation, errorClass)
        timeline.count(errorClass == .throttled ? "throttled" : "errors", at: second)
    }

    // MARK: Running

    /// Adds devices, starts pacing and sweeping, and returns when every device finished, the run stopped, or the
    /// deadline passed.
    func run(_ assigned: [PlannedDevice]) async -> NativeMQTTEngine.ShardResult {
        await withCheckedContinuation { continuation in
            loop.execute { [self] in
                completion = continuation
                devices = assigned.enumerated().map { index, planned in
                    makeDevice?(index, planned, behaviours[planned.group], self)
                        ?? NativeMQTTDevice(index: index, planned: planned, behaviour: behaviours[planned.group], shard: self)
                }
                groups = devices.map(\.planned.group)
                for device in devices { firstConnects[groups[device.index]].append(device.index) }
                dueAt = Array(repeating: .seconds(Int64.max / 4), count: devices.count)
                firstSettled = Array(repeating: false, count: devices.count)
                remaining = devices.count
                if remaining == 0 {
                    control.shardUp(shardIndex)
                    return complete()
                }
                lastSweep = now()
                sweep()
            }
        }
    }

    // MARK: The sweep

    private func sweep() {
        let now = self.now()
        let phase = control.phase
        if now >= configuration.deadline || phase == .stopping {
            for device in devices where !device.isFinished { device.abandon() }
            return
        }
        sending = phase == .running
        let elapsed = now - lastSweep
        let nowSecond = Int(now.components.seconds)
        if nowSecond > second { endSecond(next: nowSecond) }
        startConnects(now: now, elapsed: elapsed)
        fireStorms(now: now)
        churn(now: now, elapsed: elapsed)
        for index in dueAt.indices where dueAt[index] <= now {
            let device = devices[index]
            switch device.phase {
            case .connected:
                device.tick(now: now)
                if device.phase == .connected, let duty = dutyCycles[groups[index]],
                   now - device.connectedAt >= duty.connected {
                    count("lifecycle.sleeps")
                    device.leave(graceful: true, returnAt: now + duty.sleep)
                }
            case .connecting:
                device.tick(now: now)
            case .waiting:
                guard let retryAt = device.retryAt else {
                    dueAt[index] = .seconds(Int64.max / 4)
                    continue
                }
                if retryAt > now {
                    dueAt[index] = retryAt
                    continue
                }
                // Held back by the handshake limit: due again at the next sweep.
                guard connecting < configuration.maximumConcurrentConnects else { continue }
                connecting += 1
                device.connect(now: now)
            case .done:
                dueAt[index] = .seconds(Int64.max / 4)
                continue
            }
            reschedule(device, now: now)
        }
        lastSweep = now
        guard completion != nil else { return }
        sweepTimer = loop.schedule(after: configuration.sweepInterval) { [self] in sweep() }
    }

    /// Starts new devices' first connects at each group's rate, with at most so many handshakes at once.
    private func startConnects(now: Duration, elapsed: Duration) {
        for group in behaviours.indices where nextFirstConnect[group] < firstConnects[group].count {
            if let rate = (behaviours[group].lifecycle.connectRate ?? configuration.connectsPerSecond).map({ $0 * rateShare }) {
                connectAllowance[group] = min(connectAllowance[group] + rate * elapsed.seconds, max(rate, 1))
            } else {
                connectAllowance[group] = .infinity
            }
            while nextFirstConnect[group] < firstConnects[group].count, connectAllowance[group] >= 1,
                  connecting < configuration.maximumConcurrentConnects {
                connectAllowance[group] -= 1
                connecting += 1
                let device = devices[firstConnects[group][nextFirstConnect[group]]]
                device.connect(now: now)
                reschedule(device, now: now)
                nextFirstConnect[group] += 1
            }
        }
    }

    /// Churn: each group's share per minute of its devices drops, as random picks (a pick that is not connected
    /// is skipped, so the share applies to the connected ones).
    private func churn(now: Duration, elapsed: Duration) {
        for group in behaviours.indices {
            guard let churn = behaviours[group].lifecycle.churnPerMinute, churn > 0, !firstConnects[group].isEmpty
            else { continue }
            churnAllowance[group] += Double(firstConnects[group].count) * churn * elapsed.seconds / 60
            while churnAllowance[group] >= 1 {
                churnAllowance[group] -= 1
                let device = devices[firstConnects[group][Int(random.next() % UInt64(firstConnects[group].count))]]
                guard device.phase == .connected else { continue }
                count("lifecycle.churned")
                device.leave(graceful: false, returnAt: now + .milliseconds(500) + randomDuration(upTo: .seconds(2)))
            }
        }
    }

    /// Sets when `device` next needs the sweep (at the latest a second from now).
    func reschedule(_ device: any ShardDevice, now: Duration) {
        let latest = now + Self.maximumIdleTick
        switch device.phase {
        case .connected, .connecting:
            dueAt[device.index] = min(device.nextDue(now: now) ?? latest, latest)
        case .waiting:
            dueAt[device.index] = device.retryAt ?? .seconds(Int64.max / 4)
        case .done:
            dueAt[device.index] = .seconds(Int64.max / 4)
        }
    }

    /// At each storm's time, that share of its group's connected devices drop at once and reconnect together.
    private func fireStorms(now: Duration) {
        for group in behaviours.indices {
            for (index, storm) in behaviours[group].lifecycle.reconnectStorms.enumerated()
            where !stormsDone[group][index] && now >= storm.at {
                stormsDone[group][index] = true
                for device in devices where groups[device.index] == group && device.phase == .connected
                    && random.unit() < storm.fraction {
                    count("lifecycle.storm-drops")
                    device.leave(graceful: false, returnAt: now)
                }
            }
        }
    }

    /// Folds the second that ended into the timeline and tells the run how far this shard is.
    private func endSecond(next: Int) {
        var snapshot = RunControl.Snapshot()
        for (operation, histogram) in window where histogram.count > 0 {
            let compact = CompactLatency(histogram)
            timeline.latency(operation, compact, at: second)
            snapshot.lastSecond[operation] = compact
            window[operation]?.reset()
        }
        timeline.connected(connectedNow, at: second)
        second = next
        snapshot.connected = connectedNow
        snapshot.pending = devices.reduce(0) { $0 + ($1.isFinished ? 0 : $1.pending) }
        snapshot.counters = metrics.counters
        for operation in metrics.operations.values { snapshot.failures.merge(operation.failures, uniquingKeysWith: +) }
        control.publish(snapshot, from: shardIndex)
    }

    // MARK: Device events

    func connected(_ device: any ShardDevice, after latency: Duration) {
        connecting -= 1
        connectedNow += 1
        control.setOnline(device.planned.index, true)
        if !firstSettled[device.index] {
            everConnected += 1
            lastFirstConnect = now()
            settleFirst(device)
        }
        record(.connect, latency: latency, count: nil)
        reschedule(device, now: now())
    }

    func failed(_ device: any ShardDevice, reason: String, class errorClass: FleetErrorClass, during operation: FleetOperation?) {
        errors[reason, default: 0] += 1
        if let operation {
            fail(operation, errorClass)
        } else {
            timeline.count(errorClass == .throttled ? "throttled" : "errors", at: second)
            metrics.count("errors.connection")
        }
    }

    /// The socket closed before the device finished: try again with backoff, or give up.
    func lost(_ device: any ShardDevice, wasConnected: Bool, attempts: Int) {
        if wasConnected {
            connectedNow -= 1
            control.setOnline(device.planned.index, false)
        } else {
            connecting -= 1
        }
        guard attempts < configuration.maximumAttempts else {
            errors["gave up after \(attempts) attempts", default: 0] += 1
            return device.abandon()
        }
        let backoff = Duration.milliseconds(min(5_000, 100 << min(attempts, 6)))
        device.retryAt = now() + backoff + randomDuration(upTo: .milliseconds(100))
        reschedule(device, now: now())
    }

    /// The device's connection dropped and it reconnects by itself (the `sdk` engine's clients do).
    func reconnecting(_ device: any ShardDevice) {
        connectedNow -= 1
        connecting += 1
        control.setOnline(device.planned.index, false)
        reschedule(device, now: now())
    }

    /// The device left on purpose (its lifecycle) and will come back.
    func left(_ device: any ShardDevice, was: ShardDevicePhase) {
        if was == .connected {
            connectedNow -= 1
            control.setOnline(device.planned.index, false)
        } else {
            connecting -= 1
        }
        reschedule(device, now: now())
    }

    /// `device` is done (all acknowledged, the run stopped, or it gave up); it was `was` until now.
    func finished(_ device: any ShardDevice, was: ShardDevicePhase) {
        if was == .connected {
            connectedNow -= 1
            control.setOnline(device.planned.index, false)
        } else if was == .connecting {
            connecting -= 1
        }
        settleFirst(device)
        remaining -= 1
        if remaining == 0 { complete() }
    }

    private func settleFirst(_ device: any ShardDevice) {
        guard !firstSettled[device.index] else { return }
        firstSettled[device.index] = true
        firstSettledCount += 1
        if firstSettledCount == devices.count { control.shardUp(shardIndex) }
    }

    private func complete() {
        sweepTimer?.cancel()
        sweepTimer = nil
        endSecond(next: Int(now().components.seconds) + 1)
        timeline.connected(0, at: second)
        let result = NativeMQTTEngine.ShardResult(
            metrics: metrics, timeline: timeline, errors: errors, connected: everConnected,
            allConnectedAt: lastFirstConnect,
            sent: devices.reduce(0) { $0 + $1.sent }, acknowledged: devices.reduce(0) { $0 + $1.acknowledged })
        let continuation = completion
        completion = nil
        continuation?.resume(returning: result)
    }
}
