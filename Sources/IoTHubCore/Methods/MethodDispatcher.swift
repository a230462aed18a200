import Foundation
import IoTHubProtocol
import Logging
import Synchronization

/// Delivers direct method calls to connected devices and matches their answers, with IoT Hub's timeouts.
///
/// A call waits up to `connectTimeout` seconds for the device to be connected and subscribed to methods
/// (404103 DeviceNotOnline otherwise), then up to `responseTimeout` seconds for its answer (504101 GatewayTimeout).
public final class MethodDispatcher: Sendable {
    private struct Pending {
        let identity: DeviceIdentity
        let continuation: CheckedContinuation<DirectMethodResponse, Error>
    }

    let presence: PresenceDirectory
    let logger: Logger
    /// The length of one "second" of the timeouts; tests shorten it.
    let second: Duration
    let metrics: HubMetrics?
    private let state = Mutex<(nextId: UInt64, pending: [String: Pending])>((1, [:]))

    /// - Parameter second: the length of one second of the timeouts (tests shorten it).
    public init(presence: PresenceDirectory, logger: Logger, second: Duration = .seconds(1), metrics: HubMetrics? = nil) {
        self.metrics = metrics
        self.presence = presence
        self.logger = logger
        self.second = second
    }

    /// Invokes `name` on `identity` and returns the device's status and payload.
    /// - Throws: ``HubError`` 400004 for out-of-range timeouts or an oversized payload, 404103 when the device is
    ///   not online within `connectTimeout`, 504101 when it does not answer within `responseTimeout`.
    public func invoke(_ identity: DeviceIdentity, method name: String, payload: [UInt8],
                       responseTimeout: Int = DirectMethodLimits.defaultResponseTimeout,
                       connectTimeout: Int = DirectMethodLimits.defaultConnectTimeout) async throws -> DirectMethodResponse {
        guard DirectMethodLimits.responseTimeoutRange.contains(responseTimeout) else {
            throw HubError.invalid("responseTimeoutInSeconds must be from 5 to 300, not \(responseTimeout)")
        }
        guard DirectMethodLimits.connectTimeoutRange.contains(connectTimeout) else {
            throw HubError.invalid("connectTimeoutInSeconds must be from 0 to 300, not \(connectTimeout)")
        }
        guard payload.count <= DirectMethodLimits.maximumPayloadSize else {
            throw HubError.invalid("the method payload is \(payload.count) bytes; the limit is 131072")
        }
        guard !name.isEmpty else { throw HubError.invalid("methodName is empty") }
        let session = try await waitForSession(identity, seconds: connectTimeout)
        let requestId = state.withLock { state -> String in
            defer { state.nextId += 1 }
            return String(state.nextId, radix: 16)
        }
        let timeout = Task { [weak self] in
            try await Task.sleep(for: (self?.second ?? .seconds(1)) * responseTimeout)
            self?.finish(requestId, with: .failure(HubError(.gatewayTimeout,
                "'\(identity.clientId)' did not answer method '\(name)' within \(responseTimeout) s")))
        }
        defer { timeout.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            state.withLock { $0.pending[requestId] = Pending(identity: identity, continuation: continuation) }
            session.sendMethodRequest(DirectMethodRequest(name: name, requestId: requestId, payload: payload))
            metrics?.messageSent(kind: "method_request")
        }
    }

    /// Hands a device's answer to the waiting caller. Returns `false` when no call from that identity waits under
    /// that request id (late, duplicate or forged answers are dropped).
    @discardableResult
    public func complete(_ response: DirectMethodResponse, from identity: DeviceIdentity) -> Bool {
        let matches = state.withLock { $0.pending[response.requestId]?.identity == identity }
        guard matches else {
            logger.debug("unmatched method response", metadata: ["identity": "\(identity)", "rid": "\(response.requestId)"])
            return false
        }
        return finish(response.requestId, with: .success(response))
    }

    /// Fails every call waiting on `identity` (its connection ended) with 404103 as IoT Hub does.
    public func connectionEnded(_ identity: DeviceIdentity) {
        let ids = state.withLock { state in state.pending.filter { $0.value.identity == identity }.map(\.key) }
        for id in ids {
            finish(id, with: .failure(HubError(.deviceNotOnline, "'\(identity.clientId)' disconnected before answering")))
        }
    }

    /// Calls in flight.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    @discardableResult
    private func finish(_ requestId: String, with result: Result<DirectMethodResponse, Error>) -> Bool {
        guard let pending = state.withLock({ $0.pending.removeValue(forKey: requestId) }) else { return false }
        switch result {
        case .success: metrics?.methodCall(outcome: "ok")
        case .failure(let error): metrics?.methodCall(outcome: (error as? HubError)?.code.name ?? "error")
        }
        pending.continuation.resume(with: result)
        return true
    }

    /// Waits for the device to be connected and subscribed to methods, woken by presence changes (no polling).
    private func waitForSession(_ identity: DeviceIdentity, seconds: Int) async throws -> any DeviceSession {
        let deadline = ContinuousClock.now + second * seconds
        guard let session = await presence.waitForSession(identity, until: deadline, where: { $0.acceptsMethods }) else {
            throw HubError(.deviceNotOnline, "'\(identity.clientId)' is not connected or not subscribed to methods")
        }
        return session
    }
}
