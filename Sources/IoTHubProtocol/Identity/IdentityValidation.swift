/// Rules for IoT Hub device ids and module ids.
///
/// An id has 1 to 128 characters, case-sensitive, from ASCII letters, digits and `- . % _ * ? ! ( ) , : = @ $ '`.
///
/// ```swift
/// try IdentityValidation.validateDeviceId("thermostat-01")    // ok
/// try IdentityValidation.validateDeviceId("bad/id")           // throws .invalidCharacter
/// ```
public enum IdentityValidation {
    /// The longest device or module id IoT Hub accepts.
    public static let maximumLength = 128

    /// Checks a device id.
    public static func validateDeviceId(_ id: String) throws(IdentityError) {
        try validate(id, kind: .device)
    }

    /// Checks a module id.
    public static func validateModuleId(_ id: String) throws(IdentityError) {
        try validate(id, kind: .module)
    }

    /// Whether `id` is a valid device or module id.
    public static func isValid(_ id: String) -> Bool {
        (try? validate(id, kind: .device)) != nil
    }

    static func validate(_ id: String, kind: IdentityError.Kind) throws(IdentityError) {
        guard !id.isEmpty else { throw .empty(kind) }
        var count = 0
        for scalar in id.unicodeScalars {
            count += 1
            guard isAllowed(scalar) else { throw .invalidCharacter(kind, id: id, character: Character(scalar)) }
        }
        guard count <= maximumLength else { throw .tooLong(kind, id: id, length: count) }
    }

    private static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII else { return false }
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9": return true
        case "-", ".", "%", "_", "*", "?", "!", "(", ")", ",", ":", "=", "@", "$", "'": return true
        default: return false
        }
    }
}

/// A device id or module id breaks IoT Hub's naming rules.
public enum IdentityError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which identifier is wrong.
    public enum Kind: String, Sendable, Hashable {
        case device = "device id"
        case module = "module id"
    }

    /// The id is empty.
    case empty(Kind)
    /// The id is longer than 128 characters.
    case tooLong(Kind, id: String, length: Int)
    /// The id contains a character outside IoT Hub's set.
    case invalidCharacter(Kind, id: String, character: Character)

    public var description: String {
        switch self {
        case .empty(let kind):
            "the \(kind.rawValue) is empty; give 1 to 128 characters"
        case .tooLong(let kind, let id, let length):
            "the \(kind.rawValue) '\(id.prefix(40))…' has \(length) characters; IoT Hub allows at most 128"
        case .invalidCharacter(let kind, let id, let character):
            "the \(kind.rawValue) '\(id)' contains '\(character)'; use ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ '"
        }
    }

    /// The IoT Hub error code for this failure.
    public var errorCode: IoTHubErrorCode { .deviceIdInvalid }
}
