/// One name and value of a routed message's properties.
public struct StorageProperty: Sendable, Hashable {
    /// The property's name.
    public var name: String
    /// The property's value.
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A device-to-cloud message as a storage endpoint receives it: what one record of a routed blob holds.
///
/// ```swift
/// let message = RoutedStorageMessage(
///     enqueuedTimeUtc: "2019-09-26T17:46:09.8870000Z",
///     properties: [.init("level", "storage")],
///     systemProperties: [.init("iothub-connection-device-id", "pump-7"), .init("content-type", "application/json"),
///                        .init("content-encoding", "utf-8"), .init("iothub-enqueuedtime", "2019-09-26T17:46:09.8870000Z")],
///     body: Array(#"{"temp":21.5}"#.utf8))
/// ```
public struct RoutedStorageMessage: Sendable, Hashable {
    /// When the hub enqueued the message, ISO 8601 as IoT Hub writes it: UTC with seven fractional digits
    /// (`2019-09-26T17:46:09.8870000Z`, ``Timestamp/iso8601``).
    public var enqueuedTimeUtc: String
    /// The application properties, in the order they are written.
    public var properties: [StorageProperty]
    /// The system properties by their IoT Hub wire names (`iothub-connection-device-id`, `content-type`,
    /// `message-id`, …, as ``MessageSystemProperties/namedValues`` gives them). The encoder renames them to the
    /// names storage records use (``StorageBatchEncoder/storageName(ofSystemProperty:)``).
    public var systemProperties: [StorageProperty]
    /// The message body, as the device sent it.
    public var body: [UInt8]

    public init(enqueuedTimeUtc: String, properties: [StorageProperty], systemProperties: [StorageProperty],
                body: [UInt8]) {
        self.enqueuedTimeUtc = enqueuedTimeUtc
        self.properties = properties
        self.systemProperties = systemProperties
        self.body = body
    }
}

/// How a storage endpoint serializes the messages of a blob (the endpoint's `encoding`).
public enum StorageEncoding: String, Sendable, Hashable, CaseIterable {
    /// An Avro Object Container File with IoT Hub's `Microsoft.Azure.Devices.Message` records (the default).
    case avro
    /// One JSON object a line.
    case json

    /// Parses an endpoint's encoding setting, in any case (`avro`, `Avro`, `JSON`).
    /// - Throws: ``StorageEndpointError`` with code ``StorageEndpointError/Code/unknownEncoding`` otherwise.
    public init(parsing text: String) throws(StorageEndpointError) {
        let lowered = text.lowercased()
        if let encoding = StorageEncoding(rawValue: lowered) {
            self = encoding
        } else if lowered == "avrodeflate" {
            throw StorageEndpointError(.unknownEncoding, "the storage encoding 'avrodeflate' (deflate-compressed Avro) "
                + "is not supported: use 'avro' or 'json'")
        } else {
            throw StorageEndpointError(.unknownEncoding, "unknown storage encoding '\(text)': use 'avro' (the default) or 'json'")
        }
    }
}

/// Turns a batch of routed messages into the bytes of one blob, in the form IoT Hub writes to a storage endpoint.
///
/// - **Avro**: an Avro container file (``AvroContainerWriter``) with the schema ``avroSchema``: per record the
///   enqueued time, the application properties and the system properties as maps of strings, and the body as raw
///   bytes (union branch `bytes`), whatever its content type. All records go in one block.
/// - **JSON**: one compact JSON object a line, `{"EnqueuedTimeUtc":…,"Properties":{…},"SystemProperties":{…},"Body":…}`,
///   each line ended by `\n`. The body is embedded as JSON when the message's `content-type` is `application/json`
///   and its `content-encoding` is `utf-8` (both in any case) and the body parses as JSON; otherwise it is the
///   base64 text of the bytes.
///
/// In both, system properties carry the storage names (`connectionDeviceId`, `enqueuedTime`, …;
/// see ``storageName(ofSystemProperty:)``), in ``systemPropertyOrder``.
///
/// ```swift
/// let marker = try AvroSyncMarker(LibCrypto.randomBytes(count: 16))
/// let avro = StorageBatchEncoder.avroFile([message], syncMarker: marker)
/// let lines = StorageBatchEncoder.jsonLines([message])
/// // {"EnqueuedTimeUtc":"2019-09-26T17:46:09.8870000Z","Properties":{"level":"storage"},
/// //  "SystemProperties":{"connectionDeviceId":"pump-7",…},"Body":{"temp":21.5}}\n
/// ```
public enum StorageBatchEncoder {
    /// The writer schema of IoT Hub's Avro blobs, byte for byte as IoT Hub stores it under `avro.schema`.
    public static let avroSchema = #"{"type":"record","name":"Message","namespace":"Microsoft.Azure.Devices","fields":[{"name":"EnqueuedTimeUtc","type":"string"},{"name":"Properties","type":{"type":"map","values":"string"}},{"name":"SystemProperties","type":{"type":"map","values":"string"}},{"name":"Body","type":["null","bytes"]}]}"#

