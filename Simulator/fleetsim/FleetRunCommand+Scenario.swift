import ArgumentParser
import FleetSimulation
import Foundation
import IoTHubDevice
import IoTHubProtocol

extension FleetRunCommand {
    /// `--scenario FILE`: the scenario's fleet (or this shard's part of it) in this process or in worker
    /// processes, the service side, the live display, and the three report files.
    func runScenario(_ path: String) async throws {
        let scenario = try Self.loadScenario(path, durationSeconds: durationSeconds, scale: scale)
        let ids = ScenarioRun.deviceIds(scenario)
        var slice = 0..<ids.count
        if let shard {
            guard let (index, count) = FleetSlices.shard(shard) else {
                throw ValidationError("--shard must be i/N with 0 ≤ i < N, not \(shard)")
            }
            slice = FleetSlices.split(slice, into: count)[index]
        }
        guard devicesPerWorker >= 1, devicesPerWorker <= 19_000 else {
            throw ValidationError("--devices-per-worker must be from 1 to 19,000 (one process opens at most 20,000 files here)")
        }
        // File descriptors decide: a native MQTT device holds a socket, native AMQP devices share one per 995.
        let load = Self.descriptorLoad(scenario, slice: slice)
        let processes = workers ?? FleetSlices.workers(devices: load, perProcess: devicesPerWorker)
        guard processes >= 1, load / processes <= 19_000 else {
            throw ValidationError("\(load) sockets over \(processes) worker(s) is over 19,000 per process; use more workers")
        }
        var provisioner = try hub.provisioner()
        let keySeed: SharedAccessKey
        if let seed {
            guard let parsed = try? SharedAccessKey(base64: seed) else { throw ValidationError("--seed must be base64") }
            keySeed = parsed
        } else {
            keySeed = .random()
        }
        let mine = Array(ids[slice])
        print("fleetsim: scenario \(scenario.name) from \(path): \(ids.count) devices in \(scenario.groups.count) group(s), "
              + "\(scenario.duration.components.seconds) s" + (shard.map { "; shard \($0): \(slice.count) devices" } ?? ""))
        // X.509 groups: CA-signed devices, the CA derived from the seed like the keys.
        let authority = try Self.certificateAuthority(scenario, seed: keySeed)
        let keys: [String: String]
        if noProvision {
            keys = FleetProvisioner.derivedKeys(for: mine, seed: keySeed)
        } else {
            if let authority {
                print("fleetsim: uploading the fleet's CA certificate as \(authority.certificateName)")
                let service = try ServiceClient(connectionString: provisioner.connectionString, endpoint: hub.endpoint,
                                                caFile: hub.caFile, connections: 1)
                do {
                    try await service.uploadCertificateAuthority(authority)
                    await service.shutdown()
                } catch {
                    await service.shutdown()
                    throw error
                }
                provisioner.certificateAuthorityDevices = Self.x509DeviceIds(scenario, slice: slice)
            }
            print("fleetsim: creating \(mine.count) devices through \(provisioner.endpoint)")
            fflush(nil)
            keys = try await provisioner.provision(mine, seed: keySeed)
        }

        let files = FleetRunFiles(directory: output ?? "fleetsim-reports/\(scenario.name)-\(Self.fileTimestamp())")
        let document: FleetRunDocument
        if processes == 1 {
            document = try await runInProcess(scenario, slice: slice, total: ids.count, keys: keys, provisioner: provisioner,
                                              authority: authority)
        } else {
            print("fleetsim: \(processes) worker processes, \(slice.count / processes)–\((slice.count + processes - 1) / processes) devices each")
            fflush(nil)
            let pool = WorkerPool(arguments: workerArguments(path: path, seed: keySeed), slices: FleetSlices.split(slice, into: processes),
                                  total: ids.count, gatewayIsLoopback: (hub.gateways.first ?? provisioner.connectionString.hostName).hasPrefix("127.")
                                      || hub.gateway == nil && provisioner.connectionString.hostName == "localhost",
                                  bindGiven: bind != nil)
            document = try await pool.run(display: quiet ? nil : LiveDisplay.standardOutput(), devices: slice.count,
                                          directory: URL(fileURLWithPath: files.directory).appendingPathComponent("workers"))
        }
        try report(document, to: files)
    }

    private func printCPU(_ document: FleetRunDocument) {
        print(ProcessCPU.summary(messages: document.counter("d2c.acknowledged"), includingWorkers: true))
    }

    private func runInProcess(_ scenario: Scenario, slice: Range<Int>, total: Int, keys: [String: String],
                              provisioner: FleetProvisioner, authority: FleetCertificateAuthority?) async throws
        -> FleetRunDocument
    {
        var transport = try NativeMQTTEngine.Configuration(connection(hostName: provisioner.connectionString.hostName))
        transport.window = window
        transport.connectsPerSecond = connectRate
        let service = try ServiceClient(connectionString: provisioner.connectionString, endpoint: hub.endpoint,
                                        caFile: hub.caFile)
        var options = ScenarioRun.Options(transport: transport)
        options.amqpTransport = try Self.amqpTransport(scenario, transport, amqpPort: amqpPort, plainAmqpPort: plainAmqpPort,
                                                       caFile: hub.caFile)
        options.display = quiet ? nil : LiveDisplay.standardOutput()
        options.certificateAuthority = authority
        options.rampTimeout = .seconds(max(1, rampTimeoutSeconds))
        if slice.count < total {
            options.slice = slice
            options.share = Double(slice.count) / Double(total)
        }
        do {
            let document = try await ScenarioRun(scenario: scenario, options: options, keys: keys, service: service).run()
            await service.shutdown()
            return document
        } catch {
            await service.shutdown()
            throw error
        }
    }

