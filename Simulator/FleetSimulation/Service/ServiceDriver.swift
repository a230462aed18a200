import AsyncHTTPClient
import IoTHubProtocol
import NIOCore
import NIOHTTP1
import Synchronization

/// The service side of a scenario: calls direct methods, patches desired properties and sends C2D messages, each
/// at its rate, to devices that are online (``RunControl``), for as long as the run is sending. Method round trips
/// are timed here; desired patches and C2D messages carry their send time, which the devices time.
struct ServiceDriver: Sendable {
    /// Which fleet indices each kind of call goes to.
    struct Targets: Sendable {
        var methods: [String: [Range<Int>]]
        var desired: [Range<Int>]
        var cloudToDevice: [Range<Int>]
    }

    let behaviour: ServiceBehaviour
    let targets: Targets
    /// Device ids by fleet index.
    let deviceIds: [String]
    let client: ServiceClient
    let control: RunControl
    let recorder: ServiceRecorder
    /// This process's part of the fleet-wide rates: its share of each call's target devices (1 unless the fleet
    /// is split over workers or shards).
    var rateShare = RateShare()

    struct RateShare: Sendable {
        var methods: [String: Double] = [:]
        var desired = 1.0
        var cloudToDevice = 1.0
    }
    /// Calls in flight at once, at most (beyond that, due calls wait).
    var maximumInFlight = 256

    private enum Call: Sendable {
        case method(ServiceBehaviour.MethodCalls)
        case desired(JSONObject)
        case cloudToDevice(size: Int)
    }

    /// Issues calls until the run stops sending, then waits for those in flight.
    func run() async {
        var streams: [(rate: Double, make: @Sendable (inout PayloadRenderer) -> Call, targets: [Range<Int>])] = []
        for call in behaviour.methods {
            streams.append((call.rate * (rateShare.methods[call.name] ?? 1), { _ in .method(call) }, targets.methods[call.name] ?? []))
        }
        if let desired = behaviour.desired {
            streams.append((desired.rate * rateShare.desired, { renderer in
                .desired(renderer.render(elapsed: .zero, now: Timestamp(secondsSince1970: 0)))
            }, targets.desired))
        }
        if let c2d = behaviour.cloudToDevice {
            streams.append((c2d.rate * rateShare.cloudToDevice, { _ in .cloudToDevice(size: c2d.size) }, targets.cloudToDevice))
        }
        guard !streams.isEmpty else { return }
        var renderer = PayloadRenderer(template: behaviour.desired?.patch ?? .empty, seed: 0xD5)
        var random = SplitMix64(seed: 0x5E41)
        var allowance = streams.map { _ in 0.0 }
        let inFlight = InFlightCounter()
        await withDiscardingTaskGroup { group in
            var last = ContinuousClock.now
            while control.phase == .running, !Task.isCancelled {
                let now = ContinuousClock.now
                let elapsed = (now - last).seconds
                last = now
                for (index, stream) in streams.enumerated() {
                    allowance[index] = min(allowance[index] + stream.rate * elapsed, max(stream.rate, 1))
                    while allowance[index] >= 1 {
                        allowance[index] -= 1
                        guard inFlight.value < maximumInFlight else {
                            // The hub answers slower than the rate asks: count it rather than queue without end.
                            recorder.count("service.skipped-busy")
                            continue
                        }
                        guard let device = control.randomOnline(in: stream.targets, using: &random) else {
                            recorder.count("service.no-device-online")
                            continue
                        }
                        let call = stream.make(&renderer)
                        let id = deviceIds[device]
                        inFlight.add(1)
                        group.addTask {
                            await perform(call, device: id)
                            inFlight.add(-1)
                        }
                    }
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    private func perform(_ call: Call, device: String) async {
        let path = "twins/\(PercentEncoding.encode(device))"
        switch call {
        case .method(let method):
            let body: JSONValue = ["methodName": .string(method.name), "payload": method.payload,
                                   "responseTimeoutInSeconds": .integer(Int64(max(5, method.timeout.components.seconds))),
                                   "connectTimeoutInSeconds": 0]
            recorder.count("method.called")
            let started = ContinuousClock.now
            do {
                let (status, response) = try await client.execute(
                    client.request(path + "/methods", method: .POST, body: body.serializedBytes()),
                    timeout: method.timeout + .seconds(5))
                if status == 200 {
                    recorder.record(.method, latency: ContinuousClock.now - started, count: "method.succeeded")
                    if let answer = try? JSONValue(parsing: response), case .integer(let code)? = answer["status"] {
                        recorder.count("method.status.\(code)")
                    }
                } else {
                    recorder.fail(.method, ServiceClient.errorClass(status: status))
                }
            } catch {
                recorder.fail(.method, ServiceClient.errorClass(error))
            }
        case .desired(var patch):
            patch[FleetTimestamps.desiredField] = .integer(FleetShard.wallMilliseconds())
            let body: JSONValue = ["properties": ["desired": .object(patch)]]
            var request = client.request(path, method: .PATCH, body: body.serializedBytes())
            request.headers.add(name: "If-Match", value: "*")
            do {
                let (status, _) = try await client.execute(request, timeout: .seconds(30))
                if (200..<300).contains(status) {
                    recorder.count("twin.desired-patched")
                } else {
                    recorder.fail(.desired, ServiceClient.errorClass(status: status))
                }
            } catch {
                recorder.fail(.desired, ServiceClient.errorClass(error))
            }
        case .cloudToDevice(let size):
            let text = #"{"fleetsim":""}"#
            let body = Array(#"{"fleetsim":"\#(String(repeating: "x", count: max(0, size - text.utf8.count)))"}"#.utf8)
            var request = client.request("devices/\(PercentEncoding.encode(device))/messages/deviceBound", method: .POST,
                                         body: body)
            request.headers.add(name: "iothub-app-\(FleetTimestamps.property)", value: String(FleetShard.wallMilliseconds()))
            request.headers.add(name: "iothub-messageid", value: AMQPValue.UUIDBytes.random().description)
            do {
                let (status, _) = try await client.execute(request, timeout: .seconds(30))
                if (200..<300).contains(status) {
                    recorder.count("c2d.sent")
                } else {
                    recorder.fail(.c2d, ServiceClient.errorClass(status: status))
                }
            } catch {
                recorder.fail(.c2d, ServiceClient.errorClass(error))
            }
        }
    }
}

/// Service calls in flight.
private final class InFlightCounter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ amount: Int) { count.add(amount, ordering: .relaxed) }
}
