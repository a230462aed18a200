import Glibc

/// The command line of a sample that takes only `--name value` (or `--name=value`) options, read without
/// ArgumentParser, so that such a sample links nothing but the SDK and the Swift runtime: built with
/// `--static-swift-stdlib` it carries neither Foundation nor ICU.
///
/// `-h` or `--help` prints the usage and exits 0; an unknown option, a missing value or a value out of range prints
/// the error and the usage and exits 1.
public struct SampleArguments: Sendable {
    private let values: [String: String]
    private let usage: String

    /// Parses `arguments` (default: the process's, without the program name).
    /// - Parameters:
    ///   - options: the option names the sample takes, without the leading `--`.
    ///   - usage: the usage text printed for `--help` and after an error.
    public init(_ arguments: [String] = Array(CommandLine.arguments.dropFirst()), options: Set<String>, usage: String) {
        self.usage = usage
        var values: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "-h" || argument == "--help" {
                print(usage)
                exit(0)
            }
            guard argument.hasPrefix("--") else { Self.fail("unexpected argument '\(argument)'", usage) }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard options.contains(name) else { Self.fail("unknown option '--\(name)'", usage) }
            if value == nil {
                guard index < arguments.count else { Self.fail("--\(name) needs a value", usage) }
                value = arguments[index]
                index += 1
            }
            values[name] = value
        }
        self.values = values
    }

    /// The value of `--name`, or `nil` when it was not given.
    public func string(_ name: String) -> String? { values[name] }

    /// The integer value of `--name`, `defaultValue` when it was not given; exits when it is not an integer of
    /// at least `minimum`.
    public func integer(_ name: String, default defaultValue: Int, minimum: Int = 0) -> Int {
        guard let text = values[name] else { return defaultValue }
        guard let value = Int(text), value >= minimum else {
            Self.fail("--\(name) must be an integer of at least \(minimum), not '\(text)'", usage)
        }
        return value
    }

    /// The transport named by `--transport` (default MQTT); exits when it is neither `mqtt` nor `amqp`.
    public func transport() -> SampleTransport {
        guard let text = values["transport"] else { return .mqtt }
        do { return try SampleTransport.parse(text) } catch { Self.fail(error.description, usage) }
    }

    private static func fail(_ message: String, _ usage: String) -> Never {
        SampleEnvironment.printError("error: \(message)\n\n\(usage)")
        exit(1)
    }
}
