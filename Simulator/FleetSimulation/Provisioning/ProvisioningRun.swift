import IoTHubProtocol
import Logging
import Synchronization

/// The provisioning loop: `concurrency` workers take the next batch of ids, wait for their pacing slot, send the
/// batch as one `createOrUpdate` bulk call and retry it per ``ProvisioningRetryPolicy``; the tally merges what
/// each call did. A call refused as a whole (401, exhausted retries) stops the workers from taking more batches.
package struct ProvisioningRun: Sendable {
    package var options: ProvisioningOptions
    package var transport: any BulkRegistryTransport
    package var clock: any ProvisioningClock
    package var logger: Logger
    /// Devices created as IoT Hub `certificateAuthority` devices (X.509, CA-signed) rather than with SAS keys.
    package var certificateAuthorityDevices: Set<String> = []

    package init(options: ProvisioningOptions, transport: any BulkRegistryTransport, clock: any ProvisioningClock,
                 logger: Logger) {
        self.options = options
        self.transport = transport
        self.clock = clock
        self.logger = logger
    }

    /// What one bulk call came to, after its retries.
    enum Outcome {
        case provisioned(Int, failures: [ProvisioningSummary.Failure])
        case stop(FleetError)
    }

    /// Provisions `deviceIds` with keys derived from `seed`; `progress` is called every `progressInterval`.
    package func run(_ deviceIds: [String], seed: SharedAccessKey,
                     progress: (@Sendable (ProvisioningProgress) -> Void)? = nil) async -> ProvisioningSummary {
        let tally = ProvisioningTally(requested: deviceIds.count, start: clock.elapsed())
        let size = options.devicesPerCall
        let batches = (deviceIds.count + size - 1) / size
        let pacer = ProvisioningPacer(devicesPerSecond: options.devicesPerSecond)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<min(options.concurrency, batches) {
                group.addTask {
                    while let batch = tally.nextBatch(of: batches), !Task.isCancelled {
                        let ids = Array(deviceIds[(batch * size)..<min(batch * size + size, deviceIds.count)])
                        let wait = pacer.reserve(devices: ids.count, now: clock.elapsed())
                        let outcome: Outcome
                        do {
                            try await clock.sleep(for: wait)
                            outcome = await send(ids, seed: seed, tally: tally)
                        } catch {
                            outcome = .stop(.cancelled)
                        }
                        if let report = tally.record(outcome, now: clock.elapsed(), interval: options.progressInterval) {
                            progress?(report)
                        }
                    }
                }
            }
        }
        return tally.summary(now: clock.elapsed())
    }

    /// Sends one batch, retrying throttled, unavailable and dropped calls.
    func send(_ ids: [String], seed: SharedAccessKey, tally: ProvisioningTally) async -> Outcome {
        let body = Self.body(ids, seed: seed, certificateAuthority: certificateAuthorityDevices)
        var attempt = 1
        while true {
            let cause: String, failure: String
            var retryAfter: Duration?
            do throws(BulkRegistryTransportError) {
                let response = try await transport.post(body)
                tally.countRequest()
                if let failures = Self.bulkFailures(response) {
                    return .provisioned(ids.count - Set(failures.map(\.deviceId)).count, failures: failures)
                }
                guard ProvisioningRetryPolicy.retriedStatuses.contains(response.status) else {
                    return .stop(.provisioningFailed(status: response.status, body: String(decoding: response.body, as: UTF8.self)))
                }
                cause = String(response.status)
                failure = "HTTP \(response.status) \(String(decoding: response.body.prefix(200), as: UTF8.self))"
                retryAfter = ProvisioningRetryPolicy.retryAfter(response.retryAfter)
            } catch {
                switch error {
                case .connection(let reason): (cause, failure) = ("connection", reason)
                case .permanent(let reason): return .stop(.invalidConfiguration(reason))
                case .cancelled: return .stop(.cancelled)
                }
            }
            guard attempt < options.retry.maximumAttempts else {
                return .stop(.provisioningRetriesExhausted(attempts: attempt, lastFailure: failure))
            }
            tally.countRetry(cause)
            let delay = options.retry.delay(beforeRetry: attempt, retryAfter: retryAfter)
            // Quiet for the odd throttled call; visible once a call keeps failing (a hub down or far over its limit).
            logger.log(level: attempt >= 3 ? .warning : .debug, "bulk call failed; retrying", metadata: [
                "attempt": "\(attempt)", "cause": "\(cause)", "failure": "\(failure.prefix(200))",
                "delay": "\(delay)", "first": "\(ids.first ?? "")",
            ])
            do { try await clock.sleep(for: delay) } catch { return .stop(.cancelled) }
            attempt += 1
        }
    }

    /// The bulk call's body: `createOrUpdate` of every id, enabled, with its derived key as both keys, or as a
    /// CA-signed X.509 device when it is one of `certificateAuthority`.
    package static func body(_ ids: [String], seed: SharedAccessKey, certificateAuthority: Set<String> = []) -> [UInt8] {
        JSONValue.array(ids.map { deviceId in
            if certificateAuthority.contains(deviceId) {
                return [
                    "id": .string(deviceId), "importMode": "createOrUpdate", "status": "enabled",
                    "authentication": ["type": "certificateAuthority"],
                ]
            }
            let key = JSONValue.string(seed.derivedDeviceKey(registrationId: deviceId).base64)
            return [
                "id": .string(deviceId), "importMode": "createOrUpdate", "status": "enabled",
                "authentication": ["type": "sas", "symmetricKey": ["primaryKey": key, "secondaryKey": key]],
            ]
        }).serializedBytes()
    }

    /// The refusals of an answered bulk call: none for a 2xx without errors, the listed ones for a bulk result
    /// with `errors` (IoT Hub answers 400 then); `nil` when the response is not a bulk result at all.
    static func bulkFailures(_ response: BulkRegistryResponse) -> [ProvisioningSummary.Failure]? {
        let document = try? JSONValue(parsing: response.body)
        if let errors = document?["errors"]?.arrayValue, (200..<300).contains(response.status) || response.status == 400 {
            return errors.map { error in
                ProvisioningSummary.Failure(deviceId: error["deviceId"]?.stringValue ?? "?",
                                            errorCode: error["errorCode"]?.stringValue ?? "?",
                                            message: error["errorStatus"]?.stringValue ?? "")
            }
        }
        return (200..<300).contains(response.status) ? [] : nil
    }
}

