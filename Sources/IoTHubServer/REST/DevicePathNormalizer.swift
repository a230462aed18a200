import HTTPTypes
import Hummingbird

/// Spells request paths the way the hub's routes do, as IoT Hub accepts them from devices (see the protocol
/// reference, §3b):
/// - the `messages/deviceBound` segment in any case (the C SDK polls `messages/devicebound`);
/// - a trailing slash before the query (`/devices/d/files/?api-version=…`, `/files/notifications/?…`).
///
/// Everything else, device and module ids included, is left as sent: ids are case-sensitive.
public struct DevicePathNormalizer<Base: HTTPResponder>: HTTPResponder {
    public typealias Context = Base.Context
    let base: Base

    public func respond(to request: Request, context: Context) async throws -> Response {
        guard let path = request.head.path, let normalized = Self.normalize(path) else {
            return try await base.respond(to: request, context: context)
        }
        var head = request.head
        head.path = normalized
        return try await base.respond(to: Request(head: head, body: request.body), context: context)
    }

    /// The path as the routes spell it, or `nil` when it is spelled so already.
    static func normalize(_ target: String) -> String? {
        let queryStart = target.firstIndex(of: "?") ?? target.endIndex
        var path = Substring(target[..<queryStart])
        let query = target[queryStart...]
        var changed = false
        if path.count > 1, path.hasSuffix("/") {
            path = path.dropLast()
            changed = true
        }
        var segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.count >= 2 {
            for index in 1..<segments.count
            where segments[index - 1] == "messages" && segments[index] != "deviceBound"
                && segments[index].lowercased() == "devicebound" {
                segments[index] = "deviceBound"
                changed = true
            }
        }
        guard changed else { return nil }
        return segments.joined(separator: "/") + query
    }
}

/// The hub's router behind ``DevicePathNormalizer``: what ``HubRouter/make(_:)`` returns and an `Application`
/// takes as its router.
public struct HubResponderBuilder: HTTPResponderBuilder {
    let router: Router<HubRequestContext>

    // A concrete result type: with `some HTTPResponder<HubRequestContext>`, Swift 6.3.1's release build crashes
    // (signal 11 in IRGen, emitArchetypeWitnessTableRef) compiling HubServer.run(); the debug build does not.
    public func buildResponder() -> DevicePathNormalizer<RouterResponder<HubRequestContext>> {
        DevicePathNormalizer(base: router.buildResponder())
    }
}
