import AsyncHTTPClient
import Foundation
import IoTHubDevice
import IoTHubProtocol
import Logging

/// Runs a ``Scenario`` (or the part of one this process owns) against a hub: the devices on their engine, the
/// service side (methods, desired patches, C2D, the telemetry stream), the live display, and at the end one
/// ``FleetRunDocument`` with every figure. The run connects the fleet, runs for the scenario's duration once every
/// device has tried its first connect, stops sending, waits for what is in flight (acknowledgements, telemetry at
/// the service side, C2D at the devices), and disconnects.
public struct ScenarioRun: Sendable {
    public struct Options: Sendable {
        /// How devices reach the hub (host, gateway, ports, TLS, loops, source addresses).
        public var transport: NativeMQTTEngine.Configuration
        /// How native AMQP devices reach it: the same, with the AMQP port (`nil`: the scenario has no such group).
        public var amqpTransport: NativeMQTTEngine.Configuration?
        /// The fleet indices this process simulates (the whole fleet unless a worker or a shard).
        public var slice: Range<Int>?
        /// This process's part of the service side's rates and of each group's connect rate (1 / processes).
        public var share = 1.0
        /// Run the service side's calls from this process.
        public var runService = true
        /// Read the telemetry stream from this process (one process of a run does).
        public var readTelemetry = true
        /// How long the fleet may take to come up before the timed part starts anyway.
        public var rampTimeout: Duration = .seconds(300)
        /// How long to wait, after sending stopped, for what is still in flight.
        public var drainTimeout: Duration = .seconds(20)
        /// Where the live display goes (`nil`: none).
        public var display: LiveDisplay?
        /// Issues the certificates of `auth: x509` groups' devices (the hub must trust it: provisioning uploads it).
        public var certificateAuthority: FleetCertificateAuthority?
        /// The run's start, shared by the workers of one run so their timelines line up.
        public var started: ContinuousClock.Instant = .now

        public init(transport: NativeMQTTEngine.Configuration) { self.transport = transport }
    }

    public let scenario: Scenario
    public let options: Options
    /// Primary keys by device id.
    public let keys: [String: String]
    public let service: ServiceClient?
    public var logger: Logger = {
        var logger = Logger(label: "fleetsim")
        logger.logLevel = .warning
        return logger
    }()

    public init(scenario: Scenario, options: Options, keys: [String: String], service: ServiceClient?) {
        self.scenario = scenario
        self.options = options
        self.keys = keys
        self.service = service
    }

    /// The device ids of the whole fleet, in fleet order (group after group).
    public static func deviceIds(_ scenario: Scenario) -> [String] {
        scenario.groups.flatMap { group in (0..<group.count).map { group.ids.id($0) } }
    }

