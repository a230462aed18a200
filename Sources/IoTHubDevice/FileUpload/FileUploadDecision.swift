/// What to do with one answer (or transport failure) during an upload: a pure classification, so the rules for
/// retrying, renewing the SAS and giving up are tested without a network.
enum FileUploadDecision: Sendable, Equatable {
    /// The request succeeded.
    case done
    /// A transient failure (network, 5xx, 408, 429): retry after a backoff.
    case retry(reason: String)
    /// The storage refused the SAS (403): ask the hub for a new one, then retry once.
    case renewSAS(status: Int, storageCode: String?, message: String)
    /// Give up with this error.
    case fail(FileUploadError)

    /// The decision for the storage's answer to `operation`; `blockBytes` is the body's size (for a 413).
    static func storage(_ operation: String, response: HTTPSResponse, blockBytes: Int = 0) -> Self {
        let status = response.status
        if (200...299).contains(status) { return .done }
        let (code, message) = StorageXML.error(in: response.body)
        switch status {
        case 403:
            return .renewSAS(status: status, storageCode: code, message: message)
        case 413:
            return .fail(.blockTooLarge(size: blockBytes, message: message))
        case 507:
            return .fail(.storageQuotaExceeded(status: status, storageCode: code, message: message))
        case 409 where code.map(Self.isQuotaCode) ?? true:
            return .fail(.storageQuotaExceeded(status: status, storageCode: code, message: message))
        case 408, 429, 500, 502...599:
            return .retry(reason: "\(operation): the storage answered \(status)\(code.map { " (\($0))" } ?? ""): \(message)")
        default:
            return .fail(.storageFailed(operation, status: status, storageCode: code, message: message))
        }
    }

    /// Storage codes that mean "no room" (Azure's, and the companion hub's).
    private static func isQuotaCode(_ code: String) -> Bool {
        let lowered = code.lowercased()
        return ["quota", "capacity", "insufficient", "full", "space"].contains { lowered.contains($0) }
    }

    /// The decision for the hub's answer to `operation` (`POST /files` or the notification).
    static func hub(_ operation: String, response: HTTPSResponse) -> Self {
        let status = response.status
        if (200...299).contains(status) { return .done }
        let message = Self.hubMessage(response.body)
        switch status {
        case 408, 429, 500, 502...599:
            return .retry(reason: "\(operation): the hub answered \(status): \(message)")
        default:
            return .fail(.hubRefused(operation, status: status, message: message))
        }
    }

    /// The decision for a request that got no answer.
    static func transport(_ operation: String, _ error: HTTPSTransportError) -> Self {
        if error.isTLSVerificationFailure { return .fail(.tlsFailed("\(operation): \(error)")) }
        return .retry(reason: "\(operation): \(error)")
    }

    /// The hub's error text: IoT Hub answers `{"Message":"…","ExceptionMessage":"…"}`; anything else as text.
    private static func hubMessage(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(600), as: UTF8.self)
        return text.isEmpty ? "no message" : text
    }
}
