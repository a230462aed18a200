/// Recursive-descent parser for ``RegistryQuery``; precedence OR < AND < NOT < comparison.
struct QueryParser {
    let tokens: [(token: QueryToken, offset: Int)]
    var position = 0
    var depth = 0
    static let maximumDepth = 64

    init(tokens: [(token: QueryToken, offset: Int)]) {
        self.tokens = tokens
    }

    var current: QueryToken { tokens[position].token }
    var offset: Int { tokens[position].offset }

    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    func error(_ message: String) -> QueryError { QueryError(offset: offset, message: message) }

    func isKeyword(_ word: String) -> Bool {
        if case .identifier(let name) = current { return name.uppercased() == word }
        return false
    }

    mutating func expectKeyword(_ word: String) throws(QueryError) {
        guard isKeyword(word) else { throw error("expected \(word)") }
        advance()
    }

    mutating func expectSymbol(_ symbol: String) throws(QueryError) {
        guard current == .symbol(symbol) else { throw error("expected '\(symbol)'") }
        advance()
    }

    mutating func parseQuery() throws(QueryError) -> RegistryQuery {
        try expectKeyword("SELECT")
        let selection = try parseSelection()
        try expectKeyword("FROM")
        guard case .identifier(let first) = current, first.lowercased() == "devices" else {
            throw error("expected FROM devices or FROM devices.modules")
        }
        advance()
        var source = RegistryQuery.Source.devices
        if current == .symbol(".") {
            advance()
            guard case .identifier(let second) = current, second.lowercased() == "modules" else {
                throw error("expected devices.modules")
            }
            advance()
            source = .modules
        }
        var condition: QueryExpression?
        if isKeyword("WHERE") {
            advance()
            condition = try parseOr()
        }
        guard current == .end else { throw error("unexpected text after the query") }
        return RegistryQuery(selection: selection, source: source, condition: condition)
    }

    mutating func parseSelection() throws(QueryError) -> RegistryQuery.Selection {
        if current == .symbol("*") {
            advance()
            return .all
        }
        if isKeyword("COUNT") {
            advance()
            try expectSymbol("(")
            try expectSymbol(")")
            var alias = "$1"
            if isKeyword("AS") {
                advance()
                guard case .identifier(let name) = current else { throw error("expected a name after AS") }
                alias = name
                advance()
            }
            return .count(alias: alias)
        }
        var paths: [[String]] = []
        repeat {
            if !paths.isEmpty { advance() }
            paths.append(try parsePath())
        } while current == .symbol(",")
        return .fields(paths)
    }

    mutating func parsePath() throws(QueryError) -> [String] {
        guard case .identifier(let first) = current else { throw error("expected a field name") }
        var path = [first]
        advance()
        while current == .symbol(".") {
            advance()
            guard case .identifier(let next) = current else { throw error("expected a field name after '.'") }
            path.append(next)
            advance()
        }
        return path
    }

    mutating func parseOr() throws(QueryError) -> QueryExpression {
        var left = try parseAnd()
        while isKeyword("OR") {
            advance()
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws(QueryError) -> QueryExpression {
        var left = try parseNot()
        while isKeyword("AND") {
            advance()
            left = .and(left, try parseNot())
        }
        return left
    }

    mutating func parseNot() throws(QueryError) -> QueryExpression {
        if isKeyword("NOT") {
            advance()
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maximumDepth else { throw error("the condition nests too deeply") }
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    mutating func parseComparison() throws(QueryError) -> QueryExpression {
        let left = try parseOperand()
        if case .symbol(let symbol) = current,
           let op = QueryExpression.Comparison(rawValue: symbol == "<>" ? "!=" : symbol) {
            advance()
            return .compare(left, op, try parseOperand())
        }
        if isKeyword("IN") || isKeyword("NIN") {
            let negated = isKeyword("NIN")
            advance()
            try expectSymbol("[")
            var list: [QueryExpression] = []
            if current != .symbol("]") {
                list.append(try parseOperand())
                while current == .symbol(",") {
                    advance()
                    list.append(try parseOperand())
                }
            }
            try expectSymbol("]")
            return .inList(left, list, negated: negated)
        }
        return left
    }

    mutating func parseOperand() throws(QueryError) -> QueryExpression {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw error("the condition nests too deeply") }
        switch current {
        case .symbol("("):
            advance()
            let inner = try parseOr()
            try expectSymbol(")")
            return inner
        case .string(let text):
            advance()
            return .literal(.string(text))
        case .number(let value, let isInteger):
            advance()
            if isInteger, let integer = Int64(exactly: value) { return .literal(.integer(integer)) }
            return .literal(.double(value))
        case .identifier(let name):
            switch name.lowercased() {
            case "true": advance(); return .literal(.bool(true))
            case "false": advance(); return .literal(.bool(false))
            case "null": advance(); return .literal(.null)
            default: break
            }
            if let arity = QueryExpression.functions[name.uppercased()], tokens[position + 1].token == .symbol("(") {
                advance()
                advance()
                var arguments: [QueryExpression] = []
                if current != .symbol(")") {
                    arguments.append(try parseOr())
                    while current == .symbol(",") {
                        advance()
                        arguments.append(try parseOr())
                    }
                }
                try expectSymbol(")")
                guard arguments.count == arity else {
                    throw error("\(name.uppercased()) takes \(arity) argument\(arity == 1 ? "" : "s")")
                }
                return .function(name.uppercased(), arguments)
            }
            return .field(try parsePath())
        case .end:
            throw error("the query ends where a value was expected")
        default:
            throw error("expected a field, a literal or '('")
        }
    }
}
