import IoTHubDevice
import IoTHubProtocol
import Synchronization

/// One simulated device of the `sdk` engine: a real ``DeviceClient`` (libmosquitto or Qpid Proton, the SDK's own
/// reconnects, token renewal, queue and subscriptions) on its shard's loop, for fidelity checks. Its ``FleetShard``
/// paces and ticks it like a native device; what the client reports comes back to the loop from the client's tasks
/// and is counted there.
///
/// A device that leaves (duty cycle, churn, a storm) closes its client and comes back with a new one; a connection
/// the hub or the network drops is the client's to reconnect, counted as a reconnect. The SDK completes every C2D
/// message it hands over (it has no reject or abandon), so the run refuses a C2D mix for this engine.
final class SDKDevice: ShardDevice, @unchecked Sendable {
    typealias Phase = ShardDevicePhase

    let index: Int
    let planned: PlannedDevice
    let behaviour: DeviceBehaviour
    unowned let shard: FleetShard
    /// The shard's loop, held strongly: the client's tasks may report after the shard is gone (they find the
    /// device done then, and touch nothing).
    private let loop: DeviceEventLoop
    private let makeClient: @Sendable (PlannedDevice, DeviceEventLoop) throws -> DeviceClient
    private let closer: SDKClientCloser
    private var client: DeviceClient?
    /// Counts this device's clients, so that what an old one reports after it was closed is ignored.
    private var generation = 0
    private(set) var phase = Phase.waiting
    private var connectStarted: Duration = .zero
    private(set) var connectedAt: Duration = .zero
    private var attempts = 0
    private(set) var sent = 0
    private(set) var acknowledged = 0
    /// Sends that failed (they count as neither pending nor acknowledged).
    private var failedSends = 0
    private var renderer: PayloadRenderer?
    private var nextSendAt: Duration?
    var retryAt: Duration?
    private var reportedOnConnect = false

    init(index: Int, planned: PlannedDevice, behaviour: DeviceBehaviour, shard: FleetShard, closer: SDKClientCloser,
         makeClient: @escaping @Sendable (PlannedDevice, DeviceEventLoop) throws -> DeviceClient) {
        self.index = index
        self.planned = planned
        self.behaviour = behaviour
        self.shard = shard
        self.loop = shard.loop
        self.closer = closer
        self.makeClient = makeClient
        if let telemetry = behaviour.telemetry, !shard.hasStaticBody(group: planned.group) {
            renderer = PayloadRenderer(template: telemetry.payload, seed: UInt64(planned.index))
        }
    }

    var pending: Int { sent - acknowledged - failedSends }

    /// Runs `body` on the shard's loop if the client of `generation` is still this device's.
    private func onLoop(_ generation: Int, _ body: @escaping @Sendable (SDKDevice) -> Void) {
        loop.execute { [self] in
            guard generation == self.generation, phase != .done else { return }
            body(self)
        }
    }

    // MARK: Connecting

    func connect(now: Duration) {
        guard phase == .waiting else { return }
        phase = .connecting
        attempts += 1
        retryAt = nil
        connectStarted = now
        generation += 1
        let generation = self.generation
        let client: DeviceClient
        do {
            client = try makeClient(planned, shard.loop)
        } catch {
            shard.failed(self, reason: "\(error)", class: .other, during: .connect)
            phase = .waiting
            shard.lost(self, wasConnected: false, attempts: shard.configuration.maximumAttempts)
            return
        }
        self.client = client
        let behaviour = self.behaviour
        Task { [self] in
            let states = await client.connectionStates
            Task { for await state in states { onLoop(generation) { $0.stateChanged(state) } } }
            await subscribe(client, behaviour: behaviour, generation: generation)
            do {
                try await client.connect()
            } catch {
                onLoop(generation) { $0.connectFailed(error) }
            }
        }
    }

