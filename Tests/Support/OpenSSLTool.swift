import Foundation

/// Runs the `openssl` command line tool, for tests that make keys and certificates.
public enum OpenSSLTool {
    /// Runs `openssl arguments…` and throws when it fails.
    public static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw OpenSSLToolError(arguments: arguments) }
    }
}

/// `openssl` exited with an error.
public struct OpenSSLToolError: Error, CustomStringConvertible {
    public let arguments: [String]
    public var description: String { "openssl \(arguments.joined(separator: " ")) failed" }
}
