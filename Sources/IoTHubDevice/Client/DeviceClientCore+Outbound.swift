import IoTHubProtocol

/// The outbound half of the core: the bounded queue, at-least-once telemetry and twin requests.
extension DeviceClientCore {
    /// Queues telemetry; `completion` runs when the hub acknowledged it, or with the reason it will never be sent.
    func send(_ message: IoTHubMessage, id: UInt64, completion: @escaping Completion<Void>) {
        if let refusal { return completion(.failure(refusal)) }
        let item = OutboundItem(id: id, operation: .telemetry(message))
        if !spaceWaiters.isEmpty, options.queue.policy == .wait {
            return spaceWaiters.append(SpaceWaiter(item: item, completion: completion))
        }
        switch queue.enqueue(item, evictOldest: options.queue.policy == .dropOldest) {
        case .queued:
            senders[id] = completion
        case .queuedEvicting(let evicted):
            senders[id] = completion
            failEvicted(evicted)
        case .full:
            switch options.queue.policy {
            case .wait:
                spaceWaiters.append(SpaceWaiter(item: item, completion: completion))
            case .failFast, .dropOldest:
                completion(.failure(DeviceClientError.queueFull(messages: queue.count, bytes: queue.bytes)))
            }
            return
        }
        pump()
    }

    /// The sender of `id` gave up (task cancelled): take the message out if it has not gone out yet.
    func cancelSend(id: UInt64) {
        if let index = spaceWaiters.firstIndex(where: { $0.item.id == id }) {
            spaceWaiters.remove(at: index).completion(.failure(CancellationError()))
            return
        }
        guard let completion = senders.removeValue(forKey: id) else { return }
        _ = queue.remove(id: id)
        completion(.failure(CancellationError()))
        admitWaiters()
    }

    func failEvicted(_ item: OutboundItem) {
        let error = DeviceClientError.queueFull(messages: queue.count, bytes: queue.bytes)
        switch item.kind {
        case .telemetry: senders.removeValue(forKey: item.id)?(.failure(error))
        case .twinRequest(let requestId): failTwinRequest(requestId, with: error)
        case .methodResponse: break
        }
    }

    func admitWaiters() {
        while let first = spaceWaiters.first, queue.hasRoom(for: first.item.size) {
            spaceWaiters.removeFirst()
            _ = queue.enqueue(first.item, evictOldest: false)
            senders[first.item.id] = first.completion
        }
    }

    /// Hands waiting items to the transport while the in-flight window has room.
    func pump() {
        while canSend, queue.inFlight.count < max(1, options.maximumInFlight), let item = queue.next() {
            switch transport.perform(item.operation) {
            case .success(let tag):
                queue.sent(item, tag: tag)
                // The connection may have ended while taking it; the disconnect already returned the others.
                if !transportOpen { queue.requeueInFlight() }
            case .failure(let error):
                queue.putBack(item)
                logger.debug("the transport did not take an operation, waiting for the connection to recover: \(error)")
                return
            }
        }
    }

    func acknowledged(_ tag: DeviceTransportTag) {
        guard let item = queue.acknowledge(tag) else { return }
        switch item.kind {
        case .telemetry:
            senders.removeValue(forKey: item.id)?(.success(()))
        case .twinRequest(let requestId):
            twinRequests[requestId]?.acknowledged = true
        case .methodResponse:
            break
        }
        admitWaiters()
        if renewing {
            if queue.inFlight.isEmpty { finishRenewalDrain() }
        } else {
            pump()
        }
    }

    /// After a connection ends: unacknowledged operations go back to the front of the queue; twin requests whose
    /// answer was lost are sent again; method responses are dropped (the hub stopped waiting for them).
    func returnInFlight() {
        queue.requeueInFlight()
        _ = queue.removeWaiting { $0.kind == .methodResponse }
        let lost = twinRequests.values.filter(\.acknowledged).sorted { $0.item.id > $1.item.id }
        for request in lost {
            queue.requeue(request.item)
            if case .twinRequest(let requestId) = request.item.kind { twinRequests[requestId]?.acknowledged = false }
        }
        admitWaiters()
    }

    // MARK: Twins

    /// Sends a twin request (GET when `reported` is nil, else a reported-properties PATCH).
    func twinRequest(reported: [UInt8]?, completion: @escaping Completion<TwinResponse>) {
        if let refusal { return completion(.failure(refusal)) }
        enable(.twinResponses)
        let requestId = String(nextRequestId)
        nextRequestId += 1
        let operation: DeviceTransportOperation = reported.map { .twinPatchReported(requestId: requestId, body: $0) }
            ?? .twinGet(requestId: requestId)
        let item = OutboundItem(id: itemIds.make(), operation: operation)
        let box = LoopHandoff(self)
        let timeout = options.operationTimeout
        let timer = clock.schedule(after: timeout) {
            let error = DeviceClientError.timeout("the twin request (no answer in \(timeout))")
            box.value.failTwinRequest(requestId, with: error)
        }
        twinRequests[requestId] = TwinRequest(item: item, completion: completion, timer: timer)
        if phase == .connected, !enabled.contains(.twinResponses) {
            twinRequestsAwaitingFeature.append(item)
        } else {
            enqueueTwinRequest(item, requestId: requestId)
        }
        pump()
    }

    /// Queues twin request `requestId` (registered in `twinRequests`); fails it when the queue is full.
    func enqueueTwinRequest(_ item: OutboundItem, requestId: String) {
        switch queue.enqueue(item, evictOldest: options.queue.policy == .dropOldest) {
        case .queued: break
        case .queuedEvicting(let evicted): failEvicted(evicted)
        case .full:
            failTwinRequest(requestId, with: DeviceClientError.queueFull(messages: queue.count, bytes: queue.bytes))
        }
    }

    /// Queues the twin requests that waited for the twin-response feature (also when the hub refused it: the
    /// requests then time out with a clear error rather than wait for ever).
    func releaseHeldTwinRequests() {
        let held = twinRequestsAwaitingFeature
        twinRequestsAwaitingFeature.removeAll()
        for item in held {
            guard case .twinRequest(let requestId) = item.kind, twinRequests[requestId] != nil else { continue }
            enqueueTwinRequest(item, requestId: requestId)
        }
        pump()
    }

    func twinResponded(requestId: String, _ response: TwinResponse) {
        guard let request = twinRequests.removeValue(forKey: requestId) else { return }
        request.timer.cancel()
        _ = queue.remove(id: request.item.id)
        request.completion(.success(response))
    }

    /// Ends twin request `requestId` with `error`, taking it out of the queue if it still waits there.
    func failTwinRequest(_ requestId: String, with error: any Error) {
        guard let request = twinRequests.removeValue(forKey: requestId) else { return }
        request.timer.cancel()
        _ = queue.remove(id: request.item.id)
        request.completion(.failure(error))
    }
}
