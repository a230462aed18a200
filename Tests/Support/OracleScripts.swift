import Foundation

/// Where the Python oracle scripts (`Tests/Oracle`) and the interpreter with the official Azure SDKs are.
public enum OracleScripts {
    /// The repository root, from this file's location (`Tests/Support/`).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The interpreter: `$IOTHUB_TEST_PYTHON` when set, else the repository's `.venv/bin/python3` (made by `make test`).
    public static var python: String {
        if let explicit = ProcessInfo.processInfo.environment["IOTHUB_TEST_PYTHON"], !explicit.isEmpty {
            return explicit
        }
        return repositoryRoot.appendingPathComponent(".venv/bin/python3").path
    }

    /// The path of `Tests/Oracle/<name>`.
    public static func path(_ name: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/Oracle/\(name)").path
    }
}

/// The file an oracle script hands its result to (`oracle_result.emit` writes the JSON whole, then renames it into
/// place). The SDKs' background threads print to stdout too and can split a result line there, so results never
/// travel over stdout. The file is removed when this object goes away.
public final class OracleResultFile: Sendable {
    /// A fresh path in the temporary directory; nothing exists there until the script emits.
    public let path = FileManager.default.temporaryDirectory.appendingPathComponent("oracle-\(UUID().uuidString).json").path

    public init() {}

    /// The environment variable that tells the script where to write: set it to ``path``.
    public static let environmentVariable = "ORACLE_RESULT_FILE"

    /// What the script emitted, or `nil` when it has not (yet).
    public var contents: Data? { FileManager.default.contents(atPath: path) }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