/// What the workers of a ``ProvisioningRun`` share: the next batch, the counts, and when progress was reported.
final class ProvisioningTally: Sendable {
    private struct State {
        var summary: ProvisioningSummary
        var nextBatch = 0
        var lastReport: Duration
        var provisionedAtLastReport = 0
    }

    private let state: Mutex<State>
    private let start: Duration

    init(requested: Int, start: Duration) {
        self.start = start
        state = Mutex(State(summary: ProvisioningSummary(requested: requested), lastReport: start))
    }

    /// The next batch to send, or `nil` when all are taken or the run stopped.
    func nextBatch(of count: Int) -> Int? {
        state.withLock { state in
            guard state.summary.stopReason == nil, state.nextBatch < count else { return nil }
            defer { state.nextBatch += 1 }
            return state.nextBatch
        }
    }

    func countRequest() {
        state.withLock { $0.summary.requests += 1 }
    }

    func countRetry(_ cause: String) {
        state.withLock { $0.summary.retries[cause, default: 0] += 1 }
    }

    /// Adds a batch's outcome; returns a progress report when one is due.
    func record(_ outcome: ProvisioningRun.Outcome, now: Duration, interval: Duration) -> ProvisioningProgress? {
        state.withLock { state in
            switch outcome {
            case .provisioned(let count, let failures):
                state.summary.provisioned += count
                state.summary.failed += Set(failures.map(\.deviceId)).count
                let room = ProvisioningSummary.maximumFailuresKept - state.summary.failures.count
                state.summary.failures += failures.prefix(max(0, room))
            case .stop(let reason):
                if state.summary.stopReason == nil { state.summary.stopReason = reason }
            }
            guard now - state.lastReport >= interval else { return nil }
            let recent = Double(state.summary.provisioned - state.provisionedAtLastReport) / (now - state.lastReport).seconds
            state.lastReport = now
            state.provisionedAtLastReport = state.summary.provisioned
            return ProvisioningProgress(provisioned: state.summary.provisioned, failed: state.summary.failed,
                                        requested: state.summary.requested, retries: state.summary.totalRetries,
                                        elapsed: now - start, recentDevicesPerSecond: recent)
        }
    }

    func summary(now: Duration) -> ProvisioningSummary {
        state.withLock { state in
            var summary = state.summary
            summary.duration = now - start
            return summary
        }
    }
}
