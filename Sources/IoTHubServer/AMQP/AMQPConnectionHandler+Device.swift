import CProton
import Foundation
import IoTHubProtocol
import ProtonCodec
import Logging
import NIOCore

/// A telemetry transfer whose messages are being stored.
final class PendingTelemetry {
    let delivery: OpaquePointer
    let link: AMQPLink
    var remaining: Int
    var failure: HubError?

    init(delivery: OpaquePointer, link: AMQPLink, remaining: Int) {
        self.delivery = delivery
        self.link = link
        self.remaining = remaining
    }
}

/// Device links: telemetry, twin, methods and C2D.
extension AMQPConnectionHandler {
    // MARK: Telemetry

    /// A telemetry transfer: one message, or a Microsoft batch of them. It is accepted once every message in it
    /// is durable, and its credit comes back then; a message over IoT Hub's limits, or the tier's, rejects it.
    func handleTelemetry(_ delivery: OpaquePointer, bytes: [UInt8], on link: AMQPLink, from identity: DeviceIdentity) {
        guard let state = identities[identity], let context else { return }
        let messages: [AMQPMessage]
        do {
            messages = try ProtonMessageCodec.decodeTelemetry(bytes)
        } catch {
            return rejectTelemetry(delivery, link, condition: "amqp:decode-error", description: "\(error)")
        }
        let telemetry = messages.map(\.iotHubMessage)
        if let large = telemetry.first(where: { $0.size > IoTHubMessage.maximumDeviceToCloudSize }) {
            return rejectTelemetry(delivery, link, condition: "amqp:link:message-size-exceeded",
                                   description: "a message is \(large.size) bytes; IoT Hub takes at most \(IoTHubMessage.maximumDeviceToCloudSize) per message")
        }
        guard !telemetry.isEmpty else {
            settle(delivery, on: link, outcome: UInt64(PN_ACCEPTED))
            return pn_link_flow(link.link, 1)
        }
        var delay = Duration.zero
        let throttle = services.throttle
        if !throttle.isUnlimited {
            for message in telemetry {
                let decision = throttle.decide(.deviceToCloud)
                switch decision {
                case .allow: break
                case .delay(let shaped): delay = max(delay, shaped)
                case .reject:
                    let error = decision.error(for: .deviceToCloud) ?? HubError(.throttlingException, "throttled")
                    services.metrics.error(error.code, protocol: Self.protocolName)
                    return rejectTelemetry(delivery, link, condition: "amqp:resource-limit-exceeded", description: error.message)
                }
                _ = throttle.meterMessages(bytes: message.body.count)
            }
        }
        let ingest = { [self] in
            guard !link.closed, let ingestQueue else { return }
            let token = nextIngestToken
            nextIngestToken += 1
            let pending = PendingTelemetry(delivery: delivery, link: link, remaining: 0)
            pendingDeliveries[token] = pending
            for message in telemetry {
                if let refusal = ingestQueue.submit(message, from: state.telemetrySource, client: self, token: token) {
                    pending.failure = pending.failure ?? refusal
                } else {
                    pending.remaining += 1
                }
            }
            if pending.remaining == 0 { finishTelemetry(token) }
        }
        if delay > .zero {
            context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { ingest() }
        } else {
            ingest()
        }
    }

    func telemetryIngested(token: UInt64, result: Result<Void, HubError>) {
        guard let pending = pendingDeliveries[token] else { return }
        if case .failure(let error) = result { pending.failure = pending.failure ?? error }
        pending.remaining -= 1
        if pending.remaining == 0 { finishTelemetry(token) }
    }

    /// Every message of a transfer is stored (or one failed): settles it and gives its credit back.
    private func finishTelemetry(_ token: UInt64) {
        guard let pending = pendingDeliveries.removeValue(forKey: token), !pending.link.closed, !socketClosed else { return }
        if let failure = pending.failure {
            services.metrics.error(failure.code, protocol: Self.protocolName)
            rejectTelemetry(pending.delivery, pending.link, condition: Self.condition(for: failure), description: failure.message)
        } else {
            settle(pending.delivery, on: pending.link, outcome: UInt64(PN_ACCEPTED))
            pn_link_flow(pending.link.link, 1)
        }
        pump()
    }

    private func rejectTelemetry(_ delivery: OpaquePointer, _ link: AMQPLink, condition: String, description: String) {
        logger.info("telemetry rejected", metadata: ["condition": "\(condition)", "reason": "\(description)"])
        settle(delivery, on: link, outcome: UInt64(PN_REJECTED), condition: (condition, description))
        pn_link_flow(link.link, 1)
    }

    /// The AMQP error condition for a hub error.
    static func condition(for error: HubError) -> String {
        switch error.code.httpStatus {
        case 400: "amqp:invalid-field"
        case 401: "amqp:unauthorized-access"
        case 403, 429: "amqp:resource-limit-exceeded"
        case 404: "amqp:not-found"
        case 412: "amqp:precondition-failed"
        default: "amqp:internal-error"
        }
    }

