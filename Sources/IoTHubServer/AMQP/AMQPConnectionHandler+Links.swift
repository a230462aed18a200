import CProton
import IoTHubProtocol
import Logging

/// Attaching, routing and closing links.
extension AMQPConnectionHandler {
    func linkAttached(_ link: OpaquePointer) {
        guard links[link] == nil else { return }
        let hubReceives = pn_link_is_receiver(link)
        let terminus = hubReceives ? pn_link_remote_target(link) : pn_link_remote_source(link)
        guard let pointer = pn_terminus_get_address(terminus) else {
            return refuseLink(link, condition: "amqp:invalid-field",
                              description: "the link has no \(hubReceives ? "target" : "source") address")
        }
        let address = String(cString: pointer)
        let node: AMQPNodeAddress
        do { node = try AMQPNodeAddress(parsing: address, hostName: services.hostName, aliases: services.authenticator.aliases) } catch {
            return refuseLink(link, condition: "amqp:not-found", description: error.description)
        }
        guard let role = AMQPLink.Role(node: node, hubReceives: hubReceives) else {
            return refuseLink(link, condition: "amqp:not-allowed",
                              description: "'\(node)' takes no link on which the \(hubReceives ? "client sends" : "hub sends")")
        }
        switch role {
        case .tokenRequests, .tokenReplies, .managementRequests, .managementReplies:
            openLink(link, role: role)
        case .eventHubReceiver(let entity, let group, let partition):
            attachEventHubReceiver(link, role: role, entity: entity, consumerGroup: group, partitionId: partition)
        case .serviceCloudToDevice, .serviceFeedback, .serviceFileNotifications:
            guard serviceAuthorized(.serviceConnect) else {
                return refuseLink(link, condition: "amqp:unauthorized-access",
                                  description: "'\(node)' needs a token of a policy with ServiceConnect put on $cbs for '\(services.hostName)'")
            }
            openLink(link, role: role)
        default:
            let identity = role.identity!
            if identities[identity] != nil {
                openLink(link, role: role)
            } else {
                parkOrRefuse(link, role: role, identity: identity)
            }
        }
    }

