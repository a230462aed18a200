import IoTHubProtocol
import Testing
@testable import IoTHubDevice

/// The protocol-neutral core alone: a fake transport plays the hub, a manual clock plays time. No sockets, no
/// sleeps; every timer fires because the test moves time.
@Suite struct DeviceClientCoreTests {
    /// A core on a fake transport and a manual clock, with jitter-free backoff (1 s doubling to 8 s).
    final class Fixture {
        let clock = ManualClock()
        let transport = FakeTransport()
        let core: DeviceClientCore
        var results: [String: Result<Void, any Error>] = [:]
        var states: [ConnectionState] = []

        init(_ configure: (inout DeviceClientOptions) -> Void = { _ in }) throws {
            var options = DeviceClientOptions()
            options.retryPolicy = RetryPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(8), jitter: 0)
            options.logger.logLevel = .critical
            configure(&options)
            core = try DeviceClientCore(identity: DeviceIdentity(deviceId: "core-1"), hostName: "hub.test",
                                        credential: .key(SharedAccessKey(bytes: Array("secret".utf8)), keyName: nil),
                                        options: options, clock: clock, transport: transport)
        }

        func connect(accept: Bool = true) {
            core.connect(waiter: 0) { _ in }
            if accept { transport.accept() }
        }

        func send(_ text: String) {
            core.send(IoTHubMessage(text: text), id: core.itemIds.make()) { [self] in results[text] = $0 }
        }

        func succeeded(_ text: String) -> Bool { (try? results[text]?.get()) != nil }

