/// A token of IoT Hub's query language.
enum QueryToken: Equatable, Sendable {
    case identifier(String)
    case string(String)
    case number(Double, isInteger: Bool)
    case symbol(String)
    case end
}

/// Splits query text into tokens. Keywords are identifiers compared case-insensitively by the parser.
struct QueryLexer {
    static func tokenize(_ text: String) throws(QueryError) -> [(token: QueryToken, offset: Int)] {
        let scalars = Array(text.unicodeScalars)
        var tokens: [(QueryToken, Int)] = []
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            let start = index
            switch scalar {
            case " ", "\t", "\n", "\r":
                index += 1
            case "'", "\"":
                let quote = scalar
                index += 1
                var value = String.UnicodeScalarView()
                var closed = false
                while index < scalars.count {
                    if scalars[index] == quote {
                        // A doubled quote is a literal quote.
                        if index + 1 < scalars.count, scalars[index + 1] == quote {
                            value.append(quote)
                            index += 2
                            continue
                        }
                        closed = true
                        index += 1
                        break
                    }
                    if scalars[index] == "\\", index + 1 < scalars.count {
                        value.append(scalars[index + 1])
                        index += 2
                        continue
                    }
                    value.append(scalars[index])
                    index += 1
                }
                guard closed else { throw QueryError(offset: start, message: "the string starting here is not closed") }
                tokens.append((.string(String(value)), start))
            case _ where ("0"..."9").contains(scalar)
                || (scalar == "-" && index + 1 < scalars.count && ("0"..."9").contains(scalars[index + 1])):
                var text = String(scalar)
                index += 1
                while index < scalars.count, ("0"..."9").contains(scalars[index]) || scalars[index] == "." || scalars[index] == "e"
                    || scalars[index] == "E" || ((scalars[index] == "-" || scalars[index] == "+") && (text.last == "e" || text.last == "E")) {
                    text.unicodeScalars.append(scalars[index])
                    index += 1
                }
                guard let value = Double(text) else { throw QueryError(offset: start, message: "'\(text)' is not a number") }
                tokens.append((.number(value, isInteger: !text.contains(".") && !text.lowercased().contains("e")), start))
            case "=", "<", ">", "!", "(", ")", "[", "]", ",", "*", ".":
                let next = index + 1 < scalars.count ? scalars[index + 1] : " "
                let pair = String(scalar) + String(next)
                if ["<=", ">=", "<>", "!="].contains(pair) {
                    tokens.append((.symbol(pair), start))
                    index += 2
                } else if scalar == "!" {
                    throw QueryError(offset: start, message: "'!' must be followed by '='")
                } else {
                    tokens.append((.symbol(String(scalar)), start))
                    index += 1
                }
            default:
                guard isIdentifierStart(scalar) else {
                    throw QueryError(offset: start, message: "unexpected character '\(scalar)'")
                }
                var name = String.UnicodeScalarView()
                while index < scalars.count, isIdentifierStart(scalars[index]) || ("0"..."9").contains(scalars[index]) {
                    name.append(scalars[index])
                    index += 1
                }
                tokens.append((.identifier(String(name)), start))
            }
        }
        tokens.append((.end, scalars.count))
        return tokens
    }

    private static func isIdentifierStart(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_" || scalar == "$" || scalar == "@"
            || (!scalar.isASCII && scalar.properties.isAlphabetic)
    }
}
