import CProton
import IoTHubProtocol
import ProtonCodec

/// Links and messages: features attach links, operations become messages, deliveries become events.
extension AMQPDeviceTransport {
    // MARK: Links

    /// `amqps://{host}/devices/{id}[/modules/{m}]/{node}`.
    func address(_ node: String) -> String {
        guard let registration else { return "" }
        return "amqps://\(registration.hostName)/\(registration.identity.topicBase)/\(node)"
    }

    /// Opens one of this identity's links with the C SDK's link properties (and a channel correlation id).
    func openLink(sender: Bool, kind: String, address: String, channel: String? = nil,
                  name: String? = nil, credit: Int32 = 0) -> OpaquePointer? {
        guard let connection, let registration else { return nil }
        var properties: [String: AMQPValue] = [
            "com.microsoft:client-version": .string(context.options.productInfo),
            "com.microsoft:api-version": .string(Self.apiVersion),
        ]
        if let channel { properties["com.microsoft:channel-correlation-id"] = .string(channel) }
        let linkName = name ?? "\(kind)-\(registration.identity.clientId)-\(linkSuffix)"
        return connection.openLink(for: self, sender: sender, name: linkName, address: address,
                                   properties: properties, credit: credit)
    }

    /// Forgets the links and deliveries of the connection that ended (their memory went with it or is closing).
    func resetLinks() {
        telemetryLink = nil
        cloudToDeviceLink = nil
        twinSender = nil
        twinReceiver = nil
        methodReceiver = nil
        methodSender = nil
        acceptedLinks.removeAll()
        pendingFeatures.removeAll()
        desiredSubscription = nil
        inFlight.removeAll()
        cloudToDeviceDeliveries.removeAll()
    }

    func enable(_ feature: DeviceFeature) {
        guard phase == .connected else { return }
        pendingFeatures.insert(feature)
        switch feature {
        case .cloudToDevice:
            if cloudToDeviceLink == nil {
                cloudToDeviceLink = openLink(sender: false, kind: "link-rcv", address: address("messages/devicebound"),
                                             credit: 10_000)
            }
        case .twinResponses, .desiredProperties:
            attachTwinLinks()
        case .methods:
            guard methodReceiver == nil, let registration else { break }
            let identity = registration.identity
            let channel = identity.moduleId.map { "\(identity.deviceId)/\($0)" } ?? identity.deviceId
            let methods = address("methods/devicebound")
            methodReceiver = openLink(sender: false, kind: "methods", address: methods, channel: channel,
                                      name: "methods_requests_link-\(identity.clientId)", credit: 10_000)
            methodSender = openLink(sender: true, kind: "methods", address: methods, channel: channel,
                                    name: "methods_responses_link-\(identity.clientId)")
        }
        featuresProgressed()
    }

    /// The twin receiver first, so that it is attached before any request reaches the hub.
    private func attachTwinLinks() {
        guard twinReceiver == nil else { return }
        let twin = address("twin")
        twinReceiver = openLink(sender: false, kind: "twin-rcv", address: twin, channel: twinChannel, credit: 10_000)
        twinSender = openLink(sender: true, kind: "twin-snd", address: twin, channel: twinChannel)
    }

    /// Reports features whose links the hub accepted; subscribes to desired properties once the twin links are up.
    func featuresProgressed() {
        func accepted(_ links: OpaquePointer?...) -> Bool { links.allSatisfy { $0.map(acceptedLinks.contains) ?? false } }
        for feature in pendingFeatures {
            switch feature {
            case .cloudToDevice where accepted(cloudToDeviceLink):
                finishFeature(.cloudToDevice, accepted: true)
            case .twinResponses where accepted(twinReceiver, twinSender):
                finishFeature(.twinResponses, accepted: true)
            case .desiredProperties where accepted(twinReceiver, twinSender) && desiredSubscription == nil:
                subscribeToDesiredProperties()
            case .methods where accepted(methodReceiver, methodSender):
                finishFeature(.methods, accepted: true)
            default:
                break
            }
        }
    }

