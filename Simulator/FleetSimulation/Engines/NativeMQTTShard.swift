import Glibc
import IoTHubDevice
import IoTHubProtocol
import MQTTCore

/// The devices of the native MQTT engine that one event-loop thread drives: connect pacing, a sweep that runs
/// every device's keep-alive and sends what is due, and the metrics of its devices (merged with the other shards'
/// at the end). Confined to its loop: every method runs on `loop`.
final class NativeMQTTShard: @unchecked Sendable {
    let loop: DeviceEventLoop
    let configuration: NativeMQTTEngine.Configuration
    let encoder = MQTTPacketEncoder()
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private let body: [UInt8]
    private var devices: [NativeMQTTDevice] = []
    private var nextToConnect = 0
    private var connecting = 0
    private var connectAllowance = 0.0
    private var lastSweep: Duration = .zero
    private var remaining = 0
    private var everConnected = Set<String>()
    /// When the last device connected for the first time (since the run started).
    private var lastFirstConnect: Duration = .zero
    private var connectedNow = 0
    private var sweepTimer: DeviceLoopTimer?
    private var completion: CheckedContinuation<NativeMQTTEngine.ShardResult, Never>?
    private(set) var metrics = FleetMetrics()
    private(set) var timeline = FleetTimeline()
    private var errors: [String: Int] = [:]

    init(loop: DeviceEventLoop, configuration: NativeMQTTEngine.Configuration, started: ContinuousClock.Instant) {
        self.loop = loop
        self.configuration = configuration
        self.started = started
        let filler = max(0, configuration.payloadSize - #"{"fleetsim":""}"#.utf8.count)
        body = Array(#"{"fleetsim":"\#(String(repeating: "x", count: filler))"}"#.utf8)
    }

    /// Time since the run started (one time line for every shard, so timelines merge second by second).
    func now() -> Duration { clock.now - started }

    func unixTime() -> Int { time(nil) }

    /// Every telemetry body (the same bytes for each message).
    var payload: [UInt8] { body }

    /// The socket settings for the `attempt`-th connection of the device at `index` in this shard: source
    /// addresses rotate over the devices, and over one device's attempts.
    func socketSettings(device index: Int, attempt: Int) -> DeviceSocket.Settings {
        let bind = configuration.bindAddresses.isEmpty ? nil
            : configuration.bindAddresses[(index + attempt) % configuration.bindAddresses.count]
        return DeviceSocket.Settings(host: configuration.gatewayHostName ?? configuration.hostName,
                                     port: configuration.port, bindAddress: bind, tls: configuration.tls,
                                     connectTimeout: configuration.responseTimeout)
    }

    /// Adds devices, starts pacing and sweeping, and returns when every device finished or the deadline passed.
    func run(_ assigned: [(id: String, key: SharedAccessKey)]) async -> NativeMQTTEngine.ShardResult {
        await withCheckedContinuation { continuation in
            loop.execute { [self] in
                completion = continuation
                devices = assigned.enumerated().map { NativeMQTTDevice(index: $0, id: $1.id, key: $1.key, shard: self) }
                remaining = devices.count
                if remaining == 0 { return complete() }
                sweep()
            }
        }
    }

    // MARK: The sweep

    private func sweep() {
        let now = self.now()
        if now >= configuration.deadline {
            for device in devices where !device.isFinished { device.abandon() }
            return
        }
        startConnects(now: now)
        for device in devices {
            switch device.phase {
            case .connected:
                device.tick(now: now)
            case .connecting:
                device.tick(now: now)
            case .waiting:
                if let retryAt = device.retryAt, retryAt <= now, connecting < configuration.maximumConcurrentConnects {
                    connecting += 1
                    device.connect(now: now)
                }
            case .done:
                break
            }
        }
        timeline.connected(connectedNow, at: Int(now.components.seconds))
        lastSweep = now
        guard completion != nil else { return }
        sweepTimer = loop.schedule(after: configuration.sweepInterval) { [self] in sweep() }
    }

    /// Starts new devices' first connects at the configured rate, with at most so many handshakes at once.
    private func startConnects(now: Duration) {
        let seconds = (now - lastSweep).seconds
        if let rate = configuration.connectsPerSecond {
            connectAllowance = min(connectAllowance + rate * seconds, max(rate, 1))
        } else {
            connectAllowance = .infinity
        }
        while nextToConnect < devices.count, connectAllowance >= 1,
              connecting < configuration.maximumConcurrentConnects {
            connectAllowance -= 1
            connecting += 1
            devices[nextToConnect].connect(now: now)
            nextToConnect += 1
        }
    }

    // MARK: Device events

    func connected(_ device: NativeMQTTDevice, after latency: Duration) {
        connecting -= 1
        connectedNow += 1
        if everConnected.insert(device.id).inserted { lastFirstConnect = now() }
        metrics.record(.connect, latency: latency)
    }

    func acknowledged(after latency: Duration) {
        metrics.record(.d2cAck, latency: latency)
        metrics.count("d2c.acknowledged")
        timeline.count("d2c.acknowledged", at: Int(now().components.seconds))
    }

    func sentOne() {
        metrics.count("d2c.sent")
        timeline.count("d2c.sent", at: Int(now().components.seconds))
    }

    func failed(_ device: NativeMQTTDevice, reason: String, class errorClass: FleetErrorClass) {
        errors[reason, default: 0] += 1
        metrics.fail(device.phase == .connecting ? .connect : .d2cAck, errorClass)
        timeline.count(errorClass == .throttled ? "throttled" : "errors", at: Int(now().components.seconds))
    }

    /// The socket closed before the device finished: try again with backoff, or give up.
    func lost(_ device: NativeMQTTDevice, wasConnected: Bool, attempts: Int) {
        if wasConnected { connectedNow -= 1 } else { connecting -= 1 }
        guard attempts < configuration.maximumAttempts else {
            errors["gave up after \(attempts) attempts", default: 0] += 1
            return device.abandon()
        }
        let backoff = Duration.milliseconds(min(5_000, 100 << min(attempts, 6)))
        device.retryAt = now() + backoff
    }

    /// `device` is done (all acknowledged, or given up); it was `was` until now.
    func finished(_ device: NativeMQTTDevice, was: NativeMQTTDevice.Phase) {
        if was == .connected { connectedNow -= 1 } else if was == .connecting { connecting -= 1 }
        remaining -= 1
        if remaining == 0 { complete() }
    }

    private func complete() {
        sweepTimer?.cancel()
        sweepTimer = nil
        timeline.connected(0, at: Int(now().components.seconds))
        let result = NativeMQTTEngine.ShardResult(
            metrics: metrics, timeline: timeline, errors: errors, connected: everConnected.count,
            allConnectedAt: lastFirstConnect,
            sent: devices.reduce(0) { $0 + $1.sent }, acknowledged: devices.reduce(0) { $0 + $1.acknowledged })
        let continuation = completion
        completion = nil
        continuation?.resume(returning: result)
    }
}