    // MARK: Twin

    /// A twin request (annotation `operation` = GET, PATCH, PUT or DELETE), answered on the identity's twin
    /// receiver link with annotations `status` (int) and `version` (long) and the request's correlation id.
    func handleTwinRequest(_ delivery: OpaquePointer, bytes: [UInt8], on link: AMQPLink, from identity: DeviceIdentity) {
        settle(delivery, on: link, outcome: UInt64(PN_ACCEPTED))
        pn_link_flow(link.link, 1)
        guard let state = identities[identity] else { return }
        let request: AMQPMessage
        do { request = try ProtonMessageCodec.decode(bytes) } catch {
            return answerTwin(identity, correlationId: nil, error: HubError.invalid(error.description))
        }
        let correlationId = request.correlationId
        let operation = request.messageAnnotations["operation"]?.text?.uppercased() ?? ""
        let resource = request.messageAnnotations["resource"]?.text ?? ""
        switch (operation, resource) {
        case ("GET", _):
            runTwinRequest(state, correlationId: correlationId, .get)
        case ("PATCH", "/properties/reported"):
            runTwinRequest(state, correlationId: correlationId, .patchReported(request.bodyBytes))
        case ("PUT", "/notifications/twin/properties/desired"), ("DELETE", "/notifications/twin/properties/desired"):
            let subscribe = operation == "PUT"
            state.session.updateSubscriptions { $0.desiredProperties = subscribe }
            answerTwin(identity, correlationId: correlationId, status: 200, version: nil, body: [])
        default:
            answerTwin(identity, correlationId: correlationId, error: HubError.invalid(
                "twin operation '\(operation)' on '\(resource)' is not supported; send GET, PATCH /properties/reported, "
                    + "or PUT/DELETE /notifications/twin/properties/desired"))
        }
    }

    /// At most ``AMQPEndpointConfiguration/maximumPendingTwinRequests`` per identity run at once; the core applies
    /// the tier's twin throttles.
    private func runTwinRequest(_ state: AMQPIdentity, correlationId: AMQPValue?, _ request: TwinRequest) {
        let identity = state.identity
        guard state.pendingTwinRequests < configuration.maximumPendingTwinRequests else {
            return answerTwin(identity, correlationId: correlationId, error: HubError(.throttlingException,
                "more than \(configuration.maximumPendingTwinRequests) twin requests in progress for '\(identity)'; wait for the answers"))
        }
        state.pendingTwinRequests += 1
        let services = self.services
        perform({ await services.answer(request, from: identity, protocol: Self.protocolName) }) { [self] result in
            state.pendingTwinRequests -= 1
            guard case .success(let answer) = result else { return }
            answerTwin(identity, correlationId: correlationId, status: answer.status, version: answer.version, body: answer.body)
        }
    }

    private func answerTwin(_ identity: DeviceIdentity, correlationId: AMQPValue?, error: HubError) {
        services.metrics.error(error.code, protocol: Self.protocolName)
        let answer = TwinAnswer(error)
        answerTwin(identity, correlationId: correlationId, status: answer.status, version: nil, body: answer.body)
    }

    private func answerTwin(_ identity: DeviceIdentity, correlationId: AMQPValue?, status: Int, version: Int64?, body: [UInt8]) {
        guard let reply = link(.twinResponses(identity)) else {
            logger.debug("twin answer dropped: no twin receiver link is attached", metadata: ["identity": "\(identity)"])
            return
        }
        var message = AMQPMessage(body: body)
        message.correlationId = correlationId
        message.messageAnnotations["status"] = .int(Int32(status))
        if let version { message.messageAnnotations["version"] = .long(version) }
        send(message, on: reply)
    }

    func sendDesiredPropertiesPatch(_ patch: [UInt8], version: Int64, to identity: DeviceIdentity) {
        guard let state = identities[identity], state.session.wantsDesiredPropertyUpdates,
              let reply = link(.twinResponses(identity)) else { return }
        var message = AMQPMessage(body: patch)
        message.messageAnnotations["version"] = .long(version)
        send(message, on: reply)
        services.metrics.messageSent(kind: "desired_patch")
        pump()
    }

    // MARK: Methods

    /// Sends a method request with a uuid correlation id (the official C SDK takes no other) and the method name
    /// in `IoThub-methodname`.
    func sendMethodRequest(_ request: DirectMethodRequest, to identity: DeviceIdentity) {
        guard let state = identities[identity], let requests = link(.methodRequests(identity)) else { return }
        let uuid = AMQPValue.UUIDBytes(parsing: UUID().uuidString)!
        state.methodRequests[uuid] = request.requestId
        var message = AMQPMessage(body: request.payload)
        message.correlationId = .uuid(uuid)
        message.applicationProperties["IoThub-methodname"] = .string(request.name)
        send(message, on: requests)
        pump()
    }

