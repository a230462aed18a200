import Hummingbird
import Logging
import NIOCore

/// The per-request context of the hub's REST API.
public struct HubRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The shared access policy a service request authenticated with (set by ``ServiceAuthorizationMiddleware``).
    public var policy: AccessPolicy?

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// The largest request body the hub reads (a bulk registry call of 100 devices fits easily).
    public var maxUploadSize: Int { 1 << 20 }
}