    /// Completes an attach: mirrors the peer's terminus, announces the message size and gives credit.
    func openLink(_ link: OpaquePointer, role: AMQPLink.Role) {
        guard !socketClosed else { return }
        observeLink(link)
        pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link))
        pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link))
        let state = AMQPLink(link: link, role: role)
        links[link] = state
        if let identity = role.identity { identities[identity]?.hadLinks = true }
        if pn_link_is_receiver(link) {
            let telemetry = if case .telemetry = role { true } else { false }
            pn_link_set_max_message_size(link, telemetry ? configuration.maximumTelemetryMessageSize : configuration.maximumMessageSize)
        }
        pn_link_open(link)
        switch role {
        case .telemetry:
            pn_link_flow(link, Int32(configuration.telemetryCredit))
        case .tokenRequests, .twinRequests, .methodResponses, .serviceCloudToDevice, .managementRequests:
            pn_link_flow(link, Int32(configuration.requestCredit))
        case .methodRequests(let identity):
            identities[identity]?.session.updateSubscriptions { $0.methods = true }
        case .serviceFeedback, .serviceFileNotifications:
            scheduleFeedback()
        default:
            break
        }
        logger.debug("AMQP link attached", metadata: ["role": "\(role)", "name": "\(linkName(link))"])
    }

    /// Refuses an attach: the attach is answered (with no terminus) and detached at once with `condition`.
    func refuseLink(_ link: OpaquePointer, condition: String, description: String) {
        logRefusal("AMQP link refused", reason: description, metadata: ["name": "\(linkName(link))", "condition": "\(condition)"])
        services.metrics.error(condition == "amqp:unauthorized-access" ? .iotHubUnauthorized : .argumentInvalid,
                               protocol: Self.protocolName)
        cproton_condition_set(pn_link_condition(link), condition, description)
        pn_link_open(link)
        pn_link_close(link)
    }

    func linkDetached(_ link: OpaquePointer) {
        if pn_link_state(link) & PN_LOCAL_CLOSED == 0 { pn_link_close(link) }
        for identity in Array(authenticating.keys) {
            authenticating[identity]?.removeAll { $0.0 == link }
        }
        guard let state = links[link] else { return }
        linkEnded(state)
    }

    /// Closes the hub's end of a link with an error condition.
    func closeLink(_ state: AMQPLink, condition: String, description: String) {
        guard !state.closed else { return }
        cproton_condition_set(pn_link_condition(state.link), condition, description)
        pn_link_close(state.link)
        linkEnded(state)
    }

    /// What ends with a link: its C2D locks and feedback go back, its subscription ends.
    func linkEnded(_ state: AMQPLink) {
        guard !state.closed else { return }
        state.closed = true
        links[state.link] = nil
        defer { releaseIfUnlinked(state.role.identity) }
        switch state.role {
        case .cloudToDevice(let identity):
            abandon(state.cloudToDevice.removeAll(), for: identity)
        case .methodRequests(let identity):
            identities[identity]?.session.updateSubscriptions { $0.methods = false }
        case .twinResponses(let identity):
            identities[identity]?.session.updateSubscriptions { $0.desiredProperties = false }
        case .serviceFeedback:
            returnFeedback(state.feedback.values.flatMap { $0 })
            state.feedback.removeAll()
        case .serviceFileNotifications:
            releaseFileNotifications(Array(state.fileNotifications.values))
            state.fileNotifications.removeAll()
        case .eventHubReceiver:
            if let receiver = state.eventHub { receiver.stream.ownership.release(receiver.claim) }
        default:
            break
        }
    }

    /// A device that detached all its links has gone (a multiplexed connection outlives it): its session ends.
    private func releaseIfUnlinked(_ identity: DeviceIdentity?) {
        guard let identity, let state = identities[identity], state.hadLinks, !socketClosed,
              !links.values.contains(where: { $0.role.identity == identity }) else { return }
        releaseIdentity(identity, reason: nil)
    }

    func linkName(_ link: OpaquePointer) -> String {
        pn_link_name(link).map { String(cString: $0) } ?? ""
    }

    /// The first open link with `role`.
    func link(_ role: AMQPLink.Role) -> AMQPLink? {
        links.values.first { $0.role == role && !$0.closed }
    }

    func creditChanged(_ state: AMQPLink) {
        switch state.role {
        case .cloudToDevice(let identity): deliverCloudToDevice(to: identity)
        case .serviceFeedback: sendFeedback()
        case .serviceFileNotifications: sendFileNotifications()
        case .eventHubReceiver: sendEvents(on: state)
        default: break
        }
    }

    // MARK: Deliveries

    func deliveryEvent(_ delivery: OpaquePointer) {
        guard let link = pn_delivery_link(delivery) else { return }
        guard let state = links[link] else {
            if pn_link_is_receiver(link), pn_delivery_readable(delivery), !pn_delivery_partial(delivery) {
                _ = readDelivery(delivery, link: link)
                pn_delivery_update(delivery, UInt64(PN_RELEASED))
                pn_delivery_settle(delivery)
            }
            return
        }
        if pn_link_is_receiver(link) {
            guard let bytes = readDelivery(delivery, link: link) else { return }
            switch state.role {
            case .tokenRequests: handlePutToken(delivery, bytes: bytes, on: state)
            case .telemetry(let identity): handleTelemetry(delivery, bytes: bytes, on: state, from: identity)
            case .twinRequests(let identity): handleTwinRequest(delivery, bytes: bytes, on: state, from: identity)
            case .methodResponses(let identity): handleMethodResponse(delivery, bytes: bytes, on: state, from: identity)
            case .serviceCloudToDevice: handleServiceSend(delivery, bytes: bytes, on: state)
            case .managementRequests: handleManagementRequest(delivery, bytes: bytes, on: state)
            default:
                settle(delivery, on: state, outcome: UInt64(PN_REJECTED), condition: ("amqp:not-allowed", "nothing is received on this link"))
            }
        } else if pn_delivery_updated(delivery) {
            let outcome = pn_delivery_remote_state(delivery)
            guard outcome != 0 || pn_delivery_settled(delivery) else { return }
            switch state.role {
            case .cloudToDevice(let identity): cloudToDeviceSettled(delivery, outcome: outcome, on: state, by: identity)
            case .serviceFeedback: feedbackSettled(delivery, outcome: outcome, on: state)
            case .serviceFileNotifications: fileNotificationSettled(delivery, outcome: outcome, on: state)
            default: pn_delivery_settle(delivery)
            }
        }
    }
}
