import CProton
import Foundation
import IoTHubCore
import IoTHubProtocol
import Logging
import NIOCore
import ProtonCodec

/// The built-in Event Hubs-compatible endpoint on the AMQP listener: CBS tokens for the event hub, `$management`
/// and partition receivers (`{event hub}/ConsumerGroups/{group}/Partitions/{id}`).
extension AMQPConnectionHandler {
    // MARK: CBS

    /// A put-token whose audience names an event hub (`sb://{host}/{event hub}[/consumergroups/{group}]`): the
    /// token must be a shared access policy's with ServiceConnect, for that audience or a wider one.
    func handleEventHubPutToken(_ request: CBSPutToken, audience: EventHubAudience, on link: AMQPLink) {
        guard services.authenticator.isHubName(audience.host) else {
            return refuseToken(request, link, "audience '\(request.audience)' names host '\(audience.host)'; this hub is '\(services.hostName)'")
        }
        guard services.routing.eventStream(named: audience.entity) != nil else {
            return refuseToken(request, link, "there is no event hub '\(audience.entity)'; this hub serves "
                               + services.routing.eventStreamList, status: 404)
        }
        do {
            let policy = try services.authenticator.authorizeService(request.token, requires: [.serviceConnect],
                                                                    resource: audience.resourcePath, eventHubs: true)
            let expiry = (try? SASToken(parsing: request.token)).map { Date(timeIntervalSince1970: Double($0.expiry) + 1) }
            let path = audience.resourcePath.lowercased()
            eventHubGrants.removeAll { $0.path == path }
            eventHubGrants.append((path, expiry))
            markAuthenticated()
            logger.debug("Event Hubs reader authenticated", metadata: ["policy": "\(policy.name)", "audience": "\(request.audience)"])
            answerToken(request.messageId, status: 200, description: "OK", replyingTo: link)
        } catch {
            refuseToken(request, link, "\(error)", failedLogin: true)
        }
    }

    /// Whether a token put on this connection grants `path` (`/{event hub}` or `/{event hub}/consumergroups/{g}`)
    /// and has not expired.
    func eventHubGranted(_ path: String) -> Bool {
        let wanted = path.lowercased()
        let now = Date()
        return eventHubGrants.contains { grant in
            (grant.expiry.map { $0 > now } ?? true) && (wanted == grant.path || wanted.hasPrefix(grant.path + "/"))
        }
    }

    // MARK: Receivers

    /// A receiver attaches to a partition: it needs a token for the consumer group, an existing group and
    /// partition, a selector filter Event Hubs understands, and a place under the epoch rules. The link opens
    /// once the consumer group is checked and its starting position found.
    func attachEventHubReceiver(_ link: OpaquePointer, role: AMQPLink.Role, entity: String, consumerGroup: String,
                                partitionId: String) {
        guard let eventHub = services.routing.eventStream(named: entity) else {
            return refuseLink(link, condition: "amqp:not-found",
                              description: "the messaging entity '\(entity)' could not be found; this hub serves "
                                  + services.routing.eventStreamList)
        }
        guard eventHubGranted("/\(entity)/consumergroups/\(consumerGroup)") else {
            return refuseLink(link, condition: "amqp:unauthorized-access",
                              description: "put a token for sb://\(services.hostName)/\(entity)/consumergroups/\(consumerGroup) "
                                  + "(a policy with ServiceConnect) on $cbs before attaching")
        }
        let partition: Int
        do { partition = try eventHub.partition(id: partitionId) } catch {
            return refuseLink(link, condition: "com.microsoft:argument-out-of-range", description: error.message)
        }
        let position: EventPosition
        do { position = try Self.startingPosition(of: link) } catch {
            return refuseLink(link, condition: "amqp:invalid-field", description: error.description)
        }
        let epoch = ProtonMessageCodec.map(pn_link_remote_properties(link))["com.microsoft:epoch"]?.integer
        perform({
            guard try await eventHub.consumerGroupExists(consumerGroup) else { return Int64?.none }
            return try await eventHub.cursor(partition, at: position)
        }) { [self] result in
            guard pn_link_state(link) & PN_REMOTE_ACTIVE != 0, links[link] == nil else { return }
            let cursor: Int64
            switch result {
            case .failure(let error):
                logger.warning("Event Hubs receiver attach failed", metadata: ["error": "\(error)"])
                return refuseLink(link, condition: "amqp:internal-error", description: "the hub could not read the partition; retry")
            case .success(nil):
                return refuseLink(link, condition: "amqp:not-found",
                                  description: "consumer group '\(consumerGroup)' does not exist on '\(eventHub.name)'; "
                                      + "create it with `iothub consumer-group create \(consumerGroup)`")
            case .success(let found?):
                cursor = found
            }
            claimAndOpen(link, role: role, stream: eventHub, partition: partition, epoch: epoch, cursor: cursor,
                         key: PartitionOwnership.Key(entity: eventHub.name, consumerGroup: consumerGroup, partition: partition))
        }
    }

