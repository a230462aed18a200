import Foundation
import IoTHubDevice
import IoTHubProtocol
import Logging

/// Runs a fleet of SDK clients against a hub: connects them (ramped), has each send its telemetry and wait for
/// every acknowledgement, and measures connect and send→PUBACK latencies.
///
/// Each virtual device is a full ``DeviceClient`` (libmosquitto, 3 file descriptors) on one of
/// ``FleetConfiguration/loops`` shared event loops; one process carries a few thousand of them (this machine allows
/// 20,000 files per process).
public enum FleetRun {
    public static func run(_ configuration: FleetConfiguration, keys: [String: String],
                           logger: Logger = Logger(label: "fleetsim")) async throws -> FleetReport {
        guard configuration.devices > 0 else { throw FleetError.invalidConfiguration("--devices must be at least 1") }
        let loops = try (0..<max(1, configuration.loops)).map { try DeviceEventLoop(name: "fleet-\($0)") }
        defer { loops.forEach { $0.shutdown() } }
        let tls: DeviceTLSContext? = configuration.plainMQTTPort == nil
            ? try DeviceTLSContext(trust: configuration.caFile.map { .caFile($0) } ?? .system) : nil
        var clientLogger = logger
        clientLogger.logLevel = .critical
        var clients: [DeviceClient] = []
        for (index, deviceId) in configuration.deviceIds.enumerated() {
            guard let key = keys[deviceId] else { throw FleetError.invalidConfiguration("no key for \(deviceId)") }
            var options = DeviceClientOptions()
            options.eventLoop = loops[index % loops.count]
            options.tlsContext = tls
            options.port = configuration.mqttsPort
            options.plainTCPPort = configuration.plainMQTTPort
            options.gatewayHostName = configuration.gatewayHostName
            options.bindAddress = configuration.bindAddresses.isEmpty
                ? nil : configuration.bindAddresses[index % configuration.bindAddresses.count]
            options.retryPolicy = RetryPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(5), maximumAttempts: 5)
            options.operationTimeout = .seconds(60)
            options.maximumInFlight = 8
            options.productInfo = "swift-iot-hub-fleetsim/0.1"
            options.logger = clientLogger
            clients.append(try DeviceClient(hostName: configuration.hostName, deviceId: deviceId, sharedAccessKey: key,
                                            options: options))
        }

        let recorder = FleetRecorder()
        let started = ContinuousClock.now
        let deadline = started + configuration.deadline
        // Connect, at most `connectConcurrency` at a time.
        let connected: [DeviceClient] = await withTaskGroup(of: DeviceClient?.self) { group in
            var ready: [DeviceClient] = []
            var pending = clients[...]
            func addNext() {
                guard let client = pending.popFirst() else { return }
                group.addTask {
                    let attemptStarted = ContinuousClock.now
                    do {
                        try await client.connect()
                        await recorder.connected(after: ContinuousClock.now - attemptStarted)
                        return client
                    } catch {
                        await recorder.connectFailed(error)
                        return nil
                    }
                }
            }
            for _ in 0..<max(1, configuration.connectConcurrency) { addNext() }
            while let result = await group.next() {
                if let result { ready.append(result) }
                if ContinuousClock.now < deadline { addNext() }
            }
            return ready
        }
        let connectDuration = ContinuousClock.now - started
        logger.info("fleet connected", metadata: ["connected": "\(connected.count)", "devices": "\(clients.count)"])

        // Send: every device its messages, one at a time, each awaited to its PUBACK.
        let sendStarted = ContinuousClock.now
        let padding = String(repeating: "x", count: max(0, configuration.payloadSize - 48))
        await withTaskGroup(of: Void.self) { group in
            for client in connected {
                group.addTask {
                    for sequence in 0..<configuration.messagesPerDevice {
                        guard ContinuousClock.now < deadline, !Task.isCancelled else {
                            await recorder.sendFailed("deadline reached before the message was sent")
                            continue
                        }
                        var message = IoTHubMessage(text: #"{"seq":\#(sequence),"pad":"\#(padding)"}"#,
                                                    properties: ["seq": "\(sequence)"])
                        message.systemProperties.contentType = "application/json"
                        let sent = ContinuousClock.now
                        do {
                            try await client.send(message)
                            await recorder.acknowledged(after: ContinuousClock.now - sent)
                        } catch {
                            await recorder.sendFailed("\(error)")
                        }
                        if configuration.messageInterval > .zero {
                            try? await Task.sleep(for: configuration.messageInterval)
                        }
                    }
                }
            }
        }
        let sendDuration = ContinuousClock.now - sendStarted
        await withTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.close() } }
        }
        return await recorder.report(configuration: configuration, connectDuration: connectDuration,
                                     sendDuration: sendDuration, total: ContinuousClock.now - started)
    }
}

/// Collects the outcomes of a run from every device task.
actor FleetRecorder {
    private var metrics = FleetMetrics()
    private var connectErrors: [String: Int] = [:]
    private var sendErrors: [String: Int] = [:]

    func connected(after latency: Duration) { metrics.record(.connect, latency: latency) }
    func connectFailed(_ error: any Error) { connectErrors["\(error)", default: 0] += 1 }
    func acknowledged(after latency: Duration) { metrics.record(.d2cAck, latency: latency) }
    func sendFailed(_ reason: String) { sendErrors[reason, default: 0] += 1 }

    func report(configuration: FleetConfiguration, connectDuration: Duration, sendDuration: Duration,
                total: Duration) -> FleetReport {
        let connects = metrics.operations[.connect]?.latency ?? LatencyHistogram()
        let sends = metrics.operations[.d2cAck]?.latency ?? LatencyHistogram()
        return FleetReport(devices: configuration.devices, connected: connects.count,
                           connectLatency: LatencySummary(connects), connectDuration: connectDuration,
                           messagesPlanned: configuration.devices * configuration.messagesPerDevice,
                           acknowledged: sends.count, failed: sendErrors.values.reduce(0, +),
                           sendLatency: LatencySummary(sends), sendDuration: sendDuration, totalDuration: total,
                           errors: connectErrors.merging(sendErrors, uniquingKeysWith: +))
    }
}
