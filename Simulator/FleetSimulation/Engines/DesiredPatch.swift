import IoTHubProtocol

/// A desired-properties patch as a simulated device sees it, whatever the protocol: counted, timed from the
/// service's send time in it, and returned without `$version` and that time, ready to echo as reported.
enum DesiredPatch {
    static func received(_ body: [UInt8], by shard: FleetShard) -> JSONObject? {
        shard.count("twin.desired-received")
        guard case .object(var patch)? = try? JSONValue(parsing: body) else { return nil }
        switch patch[FleetTimestamps.desiredField] {
        case .integer(let sent)?: shard.record(.desired, latency: shard.sinceWallClock(milliseconds: sent), count: nil)
        case .double(let sent)?: shard.record(.desired, latency: shard.sinceWallClock(milliseconds: Int64(sent)), count: nil)
        default: break
        }
        patch["$version"] = nil
        patch[FleetTimestamps.desiredField] = nil
        return patch.isEmpty ? nil : patch
    }
}