    /// Handlers and streams before the connect, so the client subscribes as part of connecting.
    private func subscribe(_ client: DeviceClient, behaviour: DeviceBehaviour, generation: Int) async {
        for method in behaviour.methods.values {
            await client.setMethodHandler(method.name) { [self] _ in
                onLoop(generation) { $0.shard.count("method.received") }
                if method.delay > .zero { try? await Task.sleep(for: method.delay) }
                onLoop(generation) { $0.shard.count("method.answered") }
                return DirectMethodResult(status: method.status, payload: method.payload)
            }
        }
        if !behaviour.methods.isEmpty {
            await client.setDefaultMethodHandler { [self] call in
                onLoop(generation) { $0.shard.count("method.received"); $0.shard.count("method.answered") }
                return DirectMethodResult(status: 404, payload: ["message": .string("fleetsim has no handler for method '\(call.name)'")])
            }
        }
        if behaviour.usesTwin {
            let updates = await client.desiredPropertyUpdates()
            Task { for await update in updates { onLoop(generation) { $0.desiredUpdate(update) } } }
        }
        if behaviour.receivesCloudToDevice {
            let messages = await client.cloudToDeviceMessages()
            Task { for await message in messages { onLoop(generation) { $0.cloudToDevice(message) } } }
        }
    }

    private func stateChanged(_ state: ConnectionState) {
        let now = shard.now()
        switch state {
        case .connected:
            guard phase == .connecting else { return }
            phase = .connected
            attempts = 0
            connectedAt = now
            shard.connected(self, after: now - connectStarted)
            if let report = behaviour.twin.reportOnConnect, !reportedOnConnect {
                reportedOnConnect = true
                sendReported(report)
            }
            if nextSendAt == nil, let telemetry = behaviour.telemetry {
                nextSendAt = now + shard.randomDuration(upTo: telemetry.interval)
            }
            sendDue(now: now)
            shard.reschedule(self, now: now)
        case .disconnected(let reason) where phase == .connected:
            if reason.isFinal {
                // The client gave up reconnecting: a new client, after the shard's backoff.
                lose(reason: "\(reason)", class: .network, wasConnected: true)
            } else {
                // The client reconnects by itself: offline until it has.
                shard.failed(self, reason: "\(reason)", class: reason == .throttled ? .throttled : .network, during: nil)
                shard.count("sdk.reconnects")
                phase = .connecting
                connectStarted = now
                shard.reconnecting(self)
            }
        case .idle, .connecting, .disconnected:
            break
        }
    }

    private func connectFailed(_ error: any Error) {
        guard phase == .connecting else { return }
        let errorClass: FleetErrorClass
        switch (error as? DeviceClientError)?.code {
        case .unauthorized?: errorClass = .unauthorized
        case .timeout?: errorClass = .timeout
        default: errorClass = "\(error)".contains("throttl") ? .throttled : .network
        }
        shard.failed(self, reason: "\(error)", class: errorClass, during: .connect)
        lose(reason: nil, class: errorClass, wasConnected: false)
    }

    /// Closes the client and lets the shard retry with a new one.
    private func lose(reason: String?, class errorClass: FleetErrorClass, wasConnected: Bool) {
        if let reason { shard.failed(self, reason: reason, class: errorClass, during: nil) }
        closeClient()
        phase = .waiting
        shard.lost(self, wasConnected: wasConnected, attempts: attempts)
    }

    private func closeClient() {
        generation += 1
        if let client { closer.close(client) }
        client = nil
    }

    // MARK: What the hub sends

    private func desiredUpdate(_ update: DesiredPropertiesUpdate) {
        let body = JSONValue.object(update.patch).serializedBytes()
        if let echo = DesiredPatch.received(body, by: shard), behaviour.twin.echoDesired { sendReported(echo) }
    }

    private func cloudToDevice(_ message: IoTHubMessage) {
        shard.count("c2d.received")
        shard.count("c2d.completed")
        if let value = message.properties[FleetTimestamps.property], let sent = Int64(value) {
            shard.record(.c2d, latency: shard.sinceWallClock(milliseconds: sent), count: nil)
        }
    }

    // MARK: Traffic

