/// A seeded SplitMix64 generator, so random test inputs are the same on every run.
struct TestRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A random string of 1...maxLength characters drawn from `alphabet`.
    mutating func string(from alphabet: [Character], maxLength: Int, minLength: Int = 1) -> String {
        let length = Int.random(in: minLength...maxLength, using: &self)
        return String((0..<length).map { _ in alphabet.randomElement(using: &self)! })
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

enum Alphabets {
    /// Every character IoT Hub allows in a device or module id.
    static let identifier = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.%_*?!(),:=@$'")
    static let hostName = Array("abcdefghijklmnopqrstuvwxyz0123456789-.")
    /// Text that stresses URL-encoding: reserved characters, spaces, `+`, `%`, non-ASCII.
    static let awkward = Array("abcXYZ019 -_.~!*'();:@&=+$,/?#[]%\"<>\\^`{|}é€日本🙂")
}
