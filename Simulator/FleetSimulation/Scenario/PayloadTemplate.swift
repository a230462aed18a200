import IoTHubProtocol

/// A telemetry (or desired-patch) body: named fields, each a constant or a generator, rendered as one JSON object.
public struct PayloadTemplate: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var generator: PayloadGenerator
    }

    public var fields: [Field]

    public static let empty = PayloadTemplate(fields: [])
}

/// How one field's value changes from message to message.
public enum PayloadGenerator: Sendable, Equatable {
    /// The same value every time.
    case constant(JSONValue)
    /// Starts at `start` and moves by at most `step` each message, kept within `min…max`.
    case randomWalk(start: Double, step: Double, min: Double, max: Double)
    /// `mean + amplitude × sin(2π t / period)`, t the time since the run started.
    case sine(mean: Double, amplitude: Double, period: Duration)
    /// Uniformly random in `min…max`.
    case uniform(min: Double, max: Double)
    /// One of `values`, uniformly.
    case enumeration([String])
    /// `start`, `start + step`, … per device.
    case counter(start: Int64, step: Int64)
    /// The send time, ISO 8601 (as IoT Hub writes times).
    case timestamp
}

/// Renders a template for one device, message after message. Deterministic for a seed (a device's index), so a
/// run can be repeated value for value; one renderer per device holds its random walks and counters.
public struct PayloadRenderer: Sendable {
    public let template: PayloadTemplate
    private var random: SplitMix64
    /// Per field: the random walk's position, or the counter's next value.
    private var positions: [Double]
    private var counters: [Int64]

    public init(template: PayloadTemplate, seed: UInt64) {
        self.template = template
        random = SplitMix64(seed: seed)
        positions = template.fields.map { field in
            if case .randomWalk(let start, _, _, _) = field.generator { start } else { 0 }
        }
        counters = template.fields.map { field in
            if case .counter(let start, _) = field.generator { start } else { 0 }
        }
    }

    /// The next body as a JSON object; `elapsed` is the time since the run started, `now` the wall clock.
    public mutating func render(elapsed: Duration, now: Timestamp) -> JSONObject {
        var object = JSONObject()
        for (index, field) in template.fields.enumerated() {
            object[field.name] = value(index, field.generator, elapsed: elapsed, now: now)
        }
        return object
    }

    /// The next body as bytes, padded with a `"_pad"` string field to exactly `size` bytes when it is shorter by at
    /// least the field's own 10 bytes (`,"_pad":""`); otherwise as it is.
    public mutating func bytes(elapsed: Duration, now: Timestamp, size: Int?) -> [UInt8] {
        var object = render(elapsed: elapsed, now: now)
        let plain = JSONValue.object(object).serializedBytes()
        guard let size, plain.count < size else { return plain }
        let overhead = object.isEmpty ? #""_pad":"""#.utf8.count : #","_pad":"""#.utf8.count
        let length = size - plain.count - overhead
        guard length >= 0 else { return plain }
        object["_pad"] = .string(String(repeating: "x", count: length))
        return JSONValue.object(object).serializedBytes()
    }

    private mutating func value(_ index: Int, _ generator: PayloadGenerator, elapsed: Duration, now: Timestamp)
        -> JSONValue
    {
        switch generator {
        case .constant(let value):
            return value
        case .randomWalk(_, let step, let low, let high):
            let next = positions[index] + (random.unit() * 2 - 1) * step
            positions[index] = Swift.min(Swift.max(next, low), high)
            return .double(Self.rounded(positions[index]))
        case .sine(let mean, let amplitude, let period):
            return .double(Self.rounded(mean + amplitude * Self.sine(2 * Double.pi * elapsed.seconds / period.seconds)))
        case .uniform(let low, let high):
            return .double(Self.rounded(low + random.unit() * (high - low)))
        case .enumeration(let values):
            return .string(values[Int(random.next() % UInt64(values.count))])
        case .counter(_, let step):
            defer { counters[index] &+= step }
            return .integer(counters[index])
        case .timestamp:
            return .string(now.iso8601)
        }
    }

    /// Three decimals, as a sensor reports.
    private static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    /// sin(x) without Foundation: reduce to [-π, π], then a Taylor series (ample precision for test data).
    static func sine(_ x: Double) -> Double {
        var x = x.truncatingRemainder(dividingBy: 2 * Double.pi)
        if x > Double.pi { x -= 2 * Double.pi } else if x < -Double.pi { x += 2 * Double.pi }
        var term = x, sum = x
        for n in 1...10 {
            term *= -x * x / Double((2 * n) * (2 * n + 1))
            sum += term
        }
        return sum
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64): reproducible simulated values.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
