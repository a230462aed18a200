import IoTHubProtocol
import Yams

/// Reads a scenario from YAML. Every mistake is a ``ScenarioError`` naming the file, line, column and field.
///
/// ```yaml
/// name: thermostats
/// duration: 60s
/// groups:
///   - name: thermostats
///     count: 1000
///     ids: "thermo-{index:05}"
///     telemetry:
///       interval: 10s
///       payload:
///         temperature: {randomWalk: {start: 21, step: 0.2, min: 15, max: 30}}
/// ```
public enum ScenarioParser {
    public static func parse(_ yaml: String, file: String = "scenario") throws(ScenarioError) -> Scenario {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw ScenarioError(file: file, line: 0, column: 0, field: "", message: "the file is empty")
            }
            root = node
        } catch let error as ScenarioError {
            throw error
        } catch let error as YamlError {
            throw Self.yamlError(error, file: file)
        } catch {
            throw ScenarioError(file: file, line: 0, column: 0, field: "", message: "not YAML: \(error)")
        }
        let top = try ScenarioNode(node: root, path: "", file: file).mapping(known: ["name", "duration", "groups", "service"])
        let groupNodes = try top.required("groups").list()
        guard !groupNodes.isEmpty else { throw try top.required("groups").error("needs at least one group") }
        var groups: [DeviceGroup] = []
        for node in groupNodes { groups.append(try group(node)) }
        var names = Set<String>()
        for (node, group) in zip(groupNodes, groups) where !names.insert(group.name).inserted {
            throw node.error("two groups are named '\(group.name)'")
        }
        return Scenario(name: try top["name"]?.string() ?? "scenario",
                        duration: try top.required("duration").duration(),
                        groups: groups,
                        service: try top["service"].map { (node) throws(ScenarioError) in try service(node) } ?? .idle)
    }

    // MARK: Groups

    private static func group(_ node: ScenarioNode) throws(ScenarioError) -> DeviceGroup {
        let fields = try node.mapping(known: ["name", "count", "ids", "engine", "protocol", "security", "auth",
                                              "telemetry", "twin", "methods", "c2d", "lifecycle"])
        let name = try fields.required("name").string()
        let idsNode = try fields.required("ids")
        let idText = try idsNode.string()
        guard let ids = DeviceIdPattern(idText) else {
            throw idsNode.error("expected one {index} or {index:0N} placeholder, as in \"sensor-{index:05}\", not \"\(idText)\"")
        }
        let engine: SimulationEngine = try fields["engine"].map { (node) throws(ScenarioError) in try choice(node) } ?? .nativeMQTT
        let sdkProtocol = try fields["protocol"].map { (node) throws(ScenarioError) -> String in
            let value = try node.string()
            guard ["mqtt", "amqp"].contains(value) else { throw node.error("expected mqtt or amqp, not \"\(value)\"") }
            guard engine == .sdk else { throw node.error("only the sdk engine takes a protocol; native engines have theirs") }
            return value
        } ?? "mqtt"
        var methods: [MethodBehaviour] = []
        for item in try fields["methods"]?.list() ?? [] { methods.append(try method(item)) }
        return DeviceGroup(
            name: name, count: try fields.required("count").int(in: 1...10_000_000), ids: ids, engine: engine,
            sdkProtocol: sdkProtocol,
            security: try fields["security"].map { (node) throws(ScenarioError) in try choice(node) } ?? .tls,
            authentication: try fields["auth"].map { (node) throws(ScenarioError) in try choice(node) } ?? .sas,
            telemetry: try fields["telemetry"].map { (node) throws(ScenarioError) in try telemetry(node) },
            twin: try fields["twin"].map { (node) throws(ScenarioError) in try twin(node) } ?? .none,
            methods: methods,
            cloudToDevice: try fields["c2d"].map { (node) throws(ScenarioError) in try cloudToDevice(node) },
            lifecycle: try fields["lifecycle"].map { (node) throws(ScenarioError) in try lifecycle(node) } ?? .steady)
    }

    private static func choice<T: RawRepresentable & CaseIterable>(_ node: ScenarioNode) throws(ScenarioError) -> T
        where T.RawValue == String
    {
        let text = try node.string()
        guard let value = T(rawValue: text) else {
            throw node.error("expected one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"")
        }
        return value
    }

    private static func telemetry(_ node: ScenarioNode) throws(ScenarioError) -> TelemetryBehaviour {
        let fields = try node.mapping(known: ["interval", "jitter", "payload", "size", "properties"])
        let interval = try fields.required("interval").duration()
        guard interval > .zero else { throw try fields.required("interval").error("must be more than 0") }
        let jitter = try fields["jitter"]?.duration() ?? .zero
        if jitter > interval { throw try fields.required("jitter").error("must not exceed the interval") }
        var properties: [String: String] = [:]
        if let node = fields["properties"] {
            for (key, value) in try node.mapping(known: nil).entries { properties[key] = try value.string() }
        }
        return TelemetryBehaviour(
            interval: interval, jitter: jitter,
            payload: try fields["payload"].map { (node) throws(ScenarioError) in try payload(node) } ?? .empty,
            size: try fields["size"]?.int(in: 1...262_144), properties: properties)
    }

    /// A payload: each field a constant or a mapping with one generator name.
    static func payload(_ node: ScenarioNode) throws(ScenarioError) -> PayloadTemplate {
        var fields: [PayloadTemplate.Field] = []
        for (name, value) in try node.mapping(known: nil).entries {
            fields.append(PayloadTemplate.Field(name: name, generator: try generator(value)))
        }
        return PayloadTemplate(fields: fields)
    }

    private static let generatorNames: Set<String> = ["randomWalk", "sine", "uniform", "enum", "counter", "timestamp"]

    private static func generator(_ node: ScenarioNode) throws(ScenarioError) -> PayloadGenerator {
        guard case .mapping(let mapping) = node.node, mapping.count == 1, let key = mapping.keys.first?.string,
              generatorNames.contains(key) else {
            return .constant(try node.json())
        }
        let spec = try node.mapping(known: generatorNames).required(key)
        switch key {
        case "randomWalk":
            let fields = try spec.mapping(known: ["start", "step", "min", "max"])
            let low = try fields.required("min").double(), high = try fields.required("max").double()
            guard low <= high else { throw try fields.required("max").error("must not be below min") }
            let start = try fields["start"]?.double() ?? (low + high) / 2
            guard (low...high).contains(start) else { throw try fields.required("start").error("must be within min…max") }
            return .randomWalk(start: start, step: try fields.required("step").double(), min: low, max: high)
        case "sine":
            let fields = try spec.mapping(known: ["mean", "amplitude", "period"])
            let period = try fields.required("period").duration()
            guard period > .zero else { throw try fields.required("period").error("must be more than 0") }
            return .sine(mean: try fields.required("mean").double(), amplitude: try fields.required("amplitude").double(),
                         period: period)
        case "uniform":
            let fields = try spec.mapping(known: ["min", "max"])
            let low = try fields.required("min").double(), high = try fields.required("max").double()
            guard low <= high else { throw try fields.required("max").error("must not be below min") }
            return .uniform(min: low, max: high)
        case "enum":
            let values = try spec.list().map { (item) throws(ScenarioError) in try item.string() }
            guard !values.isEmpty else { throw spec.error("needs at least one value") }
            return .enumeration(values)
        case "counter":
            if case .scalar(let scalar) = spec.node, scalar.string.isEmpty || scalar.string == "null" {
                return .counter(start: 0, step: 1)
            }
            let fields = try spec.mapping(known: ["start", "step"])
            return .counter(start: Int64(try fields["start"]?.int(in: Int(Int32.min)...Int(Int32.max)) ?? 0),
                            step: Int64(try fields["step"]?.int(in: Int(Int32.min)...Int(Int32.max)) ?? 1))
        default:
            return .timestamp
        }
    }

    private static func twin(_ node: ScenarioNode) throws(ScenarioError) -> TwinBehaviour {
        let fields = try node.mapping(known: ["reportOnConnect", "echoDesired"])
        var report: JSONObject?
        if let node = fields["reportOnConnect"] {
            guard case .object(let object) = try node.json() else { throw node.error("expected a mapping of reported properties") }
            report = object
        }
        return TwinBehaviour(reportOnConnect: report, echoDesired: try fields["echoDesired"]?.bool() ?? false)
    }

    private static func method(_ node: ScenarioNode) throws(ScenarioError) -> MethodBehaviour {
        let fields = try node.mapping(known: ["name", "status", "delay", "payload"])
        return MethodBehaviour(name: try fields.required("name").string(),
                               status: try fields["status"]?.int(in: 100...599) ?? 200,
                               delay: try fields["delay"]?.duration() ?? .zero,
                               payload: try fields["payload"]?.json() ?? .null)
    }

    private static func cloudToDevice(_ node: ScenarioNode) throws(ScenarioError) -> CloudToDeviceBehaviour {
        let fields = try node.mapping(known: ["complete", "reject", "abandon"])
        let reject = try fields["reject"]?.fraction() ?? 0
        let abandon = try fields["abandon"]?.fraction() ?? 0
        let complete = try fields["complete"]?.fraction() ?? max(0, 1 - reject - abandon)
        guard abs(complete + reject + abandon - 1) < 1e-9 else {
            throw node.error("complete, reject and abandon must add up to 100% (they add up to \(Int(((complete + reject + abandon) * 100).rounded()))%)")
        }
        return CloudToDeviceBehaviour(complete: complete, reject: reject, abandon: abandon)
    }

    private static func lifecycle(_ node: ScenarioNode) throws(ScenarioError) -> Lifecycle {
        let fields = try node.mapping(known: ["connectRate", "dutyCycle", "churn", "reconnectStorms"])
        var dutyCycle: Lifecycle.DutyCycle?
        if let node = fields["dutyCycle"] {
            let cycle = try node.mapping(known: ["connected", "sleep"])
            dutyCycle = .init(connected: try cycle.required("connected").duration(), sleep: try cycle.required("sleep").duration())
        }
        var storms: [Lifecycle.ReconnectStorm] = []
        for item in try fields["reconnectStorms"]?.list() ?? [] {
            let storm = try item.mapping(known: ["at", "fraction"])
            storms.append(.init(at: try storm.required("at").duration(), fraction: try storm.required("fraction").fraction()))
        }
        var churn: Double?
        if let node = fields["churn"] {
            // "2%/min": a fraction per minute.
            let text = try node.string()
            let fraction = text.hasSuffix("/min") ? String(text.dropLast(4)) : text
            churn = try ScenarioNode(node: .scalar(.init(fraction, .implicit, .plain, node.node.mark)), path: node.path,
                                     file: node.file).fraction()
        }
        return Lifecycle(connectRate: try fields["connectRate"]?.rate(), dutyCycle: dutyCycle, churnPerMinute: churn,
                         reconnectStorms: storms)
    }

    // MARK: Service side

    private static func service(_ node: ScenarioNode) throws(ScenarioError) -> ServiceBehaviour {
        let fields = try node.mapping(known: ["methods", "desired", "c2d", "readTelemetry"])
        var methods: [ServiceBehaviour.MethodCalls] = []
        for item in try fields["methods"]?.list() ?? [] {
            let call = try item.mapping(known: ["name", "rate", "payload", "timeout"])
            methods.append(.init(name: try call.required("name").string(), rate: try call.required("rate").rate(),
                                 payload: try call["payload"]?.json() ?? .null,
                                 timeout: try call["timeout"]?.duration() ?? .seconds(30)))
        }
        var desired: ServiceBehaviour.DesiredPatches?
        if let node = fields["desired"] {
            let patch = try node.mapping(known: ["rate", "patch"])
            desired = .init(rate: try patch.required("rate").rate(), patch: try payload(try patch.required("patch")))
        }
        var c2d: ServiceBehaviour.CloudToDeviceSends?
        if let node = fields["c2d"] {
            let sends = try node.mapping(known: ["rate", "size"])
            c2d = .init(rate: try sends.required("rate").rate(), size: try sends["size"]?.int(in: 0...65_536) ?? 64)
        }
        return ServiceBehaviour(methods: methods, desired: desired, cloudToDevice: c2d,
                                readTelemetry: try fields["readTelemetry"]?.bool() ?? false)
    }

    private static func yamlError(_ error: YamlError, file: String) -> ScenarioError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
            return ScenarioError(file: file, line: mark.line, column: mark.column, field: "", message: "not valid YAML: \(problem)")
        default:
            return ScenarioError(file: file, line: 0, column: 0, field: "", message: "not valid YAML: \(error)")
        }
    }
}
