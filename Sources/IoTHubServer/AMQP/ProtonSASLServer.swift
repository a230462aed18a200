import CProton
import Glibc

/// The server side of SASL on one Proton transport, as a Proton SASL plug-in: it offers `MSSBCBS` (which the
/// official C SDK and uamqp require), `PLAIN`, `ANONYMOUS` and `EXTERNAL`, and lets the connection decide each
/// `sasl-init`, at once or later (a PLAIN password is a SAS token the hub checks against its store).
///
/// Proton keeps the user-name pointer it is given without copying it; this object owns those copies and frees
/// them when it goes away, after the transport (see ``ProtonConnectionDriver``).
final class ProtonSASLServer {
    /// What the connection decides for a `sasl-init`.
    enum Decision {
        /// Outcome ok, with the name Proton reports for the user.
        case accept(user: String)
        /// Outcome auth (authentication failed).
        case refuse(reason: String)
        /// Decided later with ``accept(user:)`` or ``refuse(reason:)``.
        case pending
    }

    /// The mechanisms offered, in the order offered.
    static let mechanisms = ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"]

    /// Decides a `sasl-init`: the mechanism and its initial response. Set by the connection before any input.
    var onInit: ((String, [UInt8]) -> Decision)?
    /// The mechanism the client chose, once it did.
    private(set) var mechanism: String?
    /// Why authentication failed, for the connection's log.
    private(set) var refusal: String?
    private(set) var decided = false
    private let transport: OpaquePointer
    private var retained: [UnsafeMutablePointer<CChar>] = []

    init(transport: OpaquePointer) {
        self.transport = transport
        pnx_sasl_set_implementation(transport, protonServerSASLImplementation, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        for pointer in retained { free(pointer) }
    }

    fileprivate func received(mechanism: String, response: [UInt8]) {
        self.mechanism = mechanism
        guard Self.mechanisms.contains(mechanism) else {
            return refuse(reason: "SASL mechanism '\(mechanism)' is not offered; use MSSBCBS, PLAIN, ANONYMOUS or EXTERNAL")
        }
        switch onInit?(mechanism, response) ?? .refuse(reason: "not ready") {
        case .accept(let user): accept(user: user)
        case .refuse(let reason): refuse(reason: reason)
        case .pending: break
        }
    }

    /// Sends outcome ok.
    func accept(user: String) {
        guard !decided else { return }
        decided = true
        guard let copy = strdup(user) else { return refuse(reason: "out of memory") }
        retained.append(copy)
        pnx_sasl_set_succeeded(transport, copy, nil)
        pnx_sasl_set_desired_state(transport, SASL_POSTED_OUTCOME)
    }

    /// Sends outcome auth.
    func refuse(reason: String) {
        guard !decided else { return }
        decided = true
        refusal = reason
        pnx_sasl_set_failed(transport)
        pnx_sasl_set_desired_state(transport, SASL_POSTED_OUTCOME)
    }

    fileprivate static func from(_ transport: OpaquePointer?) -> ProtonSASLServer? {
        guard let transport, let context = pnx_sasl_get_context(transport) else { return nil }
        return Unmanaged<ProtonSASLServer>.fromOpaque(context).takeUnretainedValue()
    }
}

/// The space-separated mechanism list Proton sends in `sasl-mechanisms` (static: Proton reads it, never frees it).
nonisolated(unsafe) private let protonMechanismList: UnsafeMutablePointer<CChar> =
    strdup(ProtonSASLServer.mechanisms.joined(separator: " "))!

/// The plug-in's function table; every entry is a non-capturing closure that finds its ``ProtonSASLServer``
/// through the transport's SASL context.
nonisolated(unsafe) private let protonServerSASLImplementation: UnsafeMutablePointer<pnx_sasl_implementation> = {
    let table = UnsafeMutablePointer<pnx_sasl_implementation>.allocate(capacity: 1)
    table.initialize(to: pnx_sasl_implementation(
        free: { _ in },
        list_mechanisms: { _ in UnsafePointer(protonMechanismList) },
        init_server: { transport in
            pnx_sasl_set_desired_state(transport, SASL_POSTED_MECHANISMS)
            return true
        },
        init_client: { _ in false },
        prepare_write: { _ in },
        process_init: { transport, mechanism, response in
            let name = mechanism.map { String(cString: $0) } ?? ""
            var bytes: [UInt8] = []
            if let response, response.pointee.size > 0, let start = response.pointee.start {
                bytes = Array(UnsafeRawBufferPointer(start: start, count: response.pointee.size))
            }
            ProtonSASLServer.from(transport)?.received(mechanism: name, response: bytes)
        },
        process_response: { transport, _ in
            // No mechanism offered here needs a challenge round.
            ProtonSASLServer.from(transport)?.refuse(reason: "unexpected SASL response")
        },
        process_mechanisms: { _, _ in false },
        process_challenge: { _, _ in },
        process_outcome: { _, _ in },
        can_encrypt: { _ in false },
        max_encrypt_size: { _ in 0 },
        encode: { _, _, _ in 0 },
        decode: { _, _, _ in 0 }))
    return table
}()
