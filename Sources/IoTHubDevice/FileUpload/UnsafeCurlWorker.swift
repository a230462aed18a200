import CCurl
import Glibc
import Synchronization

/// One thread per process that drives one libcurl multi handle for every HTTPS request the SDK makes (file
/// uploads of all clients): requests arrive through a locked queue, `curl_multi_wakeup` interrupts the worker's
/// `curl_multi_poll`, and each finished transfer resumes its caller's continuation.
///
/// No thread per device or per upload: a thousand devices uploading share this one thread, and libcurl keeps
/// connections to the same storage host alive between blocks.
final class UnsafeCurlWorker: @unchecked Sendable {
    // @unchecked: `incoming` is a Mutex; `multi` and `active` are touched only on the worker thread (the multi
    // handle's curl_multi_wakeup is the one call libcurl allows from other threads).

    private struct Incoming {
        var added: [(id: UInt64, request: HTTPSRequest, continuation: UnsafeCurlTransfer.Continuation)] = []
        var cancelled: [UInt64] = []
    }

    private let multi: UnsafeMutableRawPointer
    private let incoming = Mutex(Incoming())
    private let nextId = Atomic<UInt64>(1)
    /// Worker-thread state: transfers added to the multi handle, by easy handle.
    private var active: [UnsafeMutableRawPointer: UnsafeCurlTransfer] = [:]

    private static let instance = Mutex<UnsafeCurlWorker?>(nil)

    /// The process's worker, started on first use.
    /// - Throws: ``FileUploadError`` when libcurl cannot be initialised or the thread cannot start.
    static func shared() throws(FileUploadError) -> UnsafeCurlWorker {
        let result: Result<UnsafeCurlWorker, FileUploadError> = instance.withLock { instance in
            if let instance { return .success(instance) }
            do throws(FileUploadError) {
                let worker = try UnsafeCurlWorker()
                instance = worker
                return .success(worker)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private init() throws(FileUploadError) {
        // Not thread-safe in libcurl, hence under the instance lock, once.
        guard curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK, let multi = curl_multi_init() else {
            throw .transferFailed("libcurl could not be initialised (out of memory?)", attempts: 0)
        }
        self.multi = multi
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 64)
        var thread = pthread_t()
        let unmanaged = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { argument in
            let worker = Unmanaged<UnsafeCurlWorker>.fromOpaque(argument!).takeRetainedValue()
            worker.run()
            return nil
        }, unmanaged.toOpaque())
        guard rc == 0 else {
            unmanaged.release()
            curl_multi_cleanup(multi)
            throw .transferFailed("cannot start the HTTPS worker thread: \(String(cString: strerror(rc)))", attempts: 0)
        }
        pthread_detach(thread)
    }

    /// Performs `request` and returns its response (any status). Cancelling the task aborts the transfer.
    /// - Throws: ``HTTPSTransportError`` when no response arrived, `CancellationError` when cancelled.
    func perform(_ request: HTTPSRequest) async throws -> HTTPSResponse {
        let id = nextId.wrappingAdd(1, ordering: .relaxed).oldValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let accepted = incoming.withLock { incoming in
                    // Checked under the lock the cancellation handler takes too: either it sees the request queued,
                    // or the request sees the task cancelled.
                    guard !Task.isCancelled else { return false }
                    incoming.added.append((id, request, continuation))
                    return true
                }
                if accepted {
                    curl_multi_wakeup(multi)
                } else {
                    continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            incoming.withLock { $0.cancelled.append(id) }
            curl_multi_wakeup(multi)
        }
    }

    // MARK: The worker thread

    private func run() {
        while true {
            admit()
            var running: Int32 = 0
            _ = curl_multi_perform(multi, &running)
            collectFinished()
            // Sleeps until a socket is ready, libcurl's next timeout, or curl_multi_wakeup.
            _ = curl_multi_poll(multi, nil, 0, active.isEmpty ? 60_000 : 1_000, nil)
        }
    }

    private func admit() {
        let taken = incoming.withLock { incoming in
            defer { incoming = Incoming() }
            return incoming
        }
        for item in taken.added {
            guard let transfer = UnsafeCurlTransfer(id: item.id, request: item.request, continuation: item.continuation) else {
                continue
            }
            let code = curl_multi_add_handle(multi, transfer.handle)
            guard code == CURLM_OK else {
                transfer.finish(.failure(HTTPSTransportError(code: Int(code.rawValue),
                                                             message: String(cString: curl_multi_strerror(code)))))
                continue
            }
            active[transfer.handle] = transfer
        }
        for id in taken.cancelled {
            guard let (handle, transfer) = active.first(where: { $0.value.id == id }) else { continue }
            curl_multi_remove_handle(multi, handle)
            active[handle] = nil
            transfer.finish(.failure(CancellationError()))
        }
    }

    private func collectFinished() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            curl_multi_remove_handle(multi, handle)
            active.removeValue(forKey: handle)?.complete(code: code)
        }
    }
}