    /// The arguments every worker shares (each adds its slice, start time and output).
    private func workerArguments(path: String, seed: SharedAccessKey) -> [String] {
        var arguments = ["worker", "--scenario", path, "--seed", seed.base64, "--window", String(window),
                         "--mqtt-port", String(mqttPort), "--loops", String(loops)]
        arguments += hub.arguments
        if let plainMqttPort { arguments += ["--plain-mqtt-port", String(plainMqttPort)] }
        arguments += ["--amqp-port", String(amqpPort)]
        if let plainAmqpPort { arguments += ["--plain-amqp-port", String(plainAmqpPort)] }
        if let connectRate { arguments += ["--connect-rate", String(connectRate)] }
        if let durationSeconds { arguments += ["--duration-seconds", String(durationSeconds)] }
        arguments += ["--ramp-timeout-seconds", String(rampTimeoutSeconds)]
        if let scale { arguments += ["--scale", String(scale)] }
        if let bind { arguments += ["--bind", bind] }
        return arguments
    }

    /// Writes the files, prints the summary, and fails when a count does not add up.
    private func report(_ document: FleetRunDocument, to files: FleetRunFiles) throws {
        try files.write(document)
        print("")
        print(FleetMarkdownReport.render(document))
        print("fleetsim: report \(files.html) (also \(files.markdown), \(files.json))")
        printCPU(document)
        let problems = FleetRunChecks.problems(document)
        if !problems.isEmpty {
            print("fleetsim: the counts do not add up:")
            for problem in problems { print("  - \(problem)") }
            throw ExitCode(1)
        }
    }

    /// Descriptors the devices of `slice` need: a socket per native MQTT device, one per 995 native AMQP devices,
    /// and three per SDK MQTT client (libmosquitto's socket and its wake-up pair) or one per SDK AMQP client.
    static func descriptorLoad(_ scenario: Scenario, slice: Range<Int>) -> Int {
        var offset = 0, load = 0, amqp = 0
        for group in scenario.groups {
            let mine = (offset..<offset + group.count).clamped(to: slice).count
            switch group.engine {
            case .nativeMQTT: load += mine
            case .nativeAMQP where group.authentication == .x509: load += mine   // a connection each
            case .nativeAMQP: amqp += mine
            case .sdk: load += group.sdkProtocol == "amqp" ? mine : 3 * mine
            }
            offset += group.count
        }
        return load + (amqp + 994) / 995
    }

    /// The fleet's CA when the scenario has `auth: x509` groups.
    static func certificateAuthority(_ scenario: Scenario, seed: SharedAccessKey) throws -> FleetCertificateAuthority? {
        scenario.groups.contains { $0.authentication == .x509 } ? try FleetCertificateAuthority(seed: seed) : nil
    }

    /// The ids of `slice` in `auth: x509` groups.
    static func x509DeviceIds(_ scenario: Scenario, slice: Range<Int>) -> Set<String> {
        var ids: Set<String> = []
        var offset = 0
        for group in scenario.groups {
            if group.authentication == .x509 {
                for index in (offset..<offset + group.count).clamped(to: slice) { ids.insert(group.ids.id(index - offset)) }
            }
            offset += group.count
        }
        return ids
    }

    /// Reads and parses a scenario, with the duration and scale overrides applied.
    static func loadScenario(_ path: String, durationSeconds: Int?, scale: Double?) throws -> Scenario {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the scenario \(path): \(error.localizedDescription)")
        }
        var scenario: Scenario
        do {
            scenario = try ScenarioParser.parse(text, file: path)
        } catch {
            throw ValidationError(error.description)
        }
        if let durationSeconds { scenario.duration = .seconds(durationSeconds) }
        if let scale {
            guard scale > 0 else { throw ValidationError("--scale must be above 0") }
            for index in scenario.groups.indices {
                scenario.groups[index].count = max(1, Int((Double(scenario.groups[index].count) * scale).rounded()))
            }
        }
        return scenario
    }

    /// The AMQP settings when the scenario has native-amqp groups or sdk groups over AMQP: the MQTT settings with the AMQP
    /// port, over TLS unless a plain port is given.
    static func amqpTransport(_ scenario: Scenario, _ transport: NativeMQTTEngine.Configuration, amqpPort: Int,
                              plainAmqpPort: Int?, caFile: String?) throws -> NativeMQTTEngine.Configuration? {
        guard scenario.groups.contains(where: { $0.engine == .nativeAMQP || $0.engine == .sdk && $0.sdkProtocol == "amqp" })
        else { return nil }
        var amqp = transport
        amqp.port = plainAmqpPort ?? amqpPort
        amqp.tls = plainAmqpPort == nil ? try DeviceTLSContext.shared(trust: caFile.map { .caFile($0) } ?? .system) : nil
        return amqp
    }

    /// Where and how devices connect, from the flags both kinds of run share.
    func connection(hostName: String) -> FleetConfiguration {
        Self.connection(hostName: hostName, hub: hub, mqttPort: mqttPort, plainMqttPort: plainMqttPort, loops: loops, bind: bind)
    }

    static func connection(hostName: String, hub: HubOptions, mqttPort: Int, plainMqttPort: Int?, loops: Int, bind: String?)
        -> FleetConfiguration
    {
        var configuration = FleetConfiguration(hostName: hostName)
        configuration.gatewayHostName = hub.gateways.first
        configuration.gateways = hub.gateways.count > 1 ? hub.gateways : []
        configuration.mqttsPort = mqttPort
        configuration.plainMQTTPort = plainMqttPort
        configuration.caFile = hub.caFile
        configuration.loops = loops
        configuration.bindAddresses = bind.map { $0.split(separator: ",").map(String.init) } ?? []
        return configuration
    }

    static func fileTimestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }
}
