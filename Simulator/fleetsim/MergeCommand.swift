import ArgumentParser
import FleetSimulation

/// `fleetsim merge PART.json…`: one report from the parts of a fleet run over several machines (`--shard i/N`):
/// histograms, counters and per-second series merge exactly.
struct MergeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge the run documents of a sharded fleet run into one report.")

    @Argument(help: "The run.json of every shard.")
    var files: [String]

    @Option(help: "Write run.json, report.md and report.html here.")
    var output: String = "fleetsim-reports/merged"

    func run() async throws {
        guard !files.isEmpty else { throw ValidationError("name the run.json of every shard") }
        var merged: FleetRunDocument?
        for file in files {
            let document: FleetRunDocument
            do {
                document = try FleetRunFiles.read(file)
            } catch {
                throw ValidationError(error.description)
            }
            if let first = merged, first.scenario != document.scenario {
                throw ValidationError("\(file) is a run of \(document.scenario), not \(first.scenario)")
            }
            if merged == nil { merged = document } else { merged?.merge(document) }
        }
        guard let merged else { return }
        let files = FleetRunFiles(directory: output)
        try files.write(merged)
        print(FleetMarkdownReport.render(merged))
        print("fleetsim merge: \(files.html) (also \(files.markdown), \(files.json))")
        let problems = FleetRunChecks.problems(merged)
        if !problems.isEmpty {
            for problem in problems { print("  - \(problem)") }
            throw ExitCode(1)
        }
    }
}
