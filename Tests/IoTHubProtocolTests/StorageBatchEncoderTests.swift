import IoTHubProtocol
import Testing

@Suite("storage endpoint blobs: Avro container files, JSON lines and blob names as IoT Hub writes them")
struct StorageBatchEncoderTests {
    static let sync = try! AvroSyncMarker(Array(0x00...0x0F))

    static func long(_ value: Int64) -> [UInt8] {
        var out: [UInt8] = []
        AvroBinary.appendLong(value, to: &out)
        return out
    }

    static func message(body: [UInt8], contentType: String? = nil, contentEncoding: String? = nil,
                        properties: [StorageProperty] = []) -> RoutedStorageMessage {
        var system: [StorageProperty] = [.init("iothub-connection-device-id", "pump-7")]
        if let contentType { system.append(.init("content-type", contentType)) }
        if let contentEncoding { system.append(.init("content-encoding", contentEncoding)) }
        return RoutedStorageMessage(enqueuedTimeUtc: "2019-09-26T17:46:09.8870000Z", properties: properties,
                                    systemProperties: system, body: body)
    }

    // MARK: Avro primitives

    @Test("longs: zig-zag, then 7 bits a byte, at the edges of each length")
    func longs() {
        let cases: [(Int64, [UInt8])] = [
            (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]), (63, [0x7E]), (-64, [0x7F]),
            (64, [0x80, 0x01]), (-65, [0x81, 0x01]), (8191, [0xFE, 0x7F]), (8192, [0x80, 0x80, 0x01]),
            (Int64(Int32.max), [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]), (Int64(Int32.min), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            (.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            (.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in cases {
            #expect(Self.long(value) == bytes, "\(value)")
        }
        #expect(AvroBinary.zigZag(0) == 0 && AvroBinary.zigZag(-1) == 1 && AvroBinary.zigZag(1) == 2)
        #expect(AvroBinary.zigZag(.max) == UInt64.max - 1 && AvroBinary.zigZag(.min) == .max)
    }

    @Test("bytes, strings, union branches and maps")
    func primitives() {
        var out: [UInt8] = []
        AvroBinary.appendString("", to: &out)
        AvroBinary.appendString("é", to: &out)
        #expect(out == [0x00, 0x04, 0xC3, 0xA9])

        out = []
        AvroBinary.appendBytes([UInt8](repeating: 7, count: 200), to: &out)
        #expect(out.prefix(2) == [0x90, 0x03] && out.count == 202)

        out = []
        AvroBinary.appendUnionBranch(0, to: &out)
        AvroBinary.appendUnionBranch(1, to: &out)
        #expect(out == [0x00, 0x02])

        out = []
        AvroBinary.appendStringMap([], to: &out)
        #expect(out == [0x00])
        out = []
        AvroBinary.appendStringMap([("a", "b"), ("cd", "")], to: &out)
        #expect(out == [0x04, 0x02, 0x61, 0x02, 0x62, 0x04, 0x63, 0x64, 0x00, 0x00])
    }

    @Test("sync markers have 16 bytes; blocks of nothing are left out")
    func container() throws {
        #expect(throws: AvroContainerError.self) { try AvroSyncMarker(Array(repeating: 0, count: 15)) }
        let writer = AvroContainerWriter(schema: #""string""#, syncMarker: Self.sync)
        #expect(writer.block(objects: []).isEmpty)
        #expect(writer.file(objects: []) == writer.header)
        #expect(writer.header == [0x4F, 0x62, 0x6A, 0x01, 0x04, 0x14] + Array("avro.codec".utf8) + [0x08]
            + Array("null".utf8) + [0x16] + Array("avro.schema".utf8) + [0x10] + Array(#""string""#.utf8) + [0x00]
            + Self.sync.bytes)
        #expect(writer.block(objects: [[0x02, 0x61], [0x00]]) == [0x04, 0x06, 0x02, 0x61, 0x00] + Self.sync.bytes)
    }

    // MARK: Avro blobs

    @Test("one message's Avro blob, byte for byte")
    func avroFileBytes() {
        // IoT Hub's schema, as its blobs store it.
        let schema = #"{"type":"record","name":"Message","namespace":"Microsoft.Azure.Devices","fields":[{"name":"EnqueuedTimeUtc","type":"string"},{"name":"Properties","type":{"type":"map","values":"string"}},{"name":"SystemProperties","type":{"type":"map","values":"string"}},{"name":"Body","type":["null","bytes"]}]}"#
        #expect(StorageBatchEncoder.avroSchema == schema)
        #expect(schema.utf8.count == 296)

        let message = RoutedStorageMessage(
            enqueuedTimeUtc: "2024-01-02T03:04:05.0000000Z", properties: [.init("a", "b")],
            systemProperties: [.init("iothub-connection-device-id", "d1")], body: Array("hi".utf8))
        let header: [UInt8] = [0x4F, 0x62, 0x6A, 0x01]     // "Obj" 1
            + [0x04]                                        // metadata: one block of 2 entries
            + [0x14] + Array("avro.codec".utf8) + [0x08] + Array("null".utf8)
            + [0x16] + Array("avro.schema".utf8) + [0xD0, 0x04] + Array(schema.utf8)   // 296 → zig-zag 592
            + [0x00]                                        // end of the metadata map
            + Self.sync.bytes
        let record: [UInt8] = [0x38] + Array("2024-01-02T03:04:05.0000000Z".utf8)      // 28 characters
            + [0x02, 0x02, 0x61, 0x02, 0x62, 0x00]          // Properties {"a": "b"}
            + [0x02, 0x24] + Array("connectionDeviceId".utf8) + [0x04, 0x64, 0x31, 0x00]   // SystemProperties
            + [0x02, 0x04, 0x68, 0x69]                      // Body: branch 1 (bytes), 2 bytes "hi"
        #expect(record.count == 63)
        let block: [UInt8] = [0x02, 0x7E] + record + Self.sync.bytes   // 1 object, 63 bytes
        let file = StorageBatchEncoder.avroFile([message], syncMarker: Self.sync)
        #expect(file == header + block)
        #expect(file.count == 429)
        #expect(StorageBatchEncoder.encode([message], as: .avro, syncMarker: Self.sync) == file)
        #expect(StorageBatchEncoder.avroFile([], syncMarker: Self.sync) == header)
    }

    @Test("Avro bodies are the raw bytes whatever the content type; every record goes in one block")
    func avroBodies() {
        let json = Self.message(body: Array(#"{"a":1}"#.utf8), contentType: "application/json", contentEncoding: "utf-8")
        let binary = Self.message(body: [0x00, 0xFF])
        let record = StorageBatchEncoder.avroRecord(json)
        #expect(record.suffix(9) == [0x02, 0x0E] + Array(#"{"a":1}"#.utf8))
        #expect(StorageBatchEncoder.avroRecord(binary).suffix(4) == [0x02, 0x04, 0x00, 0xFF])
        let file = StorageBatchEncoder.avroFile([json, binary], syncMarker: Self.sync)
        let header = AvroContainerWriter(schema: StorageBatchEncoder.avroSchema, syncMarker: Self.sync).header
        let records = record + StorageBatchEncoder.avroRecord(binary)
        #expect(file == header + [0x04] + Self.long(Int64(records.count)) + records + Self.sync.bytes)
    }

    // MARK: JSON blobs

    @Test("JSON lines: a UTF-8 JSON body is embedded, system properties take the storage names")
    func jsonEmbedded() {
        let message = RoutedStorageMessage(
            enqueuedTimeUtc: "2019-09-26T17:46:09.8870000Z", properties: [.init("level", "storage")],
            systemProperties: [
                .init("content-type", "application/json"), .init("content-encoding", "utf-8"),
                .init("iothub-connection-device-id", "pump-7"),
                .init("iothub-connection-auth-method", #"{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}"#),
                .init("iothub-connection-auth-generation-id", "637051167384630591"),
                .init("iothub-enqueuedtime", "2019-09-26T17:46:09.8870000Z"), .init("message-id", "m1"),
                .init("iothub-message-source", "Telemetry"),
            ],
            body: Array("{\"temp\": 21.5,\n \"ok\": true}".utf8))
        let line = #"{"EnqueuedTimeUtc":"2019-09-26T17:46:09.8870000Z","Properties":{"level":"storage"},"SystemProperties":{"messageId":"m1","connectionDeviceId":"pump-7","connectionAuthMethod":"{\"scope\":\"device\",\"type\":\"sas\",\"issuer\":\"iothub\",\"acceptingIpFilterRule\":null}","connectionDeviceGenerationId":"637051167384630591","contentType":"application/json","contentEncoding":"utf-8","enqueuedTime":"2019-09-26T17:46:09.8870000Z"},"Body":{"temp":21.5,"ok":true}}"#
        #expect(String(decoding: StorageBatchEncoder.jsonLines([message]), as: UTF8.self) == line + "\n")
        #expect(StorageBatchEncoder.encode([message], as: .json, syncMarker: Self.sync) == Array((line + "\n").utf8))

        // Content type and encoding in any case, with parameters.
        let upper = Self.message(body: Array("[1,2]".utf8), contentType: "Application/JSON; charset=utf-8",
                                 contentEncoding: "UTF-8")
        #expect(StorageBatchEncoder.jsonRecord(upper)["Body"] == [1, 2])
    }

    @Test("JSON lines: any other body is base64, one line a message")
    func jsonBase64() {
        let messages = [
            Self.message(body: [0x00, 0xFF, 0x10], contentType: "application/octet-stream"),
            Self.message(body: Array(#"{"a":1}"#.utf8)),                                          // no content type
            Self.message(body: Array(#"{"a":1}"#.utf8), contentType: "application/json"),         // no encoding
            Self.message(body: [0xFF, 0xFE, 0x7B, 0x00, 0x7D, 0x00], contentType: "application/json",
                         contentEncoding: "utf-16"),                                              // not UTF-8
            Self.message(body: Array("not json".utf8), contentType: "application/json", contentEncoding: "utf-8"),
            Self.message(body: [], contentType: "application/json", contentEncoding: "utf-8"),
        ]
        func line(_ system: String, _ body: String) -> String {
            #"{"EnqueuedTimeUtc":"2019-09-26T17:46:09.8870000Z","Properties":{},"SystemProperties":{"connectionDeviceId":"pump-7"\#(system)},"Body":"\#(body)"}"#
                + "\n"
        }
        let json = #","contentType":"application/json""#
        let expected = line(#","contentType":"application/octet-stream""#, "AP8Q") + line("", "eyJhIjoxfQ==")
            + line(json, "eyJhIjoxfQ==") + line(json + #","contentEncoding":"utf-16""#, "//57AH0A")
            + line(json + #","contentEncoding":"utf-8""#, "bm90IGpzb24=") + line(json + #","contentEncoding":"utf-8""#, "")
        #expect(String(decoding: StorageBatchEncoder.jsonLines(messages), as: UTF8.self) == expected)
        #expect(StorageBatchEncoder.jsonLines([]).isEmpty)
    }

    @Test("system property names for storage, and their order")
    func systemPropertyNames() {
        let names = [
            "message-id": "messageId", "correlation-id": "correlationId", "user-id": "userId",
            "iothub-connection-device-id": "connectionDeviceId", "iothub-connection-module-id": "connectionModuleId",
            "iothub-connection-auth-method": "connectionAuthMethod",
            "iothub-connection-auth-generation-id": "connectionDeviceGenerationId", "content-type": "contentType",
            "content-encoding": "contentEncoding", "iothub-enqueuedtime": "enqueuedTime",
            "dt-dataschema": "dt-dataschema", "dt-subject": "dt-subject", "x-custom": "x-custom",
        ]
        for (wire, storage) in names {
            #expect(StorageBatchEncoder.storageName(ofSystemProperty: wire) == storage, "\(wire)")
        }
        #expect(StorageBatchEncoder.storageName(ofSystemProperty: "iothub-message-source") == nil)

        // Known names in the storage order, the rest after them as given; a repeated name keeps its last value.
        let message = RoutedStorageMessage(
            enqueuedTimeUtc: "t", properties: [],
            systemProperties: [.init("x-b", "1"), .init("iothub-enqueuedtime", "e"), .init("x-a", "2"),
                               .init("user-id", "u"), .init("iothub-connection-module-id", "m"),
                               .init("iothub-connection-device-id", "d"), .init("x-b", "3"), .init("user-id", "v")],
            body: [])
        let system = StorageBatchEncoder.jsonRecord(message)["SystemProperties"]?.objectValue
        #expect(system?.keys == ["userId", "connectionDeviceId", "connectionModuleId", "enqueuedTime", "x-b", "x-a"])
        #expect(system?["userId"] == "v" && system?["x-b"] == "3")
    }

    // MARK: Settings

    @Test("the encoding setting parses in any case")
    func encodings() throws {
        #expect(try StorageEncoding(parsing: "avro") == .avro)
        #expect(try StorageEncoding(parsing: "Avro") == .avro)
        #expect(try StorageEncoding(parsing: "JSON") == .json)
        #expect(try StorageEncoding(parsing: "json") == .json)
        for text in ["avrodeflate", "xml", ""] {
            let error = #expect(throws: StorageEndpointError.self, "\(text)") { try StorageEncoding(parsing: text) }
            #expect(error?.code == .unknownEncoding)
            #expect(error?.message.contains("'avro'") == true)
        }
    }

    @Test("file name formats: every token required, in any order, with any separators")
    func fileNameFormats() throws {
        let standard = try StorageFileNameFormat(parsing: "{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}")
        #expect(standard == .default)
        #expect(try standard.blobName(iotHub: "ContosoTestHub", partition: 0, year: 2018, month: 10, day: 30, hour: 10,
                                      minute: 56) == "ContosoTestHub/0/2018/10/30/10/56")
        // Zero padding: four-digit years, two-digit months, days, hours and minutes; partitions as they are.
        #expect(try standard.blobName(iotHub: "hub", partition: 12, year: 987, month: 1, day: 2, hour: 0, minute: 5)
            == "hub/12/0987/01/02/00/05")
        let packed = try StorageFileNameFormat(parsing: "{YYYY}{MM}{DD}{HH}{mm}-{partition}_{iothub}.json")
        #expect(try packed.blobName(iotHub: "hub", partition: 3, year: 2024, month: 1, day: 2, hour: 3, minute: 4)
            == "202401020304-3_hub.json")
        #expect(try standard.blobName(iotHub: "hub", partition: 1, time: Timestamp(secondsSince1970: 1_700_000_059))
            == "hub/1/2023/11/14/22/14")
        #expect(try standard.blobName(iotHub: "hub", partition: 1, time: Timestamp(secondsSince1970: -1))
            == "hub/1/1969/12/31/23/59")
    }

    @Test("bad file name formats and blob times are refused with what to fix")
    func badFileNameFormats() {
        func refusal(_ text: String) -> StorageEndpointError? {
            #expect(throws: StorageEndpointError.self, "\(text)") { try StorageFileNameFormat(parsing: text) }
        }
        let missing = refusal("{iothub}/{YYYY}/{MM}")
        #expect(missing?.code == .missingFileNameTokens)
        #expect(missing?.message.contains("lacks {partition}, {DD}, {HH}, {mm}") == true)
        #expect(refusal("")?.message.contains("lacks {iothub}, {partition}, {YYYY}, {MM}, {DD}, {HH}, {mm}") == true)
        #expect(refusal("{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}")?.message.contains("lacks {mm}:") == true)
        let unknown = refusal("{iothub}/{partition}/{yyyy}/{MM}/{DD}/{HH}/{mm}")
        #expect(unknown?.code == .unknownFileNameToken)
        #expect(unknown?.message.contains("{yyyy}") == true)
        #expect(refusal("{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm")?.code == .unterminatedFileNameToken)

        let format = StorageFileNameFormat.default
        for (month, day, hour, minute, partition) in [(13, 1, 0, 0, 0), (0, 1, 0, 0, 0), (1, 32, 0, 0, 0),
                                                      (1, 1, 24, 0, 0), (1, 1, 0, 60, 0), (1, 1, 0, 0, -1)] {
            let error = #expect(throws: StorageEndpointError.self) {
                try format.blobName(iotHub: "hub", partition: partition, year: 2024, month: month, day: day,
                                    hour: hour, minute: minute)
            }
            #expect(error?.code == .dateOutOfRange)
        }
    }
}
