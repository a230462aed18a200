import AsyncHTTPClient
import Foundation
import IoTHubProtocol
import NIOCore
import NIOSSL

/// Creates (or updates) the fleet's devices in the hub's identity registry through the service REST API, 100 per
/// bulk call, with keys it chooses, so the simulator knows every device's key without reading it back.
public struct FleetProvisioner: Sendable {
    /// A shared access policy connection string with RegistryWrite (`iothubowner` or `registryReadWrite`).
    public let connectionString: ConnectionString
    /// The REST endpoint, `https://{HostName}` unless given (`http://127.0.0.1:PORT` for a plain HTTP port).
    public let endpoint: String
    public let caFile: String?

    public init(connectionString: String, endpoint: String?, caFile: String?) throws(FleetError) {
        do {
            self.connectionString = try ConnectionString(parsing: connectionString)
        } catch {
            throw .invalidConfiguration("the service connection string is malformed: \(error)")
        }
        guard self.connectionString.kind == .policy else {
            throw .invalidConfiguration("provisioning needs a shared access policy connection string with RegistryWrite "
                                        + "(HostName=…;SharedAccessKeyName=iothubowner;SharedAccessKey=…)")
        }
        self.endpoint = endpoint ?? "https://\(self.connectionString.hostName)"
        self.caFile = caFile
    }

    /// Creates or updates `deviceIds` with SAS keys derived from `seed`; returns each device's primary key.
    public func provision(_ deviceIds: [String], seed: SharedAccessKey = .random()) async throws -> [String: String] {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) }
        tls.minimumTLSVersion = .tlsv12
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
        do {
            let keys = try await provision(deviceIds, seed: seed, http: http)
            try? await http.shutdown()
            return keys
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func provision(_ deviceIds: [String], seed: SharedAccessKey, http: HTTPClient) async throws -> [String: String] {
        var keys: [String: String] = [:]
        for start in stride(from: 0, to: deviceIds.count, by: 100) {
            let batch = deviceIds[start..<min(start + 100, deviceIds.count)]
            var operations: [JSONValue] = []
            for deviceId in batch {
                let key = seed.derivedDeviceKey(registrationId: deviceId).base64
                keys[deviceId] = key
                operations.append([
                    "id": .string(deviceId), "importMode": "createOrUpdate", "status": "enabled",
                    "authentication": ["type": "sas", "symmetricKey": ["primaryKey": .string(key), "secondaryKey": .string(key)]],
                ])
            }
            var request = HTTPClientRequest(url: endpoint + "/devices?api-version=2021-04-12")
            request.method = .POST
            request.headers.add(name: "Authorization", value: try token())
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(JSONValue.array(operations).serializedBytes())
            let response = try await http.execute(request, timeout: .seconds(60))
            let body = Array(buffer: try await response.body.collect(upTo: 4 << 20))
            guard (200..<300).contains(Int(response.status.code)) else {
                throw FleetError.provisioningFailed(status: Int(response.status.code), body: String(decoding: body, as: UTF8.self))
            }
            if let result = try? JSONValue(parsing: body), result["isSuccessful"]?.boolValue == false {
                throw FleetError.provisioningFailed(status: Int(response.status.code), body: String(decoding: body, as: UTF8.self))
            }
        }
        return keys
    }

    private func token() throws -> String {
        guard let keyName = connectionString.sharedAccessKeyName, let key = connectionString.sharedAccessKey else {
            throw FleetError.invalidConfiguration("the service connection string has no policy key")
        }
        return SASToken.generate(resourceURI: connectionString.hostName, key: try SharedAccessKey(base64: key),
                                 expiry: UInt64(Date().timeIntervalSince1970) + 3600, keyName: keyName,
                                 style: .serviceSDK).description
    }
}

/// Why a fleet run could not start or finish.
public enum FleetError: Error, Sendable, CustomStringConvertible {
    case invalidConfiguration(String)
    case provisioningFailed(status: Int, body: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason): "invalid fleet configuration: \(reason)"
        case .provisioningFailed(let status, let body):
            "creating the fleet's devices failed with HTTP \(status): \(body.prefix(500))"
        }
    }
}