    public func run() async throws -> FleetRunDocument {
        let wallStart = Timestamp(secondsSince1970: Int64(Date().timeIntervalSince1970))
        for group in scenario.groups {
            let transport: NativeMQTTEngine.Configuration
            if group.engine == .nativeAMQP || group.engine == .sdk && group.sdkProtocol == "amqp" {
                guard let amqp = options.amqpTransport else {
                    throw FleetError.invalidConfiguration("group '\(group.name)' speaks AMQP: give the hub's AMQP port (--amqp-port, or --plain-amqp-port)")
                }
                transport = amqp
            } else {
                transport = options.transport
            }
            if group.engine == .sdk, let mix = group.cloudToDevice, mix.complete < 1 {
                throw FleetError.invalidConfiguration("group '\(group.name)': the sdk engine completes every C2D message (DeviceClient has no reject or abandon); drop the c2d mix or use native-amqp")
            }
            guard (group.security == .tls) == (transport.tls != nil) else {
                throw FleetError.invalidConfiguration(group.security == .tls
                    ? "group '\(group.name)' connects over TLS: drop --plain-mqtt-port, or set security: plain"
                    : "group '\(group.name)' is security: plain: pass the hub's plain port (--plain-mqtt-port or --plain-amqp-port), or set security: tls")
            }
            if group.authentication == .x509 {
                guard group.security == .tls else {
                    throw FleetError.invalidConfiguration("group '\(group.name)': X.509 authentication happens in the TLS handshake; set security: tls")
                }
                guard options.certificateAuthority != nil else {
                    throw FleetError.invalidConfiguration("group '\(group.name)' is auth: x509: the run needs the fleet's certificate authority (fleetsim derives it from --seed)")
                }
            }
        }
        let ids = Self.deviceIds(scenario)
        let slice = options.slice ?? 0..<ids.count
        let sendsC2D = scenario.service.cloudToDevice != nil
        let anyGroupTakesC2D = scenario.groups.contains { $0.cloudToDevice != nil }
        let behaviours = scenario.groups.map { group in
            DeviceBehaviour(group, receivesCloudToDevice: sendsC2D && (group.cloudToDevice != nil || !anyGroupTakesC2D))
        }
        var ranges: [Range<Int>] = []
        var offset = 0
        for group in scenario.groups {
            ranges.append(offset..<offset + group.count)
            offset += group.count
        }
        var planned: [PlannedDevice] = []
        planned.reserveCapacity(slice.count)
        for (group, range) in ranges.enumerated() {
            for index in range.clamped(to: slice) {
                guard let text = keys[ids[index]], let key = try? SharedAccessKey(base64: text) else {
                    throw FleetError.invalidConfiguration("no valid key for device \(ids[index])")
                }
                var certificate: FleetCertificateAuthority.DeviceCertificate?
                if scenario.groups[group].authentication == .x509, let authority = options.certificateAuthority {
                    certificate = try authority.issue(deviceId: ids[index])
                }
                planned.append(PlannedDevice(index: index, id: ids[index], key: key, certificate: certificate, group: group))
            }
        }

        let control = RunControl(devices: ids.count, started: options.started)
        let recorder = ServiceRecorder(control: control, source: -1)
        var transport = options.transport
        transport.stampTelemetry = scenario.service.readTelemetry
        transport.deadline = .seconds(Int64(max(60, (options.rampTimeout + scenario.duration + options.drainTimeout * 3).seconds) + 60))
        transport.messagesPerDevice = 0
        var shared = transport
        shared.connectsPerSecond = transport.connectsPerSecond.map { $0 * options.share }
        let scaled = behaviours.map { behaviour -> DeviceBehaviour in
            var behaviour = behaviour
            behaviour.lifecycle.connectRate = behaviour.lifecycle.connectRate.map { $0 * options.share }
            return behaviour
        }

        // The telemetry stream first, so it sees the first message.
        var monitorResponse: (TelemetryMonitor, HTTPClientResponseBox)?
        if scenario.service.readTelemetry, options.readTelemetry, let service {
            var monitor = TelemetryMonitor(client: service, recorder: recorder)
            if options.slice != nil { monitor.only = Set(planned.map(\.id)) }
            monitorResponse = (monitor, HTTPClientResponseBox(try await monitor.open()))
        }
        let monitorTask = monitorResponse.map { monitor, box in Task { await monitor.read(box.response) } }

        // Each engine (and the sdk engine per protocol) runs its own shards.
        func devices(on engine: SimulationEngine, sdkProtocol: String? = nil) -> [PlannedDevice] {
            let groups = Set(scenario.groups.indices.filter {
                scenario.groups[$0].engine == engine && (sdkProtocol == nil || scenario.groups[$0].sdkProtocol == sdkProtocol)
            })
            return planned.filter { groups.contains($0.group) }
        }
        let mqttDevices = devices(on: .nativeMQTT)
        let amqpDevices = devices(on: .nativeAMQP)
        let sdkMQTTDevices = devices(on: .sdk, sdkProtocol: "mqtt")
        let sdkAMQPDevices = devices(on: .sdk, sdkProtocol: "amqp")
        var amqpShared = options.amqpTransport ?? shared
        amqpShared.stampTelemetry = shared.stampTelemetry
        amqpShared.deadline = shared.deadline
        amqpShared.connectsPerSecond = shared.connectsPerSecond
        let engine = Task { [mqttDevices, amqpDevices, sdkMQTTDevices, sdkAMQPDevices, shared, amqpShared, scaled] in
            async let mqtt = mqttDevices.isEmpty ? nil
                : NativeMQTTEngine.run(shared, behaviours: scaled, devices: mqttDevices, control: control)
            async let amqp = amqpDevices.isEmpty ? nil
                : NativeAMQPEngine.run(amqpShared, behaviours: scaled, devices: amqpDevices, control: control)
            async let sdkMQTT = sdkMQTTDevices.isEmpty ? nil
                : SDKEngine.run(shared, clientProtocol: .mqtt, behaviours: scaled, devices: sdkMQTTDevices,
                                control: control, shardOffset: 2_000)
            async let sdkAMQP = sdkAMQPDevices.isEmpty ? nil
                : SDKEngine.run(amqpShared, clientProtocol: .amqp, behaviours: scaled, devices: sdkAMQPDevices,
                                control: control, shardOffset: 3_000)
            return try await [mqtt, amqp, sdkMQTT, sdkAMQP].compactMap { $0 }
        }
        let plannedCount = planned.count
        var displayTask: Task<Void, Never>?
        if let display = options.display {
            displayTask = Task { await display.run(control: control, devices: plannedCount) }
        }
        let shards = [(mqttDevices, shared), (amqpDevices, amqpShared), (sdkMQTTDevices, shared), (sdkAMQPDevices, amqpShared)]
            .reduce(0) { $0 + ($1.0.isEmpty ? 0 : max(1, $1.1.loops)) }

        // Up: every shard's devices tried their first connect.
        let rampEnd = ContinuousClock.now + options.rampTimeout
        while control.shardsUp() < shards, ContinuousClock.now < rampEnd { try? await Task.sleep(for: .milliseconds(100)) }
        let upAt = ContinuousClock.now - control.started
        logger.info("fleet up", metadata: ["online": "\(control.onlineCount)", "devices": "\(planned.count)"])

        var serviceTask: Task<Void, Never>?
        if options.runService, let service {
            let mine = Self.targets(scenario, ranges: ranges, behaviours: behaviours, slice: slice)
            let fleet = Self.targets(scenario, ranges: ranges, behaviours: behaviours, slice: 0..<ids.count)
            var driver = ServiceDriver(behaviour: scenario.service, targets: mine, deviceIds: ids, client: service,
                                       control: control, recorder: recorder)
            // Each process calls its own devices, at its share of the fleet's rate for that kind of call.
            func share(_ part: [Range<Int>], _ whole: [Range<Int>]) -> Double {
                let total = whole.reduce(0) { $0 + $1.count }
                return total == 0 ? 0 : Double(part.reduce(0) { $0 + $1.count }) / Double(total)
            }
            driver.rateShare.desired = share(mine.desired, fleet.desired)
            driver.rateShare.cloudToDevice = share(mine.cloudToDevice, fleet.cloudToDevice)
            for (name, targets) in fleet.methods { driver.rateShare.methods[name] = share(mine.methods[name] ?? [], targets) }
            serviceTask = Task { [driver] in await driver.run() }
        }
        let timedEnd = ContinuousClock.now + scenario.duration
        while ContinuousClock.now < timedEnd {
            recorder.tick()
            try? await Task.sleep(for: .milliseconds(min(200, max(1, Int64((timedEnd - ContinuousClock.now).seconds * 1000)))))
        }

        // Drain: no new telemetry or service calls; wait for what is under way.
        control.advance(to: .draining)
        await serviceTask?.value
        let drainEnd = ContinuousClock.now + options.drainTimeout
        func waitUntil(_ done: () -> Bool) async {
            while !done(), ContinuousClock.now < drainEnd {
                recorder.tick()
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        try? await Task.sleep(for: .milliseconds(1100))  // every shard published once since sending stopped
        await waitUntil { control.totals().pending == 0 }
        if monitorTask != nil {
            await waitUntil { recorder.counter("d2c.seen") >= control.totals().counters["d2c.acknowledged", default: 0] }
        }
        if options.runService, scenario.service.cloudToDevice != nil {
            // Settled for good: completed or rejected (an abandoned message comes back).
            await waitUntil {
                let counters = control.totals().counters
                return counters["c2d.completed", default: 0] + counters["c2d.rejected", default: 0] >= recorder.counter("c2d.sent")
            }
        }
        control.advance(to: .stopping)
        let results = try await engine.value
        monitorTask?.cancel()
        await monitorTask?.value
        displayTask?.cancel()
        await displayTask?.value

        let (serviceMetrics, serviceTimeline) = recorder.finish()
        var metrics = serviceMetrics
        var timeline = serviceTimeline
        var errors: [String: Int] = [:]
        for result in results {
            metrics.merge(result.metrics)
            timeline.merge(result.timeline)
            errors.merge(result.errors, uniquingKeysWith: +)
        }
        metrics.count("devices.planned", by: planned.count)
        metrics.count("devices.connected", by: results.reduce(0) { $0 + $1.connected })
        var document = FleetRunDocument(
            scenario: scenario.name, target: "\(transport.hostName) (\(transport.gatewayHostName ?? transport.hostName):\(transport.port))",
            startedAt: wallStart.iso8601, durationSeconds: (ContinuousClock.now - control.started).seconds,
            devices: planned.count, workers: 1, metrics: metrics, timeline: timeline, errors: errors)
        document.rampSeconds = upAt.seconds
        return document
    }

    /// Which fleet indices (within `slice`) each service call goes to.
    static func targets(_ scenario: Scenario, ranges groupRanges: [Range<Int>], behaviours: [DeviceBehaviour],
                        slice: Range<Int>) -> ServiceDriver.Targets
    {
        func ranges(where include: (DeviceBehaviour) -> Bool) -> [Range<Int>] {
            zip(groupRanges, behaviours).filter { include($0.1) }.map { $0.0.clamped(to: slice) }.filter { !$0.isEmpty }
        }
        var methods: [String: [Range<Int>]] = [:]
        for call in scenario.service.methods { methods[call.name] = ranges { $0.methods[call.name] != nil } }
        let twins = ranges { $0.usesTwin }
        return ServiceDriver.Targets(methods: methods, desired: twins.isEmpty ? ranges { _ in true } : twins,
                                     cloudToDevice: ranges { $0.receivesCloudToDevice })
    }
}

/// Carries a streaming response into the task that reads it.
final class HTTPClientResponseBox: @unchecked Sendable {
    let response: HTTPClientResponse
    init(_ response: HTTPClientResponse) { self.response = response }
}
