import CCurl
import Glibc

/// One libcurl easy handle and the request it carries: owns the handle, its header list and error buffer, and the
/// body it streams from (`CURLOPT_READFUNCTION` reads straight out of the request's bytes, so a block is never
/// copied). Only ``UnsafeCurlWorker``'s thread touches it after ``init(id:request:continuation:)``.
final class UnsafeCurlTransfer {
    typealias Continuation = CheckedContinuation<HTTPSResponse, any Error>

    let id: UInt64
    let handle: UnsafeMutableRawPointer
    private let request: HTTPSRequest
    private var continuation: Continuation?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var bodyOffset = 0
    private var received: [UInt8] = []
    private var responseTooLarge = false

    /// Creates the easy handle and sets every option; `nil` when libcurl cannot make a handle or refuses an option
    /// (the continuation is then resumed with the error).
    init?(id: UInt64, request: HTTPSRequest, continuation: Continuation) {
        guard let handle = curl_easy_init() else {
            continuation.resume(throwing: HTTPSTransportError(code: Int(CURLE_OUT_OF_MEMORY.rawValue),
                                                              message: "libcurl could not create a handle"))
            return nil
        }
        self.id = id
        self.handle = handle
        self.request = request
        self.continuation = continuation
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        if let failure = configure() {
            finish(.failure(failure))
            return nil
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    private func configure() -> HTTPSTransportError? {
        let me = Unmanaged.passUnretained(self).toOpaque()
        var codes: [CURLcode] = []
        func long(_ option: CURLoption, _ value: Int) { codes.append(ccurl_easy_setopt_long(handle, option, value)) }
        func string(_ option: CURLoption, _ value: String) { codes.append(ccurl_easy_setopt_string(handle, option, value)) }

        string(CURLOPT_URL, request.url)
        string(CURLOPT_PROTOCOLS_STR, "https")
        long(CURLOPT_NOSIGNAL, 1)
        long(CURLOPT_SSL_VERIFYPEER, 1)
        long(CURLOPT_SSL_VERIFYHOST, 2)
        long(CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2))
        long(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout))
        long(CURLOPT_LOW_SPEED_LIMIT, 1)
        long(CURLOPT_LOW_SPEED_TIME, max(1, Self.milliseconds(request.stallTimeout) / 1000))
        codes.append(ccurl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        codes.append(ccurl_easy_setopt_write_function(handle) { data, size, count, user in
            Unmanaged<UnsafeCurlTransfer>.fromOpaque(user!).takeUnretainedValue()
                .receive(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        codes.append(ccurl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, me))
        if let caFile = request.tls.caFile { string(CURLOPT_CAINFO, caFile) }
        if request.tls.context != nil && (request.tls.adoptsTrustStore || request.tls.presentsClientCertificate) {
            codes.append(ccurl_easy_setopt_ssl_ctx_function(handle) { _, sslContext, user in
                Unmanaged<UnsafeCurlTransfer>.fromOpaque(user!).takeUnretainedValue().adopt(sslContext)
            })
            codes.append(ccurl_easy_setopt_pointer(handle, CURLOPT_SSL_CTX_DATA, me))
        }
        if request.tls.presentsClientCertificate {
            // A connection that carries this device's certificate serves this request only.
            long(CURLOPT_FRESH_CONNECT, 1)
            long(CURLOPT_FORBID_REUSE, 1)
            long(CURLOPT_SSL_SESSIONID_CACHE, 0)
        } else if request.closesConnection {
            long(CURLOPT_FORBID_REUSE, 1)
        }

        switch request.method {
        case .get:
            long(CURLOPT_HTTPGET, 1)
        case .put:
            long(CURLOPT_UPLOAD, 1)
            codes.append(ccurl_easy_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.count)))
        case .post:
            long(CURLOPT_POST, 1)
            codes.append(ccurl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
        }
        if request.method != .get {
            codes.append(ccurl_easy_setopt_read_function(handle) { buffer, size, count, user in
                Unmanaged<UnsafeCurlTransfer>.fromOpaque(user!).takeUnretainedValue()
                    .send(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
            })
            codes.append(ccurl_easy_setopt_pointer(handle, CURLOPT_READDATA, me))
            codes.append(ccurl_easy_setopt_seek_function(handle) { user, offset, origin in
                Unmanaged<UnsafeCurlTransfer>.fromOpaque(user!).takeUnretainedValue().seek(to: Int(offset), origin: origin)
            })
            codes.append(ccurl_easy_setopt_pointer(handle, CURLOPT_SEEKDATA, me))
        }
        // No "Expect: 100-continue" round trip before a block; curl's default content type for POST is replaced
        // by the caller's headers where it matters.
        for line in request.headers + ["Expect:"] {
            guard let list = curl_slist_append(headerList, line) else {
                return HTTPSTransportError(code: Int(CURLE_OUT_OF_MEMORY.rawValue), message: "out of memory for headers")
            }
            headerList = list
        }
        codes.append(ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        if let failed = codes.first(where: { $0 != CURLE_OK }) {
            return HTTPSTransportError(code: Int(failed.rawValue),
                                       message: "libcurl refused an option: \(String(cString: curl_easy_strerror(failed)))")
        }
        return nil
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    // MARK: Callbacks (on the worker thread, inside curl_multi_perform)

    private func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard received.count + bytes.count <= request.maximumResponseBytes else {
            responseTooLarge = true
            return 0
        }
        received.append(contentsOf: bytes)
        return bytes.count
    }

    private func send(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, request.body.count - bodyOffset)
        guard count > 0 else { return 0 }
        request.body.withUnsafeBytes { body in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[bodyOffset..<bodyOffset + count]))
        }
        bodyOffset += count
        return count
    }

    private func seek(to offset: Int, origin: Int32) -> Int32 {
        // libcurl rewinds with SEEK_SET (to resend on a fresh connection after a reused one died).
        guard origin == SEEK_SET, (0...request.body.count).contains(offset) else { return 1 }  // CURL_SEEKFUNC_FAIL
        bodyOffset = offset
        received.removeAll()
        return 0  // CURL_SEEKFUNC_OK
    }

    private func adopt(_ sslContext: UnsafeMutableRawPointer?) -> CURLcode {
        guard let sslContext, let source = request.tls.context else { return CURLE_SSL_CERTPROBLEM }
        let adopted = ccurl_adopt_ssl_context(OpaquePointer(sslContext), source.context,
                                              request.tls.adoptsTrustStore ? 1 : 0,
                                              request.tls.presentsClientCertificate ? 1 : 0)
        return adopted == 1 ? CURLE_OK : CURLE_SSL_CERTPROBLEM
    }

    // MARK: Completion

    /// Resumes the caller with the outcome of `code` (libcurl's result for the transfer).
    func complete(code: CURLcode) {
        guard code == CURLE_OK else {
            if responseTooLarge {
                finish(.failure(HTTPSTransportError(code: Int(code.rawValue),
                                                    message: "the response is over \(request.maximumResponseBytes) bytes")))
                return
            }
            let detail = String(cString: errorBuffer)
            let text = String(cString: curl_easy_strerror(code))
            finish(.failure(HTTPSTransportError(code: Int(code.rawValue), message: detail.isEmpty ? text : "\(text): \(detail)")))
            return
        }
        var status = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        finish(.success(HTTPSResponse(status: status, body: received)))
    }

    /// Resumes the caller with `result`, once.
    func finish(_ result: Result<HTTPSResponse, any Error>) {
        continuation?.resume(with: result)
        continuation = nil
    }
}
