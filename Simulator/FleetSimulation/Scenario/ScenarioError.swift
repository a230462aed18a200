/// A mistake in a scenario file, with where it is and which field: `mixed.yaml:14:17: groups[0].telemetry.interval:
/// expected a duration such as 10s, 250ms or 5m, not "ten"`.
public struct ScenarioError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the YAML itself could not be read to a position.
    public var line: Int
    public var column: Int
    /// The field's path, e.g. `groups[1].methods[0].status`.
    public var field: String
    public var message: String

    public var description: String {
        let place = line > 0 ? "\(file):\(line):\(column)" : file
        return field.isEmpty ? "\(place): \(message)" : "\(place): \(field): \(message)"
    }
}
