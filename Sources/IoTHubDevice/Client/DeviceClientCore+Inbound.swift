import IoTHubProtocol

/// The inbound half of the core: features, and what the hub sends on its own (cloud-to-device messages,
/// desired-property patches, direct method requests).
extension DeviceClientCore {
    // MARK: Features

    /// Turns on a feature: enables it now when connected, and again after every reconnect. `completion` runs once
    /// the hub has accepted it (at once when not connected: the feature is then enabled right after the next
    /// connect, before anything else).
    func enable(_ feature: DeviceFeature, then completion: (() -> Void)? = nil) {
        guard phase != .closed else {
            completion?()
            return
        }
        let isNew = features.insert(feature).inserted
        guard phase == .connected, transportOpen, !enabled.contains(feature) else {
            completion?()
            return
        }
        if let completion { featureWaiters[feature, default: []].append(completion) }
        if isNew { transport.enable(feature) }
    }

    func featureEnabled(_ feature: DeviceFeature, accepted: Bool) {
        if accepted {
            enabled.insert(feature)
        } else {
            logger.error("the hub refused the \(feature) feature")
        }
        resumeFeatureWaiters(feature)
        if feature == .twinResponses { releaseHeldTwinRequests() }
    }

    func resumeFeatureWaiters(_ feature: DeviceFeature?) {
        if let feature {
            for waiter in featureWaiters.removeValue(forKey: feature) ?? [] { waiter() }
        } else {
            for (_, waiters) in featureWaiters { waiters.forEach { $0() } }
            featureWaiters.removeAll()
        }
    }

    // MARK: Hub-initiated messages

    func received(_ message: IoTHubMessage, tag: DeviceTransportTag?) {
        if cloudToDevice.yield(message) {
            logger.warning("a cloud-to-device message was dropped: the app is not reading them fast enough")
        }
        if let tag { transport.settle(tag, .complete) }
    }

    func desiredPatch(version: Int64?, body: [UInt8]) {
        guard var patch = (try? JSONValue(parsing: body))?.objectValue else {
            logger.warning("ignoring a desired-properties patch that is not a JSON object")
            return
        }
        let bodyVersion = patch.removeValue(forKey: "$version")?.int64Value
        desiredUpdates.yield(DesiredPropertiesUpdate(version: bodyVersion ?? version ?? 0, patch: patch))
    }

    // MARK: Methods

    func setMethodHandler(_ name: String?, _ handler: DeviceClient.MethodHandler?,
                          then completion: @escaping () -> Void) {
        guard phase != .closed else { return completion() }
        if let name { methodHandlers[name] = handler } else { defaultMethodHandler = handler }
        if handler != nil { enable(.methods, then: completion) } else { completion() }
    }

    func dispatchMethod(name: String, requestId: String, payload: [UInt8]) {
        let value: JSONValue = payload.isEmpty
            ? .null : ((try? JSONValue(parsing: payload)) ?? .string(String(decoding: payload, as: UTF8.self)))
        let call = DirectMethodCall(name: name, payload: value)
        guard let handler = methodHandlers[name] ?? defaultMethodHandler else {
            logger.warning("no handler for direct method '\(name)'; answering 404")
            let body: JSONValue = .object(["message": .string("the device has no handler for method '\(name)'")])
            return respond(status: 404, requestId: requestId, payload: body)
        }
        let box = LoopHandoff(self)
        let clock = self.clock
        Task {
            let result = await handler(call)
            clock.execute { box.value.respond(status: result.status, requestId: requestId, payload: result.payload) }
        }
    }

    func respond(status: Int, requestId: String, payload: JSONValue) {
        guard phase != .closed else { return }
        let item = OutboundItem(id: itemIds.make(), operation: .methodResponse(requestId: requestId, status: status,
                                                                               payload: payload.serializedBytes()))
        // A method response is small and time-critical: it bypasses the queue bound rather than fail.
        queue.requeue(item)
        pump()
    }
}
