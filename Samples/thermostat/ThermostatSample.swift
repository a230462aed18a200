import ArgumentParser
import IoTHubDevice
import IoTHubProtocol
import SampleSupport

/// A thermostat: reports its state in the twin, follows the desired `targetTemperature`, and answers the
/// `getMaxMinReport` and `reboot` direct methods.
@main
struct ThermostatSample: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-thermostat",
        abstract: "Twin reported and desired properties plus direct methods, as a thermostat.",
        discussion: "Reads IOTHUB_DEVICE_CONNECTION_STRING and, optionally, IOTHUB_CA_FILE. Runs until interrupted or --seconds pass.")

    @Option(help: "The protocol: mqtt or amqp.", transform: { try SampleTransport.parse($0) })
    var transport: SampleTransport = .mqtt

    @Option(help: "Stop after this many seconds (0: run until interrupted).")
    var seconds = 0

    func run() async throws {
        let client = SampleEnvironment.makeClient(transport: transport)
        let states = SampleEnvironment.logStates(of: client)
        let thermostat = Thermostat()
        do {
            try await client.connect()
            let twin = try await client.twin()
            if let target = twin.desired["targetTemperature"]?.doubleValue { await thermostat.setTarget(target) }
            let version = try await client.updateReportedProperties([
                "targetTemperature": .double(await thermostat.target), "maxTempSinceLastReboot": .double(await thermostat.max),
                "serialNumber": "swift-0001",
            ])
            print("reported initial state (reported version \(version))")

            await client.setMethodHandler("getMaxMinReport") { _ in
                let report = await thermostat.report()
                return DirectMethodResult(status: 200, payload: report)
            }
            await client.setMethodHandler("reboot") { call in
                let delay = call.payload.objectValue?["delay"]?.int64Value ?? 0
                await thermostat.reboot()
                return DirectMethodResult(status: 200, payload: ["rebootingInSeconds": .integer(delay)])
            }
            let updates = await client.desiredPropertyUpdates()
            let follow = Task {
                for await update in updates {
                    guard let target = update.patch["targetTemperature"]?.doubleValue else { continue }
                    await thermostat.setTarget(target)
                    // Acknowledge the writable property as IoT Plug and Play does: value, status and version.
                    let ack: JSONValue = ["value": .double(target), "ac": 200, "av": .integer(update.version),
                                          "ad": "target updated"]
                    _ = try? await client.updateReportedProperties(["targetTemperature": ack])
                    print("desired targetTemperature \(target) (version \(update.version)) applied")
                }
            }
            print("thermostat running; set desired targetTemperature or call getMaxMinReport / reboot")
            let deadline = seconds > 0 ? ContinuousClock.now + .seconds(seconds) : nil
            while deadline.map({ ContinuousClock.now < $0 }) ?? true {
                let reading = await thermostat.step()
                try await client.send(IoTHubMessage(text: #"{"temperature":\#(reading)}"#))
                try await Task.sleep(for: .seconds(1))
            }
            follow.cancel()
        } catch {
            await client.close()
            SampleEnvironment.fail("\(error)")
        }
        await client.close()
        states.cancel()
    }
}

/// The simulated device: a temperature that drifts towards the target.
actor Thermostat {
    private(set) var target = 21.0
    private var current = 18.0
    private(set) var max = 18.0
    private var min = 18.0
    private var readings = 0
    private var sum = 0.0

    func setTarget(_ value: Double) { target = value }

    func step() -> Double {
        current += (target - current) * 0.2
        max = Swift.max(max, current)
        min = Swift.min(min, current)
        readings += 1
        sum += current
        return (current * 100).rounded() / 100
    }

    func report() -> JSONValue {
        ["maxTemp": .double(max), "minTemp": .double(min), "avgTemp": .double(readings > 0 ? sum / Double(readings) : current)]
    }

    func reboot() {
        max = current
        min = current
        readings = 0
        sum = 0
    }
}