    /// What ends each record of a JSON blob.
    public static let jsonRecordTerminator: [UInt8] = [0x0A]

    /// One blob in `encoding`. `syncMarker` is used only for ``StorageEncoding/avro``.
    public static func encode(_ messages: [RoutedStorageMessage], as encoding: StorageEncoding,
                              syncMarker: AvroSyncMarker) -> [UInt8] {
        switch encoding {
        case .avro: avroFile(messages, syncMarker: syncMarker)
        case .json: jsonLines(messages)
        }
    }

    // MARK: Avro

    /// An Avro container file of `messages`, all in one block; the header alone when there are none.
    public static func avroFile(_ messages: [RoutedStorageMessage], syncMarker: AvroSyncMarker) -> [UInt8] {
        AvroContainerWriter(schema: avroSchema, syncMarker: syncMarker).file(objects: messages.map(avroRecord))
    }

    /// One message as an Avro `Microsoft.Azure.Devices.Message` record (``avroSchema``), for appending blocks to a
    /// blob with ``AvroContainerWriter/block(objects:)``.
    public static func avroRecord(_ message: RoutedStorageMessage) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(message.body.count + 256)
        AvroBinary.appendString(message.enqueuedTimeUtc, to: &out)
        AvroBinary.appendStringMap(message.properties.map { ($0.name, $0.value) }, to: &out)
        AvroBinary.appendStringMap(storageSystemProperties(message.systemProperties), to: &out)
        AvroBinary.appendUnionBranch(1, to: &out)
        AvroBinary.appendBytes(message.body, to: &out)
        return out
    }

    // MARK: JSON

    /// The JSON blob of `messages`: one ``jsonRecord(_:)`` a line, each ended by ``jsonRecordTerminator``; empty
    /// when there are none.
    public static func jsonLines(_ messages: [RoutedStorageMessage]) -> [UInt8] {
        var out: [UInt8] = []
        for message in messages {
            out += jsonRecord(message).serializedBytes()
            out += jsonRecordTerminator
        }
        return out
    }

    /// One message as the JSON object of a JSON blob's line.
    public static func jsonRecord(_ message: RoutedStorageMessage) -> JSONValue {
        var properties = JSONObject()
        for property in message.properties { properties[property.name] = .string(property.value) }
        var systemProperties = JSONObject()
        for (name, value) in storageSystemProperties(message.systemProperties) { systemProperties[name] = .string(value) }
        var record = JSONObject()
        record["EnqueuedTimeUtc"] = .string(message.enqueuedTimeUtc)
        record["Properties"] = .object(properties)
        record["SystemProperties"] = .object(systemProperties)
        record["Body"] = embeddedJSONBody(message) ?? .string(LibCrypto.base64Encode(message.body))
        return .object(record)
    }

    /// The body as JSON when the message says it is UTF-8 JSON and it parses; `nil` when it is to be base64.
    static func embeddedJSONBody(_ message: RoutedStorageMessage) -> JSONValue? {
        func system(_ name: String) -> String? { message.systemProperties.last { $0.name == name }?.value }
        guard let encoding = system("content-encoding")?.lowercased(), encoding == "utf-8" || encoding == "utf8" else {
            return nil
        }
        return RoutingMessage.jsonBody(message.body, contentType: system("content-type"), contentEncoding: encoding)
    }

    // MARK: System property names

    /// The wire names of system properties and the names storage records give them, in the order records list them.
    static let storageNames: [(wire: String, storage: String)] = [
        ("message-id", "messageId"), ("correlation-id", "correlationId"), ("user-id", "userId"),
        ("iothub-connection-device-id", "connectionDeviceId"), ("iothub-connection-module-id", "connectionModuleId"),
        ("iothub-connection-auth-method", "connectionAuthMethod"),
        ("iothub-connection-auth-generation-id", "connectionDeviceGenerationId"),
        ("content-type", "contentType"), ("content-encoding", "contentEncoding"), ("iothub-enqueuedtime", "enqueuedTime"),
        ("dt-dataschema", "dt-dataschema"), ("dt-subject", "dt-subject"),
    ]

