import AsyncHTTPClient
import IoTHubProtocol
import NIOCore
import NIOHTTP1

/// Reads the hub's telemetry stream (`GET /monitor/events`, the stream `iothub monitor` prints) and times each
/// simulated message from its send time (the ``FleetTimestamps/property`` application property) to here: D2C end
/// to end, through the hub's store.
struct TelemetryMonitor: Sendable {
    let client: ServiceClient
    let recorder: ServiceRecorder
    /// Count only these devices' messages (a worker's part of the fleet); `nil`: every simulated message.
    var only: Set<String>? = nil

    /// Opens the stream (only messages from now on) and returns once the hub answered, so nothing the fleet sends
    /// afterwards is missed; `read` then consumes it until cancelled.
    func open() async throws -> HTTPClientResponse {
        let request = client.request("monitor/events", method: .GET)
        let response = try await client.http.execute(request, timeout: .hours(24))
        guard response.status == .ok else {
            let body = String(buffer: try await response.body.collect(upTo: 64 << 10))
            throw FleetError.invalidConfiguration(
                "the hub refused its telemetry stream (GET /monitor/events, HTTP \(response.status.code)): \(body.prefix(300)); "
                    + "readTelemetry needs the companion hub and a policy with ServiceConnect")
        }
        return response
    }

    func read(_ response: HTTPClientResponse) async {
        var line: [UInt8] = []
        do {
            for try await buffer in response.body {
                for byte in buffer.readableBytesView {
                    if byte == UInt8(ascii: "\n") {
                        handle(line)
                        line.removeAll(keepingCapacity: true)
                    } else {
                        line.append(byte)
                    }
                }
            }
        } catch {
            // Cancelled at the end of the run, or the hub went away: what was read counts.
        }
    }

    private func handle(_ line: [UInt8]) {
        guard !line.isEmpty, let event = try? JSONValue(parsing: line),
              case .string(let sent)? = event["properties"]?[FleetTimestamps.property], let milliseconds = Int64(sent)
        else { return }
        if let only {
            guard case .string(let deviceId)? = event["deviceId"], only.contains(deviceId) else { return }
        }
        recorder.record(.d2cEndToEnd, latency: .milliseconds(max(0, FleetShard.wallMilliseconds() - milliseconds)),
                        count: "d2c.seen")
    }
}
