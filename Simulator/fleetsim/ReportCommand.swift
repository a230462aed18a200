import ArgumentParser
import FleetSimulation
import Foundation

/// `fleetsim report FILE.json`: renders a run's JSON document again, as Markdown and self-contained HTML.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render a run's JSON document as Markdown and self-contained HTML.",
        discussion: "Writes FILE.md and FILE.html beside FILE.json unless --markdown or --html name other paths.")

    @Argument(help: "A run document written by fleetsim (--json).")
    var file: String

    @Option(help: "Where to write the Markdown report.")
    var markdown: String?

    @Option(help: "Where to write the HTML report.")
    var html: String?

    func run() async throws {
        let document: FleetRunDocument
        do {
            document = try FleetRunFiles.read(file)
        } catch {
            throw ValidationError(error.description)
        }
        let base = file.hasSuffix(".json") ? String(file.dropLast(5)) : file
        let markdownPath = markdown ?? base + ".md", htmlPath = html ?? base + ".html"
        try Data(FleetMarkdownReport.render(document).utf8).write(to: URL(fileURLWithPath: markdownPath))
        try Data(FleetHTMLReport.render(document).utf8).write(to: URL(fileURLWithPath: htmlPath))
        print("fleetsim report: \(markdownPath), \(htmlPath)")
    }
}