    private func claimAndOpen(_ link: OpaquePointer, role: AMQPLink.Role, stream: EventHubService, partition: Int,
                              epoch: Int64?, cursor: Int64, key: PartitionOwnership.Key) {
        guard let context else { return }
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let decision = stream.ownership.claim(key, epoch: epoch) { claim, byEpoch in
            loop.execute { handler.value.evictEventHubReceiver(claim, byEpoch: byEpoch) }
        }
        switch decision {
        case .granted(let claim):
            openLink(link, role: role)
            guard let state = links[link] else { return stream.ownership.release(claim) }
            state.eventHub = EventHubReceiverState(stream: stream, partition: partition, cursor: cursor, claim: claim)
            logger.debug("Event Hubs receiver attached", metadata: [
                "partition": "\(key)", "epoch": "\(epoch.map(String.init) ?? "none")", "cursor": "\(cursor)",
            ])
            sendEvents(on: state)
        case .refusedByEpoch(let owner):
            refuseLink(link, condition: "amqp:link:stolen",
                       description: "a receiver with the higher epoch \(owner) reads \(key); this receiver's epoch is \(epoch ?? 0)")
        case .refusedNoEpoch(let owner):
            refuseLink(link, condition: "amqp:link:stolen",
                       description: "at least one receiver of \(key) has epoch \(owner), so a receiver without an epoch is not allowed")
        case .tooManyReceivers(let maximum):
            refuseLink(link, condition: "amqp:resource-limit-exceeded",
                       description: "\(key) already has \(maximum) receivers without an epoch, the most Event Hubs allows per "
                           + "consumer group and partition; close one or use another consumer group")
        }
    }

    /// A receiver with epoch `byEpoch` took this receiver's partition (its claim is already released): it is
    /// detached with `amqp:link:stolen`, as Event Hubs does.
    func evictEventHubReceiver(_ claim: PartitionOwnership.Claim, byEpoch: Int64) {
        guard let state = links.values.first(where: { $0.eventHub?.claim == claim && !$0.closed }) else { return }
        closeLink(state, condition: "amqp:link:stolen",
                  description: "a new receiver with the higher epoch \(byEpoch) was created for \(claim.key), so this receiver "
                      + "(epoch \(claim.epoch.map(String.init) ?? "none")) is disconnected")
        pump()
    }

    /// The link source's selector filter (`apache.org:selector-filter:string`, described by that symbol or by
    /// its code); no filter starts at the beginning of the partition.
    static func startingPosition(of link: OpaquePointer) throws(EventPositionError) -> EventPosition {
        let filters = ProtonMessageCodec.firstValue(pn_terminus_filter(pn_link_remote_source(link)))
        guard case .map(let entries)? = filters else { return .start }
        for entry in entries {
            let value: AMQPValue
            if case .described(let descriptor, let described) = entry.value {
                let isSelector = descriptor.text == EventPosition.selectorFilterName
                    || descriptor == .ulong(EventPosition.selectorFilterCode)
                    || entry.key.text == EventPosition.selectorFilterName
                guard isSelector else { continue }
                value = described
            } else if entry.key.text == EventPosition.selectorFilterName {
                value = entry.value
            } else {
                continue
            }
            guard case .string(let selector) = value else {
                throw EventPositionError(selector: "\(value)", position: 0, reason: "the selector filter's value is not a string")
            }
            return try EventPosition(selector: selector)
        }
        return .start
    }

    // MARK: Sending events