        func error(_ text: String) -> DeviceClientError? {
            guard case .failure(let error)? = results[text] else { return nil }
            return error as? DeviceClientError
        }
    }

    @Test func aFullQueueFailsFastForTelemetryAndTwinRequests() throws {
        let fixture = try Fixture { $0.queue = OutboundQueueOptions(maximumMessages: 3, policy: .failFast) }
        fixture.connect(accept: false)
        for index in 0..<4 { fixture.send("\(index)") }
        let refused = try #require(fixture.error("3"))
        #expect(refused.code == .queueFull)
        #expect(refused.count == 3)
        #expect(fixture.results.count == 1)
        var twin: Result<DeviceClientCore.TwinResponse, any Error>?
        fixture.core.twinRequest(reported: nil) { twin = $0 }
        #expect(throws: DeviceClientError.self) { try twin?.get() }
        var matched = false
        do { _ = try twin?.get() } catch DeviceClientError.Code.queueFull { matched = true } catch {}
        #expect(matched, "a catch clause matches the error code")

        // Once connected, the queued three go out; each completes at its acknowledgement.
        fixture.transport.accept()
        #expect(fixture.transport.telemetry == ["0", "1", "2"])
        for entry in fixture.transport.performed { fixture.transport.acknowledge(entry.tag) }
        #expect(["0", "1", "2"].allSatisfy(fixture.succeeded))
    }

    @Test func aDropOldestQueueEvictsTheOldestWaitingMessage() throws {
        let fixture = try Fixture { $0.queue = OutboundQueueOptions(maximumMessages: 2, policy: .dropOldest) }
        fixture.connect(accept: false)
        for index in 0..<3 { fixture.send("\(index)") }
        #expect(fixture.error("0")?.code == .queueFull)
        fixture.transport.accept()
        #expect(fixture.transport.telemetry == ["1", "2"])
    }

    @Test func unacknowledgedMessagesAreResentAfterADisconnect() throws {
        let fixture = try Fixture()
        fixture.connect()
        for index in 0..<3 { fixture.send("\(index)") }
        let first = fixture.transport.performed
        #expect(fixture.transport.telemetry == ["0", "1", "2"])
        fixture.transport.acknowledge(first[0].tag)
        #expect(fixture.succeeded("0"))

        fixture.transport.drop(.closedByHub)
        #expect(fixture.core.lastState == .disconnected(.closedByHub))
        #expect(fixture.results.count == 1, "the unacknowledged two wait for the next connection")
        fixture.send("3")   // queued while offline
        fixture.clock.advance(by: .seconds(1))
        #expect(fixture.transport.opens == 2)
        fixture.transport.accept()
        // In their original order, before the message queued while offline; the acknowledged one is not resent.
        #expect(fixture.transport.telemetry == ["0", "1", "2", "1", "2", "3"])
        for entry in fixture.transport.performed.dropFirst(3) { fixture.transport.acknowledge(entry.tag) }
        #expect(["1", "2", "3"].allSatisfy(fixture.succeeded))
        // A stale acknowledgement from the first connection changes nothing.
        fixture.transport.acknowledge(first[1].tag)
        #expect(fixture.results.count == 4)
    }

    @Test func operationsTheTransportRefusesWaitForTheNextConnection() throws {
        let fixture = try Fixture()
        fixture.connect()
        fixture.transport.refusesOperations = true
        fixture.send("0")
        #expect(fixture.transport.performed.isEmpty)
        fixture.transport.refusesOperations = false
        fixture.transport.drop(.networkError)
        fixture.clock.advance(by: .seconds(1))
        fixture.transport.accept()
        #expect(fixture.transport.telemetry == ["0"])
    }

    @Test func backoffDoublesToItsCapAndGivesUpAfterTheAttempts() throws {
        let fixture = try Fixture {
            $0.retryPolicy = RetryPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(8), jitter: 0,
                                         maximumAttempts: 5)
            $0.connectTimeout = .seconds(30)
        }
        var connectResult: Result<Void, any Error>?
        fixture.core.connect(waiter: 1) { connectResult = $0 }
        var delays: [Duration] = []
        while fixture.core.phase != .stopped {
            #expect(fixture.clock.armedDelays == [.seconds(30)], "only the connect timeout runs during an attempt")
            fixture.transport.drop(.networkError, "refused")
            guard case .backingOff = fixture.core.phase, let delay = fixture.clock.armedDelays.first else { break }
            delays.append(delay)
            let opens = fixture.transport.opens
            fixture.clock.advance(by: delay - .milliseconds(1))
            #expect(fixture.transport.opens == opens, "no attempt before the delay is over")
            fixture.clock.advance(by: .milliseconds(1))
            #expect(fixture.transport.opens == opens + 1)
        }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8)])
        #expect(fixture.transport.opens == 6, "the first attempt and five retries")
        guard case .failure(let error as DeviceClientError)? = connectResult else {
            Issue.record("connect did not fail: \(String(describing: connectResult))")
            return
        }
        #expect(error.code == .retriesExhausted)
        #expect(error.count == 6)
        #expect(fixture.core.lastState == .disconnected(.retriesExhausted(attempts: 6)))
    }

    @Test func anAttemptThatTakesTooLongIsAbortedAndRetried() throws {
        let fixture = try Fixture { $0.connectTimeout = .seconds(5) }
        fixture.connect(accept: false)
        fixture.clock.advance(by: .seconds(5))
        #expect(fixture.transport.aborts.count == 1)
        fixture.transport.drop(.networkError, "aborted")
        fixture.clock.advance(by: .seconds(1))
        #expect(fixture.transport.opens == 2)
    }

    @Test func theUnauthorizedRefusalIsFinal() throws {
        let fixture = try Fixture()
        var connectResult: Result<Void, any Error>?
        fixture.core.connect(waiter: 1) { connectResult = $0 }
        fixture.transport.drop(.unauthorized, "bad key")
        guard case .failure(let error as DeviceClientError)? = connectResult else {
            Issue.record("connect did not fail")
            return
        }
        #expect(error.code == .unauthorized)
        #expect(fixture.core.phase == .stopped)
        #expect(fixture.clock.armedDelays.isEmpty)
    }

    @Test func theTransportIsAskedToRenewBeforeTheTokenExpires() throws {
        let fixture = try Fixture {
            $0.sasTokenTTL = .seconds(100)
            $0.tokenRenewalPoint = 0.8
        }
        fixture.connect()
        let firstExpiry = try #require(fixture.transport.tokens.first??.expiry)
        #expect(firstExpiry == fixture.clock.epoch + 100)
        fixture.send("in flight")
        fixture.clock.advance(by: .seconds(79))
        #expect(fixture.transport.renewals == 0)
        fixture.clock.advance(by: .seconds(1))
        #expect(fixture.transport.renewals == 1, "asked at 80 % of the lifetime")

        // MQTT's answer: reconnect. Sending stops; the in-flight message is acknowledged first.
        fixture.send("after renewal")
        #expect(fixture.transport.telemetry == ["in flight"])
        #expect(fixture.transport.closes == 0)
        fixture.transport.acknowledge(fixture.transport.performed[0].tag)
        #expect(fixture.transport.closes == 1)
        #expect(fixture.core.lastState == .disconnected(.expiredToken))
        fixture.transport.drop(.requested)
        #expect(fixture.transport.opens == 2, "reconnects at once, without backoff")
        #expect(fixture.transport.tokens.last??.expiry == fixture.clock.epoch + 80 + 100, "with a fresh token")
        fixture.transport.accept()
        #expect(fixture.transport.telemetry == ["in flight", "after renewal"])
    }

    @Test func anInBandRenewalKeepsTheConnection() throws {
        let fixture = try Fixture {
            $0.sasTokenTTL = .seconds(100)
            $0.tokenRenewalPoint = 0.5
        }
        fixture.transport.renewal = .inBand
        fixture.connect()
        fixture.clock.advance(by: .seconds(50))
        #expect(fixture.transport.renewals == 1)
        fixture.send("still sending")
        #expect(fixture.transport.telemetry == ["still sending"])
        #expect(fixture.transport.closes == 0)
        fixture.transport.emit(.credentialsRenewed(expiry: fixture.clock.unixTime() + 100))
        fixture.clock.advance(by: .seconds(49))
        #expect(fixture.transport.renewals == 1)
        fixture.clock.advance(by: .seconds(1))
        #expect(fixture.transport.renewals == 2, "the next renewal follows the renewed token")
    }

    @Test func twinRequestsWaitForTheTwinFeatureAndGetTheirAnswers() throws {
        let fixture = try Fixture()
        fixture.connect()
        var answer: Result<DeviceClientCore.TwinResponse, any Error>?
        fixture.core.twinRequest(reported: nil) { answer = $0 }
        #expect(fixture.transport.enabled == [.twinResponses])
        #expect(fixture.transport.performed.isEmpty, "held until the hub accepted the feature")
        fixture.transport.emit(.featureEnabled(.twinResponses, accepted: true))
        guard case .twinGet(let requestId)? = fixture.transport.performed.first?.operation else {
            Issue.record("no twin GET: \(fixture.transport.performed)")
            return
        }
        fixture.transport.acknowledge(fixture.transport.performed[0].tag)
        fixture.transport.emit(.twinResponse(requestId: requestId, status: 200, version: nil, body: Array("{}".utf8)))
        #expect(try answer?.get().status == 200)

        // A request whose answer is lost with the connection is sent again on the next one.
        var patched: Result<DeviceClientCore.TwinResponse, any Error>?
        fixture.core.twinRequest(reported: Array(#"{"a":1}"#.utf8)) { patched = $0 }
        fixture.transport.acknowledge(fixture.transport.performed[1].tag)
        fixture.transport.drop(.networkError)
        fixture.clock.advance(by: .seconds(1))
        fixture.transport.accept()
        #expect(fixture.transport.enabled == [.twinResponses, .twinResponses])
        fixture.transport.emit(.featureEnabled(.twinResponses, accepted: true))
        guard case .twinPatchReported(let patchId, let body)? = fixture.transport.performed.last?.operation else {
            Issue.record("the patch was not resent: \(fixture.transport.performed)")
            return
        }
        #expect(body == Array(#"{"a":1}"#.utf8))
        fixture.transport.emit(.twinResponse(requestId: patchId, status: 204, version: 2, body: []))
        #expect(try patched?.get().version == 2)

        // No answer within the operation timeout.
        var unanswered: Result<DeviceClientCore.TwinResponse, any Error>?
        fixture.core.twinRequest(reported: nil) { unanswered = $0 }
        fixture.clock.advance(by: .seconds(60))
        #expect(throws: DeviceClientError.self) { try unanswered?.get() }
    }

    @Test func hubMessagesReachTheirStreamsAndHandlers() async throws {
        let fixture = try Fixture()
        fixture.connect()
        let desired = fixture.core.desiredUpdates.stream()
        let messages = fixture.core.cloudToDevice.stream()
        fixture.core.enable(.desiredProperties)
        fixture.core.enable(.cloudToDevice)
        fixture.core.setMethodHandler("ping", { _ in DirectMethodResult(status: 200, payload: "pong") }) {}
        #expect(fixture.transport.enabled == [.desiredProperties, .cloudToDevice, .methods])

        fixture.transport.emit(.desiredPatch(version: nil, body: Array(#"{"x":1,"$version":7}"#.utf8)))
        var desiredIterator = desired.makeAsyncIterator()
        let update = await desiredIterator.next()
        #expect(update?.version == 7)
        #expect(update?.patch["x"] == 1)

        fixture.transport.emit(.cloudToDevice(IoTHubMessage(text: "hello"), tag: DeviceTransportTag(value: 9)))
        var messageIterator = messages.makeAsyncIterator()
        #expect(await messageIterator.next()?.body == Array("hello".utf8))
        #expect(fixture.transport.settled.map(\.tag) == [DeviceTransportTag(value: 9)])
        #expect(fixture.transport.settled.map(\.outcome) == [.complete])

        // A method without a handler is answered 404 at once; a handled one when its handler returns.
        fixture.transport.emit(.methodRequest(name: "missing", requestId: "r0", payload: []))
        guard case .methodResponse("r0", 404, _)? = fixture.transport.performed.last?.operation else {
            Issue.record("no 404 for a method without a handler: \(fixture.transport.performed)")
            return
        }
        fixture.transport.emit(.methodRequest(name: "ping", requestId: "r1", payload: Array("{}".utf8)))
        await fixture.clock.workHandedOver()
        fixture.clock.runPending()
        guard case .methodResponse("r1", 200, let payload)? = fixture.transport.performed.last?.operation else {
            Issue.record("no answer for ping: \(fixture.transport.performed)")
            return
        }
        #expect(payload == Array(#""pong""#.utf8))

        // After a reconnect every feature is enabled again, in the fixed order, before anything is sent.
        fixture.send("after")
        fixture.transport.drop(.networkError)
        fixture.clock.advance(by: .seconds(1))
        fixture.transport.accept()
        #expect(fixture.transport.enabled.suffix(3) == [.cloudToDevice, .desiredProperties, .methods])
    }

    @Test func closeFailsWhatIsPendingAndWaitsForTheTransport() throws {
        let fixture = try Fixture()
        fixture.connect()
        fixture.send("pending")
        var closed = false
        fixture.core.close { closed = true }
        #expect(fixture.error("pending") == .closed)
        #expect(fixture.transport.closes == 1)
        #expect(!closed)
        fixture.transport.drop(.requested)
        #expect(closed)
        fixture.send("late")
        #expect(fixture.error("late") == .closed)
    }
}
