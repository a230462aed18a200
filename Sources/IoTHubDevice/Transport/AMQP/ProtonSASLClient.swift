import CProton
import Glibc

/// The client side of SASL on one Proton transport, as a Proton SASL plug-in.
///
/// Proton's built-in client knows `EXTERNAL`, `PLAIN` and `ANONYMOUS` only; IoT Hub's devices use `MSSBCBS` (the
/// official C SDK sends `sasl-init {mechanism: MSSBCBS}` with no initial response, then puts tokens on `$cbs`).
/// This plug-in picks the first mechanism of its list that the server offers and sends it with no initial
/// response: `MSSBCBS` then `ANONYMOUS` for SAS devices, `EXTERNAL` then `ANONYMOUS` for X.509 devices.
final class ProtonSASLClient {
    /// The mechanisms taken, most preferred first.
    let mechanisms: [String]
    /// The mechanism chosen, once the server's list arrived.
    private(set) var selected: String?
    /// What the server offered.
    private(set) var offered: [String] = []
    private let transport: OpaquePointer

    init(transport: OpaquePointer, mechanisms: [String]) {
        self.transport = transport
        self.mechanisms = mechanisms
        pnx_sasl_set_implementation(transport, protonClientSASLImplementation, Unmanaged.passUnretained(self).toOpaque())
    }

    fileprivate func choose(from list: String) -> Bool {
        offered = list.split(separator: " ").map(String.init)
        guard let choice = mechanisms.first(where: { offered.contains($0) }) else { return false }
        selected = choice
        pnx_sasl_set_selected_mechanism(transport, choice)
        pnx_sasl_set_bytes_out(transport, pn_bytes(0, nil))
        pnx_sasl_set_desired_state(transport, SASL_POSTED_INIT)
        return true
    }

    fileprivate static func from(_ transport: OpaquePointer?) -> ProtonSASLClient? {
        guard let transport, let context = pnx_sasl_get_context(transport) else { return nil }
        return Unmanaged<ProtonSASLClient>.fromOpaque(context).takeUnretainedValue()
    }
}

/// Proton reads this list only on servers; a client plug-in still has to name one.
nonisolated(unsafe) private let protonClientMechanismList: UnsafeMutablePointer<CChar> = strdup("MSSBCBS EXTERNAL ANONYMOUS")!

/// The plug-in's function table; every entry is a non-capturing closure that finds its ``ProtonSASLClient``
/// through the transport's SASL context.
nonisolated(unsafe) private let protonClientSASLImplementation: UnsafeMutablePointer<pnx_sasl_implementation> = {
    let table = UnsafeMutablePointer<pnx_sasl_implementation>.allocate(capacity: 1)
    table.initialize(to: pnx_sasl_implementation(
        free: { _ in },
        list_mechanisms: { _ in UnsafePointer(protonClientMechanismList) },
        init_server: { _ in false },
        init_client: { _ in true },
        prepare_write: { _ in },
        process_init: { _, _, _ in },
        process_response: { _, _ in },
        process_mechanisms: { transport, mechanisms in
            let list = mechanisms.map { String(cString: $0) } ?? ""
            return ProtonSASLClient.from(transport)?.choose(from: list) ?? false
        },
        process_challenge: { _, _ in },
        process_outcome: { _, _ in },
        can_encrypt: { _ in false },
        max_encrypt_size: { _ in 0 },
        encode: { _, _, _ in 0 },
        decode: { _, _, _ in 0 }))
    return table
}()