    func finishFeature(_ feature: DeviceFeature, accepted: Bool) {
        guard pendingFeatures.remove(feature) != nil else { return }
        emit(.featureEnabled(feature, accepted: accepted))
    }

    private func subscribeToDesiredProperties() {
        guard let connection, let twinSender else { return }
        let id = Self.randomUUID()
        desiredSubscription = id
        var request = AMQPMessage(body: [UInt8(ascii: " ")])
        request.correlationId = .string(id)
        request.messageAnnotations = ["operation": .string("PUT"),
                                      "resource": .string("/notifications/twin/properties/desired")]
        _ = connection.send(request, on: twinSender)
    }

    func linkOpened(_ link: OpaquePointer, accepted: Bool) {
        guard accepted else { return }   // a refusal detaches at once: see linkClosed
        acceptedLinks.insert(link)
        if link == telemetryLink { return telemetryAttached() }
        featuresProgressed()
    }

    func linkClosed(_ link: OpaquePointer, condition: (name: String, description: String)?) {
        let wasAccepted = acceptedLinks.remove(link) != nil
        let detail = condition.map { "\($0.name): \($0.description)" } ?? "the hub closed a link"
        if link == telemetryLink || wasAccepted || phase != .connected {
            // The identity's session at the hub ended (token expired, taken over, disabled) or never started.
            let unauthorized = !wasAccepted && condition?.name == "amqp:unauthorized-access"
            return end(DeviceTransportDisconnect(kind: unauthorized ? .unauthorized : (phase == .connected ? .closedByHub : .networkError),
                                                 detail: detail))
        }
        // A feature's link was refused: the feature is off on this connection.
        logger.warning("the hub refused a link: \(detail)")
        let refused: [(OpaquePointer?, DeviceFeature)] = [
            (cloudToDeviceLink, .cloudToDevice), (twinReceiver, .twinResponses), (twinSender, .twinResponses),
            (twinReceiver, .desiredProperties), (twinSender, .desiredProperties),
            (methodReceiver, .methods), (methodSender, .methods),
        ]
        for (candidate, feature) in refused where candidate == link { finishFeature(feature, accepted: false) }
    }

    // MARK: Operations

    func perform(_ operation: DeviceTransportOperation) -> Result<DeviceTransportTag, DeviceClientError> {
        guard phase == .connected, let connection, let telemetryLink else { return .failure(.notConnected) }
        let message: AMQPMessage
        let link: OpaquePointer?
        switch operation {
        case .telemetry(let telemetry):
            message = AMQPMessage(telemetry)
            link = telemetryLink
        case .twinGet(let requestId):
            attachTwinLinks()
            message = Self.twinRequest(requestId, operation: "GET", resource: nil, body: [UInt8(ascii: " ")])
            link = twinSender
        case .twinPatchReported(let requestId, let body):
            attachTwinLinks()
            message = Self.twinRequest(requestId, operation: "PATCH", resource: "/properties/reported", body: body)
            link = twinSender
        case .methodResponse(let requestId, let status, let payload):
            var response = AMQPMessage(body: payload, applicationProperties: ["IoThub-status": .int(Int32(status))])
            response.correlationId = AMQPValue.UUIDBytes(parsing: requestId).map(AMQPValue.uuid) ?? .string(requestId)
            message = response
            link = methodSender
        }
        guard let link else { return .failure(.notConnected) }
        let tag = connection.send(message, on: link)
        inFlight.insert(tag)
        return .success(DeviceTransportTag(value: Int64(tag)))
    }

    static func twinRequest(_ requestId: String, operation: String, resource: String?, body: [UInt8]) -> AMQPMessage {
        var message = AMQPMessage(body: body)
        message.correlationId = .string(requestId)
        message.messageAnnotations["operation"] = .string(operation)
        if let resource { message.messageAnnotations["resource"] = .string(resource) }
        return message
    }

