import Glibc
import IoTHubProtocol
import Logging

/// Executes one upload: asks the hub where to put the blob, reads the content block by block, lets a
/// ``FileUploadPlan`` decide which blocks to send, sends them to the storage through the ``UnsafeCurlWorker``
/// with retries and SAS renewal (``FileUploadDecision``), commits the block list and notifies the hub.
struct FileUploadSession: Sendable {
    /// How the session reaches the hub's device API.
    struct Hub: Sendable {
        var hostName: String
        var port: Int
        var deviceId: String
        /// The `Authorization` value for a hub request; `nil` for an X.509 device (its certificate authenticates).
        var authorization: @Sendable () async throws -> String?
        var hubTLS: HTTPSTLSSettings
        var storageTLS: HTTPSTLSSettings
        var connectTimeout: Duration
        var stallTimeout: Duration
    }

    let worker: UnsafeCurlWorker
    let hub: Hub
    let options: FileUploadOptions
    let logger: Logger

    static let apiVersion = "2020-09-30"

    // MARK: The upload

    func run(blobName: String, source: inout some FileUploadBlockSource) async throws -> FileUploadResult {
        guard !blobName.isEmpty, blobName.utf8.count <= 1024 else {
            throw FileUploadError.invalidArgument("the blob name must have 1 to 1,024 characters")
        }
        var context = Context(requestedName: blobName, target: nil, blockSize: options.blockSize)
        var stored: BlobBlockList?
        if let path = options.resumeStatePath, let state = try FileUploadResumeState.load(from: path) {
            guard state.requestedName == blobName else {
                throw FileUploadError.resumeStateUnusable("'\(path)' belongs to an upload of '\(state.requestedName)', "
                                                          + "not '\(blobName)'")
            }
            context.blockSize = state.blockSize
            if state.target.sasExpires(now: Int64(time(nil))) {
                logger.info("resuming file upload with a new SAS (the saved one expired)", metadata: ["blob": "\(blobName)"])
                try await renewTarget(&context)
            } else {
                context.target = state.target
            }
            stored = try await blockList(&context)
            logger.info("resuming file upload", metadata: [
                "blob": "\(blobName)", "storedBlocks": "\(stored.map { $0.committed.count + $0.uncommitted.count } ?? 0)",
            ])
        } else {
            guard (1...FileUploadOptions.maximumBlockSize).contains(options.blockSize) else {
                throw FileUploadError.invalidArgument("the block size must be 1 to \(FileUploadOptions.maximumBlockSize) "
                                                      + "bytes, not \(options.blockSize)")
            }
            try await renewTarget(&context)
        }
        if let total = source.totalBytes,
           FileUploadPlan.blockCount(totalBytes: total, blockSize: context.blockSize) > FileUploadOptions.maximumBlockCount {
            throw FileUploadError.tooManyBlocks(limit: FileUploadOptions.maximumBlockCount, blockSize: context.blockSize)
        }

        do {
            return try await transfer(&context, stored: stored, source: &source)
        } catch {
            await abandon(context, after: error)
            throw error
        }
    }

    /// What changes during one upload: the blob's target (a new SAS replaces it) and the block size.
    private struct Context: Sendable {
        var requestedName: String
        var target: BlobUploadTarget?
        var blockSize: Int
    }

