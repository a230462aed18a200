import IoTHubProtocol
import NIOConcurrencyHelpers
@testable import IoTHubCore
@testable import IoTHubServer

/// A device session that records what the hub asked of it.
final class RecordingSession: DeviceSession {
    let identity: DeviceIdentity
    let wantsDesiredPropertyUpdates: Bool
    let acceptsMethods: Bool
    private let state = NIOLockedValueBox<(ends: [SessionEndReason], patches: [(String, Int64)], methods: [DirectMethodRequest], c2dSignals: Int)>(([], [], [], 0))

    init(_ identity: DeviceIdentity, desired: Bool = true, methods: Bool = true) {
        self.identity = identity
        self.wantsDesiredPropertyUpdates = desired
        self.acceptsMethods = methods
    }

    var ends: [SessionEndReason] { state.withLockedValue { $0.ends } }
    var patches: [(String, Int64)] { state.withLockedValue { $0.patches } }
    var methods: [DirectMethodRequest] { state.withLockedValue { $0.methods } }
    var cloudToDeviceSignals: Int { state.withLockedValue { $0.c2dSignals } }

    func sendDesiredPropertiesPatch(_ patch: [UInt8], version: Int64) {
        state.withLockedValue { $0.patches.append((String(decoding: patch, as: UTF8.self), version)) }
    }
    func sendMethodRequest(_ request: DirectMethodRequest) { state.withLockedValue { $0.methods.append(request) } }
    func cloudToDeviceMessagesAvailable() { state.withLockedValue { $0.c2dSignals += 1 } }
    func end(_ reason: SessionEndReason) { state.withLockedValue { $0.ends.append(reason) } }
}
