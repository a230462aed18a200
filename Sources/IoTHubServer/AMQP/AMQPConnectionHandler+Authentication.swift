import CProton
import Foundation
import IoTHubProtocol
import ProtonCodec
import Logging
import NIOCore

/// SASL, CBS `put-token`, and the identities a connection carries.
extension AMQPConnectionHandler {
    // MARK: SASL

    func saslInit(mechanism: String, response: [UInt8]) -> ProtonSASLServer.Decision {
        switch mechanism {
        case "MSSBCBS", "ANONYMOUS":
            // Identities authenticate afterwards, each with a CBS put-token (or a client certificate).
            return .accept(user: "anonymous")
        case "EXTERNAL":
            guard presentedChain.presentedCertificate() != nil else {
                return refuseSASL("SASL EXTERNAL needs a TLS client certificate, and none was presented")
            }
            return .accept(user: "x509")
        case "PLAIN":
            return saslPlain(response)
        default:
            return refuseSASL("SASL mechanism '\(mechanism)' is not offered")
        }
    }

    private func refuseSASL(_ reason: String) -> ProtonSASLServer.Decision {
        logRefusal("SASL refused", reason: reason, failedLogin: true)
        return .refuse(reason: reason)
    }

    /// PLAIN: `authcid` is `{device}@sas.{hub}`, `{device}/modules/{module}@sas.{hub}` or
    /// `{policy}@sas.root.{hub}`, and the password a SAS token for it.
    private func saslPlain(_ response: [UInt8]) -> ProtonSASLServer.Decision {
        let fields = response.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard fields.count == 3 else { return refuseSASL("SASL PLAIN response is not [authzid] NUL authcid NUL password") }
        let (user, token) = (fields[1], fields[2])
        guard let at = user.lastIndex(of: "@") else {
            return refuseSASL("SASL PLAIN user '\(user)' is not '{device}@sas.{hub}' or '{policy}@sas.root.{hub}'")
        }
        let name = String(user[..<at])
        let realm = user[user.index(after: at)...].lowercased()
        let names = [services.hostName] + services.authenticator.aliases
        let hosts = names.map { $0.lowercased() } + names.compactMap { $0.split(separator: ".").first.map { $0.lowercased() } }
        if realm.hasPrefix("sas.root."), hosts.contains(String(realm.dropFirst("sas.root.".count))) {
            do {
                let policy = try services.authenticator.authorizeService(token, requires: [.serviceConnect], resource: "")
                adoptService(policy, token: token)
                return .accept(user: user)
            } catch {
                return refuseSASL("\(error)")
            }
        }
        guard realm.hasPrefix("sas."), hosts.contains(String(realm.dropFirst("sas.".count))) else {
            return refuseSASL("SASL PLAIN user '\(user)' names another hub; this hub is '\(services.hostName)'")
        }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var identity = DeviceIdentity(deviceId: parts[0])
        if parts.count == 3, parts[1] == "modules" { identity.moduleId = parts[2] } else if parts.count == 2 { identity.moduleId = parts[1] }
        guard (try? identity.validate()) != nil, parts.count <= 3 else {
            return refuseSASL("SASL PLAIN user '\(user)' does not name a valid device or module")
        }
        return saslPlainDevice(identity, user: user, token: token)
    }

    private func saslPlainDevice(_ identity: DeviceIdentity, user: String, token: String) -> ProtonSASLServer.Decision {
        authenticating[identity, default: []] = []
        let authenticator = services.authenticator
        perform({ try await authenticator.authenticateDevice(identity, token: token, certificate: nil) }) { [self] result in
            switch result {
            case .success(let authenticated):
                driver.sasl.accept(user: user)
                adoptIdentity(identity, authenticated)
            case .failure(let error):
                authenticating[identity] = nil
                logRefusal("SASL PLAIN refused", reason: "\(error)", failedLogin: true)
                driver.sasl.refuse(reason: "\(error)")
            }
        }
        return .pending
    }

    // MARK: CBS