    private func transfer(_ context: inout Context, stored: BlobBlockList?, source: inout some FileUploadBlockSource)
        async throws -> FileUploadResult
    {
        var plan = FileUploadPlan(blockSize: context.blockSize, stored: stored, totalBytes: source.totalBytes)
        let whole = StreamingDigest(.sha256)
        var size: Int64 = 0
        options.progress?(plan.progress)
        while true {
            try Task.checkCancellation()
            let block = try await source.nextBlock(maximumBytes: context.blockSize)
            guard !block.isEmpty else { break }
            whole.update(block)
            size += Int64(block.count)
            switch try plan.next(count: block.count, sha256: LibCrypto.sha256(block)) {
            case .skip(let id):
                logger.trace("block already stored", metadata: ["block": "\(id)"])
            case .send(let id):
                try await storage("Put Block", &context, method: .put, query: "comp=block&blockid=\(id.percentEncoded)",
                                  body: block)
                plan.sent(id, bytes: block.count)
            }
            options.progress?(plan.progress)
        }
        try await storage("Put Block List", &context, method: .put, query: "comp=blocklist",
                          headers: ["Content-Type: application/xml; charset=utf-8"],
                          body: BlobBlockList.commitBody(plan.commitList), closesConnection: true)
        guard let target = context.target else { preconditionFailure("no target after a commit") }
        try await notify(target, success: true, status: 200,
                         description: "\(size) bytes in \(plan.commitList.count) blocks")
        if let path = options.resumeStatePath { FileUploadResumeState.remove(at: path) }
        logger.info("file uploaded", metadata: [
            "blob": "\(target.blobName)", "bytes": "\(size)", "blocksSent": "\(plan.progress.blocksSent)",
            "blocksSkipped": "\(plan.progress.blocksSkipped)",
        ])
        return FileUploadResult(blobName: target.blobName, correlationId: target.correlationId, size: size,
                                sha256: whole.finish(), blocksSent: plan.progress.blocksSent,
                                blocksSkipped: plan.progress.blocksSkipped)
    }

    /// After a failure: a resumable one with a state file keeps the hub's correlation open for the next attempt;
    /// any other tells the hub the upload failed (best effort) and forgets the state.
    private func abandon(_ context: Context, after error: any Error) async {
        let resumable = (error as? FileUploadError)?.isResumable ?? (error is CancellationError)
        if let path = options.resumeStatePath, resumable {
            logger.notice("file upload interrupted; call again with the same resume state file to continue",
                          metadata: ["blob": "\(context.requestedName)", "state": "\(path)", "error": "\(error)"])
            return
        }
        if let path = options.resumeStatePath { FileUploadResumeState.remove(at: path) }
        guard let target = context.target else { return }
        let status = (error as? FileUploadError)?.status ?? (error is CancellationError ? 499 : 500)
        let description = error is CancellationError ? "cancelled by the device" : "\(error)"
        // Not in the failing task: a cancelled task would cancel the notification too.
        let session = self
        _ = await Task {
            try? await session.notify(target, success: false, status: status, description: String(description.prefix(500)))
        }.value
        logger.warning("file upload failed", metadata: ["blob": "\(context.requestedName)", "error": "\(error)"])
    }

    // MARK: Storage

    /// `Get Block List`: what the storage holds for the blob (nothing when the blob does not exist yet).
    private func blockList(_ context: inout Context) async throws -> BlobBlockList {
        let response = try await storage("Get Block List", &context, method: .get,
                                         query: "comp=blocklist&blocklisttype=all", acceptNotFound: true)
        guard response.status != 404 else { return BlobBlockList() }
        return try BlobBlockList(parsing: response.body)
    }

    /// One storage request, with retries by the policy and one SAS renewal on a 403.
    @discardableResult
    private func storage(_ operation: String, _ context: inout Context, method: HTTPSRequest.Method, query: String,
                         headers: [String] = [], body: [UInt8] = [], acceptNotFound: Bool = false,
                         closesConnection: Bool = false)
        async throws -> HTTPSResponse
    {
        var renewed = false
        var attempt = 0
        while true {
            guard let target = context.target else { preconditionFailure("storage request before the hub's answer") }
            let request = HTTPSRequest(method: method, url: target.url(query),
                                       headers: ["x-ms-version: \(BlobServiceSAS.version)"] + headers, body: body,
                                       tls: hub.storageTLS, connectTimeout: hub.connectTimeout,
                                       stallTimeout: hub.stallTimeout, closesConnection: closesConnection)
            let decision: FileUploadDecision
            var answer: HTTPSResponse?
            do {
                let response = try await worker.perform(request)
                answer = response
                decision = acceptNotFound && response.status == 404
                    ? .done : .storage(operation, response: response, blockBytes: body.count)
            } catch let error as HTTPSTransportError {
                decision = .transport(operation, error)
            }
            switch decision {
            case .done:
                return answer!
            case .renewSAS(let status, let code, let message):
                guard !renewed else {
                    throw FileUploadError.storageAuthorizationFailed(status: status, storageCode: code, message: message)
                }
                renewed = true
                logger.info("the storage refused the SAS; asking the hub for a new one",
                            metadata: ["status": "\(status)", "code": "\(code ?? "none")"])
                try await renewTarget(&context)
            case .retry(let reason):
                attempt += 1
                try await backOff(attempt: attempt, reason: reason)
            case .fail(let error):
                throw error
            }
        }
    }

