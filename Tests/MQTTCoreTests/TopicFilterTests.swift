import Testing
@testable import MQTTCore

@Suite("topic filters (MQTT 3.1.1 §4.7)")
struct TopicFilterTests {
    @Test("valid filters", arguments: [
        "#", "+", "/", "a", "a/b", "a/+", "+/b", "a/#", "+/+", "/+", "+/", "a//b", "sport/tennis/+/#", "$SYS/#",
        "日本/+", "a b/c",
    ])
    func valid(filter: String) throws {
        let parsed = try #require(MQTTTopicFilter(filter))
        #expect(parsed.string == filter)
        #expect(parsed.description == filter)
        #expect(MQTTTopicFilter.isValid(filter))
    }

    @Test("invalid filters", arguments: [
        "", "a/#/b", "a+", "#a", "a#", "+a", "a/b+", "a/#/", "##", "#/#", "+#", "a/+b/c", "a\u{0}",
    ])
    func invalid(filter: String) {
        #expect(MQTTTopicFilter(filter) == nil)
        #expect(!MQTTTopicFilter.isValid(filter))
    }

    @Test("length limit is 65535 UTF-8 bytes")
    func length() {
        #expect(MQTTTopicFilter.isValid(String(repeating: "a", count: 65535)))
        #expect(!MQTTTopicFilter.isValid(String(repeating: "a", count: 65536)))
        #expect(MQTTTopicFilter.isValidTopicName(String(repeating: "a", count: 65535)))
        #expect(!MQTTTopicFilter.isValidTopicName(String(repeating: "a", count: 65536)))
    }

    @Test("topic names")
    func topicNames() {
        for name in ["a", "/", "a/b", "$SYS/x", "a//b", " "] { #expect(MQTTTopicFilter.isValidTopicName(name), "\(name)") }
        for name in ["", "a/+", "#", "a\u{0}b"] { #expect(!MQTTTopicFilter.isValidTopicName(name), "\(name)") }
    }

    @Test("hasWildcards")
    func wildcards() throws {
        #expect(try #require(MQTTTopicFilter("a/+")).hasWildcards)
        #expect(try #require(MQTTTopicFilter("#")).hasWildcards)
        #expect(try !#require(MQTTTopicFilter("a/b")).hasWildcards)
    }

    /// (filter, topic, matches) — the examples of §4.7.1 and §4.7.2 and more edge cases.
    static let cases: [(String, String, Bool)] = [
        // §4.7.1.2 multi-level wildcard.
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
        ("sport/#", "sport", true),
        ("sport/#", "sports", false),
        ("sport/#", "sport/", true),
        ("#", "sport/tennis", true),
        ("#", "/", true),
        // §4.7.1.3 single-level wildcard.
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player2", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("+", "finance", true),
        ("+/tennis/#", "sport/tennis/player1", true),
        ("+/tennis/#", "sport/tennis", true),
        ("+/tennis/#", "sport/golf", false),
        // §4.7.2 topics beginning with $.
        ("#", "$SYS/uptime", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("$SYS/#", "$SYS/monitor/Clients", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("$iothub/methods/POST/#", "$iothub/methods/POST/reboot/?$rid=1", true),
        ("a/$b/+", "a/$b/c", true),
        ("+/$b", "a/$b", true),
        // Literal levels.
        ("a/b", "a/b", true),
        ("a/b", "a/b/", false),
        ("a/b", "a/bc", false),
        ("a/bc", "a/b", false),
        ("a//b", "a//b", true),
        ("a/+/b", "a//b", true),
        ("/", "/", true),
        ("日本/+", "日本/東京", true),
        ("A", "a", false),
        // Invalid topic names never match.
        ("#", "", false),
        ("+", "", false),
        ("a/+", "a/+", false),
        ("#", "a/#", false),
    ]

    @Test("matching", arguments: cases)
    func matching(filter: String, topic: String, expected: Bool) throws {
        let parsed = try #require(MQTTTopicFilter(filter))
        #expect(parsed.matches(topic: topic) == expected)
    }

    @Test("'#' matches every valid topic not starting with '$'; '+' exactly the single-level ones")
    func randomTopics() {
        var random = RandomPackets(seed: 0x5EED_0004)
        let all = MQTTTopicFilter("#")!
        let single = MQTTTopicFilter("+")!
        for _ in 0..<2000 {
            let topic = random.topicName()
            #expect(all.matches(topic: topic) == !topic.hasPrefix("$"))
            #expect(single.matches(topic: topic) == (!topic.hasPrefix("$") && !topic.contains("/")))
            // A topic name is always a valid filter matching exactly itself.
            #expect(MQTTTopicFilter(topic)?.matches(topic: topic) == true)
        }
    }
}
