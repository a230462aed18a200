import IoTHubProtocol

/// A device's own twin request, whatever protocol carried it (MQTT `$iothub/twin/…`, AMQP twin links).
public enum TwinRequest: Sendable, Hashable {
    /// Read the whole twin (desired and reported).
    case get
    /// Patch reported properties with a JSON body.
    case patchReported([UInt8])

    var throttledAs: ThrottledOperation {
        switch self {
        case .get: .twinRead
        case .patchReported: .twinUpdate
        }
    }
}

/// The hub's answer to a ``TwinRequest``: an HTTP-style status, the new reported version for a patch, and the body
/// (the twin for a GET; `{"errorCode","message"}` for an error).
public struct TwinAnswer: Sendable, Hashable {
    public var status: Int
    public var version: Int64?
    public var body: [UInt8]

    public init(status: Int, version: Int64? = nil, body: [UInt8] = []) {
        self.status = status
        self.version = version
        self.body = body
    }

    /// The answer for a refusal.
    public init(_ error: HubError) {
        self.init(status: error.code.httpStatus, body: JSONValue.object([
            "errorCode": .integer(Int64(error.code.rawValue)), "message": .string(error.message),
        ]).serializedBytes())
    }
}

extension HubServices {
    /// Answers a device's twin request under the tier's twin throttles: a shaped request waits, one beyond the
    /// shaping window or the daily quota gets 429 or 403, as IoT Hub answers them. Never throws: failures are
    /// answers. `protocolName` labels the error metrics.
    public func answer(_ request: TwinRequest, from identity: DeviceIdentity, protocol protocolName: String) async -> TwinAnswer {
        if !throttle.isUnlimited {
            let decision = throttle.decide(request.throttledAs)
            switch decision {
            case .allow:
                break
            case .delay(let shaped):
                try? await Task.sleep(for: shaped)
            case .reject:
                let error = decision.error(for: request.throttledAs) ?? HubError(.throttlingException, "throttled")
                metrics.error(error.code, protocol: protocolName)
                return TwinAnswer(error)
            }
            let bytes = if case .patchReported(let body) = request { body.count } else { 0 }
            _ = throttle.meterMessages(bytes: bytes)
        }
        do {
            switch request {
            case .get:
                return TwinAnswer(status: 200, body: try await twins.deviceView(identity))
            case .patchReported(let body):
                return TwinAnswer(status: 204, version: try await twins.patchReported(identity, body: body))
            }
        } catch {
            let hubError = error as? HubError ?? HubError(.serverError, "\(error)")
            metrics.error(hubError.code, protocol: protocolName)
            return TwinAnswer(hubError)
        }
    }
}
