import CProton
import IoTHubProtocol

/// Encodes and decodes ``AMQPMessage``s with Proton's `pn_message_t` and `pn_data_t`, which it creates and
/// frees within each call. Shared by the hub's AMQP head and the SDK's AMQP transport.
package enum ProtonMessageCodec {
    /// Why bytes are not an AMQP message.
    package struct DecodeError: Error, CustomStringConvertible {
        package var description: String

        package init(description: String) {
            self.description = description
        }
    }

    // MARK: Decoding

    /// Decodes one encoded message.
    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> AMQPMessage {
        guard let message = pn_message() else { throw DecodeError(description: "out of memory") }
        defer { pn_message_free(message) }
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(1, buffer.count)) {
                pn_message_decode(message, $0, buffer.count)
            }
        }
        guard status == 0 else {
            let text = pn_error_text(pn_message_error(message)).map { String(cString: $0) } ?? "error \(status)"
            throw DecodeError(description: "not an AMQP message: \(text)")
        }
        var decoded = AMQPMessage()
        decoded.messageId = firstValue(pn_message_id(message))
        decoded.correlationId = firstValue(pn_message_correlation_id(message))
        let user = pn_message_get_user_id(message)
        if user.size > 0, let start = user.start {
            decoded.userId = Array(UnsafeRawBufferPointer(start: start, count: user.size))
        }
        decoded.to = string(pn_message_get_address(message))
        decoded.subject = string(pn_message_get_subject(message))
        decoded.replyTo = string(pn_message_get_reply_to(message))
        decoded.contentType = string(pn_message_get_content_type(message))
        decoded.contentEncoding = string(pn_message_get_content_encoding(message))
        let expiry = pn_message_get_expiry_time(message)
        if expiry != 0 { decoded.absoluteExpiryTime = expiry }
        let created = pn_message_get_creation_time(message)
        if created != 0 { decoded.creationTime = created }
        decoded.applicationProperties = map(pn_message_properties(message))
        decoded.messageAnnotations = map(pn_message_annotations(message))
        let body = pn_message_body(message)!
        if pn_message_is_inferred(message) {
            decoded.body = .data(firstValue(body).flatMap { if case .binary(let b) = $0 { b } else { nil } } ?? [])
        } else {
            decoded.body = .value(firstValue(body) ?? .null)
        }
        return decoded
    }

    /// Decodes a telemetry transfer: one message, or a Microsoft batch of them.
    ///
    /// The official C SDK marks a batch with message-format `0x80013700`, which Proton 0.37 does not expose; a
    /// batch is therefore recognised by its shape: nothing but data sections, each of which is itself a complete
    /// encoded message (a plain message's data body is the application's payload, never an AMQP message).
    package static func decodeTelemetry(_ bytes: [UInt8]) throws(DecodeError) -> [AMQPMessage] {
        if let sections = try? dataSections(bytes), !sections.isEmpty, sections.allSatisfy(Self.looksLikeMessage),
           let messages = try? sections.map({ section throws(DecodeError) in try decode(section) }) {
            return messages
        }
        return [try decode(bytes)]
    }

    /// Whether `bytes` start with a described AMQP message section (header, annotations, properties or body).
    private static func looksLikeMessage(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == 0x00 && bytes[1] == 0x53 && (0x70...0x78).contains(bytes[2])
    }

    /// Splits a Microsoft batch (message-format `0x80013700`): its data sections, each one encoded message.
    package static func decodeBatch(_ bytes: [UInt8]) throws(DecodeError) -> [AMQPMessage] {
        var messages: [AMQPMessage] = []
        for section in try dataSections(bytes) { messages.append(try decode(section)) }
        return messages
    }

    /// The contents of the data sections of an encoded message, in order; `nil` when another kind of section is
    /// among them.
    private static func dataSections(_ bytes: [UInt8]) throws(DecodeError) -> [[UInt8]] {
        guard let data = pn_data(0) else { throw DecodeError(description: "out of memory") }
        defer { pn_data_free(data) }
        var sections: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            pn_data_clear(data)
            let used = bytes.withUnsafeBufferPointer { buffer in
                buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                    pn_data_decode(data, $0 + offset, buffer.count - offset)
                }
            }
            guard used > 0 else { throw DecodeError(description: "a batch section at byte \(offset) does not decode") }
            offset += used
            pn_data_rewind(data)
            guard pn_data_next(data), pn_data_type(data) == PN_DESCRIBED else {
                throw DecodeError(description: "a section at byte \(offset) is not described")
            }
            pn_data_enter(data)
            guard pn_data_next(data) else { throw DecodeError(description: "a section has no descriptor") }
            let descriptor = value(data)
            let isData = descriptor == .ulong(0x75) || descriptor == .symbol("amqp:data:binary")
            guard isData, pn_data_next(data), case .binary(let section) = value(data) else {
                throw DecodeError(description: "a section other than data")
            }
            sections.append(section)
        }
        return sections
    }

    // MARK: Encoding

    /// Encodes a message.
    package static func encode(_ message: AMQPMessage) -> [UInt8] {
        guard let encoded = pn_message() else { return [] }
        defer { pn_message_free(encoded) }
        if let id = message.messageId { put(id, into: pn_message_id(encoded)) }
        if let id = message.correlationId { put(id, into: pn_message_correlation_id(encoded)) }
        if let user = message.userId {
            user.withUnsafeBufferPointer { buffer in
                buffer.baseAddress.map { base in
                    base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                        _ = pn_message_set_user_id(encoded, pn_bytes(buffer.count, $0))
                    }
                }
            }
        }
        if let to = message.to { pn_message_set_address(encoded, to) }
        if let subject = message.subject { pn_message_set_subject(encoded, subject) }
        if let replyTo = message.replyTo { pn_message_set_reply_to(encoded, replyTo) }
        if let type = message.contentType { pn_message_set_content_type(encoded, type) }
        if let encoding = message.contentEncoding { pn_message_set_content_encoding(encoded, encoding) }
        if let expiry = message.absoluteExpiryTime { pn_message_set_expiry_time(encoded, expiry) }
        if let created = message.creationTime { pn_message_set_creation_time(encoded, created) }
        if !message.applicationProperties.isEmpty {
            putMap(message.applicationProperties, keysAreSymbols: false, into: pn_message_properties(encoded))
        }
        if !message.messageAnnotations.isEmpty {
            putMap(message.messageAnnotations, keysAreSymbols: true, into: pn_message_annotations(encoded))
        }
        switch message.body {
        case .data(let bytes):
            put(.binary(bytes), into: pn_message_body(encoded))
            pn_message_set_inferred(encoded, true)
        case .value(let value):
            put(value, into: pn_message_body(encoded))
            pn_message_set_inferred(encoded, false)
        }
        var capacity = 512 + message.bodyBytes.count * 2
        while true {
            var buffer = [UInt8](repeating: 0, count: capacity)
            var size = capacity
            let status = buffer.withUnsafeMutableBufferPointer { pointer in
                pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: capacity) {
                    pn_message_encode(encoded, $0, &size)
                }
            }
            if status == 0 { return Array(buffer.prefix(size)) }
            guard status == PN_OVERFLOW, capacity < 1 << 26 else { return [] }
            capacity *= 2
        }
    }

    // MARK: pn_data_t values

    private static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private static func bytes(_ value: pn_bytes_t) -> [UInt8] {
        guard value.size > 0, let start = value.start else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: value.size))
    }

    /// The first value of `data`, or `nil` when it is empty.
    package static func firstValue(_ data: OpaquePointer?) -> AMQPValue? {
        guard let data else { return nil }
        pn_data_rewind(data)
        guard pn_data_next(data) else { return nil }
        return value(data)
    }

    /// The value at the current position of `data`, compound values (lists, arrays, maps, described values) included.
    package static func value(_ data: OpaquePointer) -> AMQPValue {
        switch pn_data_type(data) {
        case PN_BOOL: .bool(pn_data_get_bool(data))
        case PN_UBYTE: .uint(UInt32(pn_data_get_ubyte(data)))
        case PN_BYTE: .int(Int32(pn_data_get_byte(data)))
        case PN_USHORT: .uint(UInt32(pn_data_get_ushort(data)))
        case PN_SHORT: .int(Int32(pn_data_get_short(data)))
        case PN_UINT: .uint(pn_data_get_uint(data))
        case PN_INT: .int(pn_data_get_int(data))
        case PN_CHAR: .uint(pn_data_get_char(data))
        case PN_ULONG: .ulong(pn_data_get_ulong(data))
        case PN_LONG: .long(pn_data_get_long(data))
        case PN_TIMESTAMP: .timestamp(pn_data_get_timestamp(data))
        case PN_FLOAT: .double(Double(pn_data_get_float(data)))
        case PN_DOUBLE: .double(pn_data_get_double(data))
        case PN_UUID:
            .uuid(AMQPValue.UUIDBytes(withUnsafeBytes(of: pn_data_get_uuid(data).bytes) { Array($0) }))
        case PN_STRING: .string(String(decoding: bytes(pn_data_get_string(data)), as: UTF8.self))
        case PN_SYMBOL: .symbol(String(decoding: bytes(pn_data_get_symbol(data)), as: UTF8.self))
        case PN_BINARY: .binary(bytes(pn_data_get_binary(data)))
        case PN_LIST: .list(children(data, count: Int(pn_data_get_list(data))))
        case PN_ARRAY: .array(children(data, count: Int(pn_data_get_array(data))))
        case PN_MAP: .map(pairs(children(data, count: Int(pn_data_get_map(data)))))
        case PN_DESCRIBED: described(data)
        default: .null
        }
    }

    /// The `count` values inside the compound value at the current position.
    private static func children(_ data: OpaquePointer, count: Int) -> [AMQPValue] {
        guard pn_data_enter(data) else { return [] }
        defer { pn_data_exit(data) }
        var values: [AMQPValue] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            guard pn_data_next(data) else { break }
            values.append(value(data))
        }
        return values
    }

    private static func pairs(_ values: [AMQPValue]) -> [AMQPValue.Entry] {
        stride(from: 0, to: values.count & ~1, by: 2).map { AMQPValue.Entry(values[$0], values[$0 + 1]) }
    }

    private static func described(_ data: OpaquePointer) -> AMQPValue {
        guard pn_data_enter(data) else { return .null }
        defer { pn_data_exit(data) }
        guard pn_data_next(data) else { return .null }
        let descriptor = value(data)
        guard pn_data_next(data) else { return .described(descriptor: descriptor, value: .null) }
        return .described(descriptor: descriptor, value: value(data))
    }

    /// The map at the start of `data`, with keys as text.
    package static func map(_ data: OpaquePointer?) -> [String: AMQPValue] {
        guard let data else { return [:] }
        pn_data_rewind(data)
        guard pn_data_next(data), pn_data_type(data) == PN_MAP else { return [:] }
        let count = Int(pn_data_get_map(data))
        pn_data_enter(data)
        defer { pn_data_exit(data) }
        var result: [String: AMQPValue] = [:]
        for _ in 0..<count / 2 {
            guard pn_data_next(data) else { break }
            let key = value(data).text
            guard pn_data_next(data) else { break }
            if let key { result[key] = value(data) }
        }
        return result
    }

    /// Appends `value` to `data`.
    package static func put(_ value: AMQPValue, into data: OpaquePointer?) {
        guard let data else { return }
        switch value {
        case .null: pn_data_put_null(data)
        case .bool(let v): pn_data_put_bool(data, v)
        case .int(let v): pn_data_put_int(data, v)
        case .uint(let v): pn_data_put_uint(data, v)
        case .long(let v): pn_data_put_long(data, v)
        case .ulong(let v): pn_data_put_ulong(data, v)
        case .double(let v): pn_data_put_double(data, v)
        case .timestamp(let v): pn_data_put_timestamp(data, v)
        case .uuid(let v):
            var uuid = pn_uuid_t()
            withUnsafeMutableBytes(of: &uuid.bytes) { $0.copyBytes(from: v.bytes) }
            pn_data_put_uuid(data, uuid)
        case .string(let text): withBytes(Array(text.utf8)) { pn_data_put_string(data, $0) }
        case .symbol(let text): withBytes(Array(text.utf8)) { pn_data_put_symbol(data, $0) }
        case .binary(let bytes): withBytes(bytes) { pn_data_put_binary(data, $0) }
        case .list(let values):
            pn_data_put_list(data)
            pn_data_enter(data)
            for value in values { put(value, into: data) }
            pn_data_exit(data)
        case .array(let values):
            pn_data_put_array(data, false, values.first.map(type(of:)) ?? PN_NULL)
            pn_data_enter(data)
            for value in values { put(value, into: data) }
            pn_data_exit(data)
        case .map(let entries):
            pn_data_put_map(data)
            pn_data_enter(data)
            for entry in entries {
                put(entry.key, into: data)
                put(entry.value, into: data)
            }
            pn_data_exit(data)
        case .described(let descriptor, let value):
            pn_data_put_described(data)
            pn_data_enter(data)
            put(descriptor, into: data)
            put(value, into: data)
            pn_data_exit(data)
        }
    }

    /// Proton's type code for an array whose elements are like `value`.
    private static func type(of value: AMQPValue) -> pn_type_t {
        switch value {
        case .null: PN_NULL
        case .bool: PN_BOOL
        case .int: PN_INT
        case .uint: PN_UINT
        case .long: PN_LONG
        case .ulong: PN_ULONG
        case .double: PN_DOUBLE
        case .timestamp: PN_TIMESTAMP
        case .uuid: PN_UUID
        case .string: PN_STRING
        case .symbol: PN_SYMBOL
        case .binary: PN_BINARY
        case .list: PN_LIST
        case .array: PN_ARRAY
        case .map: PN_MAP
        case .described: PN_DESCRIBED
        }
    }

    /// Appends a map to `data`; Proton copies the bytes it is given.
    package static func putMap(_ map: [String: AMQPValue], keysAreSymbols: Bool, into data: OpaquePointer?) {
        guard let data else { return }
        pn_data_put_map(data)
        pn_data_enter(data)
        for (key, value) in map.sorted(by: { $0.key < $1.key }) {
            put(keysAreSymbols ? .symbol(key) : .string(key), into: data)
            put(value, into: data)
        }
        pn_data_exit(data)
    }

    private static func withBytes(_ bytes: [UInt8], _ body: (pn_bytes_t) -> Int32) {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { _ = body(pn_bytes(0, nil)); return }
            base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { _ = body(pn_bytes(buffer.count, $0)) }
        }
    }
}