    /// Sends a receiver as many events as it has credit for, pre-settled (Event Hubs readers do not settle them),
    /// reading the store a page at a time; when it has caught up, it waits for the next append.
    func sendEvents(on link: AMQPLink) {
        guard let receiver = link.eventHub, !link.closed, !receiver.busy, !socketClosed else { return }
        let credit = Int(pn_link_credit(link.link))
        guard credit > 0 else { return }
        receiver.busy = true
        let eventHub = receiver.stream
        let (partition, cursor) = (receiver.partition, receiver.cursor)
        let observed = eventHub.lastAppendedOffset
        perform({ try await eventHub.read(partition, after: cursor, limit: min(credit, 256)) }) { [self] result in
            receiver.busy = false
            guard !link.closed else { return }
            switch result {
            case .failure(let error):
                logger.warning("reading a partition failed", metadata: ["partition": "\(partition)", "error": "\(error)"])
                waitForEvents(on: link, after: observed)
            case .success(let events) where events.isEmpty:
                waitForEvents(on: link, after: observed)
            case .success(let events):
                let now = Date().timeIntervalSince1970
                for event in events {
                    send(EventHubEventMessage.make(event), on: link, settled: true)
                    receiver.cursor = event.partitionSequenceNumber
                    services.metrics.eventHubDeliveryDelay(milliseconds: Int64((now - event.enqueuedTime.timeIntervalSince1970) * 1000))
                }
                services.metrics.eventHubEventsSent(events.count)
                sendEvents(on: link)
            }
        }
    }

    /// Waits (without holding the loop) until this process appends after `offset`, or a second passes (events
    /// appended by other hub nodes), then reads again.
    private func waitForEvents(on link: AMQPLink, after offset: Int64) {
        guard let receiver = link.eventHub else { return }
        receiver.busy = true
        let eventHub = receiver.stream
        perform({ await eventHub.waitForAppend(after: offset, timeout: .seconds(1)) }) { [self] _ in
            receiver.busy = false
            sendEvents(on: link)
        }
    }

    // MARK: $management

    /// A `$management` READ of the event hub or a partition, answered on the connection's `$management` reply
    /// link. It needs a token for the event hub on `$cbs`, or a `security_token` application property.
    func handleManagementRequest(_ delivery: OpaquePointer, bytes: [UInt8], on link: AMQPLink) {
        settle(delivery, on: link, outcome: UInt64(PN_ACCEPTED))
        pn_link_flow(link.link, 1)
        let message: AMQPMessage
        do { message = try ProtonMessageCodec.decode(bytes) } catch {
            logRefusal("$management request refused", reason: "\(error)")
            return
        }
        let request: EventHubManagementRequest
        do { request = try EventHubManagementRequest(message) } catch {
            logRefusal("$management request refused", reason: error.reason)
            return answerManagement(EventHubManagementRequest.answer(to: message.messageId, status: error.status,
                                                                     description: error.reason), on: link)
        }
        guard let eventHub = services.routing.eventStream(named: request.name) else {
            logRefusal("$management request refused", reason: "no event hub '\(request.name)'")
            return answerManagement(EventHubManagementRequest.answer(
                to: request.messageId, status: 404,
                description: "the messaging entity '\(request.name)' could not be found; this hub serves "
                    + services.routing.eventStreamList),
                on: link)
        }
        var authorized = eventHubGranted("/\(eventHub.name)")
        if !authorized, let token = request.securityToken {
            authorized = (try? services.authenticator.authorizeService(token, requires: [.serviceConnect],
                                                                        resource: "/\(eventHub.name)", eventHubs: true)) != nil
        }
        guard authorized else {
            logRefusal("$management request refused", reason: "no token for the event hub", failedLogin: true)
            return answerManagement(EventHubManagementRequest.answer(
                to: request.messageId, status: 401,
                description: "put a token for sb://\(services.hostName)/\(eventHub.name) (a policy with ServiceConnect) on $cbs, "
                    + "or send one in security_token"), on: link)
        }
        switch request.kind {
        case .eventHub:
            answerManagement(EventHubManagementRequest.eventHubAnswer(
                to: request.messageId, name: eventHub.name,
                createdAtMilliseconds: eventHub.createdAt.milliseconds,
                partitionIds: eventHub.partitioner.partitionIds), on: link)
        case .partition(let id):
            let partition: Int
            do { partition = try eventHub.partition(id: id) } catch {
                return answerManagement(EventHubManagementRequest.answer(to: request.messageId, status: 400,
                                                                         description: error.message), on: link)
            }
            perform({ try await eventHub.partitionState(partition) }) { [self] result in
                switch result {
                case .success(let state):
                    answerManagement(EventHubManagementRequest.partitionAnswer(
                        to: request.messageId, name: eventHub.name, partition: id,
                        properties: state), on: link)
                case .failure(let error):
                    logger.warning("reading partition properties failed", metadata: ["error": "\(error)"])
                    answerManagement(EventHubManagementRequest.answer(to: request.messageId, status: 500,
                                                                      description: "the hub could not read the partition; retry"),
                                     on: link)
                }
            }
        }
    }

    /// Sends an answer on the `$management` reply link of the request's session, a turn after its settlement.
    private func answerManagement(_ answer: AMQPMessage, on request: AMQPLink) {
        reply(answer, on: .managementReplies, to: request)
    }
}
