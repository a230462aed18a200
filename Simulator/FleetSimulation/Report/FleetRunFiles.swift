import Foundation

/// A run's files in one directory: `run.json` (the document, every figure), `report.md` and `report.html`.
public struct FleetRunFiles: Sendable {
    public var directory: String
    public var json: String { directory + "/run.json" }
    public var markdown: String { directory + "/report.md" }
    public var html: String { directory + "/report.html" }

    public init(directory: String) { self.directory = directory }

    /// Writes all three (creating the directory).
    public func write(_ document: FleetRunDocument) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(document).write(to: URL(fileURLWithPath: json))
        try Data(FleetMarkdownReport.render(document).utf8).write(to: URL(fileURLWithPath: markdown))
        try Data(FleetHTMLReport.render(document).utf8).write(to: URL(fileURLWithPath: html))
    }

    /// Reads a run document, with errors that name the file.
    public static func read(_ path: String) throws(FleetError) -> FleetRunDocument {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .invalidConfiguration("cannot read \(path): \(error.localizedDescription)")
        }
        let document: FleetRunDocument
        do {
            document = try JSONDecoder().decode(FleetRunDocument.self, from: data)
        } catch {
            throw .invalidConfiguration("\(path) is not a fleetsim run document: \(error)")
        }
        guard document.format <= FleetRunDocument.currentFormat else {
            throw .invalidConfiguration("\(path) has format \(document.format); this fleetsim reads up to \(FleetRunDocument.currentFormat)")
        }
        return document
    }
}
