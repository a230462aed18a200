/// The `?$rid=…&$version=…` query at the end of IoT Hub's `$iothub/…` topics.
struct TopicQuery {
    var values: [String: String] = [:]

    /// Splits `topic` at its first `?` into the path and the decoded query.
    /// Splits on Unicode scalars, not grapheme clusters, so that a combining mark after '?', '&' or '=' cannot
    /// hide it.
    static func split(_ topic: String) -> (path: Substring, query: TopicQuery) {
        let scalars = topic.unicodeScalars
        guard let question = scalars.firstIndex(of: "?") else { return (topic[...], TopicQuery()) }
        var query = TopicQuery()
        for pair in scalars[scalars.index(after: question)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query.values[PercentEncoding.decodeLenient(Substring(parts[0]))] =
                parts.count > 1 ? PercentEncoding.decodeLenient(Substring(parts[1])) : ""
        }
        return (Substring(scalars[..<question]), query)
    }

    /// The request id, which must be present and non-empty.
    func requestId(in topic: String) throws(MQTTNameError) -> String {
        guard let rid = values["$rid"], !rid.isEmpty else {
            throw .malformedTopic(topic, reason: "it has no $rid request id")
        }
        return rid
    }

    /// The optional `$version`, which must be a non-negative integer when present.
    func version(in topic: String) throws(MQTTNameError) -> Int64? {
        guard let text = values["$version"] else { return nil }
        guard let version = Int64(text), version >= 0 else {
            throw .malformedTopic(topic, reason: "$version '\(text)' is not a non-negative integer")
        }
        return version
    }
}

extension Sequence where Element == String {
    /// Sorted by Unicode code points, as Python sorts strings (Swift's `<` compares canonical equivalence).
    func sortedByCodePoints() -> [String] {
        sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) { $0.value < $1.value } }
    }
}
