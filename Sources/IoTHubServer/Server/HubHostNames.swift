import Foundation

/// The names a hub answers to, as its data directory remembers them (`hostnames`, one per line, the primary first),
/// so the admin verbs find the hub without `--hostname` again.
public enum HubHostNames {
    static func path(_ dataDirectory: String) -> String { dataDirectory + "/hostnames" }

    /// The names the last `iothub serve` on this data directory used; empty when it never ran.
    public static func remembered(dataDirectory: String) -> [String] {
        guard let text = try? String(contentsOfFile: path(dataDirectory), encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Records `names` (written whole, then renamed into place). A failure is not fatal: the verbs then need
    /// `--hostname`.
    static func remember(_ names: [String], dataDirectory: String) {
        var unique: [String] = []
        for name in names where !unique.contains(where: { $0.lowercased() == name.lowercased() }) { unique.append(name) }
        guard unique != remembered(dataDirectory: dataDirectory) else { return }
        let temporary = path(dataDirectory) + ".partial"
        guard (try? (unique.joined(separator: "\n") + "\n").write(toFile: temporary, atomically: false, encoding: .utf8)) != nil
        else { return }
        _ = rename(temporary, path(dataDirectory))
    }
}
