/// Recursive-descent parser for ``RegistryQuery``; precedence OR < AND < NOT < comparison.
///
/// It recurses once per level of nesting (parentheses, `NOT`, function arguments), which is bounded by
/// ``RegistryQuery/maximumNestingDepth``, and never per term: `a OR b OR …` and `a AND b AND …` are read with loops
/// into one n-ary node. The number of conditions is bounded by ``RegistryQuery/maximumConditions``.
struct QueryParser {
    let tokens: [(token: QueryToken, offset: Int)]
    var position = 0
    /// The current nesting: +1 inside each `(`, `NOT` and function call.
    var depth = 0
    /// Conditions read so far (comparisons, IN/NIN tests, function calls and bare values in condition position).
    var conditions = 0

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
        let first = try parseAnd()
        guard isKeyword("OR") else { return first }
        var terms = [first]
        while isKeyword("OR") {
            advance()
            terms.append(try parseAnd())
        }
        return .or(terms)
    }

    mutating func parseAnd() throws(QueryError) -> QueryExpression {
        let first = try parseNot()
        guard isKeyword("AND") else { return first }
        var terms = [first]
        while isKeyword("AND") {
            advance()
            terms.append(try parseNot())
        }
        return .and(terms)
    }

    mutating func parseNot() throws(QueryError) -> QueryExpression {
        if isKeyword("NOT") {
            try enterNesting()
            defer { depth -= 1 }
            advance()
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    /// One level deeper; throws past ``RegistryQuery/maximumNestingDepth``.
    mutating func enterNesting() throws(QueryError) {
        guard depth < RegistryQuery.maximumNestingDepth else {
            throw error("the condition nests more than \(RegistryQuery.maximumNestingDepth) levels deep (parentheses, "
                + "NOT and function calls); flatten it, e.g. a = 1 OR a = 2 OR … or a IN [1, 2, …]")
        }
        depth += 1
    }

    mutating func parseComparison() throws(QueryError) -> QueryExpression {
        conditions += 1
        guard conditions <= RegistryQuery.maximumConditions else {
            throw error("the query has more than \(RegistryQuery.maximumConditions) conditions; IoT Hub queries "
                + "are limited in size, so use IN [...] for long lists of values or split the query")
        }
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
        switch current {
        case .symbol("("):
            try enterNesting()
            defer { depth -= 1 }
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
                try enterNesting()
                defer { depth -= 1 }
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