    /// A `put-token` request arrived on `$cbs`: it is settled at once (the official C SDK fails a device whose
    /// answer comes before the settlement), then checked, then answered on the connection's `$cbs` reply link.
    func handlePutToken(_ delivery: OpaquePointer, bytes: [UInt8], on link: AMQPLink) {
        observePutToken(bytes)
        settle(delivery, on: link, outcome: UInt64(PN_ACCEPTED))
        pn_link_flow(link.link, 1)
        let request: CBSPutToken
        do {
            request = try CBSPutToken(try ProtonMessageCodec.decode(bytes))
        } catch {
            logRefusal("CBS request refused", reason: "\(error)")
            let messageId = (try? ProtonMessageCodec.decode(bytes))?.messageId
            return answerToken(messageId, status: 400, description: "\(error)", replyingTo: link)
        }
        if let audience = EventHubAudience(parsing: request.audience) {
            return handleEventHubPutToken(request, audience: audience, on: link)
        }
        guard let resource = SASResource(uri: request.audience) else {
            return refuseToken(request, link, "audience '\(request.audience)' is not '{host}', '{host}/devices/{id}' or '{host}/devices/{id}/modules/{id}'")
        }
        let host: String
        let identity: DeviceIdentity?
        switch resource {
        case .hub(let hostName): (host, identity) = (hostName, nil)
        case .device(let hostName, let deviceId): (host, identity) = (hostName, DeviceIdentity(deviceId: deviceId))
        case .module(let hostName, let deviceId, let moduleId):
            (host, identity) = (hostName, DeviceIdentity(deviceId: deviceId, moduleId: moduleId))
        }
        guard services.authenticator.isHubName(host) else {
            return refuseToken(request, link, "audience '\(request.audience)' names another hub; this hub is '\(services.hostName)'")
        }
        guard let identity else {
            do {
                let policy = try services.authenticator.authorizeService(request.token, requires: [.serviceConnect], resource: "")
                adoptService(policy, token: request.token)
                return answerToken(request.messageId, status: 200, description: "OK", replyingTo: link)
            } catch {
                return refuseToken(request, link, "\(error)", failedLogin: true)
            }
        }
        guard identities[identity] != nil || identities.count + authenticating.count < configuration.maximumIdentitiesPerConnection else {
            services.metrics.error(.iotHubQuotaExceeded, protocol: Self.protocolName)
            return refuseToken(request, link, "this connection already carries \(configuration.maximumIdentitiesPerConnection) "
                               + "devices and modules, the most one AMQP connection may; open another connection", status: 403)
        }
        if identities[identity] == nil, authenticating[identity] == nil { authenticating[identity] = [] }
        let authenticator = services.authenticator
        let token = request.token
        perform({ try await authenticator.authenticateDevice(identity, token: token, certificate: nil) }) { [self] result in
            switch result {
            case .success(let authenticated):
                adoptIdentity(identity, authenticated)
                answerToken(request.messageId, status: 200, description: "OK", replyingTo: link)
            case .failure(let error):
                if let hubError = error as? HubError { services.metrics.error(hubError.code, protocol: Self.protocolName) }
                refuseParkedLinks(identity, description: "the token for '\(identity)' was refused: \(error)")
                refuseToken(request, link, "\(error)", failedLogin: true)
            }
        }
    }

    func refuseToken(_ request: CBSPutToken, _ link: AMQPLink, _ reason: String, status: Int32 = 401,
                             failedLogin: Bool = false) {
        logRefusal("CBS put-token refused", reason: reason, failedLogin: failedLogin,
                   metadata: ["audience": "\(request.audience)", "status": "\(status)"])
        answerToken(request.messageId, status: status, description: reason, replyingTo: link)
    }

    /// Answers a put-token on the `$cbs` reply link (after the request's settlement, see ``reply(_:on:to:)``).
    func answerToken(_ messageId: AMQPValue?, status: Int32, description: String, replyingTo request: AMQPLink) {
        reply(CBSPutToken.answer(to: messageId, status: status, description: description), on: .tokenReplies, to: request)
    }

    /// Sends an answer to a request node's (`$cbs`, `$management`) request on the reply link with `role`, the one in
    /// the request's session if there are several. It goes out on a later event-loop turn than the request's
    /// settlement: Proton batches dispositions after transfers within one output pass, and uamqp fails a request
    /// whose answer arrives before the settlement ("did not receive send confirmation"), even with status 200.
    func reply(_ answer: AMQPMessage, on role: AMQPLink.Role, to request: AMQPLink) {
        guard let context else { return }
        context.eventLoop.assumeIsolated().execute { [self] in
            guard self.context != nil, !socketClosed else { return }
            let session = pn_link_session(request.link)
            let replies = links.values.filter { $0.role == role && !$0.closed }
            guard let link = replies.first(where: { pn_link_session($0.link) == session }) ?? replies.first else {
                logger.debug("answer dropped: no reply link is attached", metadata: ["role": "\(role)"])
                return
            }
            send(answer, on: link)
            pump()
        }
    }

    /// Logs a refusal with its reason; failed logins count against the peer's address, whose later refusals are
    /// then counted rather than logged while it is blocked.
    func logRefusal(_ message: String, reason: String, failedLogin: Bool = false, metadata: Logger.Metadata = [:]) {
        var decision = AuthenticationFailureLimiter.FailureLog.log
        if failedLogin, let source = context?.channel.remoteAddress?.ipAddress {
            decision = services.admission.failures.recordFailure(source)
        }
        var all = metadata
        all["reason"] = "\(reason)"
        switch decision {
        case .log: logger.info("\(message)", metadata: all)
        case .blocked: logger.warning("\(message); this address failed to log in too often and is blocked for a while", metadata: all)
        case .suppressed: break
        }
    }

    // MARK: Identities

    func adoptService(_ policy: AccessPolicy, token: String) {
        servicePolicy = policy
        servicePolicyExpiry = (try? SASToken(parsing: token)).map { Date(timeIntervalSince1970: Double($0.expiry) + 1) }
        markAuthenticated()
        logger.debug("back end authenticated", metadata: ["policy": "\(policy.name)"])
    }