    private func sendReported(_ properties: JSONObject) {
        guard let client else { return }
        let started = shard.now()
        let generation = self.generation
        Task { [self] in
            do {
                try await client.updateReportedProperties(properties)
                onLoop(generation) { $0.shard.record(.twin, latency: $0.shard.now() - started, count: "twin.answered") }
            } catch {
                let status = (error as? DeviceClientError)?.status
                onLoop(generation) {
                    $0.shard.fail(.twin, status == 429 ? .throttled : status == 401 ? .unauthorized
                                  : (error as? DeviceClientError)?.code == .timeout ? .timeout : .refused)
                }
            }
        }
    }

    /// Sends what is due, as the native devices do: with a message limit and no interval as many as the window
    /// allows, else one per interval (± jitter) while the run is sending.
    private func sendDue(now: Duration) {
        guard phase == .connected, let client, let telemetry = behaviour.telemetry, var due = nextSendAt else { return }
        let window = shard.configuration.window
        while now >= due, shard.isSending || behaviour.messageLimit != nil {
            if let limit = behaviour.messageLimit, sent >= limit { break }
            if telemetry.interval == .zero, pending >= window { break }
            let body = shard.staticBody(group: planned.group) ?? renderer?.bytes(
                elapsed: now, now: shard.wallClockTimestamp(), size: telemetry.size) ?? []
            var message = IoTHubMessage(body: body, properties: telemetry.properties)
            message.systemProperties.contentType = "application/json"
            message.systemProperties.contentEncoding = "utf-8"
            if shard.configuration.stampTelemetry {
                message.properties[FleetTimestamps.property] = String(FleetShard.wallMilliseconds())
            }
            sent += 1
            shard.count("d2c.sent")
            let generation = self.generation
            let sentAt = now
            Task { [self] in
                do {
                    try await client.send(message)
                    onLoop(generation) { $0.acknowledgedOne(sentAt: sentAt) }
                } catch {
                    loop.execute { [self] in
                        guard phase != .done else { return }
                        failedSends += 1
                        shard.fail(.d2cAck, (error as? DeviceClientError)?.code == .timeout ? .timeout : .network)
                    }
                }
            }
            if telemetry.interval > .zero { due = due + telemetry.interval + shard.randomJitter(telemetry.jitter) }
        }
        nextSendAt = due
    }

    private func acknowledgedOne(sentAt: Duration) {
        acknowledged += 1
        let now = shard.now()
        shard.record(.d2cAck, latency: now - sentAt, count: "d2c.acknowledged")
        if let limit = behaviour.messageLimit, acknowledged >= limit {
            abandon()
        } else {
            sendDue(now: now)
            shard.reschedule(self, now: now)
        }
    }

    func tick(now: Duration) { sendDue(now: now) }

    func nextDue(now: Duration) -> Duration? {
        guard phase == .connected else { return nil }
        var due: Duration?
        if behaviour.telemetry != nil, shard.isSending || behaviour.messageLimit != nil,
           behaviour.messageLimit.map({ sent < $0 }) ?? true {
            due = nextSendAt
        }
        if let duty = behaviour.lifecycle.dutyCycle { due = min(due ?? connectedAt + duty.connected, connectedAt + duty.connected) }
        return due
    }

    // MARK: Lifecycle

    /// Leaves on purpose and comes back at `returnAt` with a new client. The SDK has no way to drop a connection
    /// without DISCONNECT, so `graceful` makes no difference here.
    func leave(graceful: Bool, returnAt: Duration) {
        guard phase == .connected || phase == .connecting else { return }
        let was = phase
        closeClient()
        phase = .waiting
        attempts = 0
        retryAt = returnAt
        shard.left(self, was: was)
    }

    func abandon() {
        guard phase != .done else { return }
        let was = phase
        closeClient()
        phase = .done
        shard.finished(self, was: was)
    }
}

/// Closes the `sdk` engine's clients in the background and lets the engine wait for every close before it stops
/// the loops the clients run on.
final class SDKClientCloser: Sendable {
    private let closing = Mutex<[Task<Void, Never>]>([])

    func close(_ client: DeviceClient) {
        let task = Task { await client.close() }
        closing.withLock { $0.append(task) }
    }

    /// Returns once every client handed to ``close(_:)`` so far is closed.
    func waitForAll() async {
        let tasks = closing.withLock { tasks in
            defer { tasks.removeAll() }
            return tasks
        }
        for task in tasks { await task.value }
    }
}
