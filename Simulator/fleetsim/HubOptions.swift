import ArgumentParser
import FleetSimulation
import Foundation

/// The options every fleetsim command that provisions devices takes: which hub, how to reach it, what to trust.
struct HubOptions: ParsableArguments {
    @Option(help: "Service connection string with RegistryWrite (default: $IOTHUB_CONNECTION_STRING).")
    var connectionString: String?

    @Option(help: "The hub's REST endpoint (default: https://{HostName}; http://127.0.0.1:PORT for a plain HTTP port).")
    var endpoint: String?

    @Option(help: "A CA file to trust for HTTPS and the device protocol over TLS (default: the system trust store).")
    var caFile: String?

    @Option(help: "Connect devices here instead of the connection string's HostName (e.g. 127.0.0.1); several, comma-separated, spread the devices over them (brokers or hub nodes on the same port).")
    var gateway: String?

    /// The `--gateway` hosts, in order (none when not given).
    var gateways: [String] {
        gateway.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } } ?? []
    }

    /// These options as command-line arguments again (for worker processes).
    var arguments: [String] {
        var arguments: [String] = []
        if let connectionString { arguments += ["--connection-string", connectionString] }
        if let endpoint { arguments += ["--endpoint", endpoint] }
        if let caFile { arguments += ["--ca-file", caFile] }
        if let gateway { arguments += ["--gateway", gateway] }
        return arguments
    }

    /// The provisioner for `--connection-string` (or `$IOTHUB_CONNECTION_STRING`), with `options` (concurrency,
    /// pacing, retries, seed).
    func provisioner(_ options: ProvisioningOptions = ProvisioningOptions()) throws -> FleetProvisioner {
        guard let serviceConnectionString = connectionString ?? ProcessInfo.processInfo.environment["IOTHUB_CONNECTION_STRING"]
        else {
            throw ValidationError("pass --connection-string or set IOTHUB_CONNECTION_STRING (a policy with RegistryWrite)")
        }
        return try FleetProvisioner(connectionString: serviceConnectionString, endpoint: endpoint, caFile: caFile,
                                    options: options)
    }
}