    /// Whether the back end's policy has `permission` and its token has not expired.
    func serviceAuthorized(_ permission: Permission) -> Bool {
        guard let servicePolicy, servicePolicy.permissions.contains(permission) else { return false }
        return servicePolicyExpiry.map { $0 > Date() } ?? true
    }

    /// An identity authenticated (first time, or a renewal on the same connection).
    func adoptIdentity(_ identity: DeviceIdentity, _ authenticated: AuthenticatedDevice) {
        guard let context else { return }
        let parked = authenticating.removeValue(forKey: identity) ?? []
        if let existing = identities[identity] {
            existing.tokenExpiry = authenticated.tokenExpiry
            existing.authenticationMethod = authenticated.method
            scheduleExpiry(existing, context)
            logger.debug("device token renewed", metadata: ["identity": "\(identity)"])
        } else {
            let session = HostedDeviceSession(identity: identity, host: self, protocolName: Self.protocolName,
                                              eventLoop: context.eventLoop)
            let state = AMQPIdentity(identity: identity, record: authenticated.record, authenticated: authenticated,
                                     session: session)
            identities[identity] = state
            markAuthenticated()
            state.lease = services.sessions.opened(session, protocol: Self.protocolName)
            scheduleExpiry(state, context)
            logger.info("device connected", metadata: ["identity": "\(identity)", "identities": "\(identities.count)"])
        }
        for (link, role) in parked { openLink(link, role: role) }
    }

    /// A link for an identity that is not authenticated: it waits for a put-token under way, or for the client
    /// certificate to be checked; without either it is refused.
    func parkOrRefuse(_ link: OpaquePointer, role: AMQPLink.Role, identity: DeviceIdentity) {
        if authenticating[identity] != nil {
            authenticating[identity]!.append((link, role))
            return
        }
        guard let certificate = presentedChain.presentedCertificate() else {
            return refuseLink(link, condition: "amqp:unauthorized-access",
                              description: "'\(identity)' is not authenticated on this connection; put a token for "
                                  + "'\(services.hostName)/\(identity.topicBase)' on $cbs first")
        }
        guard identities.count + authenticating.count < configuration.maximumIdentitiesPerConnection else {
            return refuseLink(link, condition: "amqp:resource-limit-exceeded",
                              description: "this connection already carries \(configuration.maximumIdentitiesPerConnection) devices and modules")
        }
        authenticating[identity] = [(link, role)]
        let authenticator = services.authenticator
        perform({ try await authenticator.authenticateDevice(identity, token: nil, certificate: certificate) }) { [self] result in
            switch result {
            case .success(let authenticated):
                adoptIdentity(identity, authenticated)
            case .failure(let error):
                logRefusal("certificate refused", reason: "\(error)", failedLogin: true, metadata: ["identity": "\(identity)"])
                refuseParkedLinks(identity, description: "'\(identity)' failed certificate authentication: \(error)")
            }
        }
    }

    func refuseParkedLinks(_ identity: DeviceIdentity, description: String) {
        guard identities[identity] == nil else { return }
        for (link, _) in authenticating.removeValue(forKey: identity) ?? [] {
            refuseLink(link, condition: "amqp:unauthorized-access", description: description)
        }
    }

    private func scheduleExpiry(_ state: AMQPIdentity, _ context: ChannelHandlerContext) {
        state.expiryTimer?.cancel()
        state.expiryTimer = nil
        guard let expiry = state.tokenExpiry else { return }
        // A token is valid up to and including its `se` second.
        let remaining = max(0, expiry.timeIntervalSinceNow + 1)
        let identity = state.identity
        state.expiryTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(remaining * 1000))) { [self] in
            guard let state = identities[identity] else { return }
            state.expiryTimer = nil
            services.metrics.error(.iotHubUnauthorized, protocol: Self.protocolName)
            releaseIdentity(identity, reason: .tokenExpired)
            pump()
        }
    }

    /// Ends one identity's session on this connection: its links close, its C2D locks are given back, and
    /// presence and the registry learn it is gone. Other identities are untouched.
    func releaseIdentity(_ identity: DeviceIdentity, reason: SessionEndReason?) {
        guard let state = identities.removeValue(forKey: identity) else { return }
        state.expiryTimer?.cancel()
        state.expiryTimer = nil
        let condition: String = switch reason {
        case .takenOver?: "amqp:link:stolen"
        case .disabled?, .deleted?, .tokenExpired?: "amqp:unauthorized-access"
        case .shutdown?, nil: "amqp:connection:forced"
        }
        if !socketClosed {
            for link in links.values where link.role.identity == identity {
                closeLink(link, condition: condition, description: reason?.description ?? "the connection closed")
            }
        } else {
            for link in links.values where link.role.identity == identity { linkEnded(link) }
        }
        if let lease = state.lease { services.sessions.closed(lease) }
        state.session.detach()
        logger.info("device disconnected", metadata: [
            "identity": "\(identity)", "reason": "\(reason.map(\.description) ?? "connection closed")",
        ])
    }

    // MARK: DeviceSessionHost

    func end(_ identity: DeviceIdentity, reason: SessionEndReason) {
        releaseIdentity(identity, reason: reason)
        pump()
    }
}