    /// System properties that storage records leave out.
    static let omittedSystemProperties: Set<String> = ["iothub-message-source"]

    /// The storage names in the order records list them; properties with other names follow in the caller's order.
    public static var systemPropertyOrder: [String] { storageNames.map(\.storage) }

    /// The name a storage record gives the system property called `wireName` on the wire (IoT Hub's table
    /// "System property names", column Azure Storage): `iothub-connection-device-id` → `connectionDeviceId`,
    /// `iothub-connection-auth-generation-id` → `connectionDeviceGenerationId`, `iothub-enqueuedtime` →
    /// `enqueuedTime`, `message-id` → `messageId`, …; `dt-dataschema` and `dt-subject` keep their names.
    /// `nil` for `iothub-message-source`, which storage records do not carry. Other names are kept as they are.
    public static func storageName(ofSystemProperty wireName: String) -> String? {
        if omittedSystemProperties.contains(wireName) { return nil }
        return storageNames.first { $0.wire == wireName }?.storage ?? wireName
    }

    /// The system properties renamed for storage and put in ``systemPropertyOrder``; for a name given twice, the
    /// last value.
    static func storageSystemProperties(_ properties: [StorageProperty]) -> [(key: String, value: String)] {
        var known: [String: String] = [:]
        var others: [(key: String, value: String)] = []
        for property in properties {
            guard let name = storageName(ofSystemProperty: property.name) else { continue }
            if storageNames.contains(where: { $0.storage == name }) {
                known[name] = property.value
            } else if let index = others.firstIndex(where: { $0.key == name }) {
                others[index].value = property.value
            } else {
                others.append((name, property.value))
            }
        }
        return storageNames.compactMap { entry in known[entry.storage].map { (entry.storage, $0) } } + others
    }
}

/// The names of blobs a storage endpoint writes: a format with the tokens `{iothub}`, `{partition}`, `{YYYY}`,
/// `{MM}`, `{DD}`, `{HH}` and `{mm}`, each required, in any order, with any text (separators or none) between.
///
/// Tokens are case-sensitive (`{MM}` is the month, `{mm}` the minute). IoT Hub adds no extension: the default
/// format names a blob `ContosoTestHub/0/2018/10/30/10/56`.
///
/// ```swift
/// let format = try StorageFileNameFormat(parsing: "{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}")
/// try format.blobName(iotHub: "ContosoTestHub", partition: 0, year: 2018, month: 10, day: 30, hour: 10, minute: 56)
/// // "ContosoTestHub/0/2018/10/30/10/56"
/// try StorageFileNameFormat(parsing: "{iothub}/{YYYY}/{MM}")   // throws: missing {partition}, {DD}, {HH}, {mm}
/// ```
public struct StorageFileNameFormat: Sendable, Hashable, CustomStringConvertible {
    /// A placeholder of the format.
    public enum Token: String, Sendable, Hashable, CaseIterable {
        case iotHub = "{iothub}"
        case partition = "{partition}"
        case year = "{YYYY}"
        case month = "{MM}"
        case day = "{DD}"
        case hour = "{HH}"
        case minute = "{mm}"
    }

    /// A run of literal text or a token.
    enum Piece: Sendable, Hashable {
        case literal(String)
        case token(Token)
    }

    /// IoT Hub's default, `{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}`.
    public static let `default` = StorageFileNameFormat(
        text: "{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}",
        pieces: [.token(.iotHub), .literal("/"), .token(.partition), .literal("/"), .token(.year), .literal("/"),
                 .token(.month), .literal("/"), .token(.day), .literal("/"), .token(.hour), .literal("/"), .token(.minute)])

    /// The format as it was given.
    public let text: String
    let pieces: [Piece]

    public var description: String { text }

    private init(text: String, pieces: [Piece]) {
        self.text = text
        self.pieces = pieces
    }