    /// Settles a C2D message: complete = accepted, reject = rejected, abandon = released.
    func settle(_ tag: DeviceTransportTag, _ outcome: DeviceMessageOutcome) {
        guard let delivery = cloudToDeviceDeliveries.removeValue(forKey: tag.value) else { return }
        switch outcome {
        case .complete: ProtonLinks.settle(delivery, outcome: UInt64(PN_ACCEPTED))
        case .reject: ProtonLinks.settle(delivery, outcome: UInt64(PN_REJECTED),
                                         condition: ("amqp:internal-error", "Rejected by application"))
        case .abandon: ProtonLinks.settle(delivery, outcome: UInt64(PN_RELEASED))
        }
        connection?.flush()
    }

    // MARK: Deliveries

    func deliveryUpdated(_ delivery: OpaquePointer, on link: OpaquePointer) {
        if ProtonLinks.isSender(link) { return sentDeliveryUpdated(delivery) }
        guard let bytes = ProtonLinks.receive(delivery) else { return }
        guard let message = try? ProtonMessageCodec.decode(bytes) else {
            logger.warning("the hub sent a message that does not decode; rejected")
            ProtonLinks.settle(delivery, outcome: UInt64(PN_REJECTED), condition: ("amqp:decode-error", "undecodable"))
            return
        }
        ProtonLinks.topUpCredit(link, to: 10_000)
        if link == cloudToDeviceLink {
            nextCloudToDeviceTag += 1
            cloudToDeviceDeliveries[nextCloudToDeviceTag] = delivery
            emit(.cloudToDevice(message.iotHubMessage, tag: DeviceTransportTag(value: nextCloudToDeviceTag)))
            return
        }
        ProtonLinks.settle(delivery, outcome: UInt64(PN_ACCEPTED))
        if link == twinReceiver {
            twinMessage(message)
        } else if link == methodReceiver {
            let requestId: String = switch message.correlationId {
            case .uuid(let uuid)?: uuid.description
            case let other?: other.text ?? ""
            case nil: ""
            }
            let name = message.applicationProperties["IoThub-methodname"]?.text ?? ""
            emit(.methodRequest(name: name, requestId: requestId, payload: message.bodyBytes))
        }
        connection?.flush()
    }

    private func twinMessage(_ message: AMQPMessage) {
        let status = message.messageAnnotations["status"]?.integer.map(Int.init)
        let version = message.messageAnnotations["version"]?.integer
        guard let correlationId = message.correlationId?.text else {
            return emit(.desiredPatch(version: version, body: message.bodyBytes))
        }
        if correlationId == desiredSubscription {
            return finishFeature(.desiredProperties, accepted: (200..<300).contains(status ?? 200))
        }
        emit(.twinResponse(requestId: correlationId, status: status ?? 200, version: version, body: message.bodyBytes))
    }

    private func sentDeliveryUpdated(_ delivery: OpaquePointer) {
        guard let outcome = ProtonLinks.remoteOutcome(delivery) else { return }
        let tag = ProtonLinks.tag(of: delivery)
        ProtonLinks.release(delivery)
        guard let tag, inFlight.remove(tag) != nil else { return }
        switch outcome {
        case .accepted, .settled:
            emit(.acknowledged(DeviceTransportTag(value: Int64(tag))))
        case .rejected(let condition, let description):
            // Resending would be refused again: the hub has decided; the message counts as delivered.
            logger.error("the hub rejected a message: \(condition ?? "no condition"): \(description ?? "")")
            emit(.acknowledged(DeviceTransportTag(value: Int64(tag))))
        case .released, .modified:
            // Not taken: a new connection sends it again.
            end(DeviceTransportDisconnect(kind: .networkError, detail: "the hub released a message"))
        }
    }
}
