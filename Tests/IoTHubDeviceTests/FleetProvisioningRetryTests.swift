import FleetSimulation
import Foundation
import IoTHubProtocol
import Logging
import Synchronization
import Testing

/// The provisioning loop without a hub: a scripted registry answers, a stepping clock records every wait and
/// moves on at once, so backoff, Retry-After, stops and pacing are checked without sleeping.
@Suite struct FleetProvisioningRetryTests {
    static let seed = try! SharedAccessKey(base64: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

    func run(_ ids: [String], answers: [Result<BulkRegistryResponse, BulkRegistryTransportError>],
             configure: (inout ProvisioningOptions) -> Void = { _ in }) async -> (ProvisioningSummary, ScriptedRegistry, SteppingClock) {
        var options = ProvisioningOptions()
        options.concurrency = 1
        configure(&options)
        let registry = ScriptedRegistry(answers), clock = SteppingClock()
        let run = ProvisioningRun(options: options, transport: registry, clock: clock, logger: Logger(label: "test"))
        return (await run.run(ids, seed: Self.seed), registry, clock)
    }

    @Test func a429IsRetriedAfterItsRetryAfterAndCounted() async {
        let ids = (0..<150).map { "r-\($0)" }
        let (summary, registry, clock) = await run(ids, answers: [
            .success(BulkRegistryResponse(status: 429, retryAfter: "2", body: Array(#"{"Message":"ErrorCode:ThrottlingException;"}"#.utf8))),
            .success(BulkRegistryResponse(status: 200, body: Array(#"{"isSuccessful":true,"errors":[],"warnings":[]}"#.utf8))),
        ])
        #expect(summary.isComplete, "\(summary.text)")
        #expect(summary.provisioned == 150 && summary.failed == 0)
        #expect(summary.retries == ["429": 1])
        #expect(summary.requests == 3)   // the first batch twice, the second once
        let sent = registry.bodies
        #expect(sent.count == 3 && sent[0] == sent[1])   // the retry is the same call
        // Retry-After is honoured: 2 s plus at most the initial delay of jitter.
        #expect(clock.waits.count == 1)
        #expect(clock.waits[0] >= .seconds(2) && clock.waits[0] <= .seconds(2) + .milliseconds(100))
    }

    @Test func a503AndADroppedConnectionBackOffExponentially() async {
        let (summary, _, clock) = await run(["x-1"], answers: [
            .success(BulkRegistryResponse(status: 503)),
            .failure(.connection("connection reset by peer")),
            .failure(.connection("connection refused")),
        ])
        #expect(summary.isComplete)
        #expect(summary.retries == ["503": 1, "connection": 2])
        let waits = clock.waits
        #expect(waits.count == 3)
        // Equal jitter: between half and all of 100 ms, 200 ms, 400 ms.
        for (wait, planned) in zip(waits, [100, 200, 400]) {
            #expect(wait >= .milliseconds(planned / 2) && wait <= .milliseconds(planned), "\(wait)")
        }
    }

    @Test func exhaustedRetriesStopTheRunWithATypedError() async {
        let ids = (0..<300).map { "e-\($0)" }
        let (summary, registry, _) = await run(ids, answers: Array(repeating: .success(BulkRegistryResponse(status: 429)), count: 10)) {
            $0.retry.maximumAttempts = 4
        }
        #expect(!summary.isComplete)
        #expect(summary.provisioned == 0 && summary.retries == ["429": 3])
        #expect(registry.bodies.count == 4)   // no further batch after the stop
        guard case .provisioningRetriesExhausted(let attempts, _) = summary.stopReason else {
            Issue.record("stopped with \(String(describing: summary.stopReason))")
            return
        }
        #expect(attempts == 4)
    }

    @Test func aRefusedCallStopsAndPerDeviceErrorsAreCounted() async {
        let bulkResult = #"{"isSuccessful":false,"errors":[{"deviceId":"p-1","errorCode":"ArgumentInvalid","errorStatus":"bad id"}],"warnings":[]}"#
        let (partial, _, _) = await run(["p-0", "p-1", "p-2"], answers: [
            .success(BulkRegistryResponse(status: 400, body: Array(bulkResult.utf8))),
        ])
        #expect(partial.provisioned == 2 && partial.failed == 1 && partial.stopReason == nil && !partial.isComplete)
        #expect(partial.failures == [.init(deviceId: "p-1", errorCode: "ArgumentInvalid", message: "bad id")])

        let (refused, _, _) = await run(["u-0"], answers: [
            .success(BulkRegistryResponse(status: 401, body: Array(#"{"Message":"ErrorCode:IotHubUnauthorizedAccess;"}"#.utf8))),
        ])
        guard case .provisioningFailed(let status, _) = refused.stopReason else {
            Issue.record("stopped with \(String(describing: refused.stopReason))")
            return
        }
        #expect(status == 401 && refused.retries.isEmpty)
    }

    @Test func theBodyIsCreateOrUpdateWithDerivedKeys() throws {
        let body = try JSONValue(parsing: ProvisioningRun.body(["dev-7"], seed: Self.seed))
        let key = Self.seed.derivedDeviceKey(registrationId: "dev-7").base64
        #expect(body[0]?["id"] == "dev-7" && body[0]?["importMode"] == "createOrUpdate")
        #expect(body[0]?["authentication"]?["symmetricKey"]?["primaryKey"]?.stringValue == key)
        #expect(FleetProvisioner.derivedKeys(for: ["dev-7"], seed: Self.seed) == ["dev-7": key])
    }

    @Test func thePacerSpacesCallsByTheirDevices() {
        let pacer = ProvisioningPacer(devicesPerSecond: 1_000)
        // Three calls of 100 at once: at 0, 0.1 s and 0.2 s.
        #expect([0, 1, 2].map { _ in pacer.reserve(devices: 100, now: .zero) }
                == [.zero, .milliseconds(100), .milliseconds(200)])
        // A run that fell behind does not burst to catch up.
        #expect(pacer.reserve(devices: 100, now: .seconds(5)) == .zero)
        #expect(pacer.reserve(devices: 100, now: .seconds(5)) == .milliseconds(100))
        #expect(ProvisioningPacer(devicesPerSecond: nil).reserve(devices: 100, now: .zero) == .zero)
    }

    @Test func retryAfterReadsSecondsAndHTTPDates() {
        #expect(ProvisioningRetryPolicy.retryAfter("3") == .seconds(3))
        #expect(ProvisioningRetryPolicy.retryAfter(" 0.5 ") == .milliseconds(500))
        let now = Date(timeIntervalSince1970: 1_445_412_470)   // Wed, 21 Oct 2015 07:27:50 GMT
        #expect(ProvisioningRetryPolicy.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: now) == .seconds(10))
        #expect(ProvisioningRetryPolicy.retryAfter("soon") == nil && ProvisioningRetryPolicy.retryAfter(nil) == nil)
    }
}

/// A registry that answers from a script (then 200 to everything) and keeps the bodies it was sent.
final class ScriptedRegistry: BulkRegistryTransport {
    private let state: Mutex<(answers: [Result<BulkRegistryResponse, BulkRegistryTransportError>], bodies: [[UInt8]])>

    init(_ answers: [Result<BulkRegistryResponse, BulkRegistryTransportError>]) {
        state = Mutex((answers, []))
    }

    var bodies: [[UInt8]] { state.withLock { $0.bodies } }

    func post(_ body: [UInt8]) async throws(BulkRegistryTransportError) -> BulkRegistryResponse {
        let answer = state.withLock { state in
            state.bodies.append(body)
            return state.answers.isEmpty ? .success(BulkRegistryResponse(status: 200)) : state.answers.removeFirst()
        }
        return try answer.get()
    }
}

/// A clock whose sleeps return at once and move its time on by what was asked; it keeps every non-zero wait.
final class SteppingClock: ProvisioningClock {
    private let state = Mutex<(now: Duration, waits: [Duration])>((.zero, []))

    var waits: [Duration] { state.withLock { $0.waits } }

    func elapsed() -> Duration { state.withLock { $0.now } }

    func sleep(for duration: Duration) async throws {
        guard duration > .zero else { return }
        state.withLock { state in
            state.now += duration
            state.waits.append(duration)
        }
    }
}
