import AsyncHTTPClient
import IoTHubProtocol
import NIOHTTP1

extension ServiceClient {
    /// Makes sure the hub trusts `authority` for CA-signed devices: uploads its certificate as verified under
    /// ``FleetCertificateAuthority/certificateName`` (`PUT /certificates/{name}` with `isVerified`), unless a
    /// verified certificate of that name is there already (the name comes from the key, so it is the same CA).
    /// - Throws: ``FleetError/invalidConfiguration(_:)`` with the hub's answer when it refuses.
    public func uploadCertificateAuthority(_ authority: FleetCertificateAuthority) async throws {
        let path = "certificates/\(authority.certificateName)"
        let existing = try await execute(request(path, method: .GET), timeout: .seconds(30))
        var ifMatch: String?
        if existing.status == 200, case .object(let record)? = try? JSONValue(parsing: existing.body) {
            if case .object(let properties)? = record["properties"], properties["isVerified"] == .bool(true) { return }
            if case .string(let etag)? = record["etag"] { ifMatch = etag }
        } else if existing.status != 404 {
            throw FleetError.invalidConfiguration(
                "the hub answered \(existing.status) to GET /\(path): \(String(decoding: existing.body.prefix(300), as: UTF8.self))")
        }
        let body: JSONValue = ["properties": ["certificate": .string(authority.certificatePEM), "isVerified": true]]
        var put = request(path, method: .PUT, body: body.serializedBytes())
        if let ifMatch { put.headers.add(name: "If-Match", value: ifMatch) }
        let answer = try await execute(put, timeout: .seconds(30))
        guard (200..<300).contains(answer.status) else {
            throw FleetError.invalidConfiguration(
                "the hub refused the fleet's CA certificate (\(answer.status)): \(String(decoding: answer.body.prefix(300), as: UTF8.self)); "
                + "at Azure IoT Hub, upload and verify it yourself or use SAS groups")
        }
    }
}