    /// Parses a file name format.
    /// - Throws: ``StorageEndpointError`` with code ``StorageEndpointError/Code/missingFileNameTokens`` naming every
    ///   token the format lacks, ``StorageEndpointError/Code/unknownFileNameToken`` for a `{…}` that is not one of
    ///   the seven tokens (`{yyyy}`, `{date}`), or ``StorageEndpointError/Code/unterminatedFileNameToken`` for a `{`
    ///   without its `}`.
    public init(parsing text: String) throws(StorageEndpointError) {
        var pieces: [Piece] = []
        var literal = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            literal += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw StorageEndpointError(.unterminatedFileNameToken, "the file name format '\(text)' has a '{' without "
                    + "its '}': write the tokens as " + Self.tokenList(Token.allCases))
            }
            let name = String(rest[open...close])
            guard let token = Token(rawValue: name) else {
                throw StorageEndpointError(.unknownFileNameToken, "the file name format '\(text)' has the unknown token "
                    + "\(name): the tokens are " + Self.tokenList(Token.allCases) + ", case-sensitive")
            }
            if !literal.isEmpty { pieces.append(.literal(literal)) }
            literal = ""
            pieces.append(.token(token))
            rest = rest[rest.index(after: close)...]
        }
        literal += rest
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        let missing = Token.allCases.filter { !pieces.contains(.token($0)) }
        guard missing.isEmpty else {
            throw StorageEndpointError(.missingFileNameTokens, "the file name format '\(text)' lacks "
                + Self.tokenList(missing) + ": it must contain every one of " + Self.tokenList(Token.allCases)
                + ", in any order, e.g. " + Self.default.text)
        }
        self.init(text: text, pieces: pieces)
    }

    /// The blob name for a batch: the tokens replaced by the hub name, the partition number and the UTC date and
    /// time, the year with four digits and the others with two.
    /// - Throws: ``StorageEndpointError`` with code ``StorageEndpointError/Code/dateOutOfRange`` for a year
    ///   outside 0…9999, a month outside 1…12, a day outside 1…31, an hour outside 0…23, a minute outside 0…59 or a
    ///   negative partition.
    public func blobName(iotHub: String, partition: Int, year: Int, month: Int, day: Int, hour: Int,
                         minute: Int) throws(StorageEndpointError) -> String {
        for (name, value, range) in [("year", year, 0...9999), ("month", month, 1...12), ("day", day, 1...31),
                                     ("hour", hour, 0...23), ("minute", minute, 0...59),
                                     ("partition", partition, 0...Int.max)] where !range.contains(value) {
            throw StorageEndpointError(.dateOutOfRange, "a blob name needs a \(name) in \(range.lowerBound)…"
                + (range.upperBound == Int.max ? "" : "\(range.upperBound)") + ", not \(value)")
        }
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var name = ""
        for piece in pieces {
            switch piece {
            case .literal(let text): name += text
            case .token(.iotHub): name += iotHub
            case .token(.partition): name += String(partition)
            case .token(.year): name += padded(year, 4)
            case .token(.month): name += padded(month, 2)
            case .token(.day): name += padded(day, 2)
            case .token(.hour): name += padded(hour, 2)
            case .token(.minute): name += padded(minute, 2)
            }
        }
        return name
    }

    /// The blob name for a batch at `time` (its UTC year, month, day, hour and minute; seconds are dropped).
    /// - Throws: ``StorageEndpointError`` for a partition below 0 or a time outside the years 0…9999.
    public func blobName(iotHub: String, partition: Int, time: Timestamp) throws(StorageEndpointError) -> String {
        var days = time.secondsSince1970 / 86_400
        var secondOfDay = time.secondsSince1970 % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = Timestamp.civilDate(daysSince1970: days)
        return try blobName(iotHub: iotHub, partition: partition, year: Int(clamping: year), month: Int(month),
                            day: Int(day), hour: Int(secondOfDay / 3600), minute: Int(secondOfDay % 3600 / 60))
    }

    static func tokenList(_ tokens: [Token]) -> String {
        tokens.map(\.rawValue).joined(separator: ", ")
    }
}

/// Why a storage endpoint setting was refused; ``message`` says what is wrong and what to write instead.
public struct StorageEndpointError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem, for code that reacts to it; compare with the static members. New codes may be added.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case unknownEncoding, missingFileNameTokens, unknownFileNameToken, unterminatedFileNameToken, dateOutOfRange
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An encoding other than `avro` or `json`.
        public static let unknownEncoding = Code(.unknownEncoding)
        /// A file name format without some of the seven tokens.
        public static let missingFileNameTokens = Code(.missingFileNameTokens)
        /// A `{…}` in a file name format that is not a token.
        public static let unknownFileNameToken = Code(.unknownFileNameToken)
        /// A `{` in a file name format without a `}`.
        public static let unterminatedFileNameToken = Code(.unterminatedFileNameToken)
        /// A date, time or partition a blob name cannot have.
        public static let dateOutOfRange = Code(.dateOutOfRange)

        public var description: String { base.rawValue }
    }

    /// The kind of problem.
    public let code: Code
    /// What went wrong and what to do instead.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
