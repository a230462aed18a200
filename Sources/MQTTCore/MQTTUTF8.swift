/// Validation of MQTT UTF-8 encoded strings (MQTT 3.1.1 §1.5.3).
enum MQTTUTF8 {
    /// Whether `bytes[range]` is well-formed UTF-8 (Unicode Table 3-7: no overlong forms, no surrogates
    /// U+D800–U+DFFF, nothing above U+10FFFF) without any U+0000.
    ///
    /// Other control characters and noncharacters are accepted: the spec says senders SHOULD NOT use them and
    /// receivers MAY close, so rejecting them is left to the application.
    static func isValid(_ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            let lead = bytes[index]
            if lead < 0x80 {
                if lead == 0 { return false }
                index += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0               // no overlong 3-byte forms
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F              // no surrogates
            case 0xF0: length = 4; low = 0x90               // no overlong 4-byte forms
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F              // nothing above U+10FFFF
            default: return false                           // continuation byte, C0, C1, F5...FF
            }
            guard end - index >= length else { return false }
            let second = bytes[index + 1]
            guard second >= low && second <= high else { return false }
            var offset = 2
            while offset < length {
                guard bytes[index + offset] & 0xC0 == 0x80 else { return false }
                offset += 1
            }
            index += length
        }
        return true
    }
}
