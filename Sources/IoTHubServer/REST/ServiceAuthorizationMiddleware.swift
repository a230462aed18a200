import Hummingbird
import IoTHubProtocol

/// Checks a service request's `Authorization` header before its handler runs: a SharedAccessSignature of a policy
/// with one of the route's permissions, scoped (`sr`) to the hub or to a path above the one requested.
///
/// ```swift
/// router.requiring([.registryRead], hub).get("devices") { request, context in … }
/// ```
/// A refusal is a ``HubError`` 401002, which ``IoTHubErrorMiddleware`` answers and logs with its reason.
struct ServiceAuthorizationMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    let authenticator: HubAuthenticator
    let permissions: Set<Permission>

    func handle(_ request: Request, context: HubRequestContext,
                next: (Request, HubRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        context.policy = try authenticator.authorize(request, requires: permissions)
        return try await next(request, context)
    }
}

extension Router where Context == HubRequestContext {
    /// A group for routes that need a service token with one of `permissions`.
    func requiring(_ permissions: Set<Permission>, _ hub: HubServices) -> RouterGroup<HubRequestContext> {
        group().add(middleware: ServiceAuthorizationMiddleware(authenticator: hub.authenticator, permissions: permissions))
    }
}
