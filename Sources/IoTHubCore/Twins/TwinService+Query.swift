import IoTHubProtocol

/// Registry queries (`SELECT … FROM devices | devices.modules WHERE …`) over the twins in the store.
extension TwinService {
    /// Twins read from the store per step while scanning.
    static let queryScanBatch = 500

    /// Runs `query` from `cursor`; returns up to `maximum` rows and the cursor to continue from, if any.
    public func query(_ query: RegistryQuery, after cursor: DeviceIdentity?, maximum: Int) async throws
        -> (items: [JSONValue], next: DeviceIdentity?)
    {
        var cursor = cursor
        var items: [JSONValue] = []
        var count = 0
        let includeModules = query.source == .modules
        while true {
            let page = try await store.twins(after: cursor, includeModules: includeModules, limit: Self.queryScanBatch)
            for (record, document) in page {
                cursor = record.identity
                if includeModules && record.identity.moduleId == nil { continue }
                let view = JSONValue.object(Self.serviceView(try Self.decode(document, record: record), record: record))
                guard query.matches(view) else { continue }
                if case .count = query.selection {
                    count += 1
                    continue
                }
                items.append(query.project(view))
                if items.count == maximum { return (items, cursor) }
            }
            if page.count < Self.queryScanBatch { break }
        }
        if case .count(let alias) = query.selection { return ([.object([alias: .integer(Int64(count))])], nil) }
        return (items, nil)
    }
}
