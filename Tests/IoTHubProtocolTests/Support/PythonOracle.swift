import Foundation
import IoTHubTestSupport
import Testing

/// Runs `Tests/Oracle/azure_device_oracle.py` with the official Azure IoT Python SDKs installed by `make test`.
///
/// All requests go to one Python process (importing the SDKs takes about a second), and the answers come back in
/// order. The interpreter is `$IOTHUB_TEST_PYTHON`, else the repository's `.venv/bin/python3`. A missing
/// interpreter fails the test: these comparisons are the point of the test, so they never skip silently.
enum PythonOracle {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends `requests` (each a JSON object with an `op`) and returns one answer per request:
    /// `.success(value)` or `.failure(error text from the SDK)`.
    static func ask(_ requests: [[String: Any]]) throws -> [Result<Any, Failure>] {
        let python = OracleScripts.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw Failure(description: """
                no Python with the official Azure SDKs at \(python); run `make test` (it creates .venv), \
                or set IOTHUB_TEST_PYTHON
                """)
        }
        let input = try JSONSerialization.data(withJSONObject: requests)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [OracleScripts.path("azure_device_oracle.py")]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Write on another thread so a large answer cannot deadlock against a full input pipe.
        let writer = Thread {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "oracle exited with \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        guard let answers = try JSONSerialization.jsonObject(with: output) as? [[String: Any]],
              answers.count == requests.count
        else {
            throw Failure(description: "oracle answered with something unexpected: \(String(decoding: output.prefix(500), as: UTF8.self))")
        }
        return answers.map { answer in
            if let error = answer["error"] as? String { return .failure(Failure(description: error)) }
            return .success(answer["ok"] ?? NSNull())
        }
    }

    /// Like ``ask(_:)``, but every answer must be a success.
    static func values(_ requests: [[String: Any]]) throws -> [Any] {
        try ask(requests).map { try $0.get() }
    }
}