    func handleMethodResponse(_ delivery: OpaquePointer, bytes: [UInt8], on link: AMQPLink, from identity: DeviceIdentity) {
        settle(delivery, on: link, outcome: UInt64(PN_ACCEPTED))
        pn_link_flow(link.link, 1)
        guard let state = identities[identity], let response = try? ProtonMessageCodec.decode(bytes) else { return }
        let uuid: AMQPValue.UUIDBytes? = switch response.correlationId {
        case .uuid(let value)?: value
        case .string(let text)?: AMQPValue.UUIDBytes(parsing: text)
        default: nil
        }
        guard let uuid, let requestId = state.methodRequests.removeValue(forKey: uuid) else {
            logger.debug("method response for no request in progress", metadata: ["identity": "\(identity)"])
            return
        }
        let status = response.applicationProperties["IoThub-status"]?.integer ?? 200
        services.methods.complete(DirectMethodResponse(status: Int(status), requestId: requestId, payload: response.bodyBytes),
                                  from: identity)
    }

    // MARK: Cloud-to-device

    func cloudToDeviceMessagesAvailable(for identity: DeviceIdentity) {
        deliverCloudToDevice(to: identity)
        pump()
    }

    /// Locks and sends queued C2D messages while the device's link has credit and the window has room.
    func deliverCloudToDevice(to identity: DeviceIdentity) {
        guard identities[identity] != nil, let link = link(.cloudToDevice(identity)), let context else { return }
        let lock = configuration.cloudToDeviceLock
        let now = Duration.nanoseconds(Int64(context.eventLoop.now.uptimeNanoseconds))
        let wanted = link.cloudToDevice.startFetch(window: configuration.cloudToDeviceWindow,
                                                   credit: Int(pn_link_credit(link.link)), now: now,
                                                   lock: .nanoseconds(lock.nanoseconds))
        guard wanted > 0 else { return }
        let service = services.cloudToDevice
        perform({ try await service.lock(identity, maximum: wanted, lockDuration: Double(lock.nanoseconds) / 1e9) }) { [self] result in
            switch result {
            case .success(let envelopes):
                guard !link.closed, identities[identity] != nil else {
                    return abandon(envelopes.compactMap(\.lockToken), for: identity)
                }
                let sentAt = Duration.nanoseconds(Int64(context.eventLoop.now.uptimeNanoseconds))
                for envelope in envelopes {
                    guard let lockToken = envelope.lockToken else { continue }
                    let tag = send(AMQPMessage(envelope.message), on: link, settled: false)
                    link.cloudToDevice.sent(tag, lockToken: lockToken, now: sentAt)
                }
                if link.cloudToDevice.fetched(envelopes.count, requested: wanted) { deliverCloudToDevice(to: identity) }
                scheduleLockCheck(identity, after: lock + .seconds(1))
            case .failure(let error):
                _ = link.cloudToDevice.fetched(0, requested: wanted)
                logger.warning("cloud-to-device delivery failed; retrying", metadata: ["error": "\(error)"])
                scheduleLockCheck(identity, after: .seconds(5))
            }
        }
    }

    /// Looks again after a lock could have expired, so a device that never settles gets its messages again.
    private func scheduleLockCheck(_ identity: DeviceIdentity, after delay: TimeAmount) {
        context?.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            deliverCloudToDevice(to: identity)
            pump()
        }
    }

    /// accepted = complete, rejected = reject (dead-letter), released or modified = abandon.
    func cloudToDeviceSettled(_ delivery: OpaquePointer, outcome: UInt64, on link: AMQPLink, by identity: DeviceIdentity) {
        let lockToken = Self.tag(of: delivery).flatMap { link.cloudToDevice.settled($0) }
        pn_delivery_settle(delivery)
        guard let lockToken else {
            logger.debug("C2D disposition for no delivery in flight (its lock may have expired)")
            return
        }
        let disposition: C2DDisposition = switch outcome {
        case UInt64(PN_ACCEPTED): .complete
        case UInt64(PN_REJECTED): .reject
        default: .abandon
        }
        let service = services.cloudToDevice
        perform({ try await service.settle(identity, lockToken: lockToken, disposition: disposition) }) { [self] result in
            if case .failure(let error) = result {
                logger.debug("C2D settlement failed", metadata: ["error": "\(error)", "disposition": "\(disposition)"])
            }
            deliverCloudToDevice(to: identity)
        }
    }

    func abandon(_ lockTokens: [String], for identity: DeviceIdentity) {
        guard !lockTokens.isEmpty else { return }
        let (service, logger) = (services.cloudToDevice, logger)
        Task {
            for token in lockTokens {
                do { try await service.settle(identity, lockToken: token, disposition: .abandon) } catch {
                    logger.debug("returning a C2D message to the queue failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
