// libFuzzer target `registry-query`: the IoT Hub query language in IoTHubProtocol (lexer, parser, evaluator,
// projection). Built together with the sources of Sources/IoTHubProtocol as module IoTHubProtocol (see
// scripts/fuzz.sh).
//
// Input: query text. Parsing must throw QueryError or give a query that parses the same way again, and that can
// be evaluated and projected against a fixed set of twin documents. Run with a 512 KiB thread stack in mind:
// scripts/fuzz.sh gives this target inputs up to 12 KiB, past the 8 KiB length limit.

private func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("registry-query: " + message()) }
}

private let documents: [JSONValue] = [
    [
        "deviceId": "thermo-1", "moduleId": "filter", "status": "enabled", "connectionState": "Connected",
        "etag": "AAAAAAAAAAI=", "version": 4, "lastActivityTime": "2024-05-01T10:00:00.0000000Z",
        "tags": ["floor": 3, "site": "lab", "owner": ["name": "ann", "ids": [1, 2, 3]], "weight": 2.5, "flag": .null],
        "properties": [
            "desired": ["setpoint": 21.5, "$version": 3, "mode": "eco"],
            "reported": ["firmware": "1.2.0", "ok": true, "temperature": -4, "$version": 9],
        ],
        "capabilities": ["iotEdge": false],
        "devices": ["modules": ["x": 1]],
    ],
    ["deviceId": "empty"],
    [:],
]

@_cdecl("LLVMFuzzerTestOneInput")
public func registryQueryFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let query: RegistryQuery
    do {
        query = try RegistryQuery(parsing: text)
    } catch {
        _ = error.description
        check(error.offset >= 0 && error.offset <= text.unicodeScalars.count, "error offset \(error.offset) out of range")
        check(error.errorCode == .argumentInvalid, "a query error is not ArgumentInvalid")
        return 0
    }
    // Parsing is deterministic and queries are values: equal and equally hashed.
    do {
        let again = try RegistryQuery(parsing: text)
        check(again == query, "parsing \(text.debugDescription) twice gave different queries")
        var first = Hasher(), second = Hasher()
        first.combine(query)
        second.combine(again)
        check(first.finalize() == second.finalize(), "equal queries hash differently")
    } catch {
        check(false, "\(text.debugDescription) parsed once, then failed: \(error)")
    }
    check(text.utf8.count <= RegistryQuery.maximumLength, "a query over the length limit parsed")
    for document in documents {
        let matches = query.matches(document)
        check(query.matches(document) == matches, "evaluation is not deterministic")
        if let condition = query.condition {
            check((condition.evaluate(on: document) == .bool(true)) == matches, "matches disagrees with evaluate")
        }
        let row = query.project(document)
        _ = row.serializedBytes()
        if case .fields(let paths) = query.selection {
            check(row.objectValue.map { $0.count <= paths.count } ?? false, "a projection has more fields than selected")
        }
    }
    return 0
}
