import ArgumentParser
import FleetSimulation
import Foundation
import IoTHubProtocol

/// `fleetsim provision`: creates or updates a fleet's devices in the registry, many bulk calls at a time, paced,
/// backing off when the hub throttles; idempotent, so an interrupted run is finished by running it again.
struct ProvisionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Create or update a fleet's devices in the registry: concurrent, paced, retried, idempotent.",
        discussion: """
            Sends bulk registry calls (POST /devices, createOrUpdate, --devices-per-call each) with --concurrency \
            in flight and at most --rate devices/s, retrying HTTP 429 and 503 and dropped connections with \
            exponential backoff and jitter (honouring Retry-After). Device ids are {prefix}{index}, as fleetsim run \
            names them. Both SAS keys of a device are base64(HMAC-SHA256(seed, deviceId)); without --seed a new \
            seed is made and printed. Running again with the same --seed is harmless, and `fleetsim run --scenario \
            FILE --seed S` (and its workers) derive keys the same way. Prints progress and a summary; exits 1 when a \
            device was not provisioned.
            """)

    @OptionGroup var hub: HubOptions

    @Option(help: ArgumentHelp(
        "Derive every device key from this base64 key: key = base64(HMAC-SHA256(seed, deviceId)) (default: a new random seed, printed).",
        discussion: "The same seed gives the same keys, so provisioning again changes nothing devices rely on."))
    var seed: String?

    @Option(help: "Devices to create or update (at most 1,000,000, IoT Hub's limit).")
    var devices: Int = 1000

    @Option(help: "Device id prefix: ids are {prefix}0 … {prefix}{devices-1}.")
    var prefix: String = "sim-"

    @Option(help: "Bulk calls in flight at once.")
    var concurrency: Int = 8

    @Option(help: "Devices per second at most (default: as fast as the hub answers).")
    var rate: Double?

    @Option(help: "Devices per bulk call (1 to 100).")
    var devicesPerCall: Int = 100

    @Option(help: "Attempts of one bulk call before provisioning stops (429, 503 and connection failures are retried).")
    var maxAttempts: Int = 12

    @Option(help: "Seconds between progress lines.")
    var progressSeconds: Double = 1

    @Option(help: "Also write the summary as JSON to this file.")
    var json: String?

    mutating func validate() throws {
        guard (1...1_000_000).contains(devices) else { throw ValidationError("--devices must be from 1 to 1,000,000") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        if let rate { guard rate > 0 else { throw ValidationError("--rate must be a positive number of devices/s") } }
        guard (1...100).contains(devicesPerCall) else { throw ValidationError("--devices-per-call must be from 1 to 100") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard progressSeconds > 0 else { throw ValidationError("--progress-seconds must be positive") }
        if let seed {
            guard let key = try? SharedAccessKey(base64: seed), (16...64).contains(key.bytes.count) else {
                throw ValidationError("--seed must be base64 of 16 to 64 bytes (provision prints one it made)")
            }
        }
    }

    func run() async throws {
        var options = ProvisioningOptions()
        options.concurrency = concurrency
        options.devicesPerSecond = rate
        options.devicesPerCall = devicesPerCall
        options.retry.maximumAttempts = maxAttempts
        options.progressInterval = .seconds(progressSeconds)
        let provisioner = try hub.provisioner(options)
        let key: SharedAccessKey
        if let seed {
            key = try SharedAccessKey(base64: seed)
        } else {
            key = SharedAccessKey.random()
            print("fleetsim provision: new seed \(key.base64) (pass --seed \(key.base64) to provision again with the same keys, or to fleetsim run --scenario)")
        }
        let pace = rate.map { ", at most \($0) devices/s" } ?? ""
        print("fleetsim provision: \(devices) devices \(prefix)0…\(prefix)\(devices - 1) through \(provisioner.endpoint), "
              + "\(concurrency) bulk calls of \(devicesPerCall) in flight\(pace)")
        fflush(nil)
        let ids = (0..<devices).map { "\(prefix)\($0)" }
        let summary = await provisioner.run(ids, seed: key) { progress in
            print("fleetsim provision: \(progress.text)")
            fflush(nil)
        }
        print(summary.text)
        if let json {
            try Data(summary.json.serializedBytes(style: .pretty)).write(to: URL(fileURLWithPath: json))
            print("fleetsim provision: summary written to \(json)")
        }
        if !summary.isComplete { throw ExitCode(1) }
    }
}
