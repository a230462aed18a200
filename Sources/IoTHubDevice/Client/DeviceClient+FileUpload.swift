import IoTHubProtocol

extension DeviceClient {
    /// Uploads the file at `path` to the hub's storage as blob `{deviceId}/{name}`, and tells the hub when it is
    /// complete (which raises a file upload notification for the back end).
    ///
    /// The file is streamed in blocks of ``FileUploadOptions/blockSize`` (4 MiB by default): memory stays at about
    /// one block whatever the file's size. Each request is retried by ``FileUploadOptions/retryPolicy``; a refused
    /// or expired SAS is renewed with the hub. With ``FileUploadOptions/resumeStatePath`` set, an interrupted
    /// upload (a network outage, a crash, a reboot) continues on the next call: it sends only the blocks the
    /// storage does not already hold.
    ///
    /// The client need not be connected: uploads use HTTPS to the hub (``DeviceClientOptions/httpsPort``) and
    /// to the storage, verified like the client's other connections (``DeviceClientOptions/trust``); an X.509
    /// device presents its certificate to the hub.
    ///
    /// ```swift
    /// var options = FileUploadOptions()
    /// options.resumeStatePath = "/var/lib/sensor/upload.state"
    /// let result = try await client.uploadFile(named: "logs/today.log", from: "/var/log/sensor.log", options: options)
    /// print(result.blobName, result.sha256Hex)
    /// ```
    /// - Parameters:
    ///   - name: the blob's name below the device's folder (IoT Hub puts it at `{deviceId}/{name}`).
    ///   - path: the file to upload.
    ///   - options: block size, retries, progress and resume state.
    /// - Returns: the blob's name, size and SHA-256, and how many blocks were sent or already stored.
    /// - Throws: ``FileUploadError`` (its ``FileUploadError/isResumable`` says whether another call with the same
    ///   state file continues), or `CancellationError` when the task is cancelled (resumable too).
    public func uploadFile(named name: String, from path: String, options: FileUploadOptions = FileUploadOptions())
        async throws -> FileUploadResult
    {
        var reader = try FileBlockReader(path: path)
        return try await fileUploadSession(options).run(blobName: name, source: &reader)
    }

    /// Uploads the bytes of `chunks` (chunks of any sizes, for example from a sensor or a compressor) to the hub's
    /// storage as blob `{deviceId}/{name}`, and tells the hub when it is complete.
    ///
    /// Like ``uploadFile(named:from:options:)-(_,String,_)``, it holds about one block in memory. To resume after
    /// a failure, call it again with the same ``FileUploadOptions/resumeStatePath`` and a sequence that yields the
    /// same bytes from the start: blocks the storage already holds are read and hashed but not sent again.
    ///
    /// ```swift
    /// let chunks = AsyncStream<[UInt8]> { continuation in
    ///     for reading in readings { continuation.yield(Array("\(reading)\n".utf8)) }
    ///     continuation.finish()
    /// }
    /// let result = try await client.uploadFile(named: "readings.csv", from: chunks)
    /// ```
    /// - Throws: ``FileUploadError``; ``FileUploadError/Code/sourceUnreadable`` when the sequence throws.
    public func uploadFile<Chunks: AsyncSequence>(named name: String, from chunks: Chunks,
                                                  options: FileUploadOptions = FileUploadOptions())
        async throws -> FileUploadResult where Chunks.Element == [UInt8]
    {
        var reader = ChunkSequenceBlockReader(chunks)
        return try await fileUploadSession(options).run(blobName: name, source: &reader)
    }

    private func fileUploadSession(_ options: FileUploadOptions) throws(FileUploadError) -> FileUploadSession {
        guard identity.moduleId == nil else {
            throw .invalidArgument("IoT Hub accepts file uploads from devices, not modules; upload with the device's "
                                   + "own client (\(identity.deviceId))")
        }
        // `credentials` and `options` are constants of the core: safe to read from any thread.
        let clientOptions = core.value.options
        let credentials = core.value.credentials
        let isX509: Bool
        if case .x509 = credentials.credential { isX509 = true } else { isX509 = false }
        var storageTLS = HTTPSTLSSettings()
        if let context = clientOptions.tlsContext {
            // The application's context (or the X.509 device's): verify with its trust store.
            storageTLS.context = context
            storageTLS.adoptsTrustStore = true
        } else if case .caFile(let path) = clientOptions.trust {
            storageTLS.caFile = path
        }
        var hubTLS = storageTLS
        hubTLS.presentsClientCertificate = isX509
        let hub = FileUploadSession.Hub(
            hostName: clientOptions.gatewayHostName ?? hostName, port: clientOptions.httpsPort,
            deviceId: identity.deviceId,
            authorization: {
                try await withCheckedThrowingContinuation { continuation in
                    credentials.token { result in continuation.resume(with: result.map { $0?.value }) }
                }
            },
            hubTLS: hubTLS, storageTLS: storageTLS, connectTimeout: clientOptions.connectTimeout,
            stallTimeout: clientOptions.operationTimeout)
        return FileUploadSession(worker: try UnsafeCurlWorker.shared(), hub: hub, options: options,
                                 logger: clientOptions.logger)
    }
}