    /// Waits before retry number `attempt`, or throws when the policy has no more.
    private func backOff(attempt: Int, reason: String) async throws {
        if let limit = options.retryPolicy.maximumAttempts, attempt > limit {
            throw FileUploadError.transferFailed(reason, attempts: attempt)
        }
        let delay = options.retryPolicy.delay(beforeAttempt: attempt, random: Double.random(in: 0..<1))
        logger.debug("retrying", metadata: ["attempt": "\(attempt)", "reason": "\(reason)", "delay": "\(delay)"])
        try await Task.sleep(for: delay)
    }

    // MARK: Hub

    /// Asks the hub for a (new) SAS URI for the blob and saves it in the resume state.
    private func renewTarget(_ context: inout Context) async throws {
        let body = JSONValue.object(["blobName": .string(context.requestedName)]).serializedBytes()
        let response = try await hubRequest("POST /files", path: "files", body: body)
        let target = try BlobUploadTarget(parsing: response.body)
        context.target = target
        if let path = options.resumeStatePath {
            try FileUploadResumeState(requestedName: context.requestedName, target: target, blockSize: context.blockSize)
                .save(to: path)
        }
    }

    /// Completes the upload's correlation at the hub.
    private func notify(_ target: BlobUploadTarget, success: Bool, status: Int, description: String) async throws {
        let body = JSONValue.object([
            "correlationId": .string(target.correlationId), "isSuccess": .bool(success),
            "statusCode": .integer(Int64(status)), "statusDescription": .string(description),
        ]).serializedBytes()
        try await hubRequest("POST /files/notifications", path: "files/notifications", body: body)
    }

    @discardableResult
    private func hubRequest(_ operation: String, path: String, body: [UInt8]) async throws -> HTTPSResponse {
        let url = "https://\(hub.hostName):\(hub.port)/devices/\(PercentEncoding.encode(hub.deviceId))/\(path)"
            + "?api-version=\(Self.apiVersion)"
        var attempt = 0
        while true {
            var headers = ["Content-Type: application/json; charset=utf-8", "Accept: application/json"]
            if let authorization = try await hub.authorization() { headers.append("Authorization: \(authorization)") }
            // Two or three hub requests per upload: none keeps a connection open.
            let request = HTTPSRequest(method: .post, url: url, headers: headers, body: body, tls: hub.hubTLS,
                                       connectTimeout: hub.connectTimeout, stallTimeout: hub.stallTimeout,
                                       closesConnection: true)
            let decision: FileUploadDecision
            var answer: HTTPSResponse?
            do {
                let response = try await worker.perform(request)
                answer = response
                decision = .hub(operation, response: response)
            } catch let error as HTTPSTransportError {
                decision = .transport(operation, error)
            }
            switch decision {
            case .done:
                return answer!
            case .retry(let reason):
                attempt += 1
                try await backOff(attempt: attempt, reason: reason)
            case .renewSAS(let status, _, let message):
                throw FileUploadError.hubRefused(operation, status: status, message: message)
            case .fail(let error):
                throw error
            }
        }
    }
}
