/// An IoT Hub edition: the tier and size that decide the hub's throttles and daily message quota.
///
/// IoT Hub sells a free edition (F1) and three standard sizes (S1, S2, S3) bought in units; this hub adds
/// ``unlimited``, the default for local development, which throttles nothing and has no quota.
///
/// ```swift
/// let tier = try HubTier(parsing: "s1")   // .standard1
/// print(tier.name, tier.allowedUnits)      // S1 1...200
/// ```
public enum HubTier: Sendable, Hashable, CaseIterable {
    /// No throttles and no daily quota: every operation is admitted at once.
    case unlimited
    /// F1: one unit, 8,000 messages a day metered in 0.5 KB chunks, S1's throttles.
    case free
    /// S1: 400,000 messages a day per unit.
    case standard1
    /// S2: 6,000,000 messages a day per unit.
    case standard2
    /// S3: 300,000,000 messages a day per unit.
    case standard3

    /// The name IoT Hub (and the `--tier` option) uses: `F1`, `S1`, `S2`, `S3`, or `unlimited`.
    public var name: String {
        switch self {
        case .unlimited: "unlimited"
        case .free: "F1"
        case .standard1: "S1"
        case .standard2: "S2"
        case .standard3: "S3"
        }
    }

    /// The unit counts IoT Hub sells for this tier: F1 has exactly one unit, S1 and S2 up to 200, S3 up to 10
    /// ("Choose the right IoT Hub tier and size"). The unlimited tier ignores its unit count.
    public var allowedUnits: ClosedRange<Int> {
        switch self {
        case .unlimited: 1...Int.max
        case .free: 1...1
        case .standard1, .standard2: 1...200
        case .standard3: 1...10
        }
    }

    /// Reads a tier name, ignoring case: `F1`, `S1`, `S2`, `S3` or `unlimited`.
    /// - Throws: ``ThrottlingConfigurationError/unknownTier(_:)`` naming the valid values.
    public init(parsing text: String) throws(ThrottlingConfigurationError) {
        let wanted = text.lowercased()
        guard let tier = Self.allCases.first(where: { $0.name.lowercased() == wanted }) else {
            throw .unknownTier(text)
        }
        self = tier
    }
}

/// Why a throttling configuration was refused: each case says what was wrong and what is accepted.
public enum ThrottlingConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The tier name is not one of `F1`, `S1`, `S2`, `S3`, `unlimited`.
    case unknownTier(String)
    /// The unit count is outside what IoT Hub sells for the tier.
    case unitsOutOfRange(tier: HubTier, units: Int)
    /// An override limit has a rate that is not a positive number, a burst below one, or a negative shaping window.
    case invalidLimit(ThrottledOperation, reason: String)
    /// An override daily quota is not positive, or its chunk size is not positive.
    case invalidDailyQuota(reason: String)

    public var description: String {
        switch self {
        case .unknownTier(let text):
            let valid = HubTier.allCases.map(\.name).joined(separator: ", ")
            return "unknown IoT Hub tier '\(text)'; use one of \(valid) (case does not matter)"
        case .unitsOutOfRange(let tier, let units):
            let range = tier.allowedUnits
            let count = "\(tier.name) cannot have \(units) unit\(units == 1 ? "" : "s")"
            if tier == .unlimited { return "\(count); give at least 1 unit (the unlimited tier ignores the count)" }
            let allowed = range.lowerBound == range.upperBound
                ? "exactly \(range.lowerBound) unit" : "\(range.lowerBound) to \(range.upperBound) units"
            return "\(count); IoT Hub sells \(allowed) of \(tier.name)"
        case .invalidLimit(let operation, let reason):
            return "invalid limit for \(operation.rawValue): \(reason)"
        case .invalidDailyQuota(let reason):
            return "invalid daily message quota: \(reason)"
        }
    }
}
