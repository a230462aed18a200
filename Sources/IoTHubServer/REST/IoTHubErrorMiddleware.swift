import Foundation
import Hummingbird
import HTTPTypes
import IoTHubProtocol
import Logging

/// Turns every failure into IoT Hub's error response: the status of the error code, an `iothub-errorcode`
/// header, and the JSON body the official SDKs read:
/// `{"Message":"ErrorCode:DeviceNotFound;…","ExceptionMessage":"Tracking ID:…","errorCode":404001,…}`.
public struct IoTHubErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: HubMetrics?

    public init(metrics: HubMetrics? = nil) {
        self.metrics = metrics
    }

    public func handle(_ request: Request, context: Context,
                       next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HubError {
            metrics?.error(error.code, protocol: "https")
            Self.log(error, request: request, logger: context.logger)
            return Self.response(for: error)
        } catch let error as HTTPError {
            let code: IoTHubErrorCode = switch error.status.code {
            case 401: .iotHubUnauthorizedAccess
            case 404: .deviceNotFound
            case 413: .messageTooLarge
            case 400..<500: .argumentInvalid
            default: .serverError
            }
            let hubError = HubError(code, error.body ?? error.status.reasonPhrase)
            Self.log(hubError, request: request, logger: context.logger, status: error.status.code)
            var response = Self.response(for: hubError)
            if error.status.code == 404 || error.status.code == 405 { response.status = error.status }
            return response
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return Self.response(for: HubError(.serverError, "the hub failed to process the request; retry"))
        }
    }

    /// Every refusal leaves a line with its reason: 4xx at info (the caller's mistake, which its operator may need
    /// to see), 5xx at error. The Authorization header is never logged.
    static func log(_ error: HubError, request: Request, logger: Logger, status: Int? = nil) {
        let status = status ?? error.code.httpStatus
        let metadata: Logger.Metadata = [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
            "errorCode": "\(error.code.rawValue)", "reason": "\(error.message)",
        ]
        if status >= 500 {
            logger.error("request failed", metadata: metadata)
        } else {
            logger.info("request refused", metadata: metadata)
        }
    }

    /// IoT Hub's error response for `error`.
    public static func response(for error: HubError) -> Response {
        let tracking = UUID().uuidString.replacingOccurrences(of: "-", with: "").uppercased()
        let timestamp = Timestamps.iso8601(Date())
        let body: [String: Any] = [
            "Message": "ErrorCode:\(error.code.name);\(error.message)",
            "ExceptionMessage": "Tracking ID:\(tracking)-TimeStamp:\(timestamp)",
            "errorCode": error.code.rawValue,
            "trackingId": tracking,
            "message": error.message,
            "timestampUtc": timestamp,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[HTTPField.Name("iothub-errorcode")!] = error.code.name
        return Response(status: HTTPResponse.Status(code: error.code.httpStatus), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
