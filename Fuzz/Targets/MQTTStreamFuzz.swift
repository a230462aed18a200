// libFuzzer target `mqtt-stream`: MQTTCore's stream decoder and encoder.
// Built together with the sources of Sources/MQTTCore as module MQTTCore (see scripts/fuzz.sh), so it can use
// internal API. Every check below is a property the codec promises; a failed check is reported with fatalError,
// which libFuzzer records as a crash.
//
// Input: byte 0 chooses how the stream is cut into chunks, byte 1 the decoder's size limit, the rest is the
// byte stream a peer sends.

/// The size limits byte 1 chooses from: IoT Hub's default, tiny ones that make most packets too large, and one
/// just above a small packet.
private let packetSizeLimits = [MQTTStreamDecoder.defaultMaximumPacketSize, 2, 64, 300, 4096, 65_600, 1 << 20, 5]

/// What a decoder made of a whole stream: its packets and, if it stopped on an error, that error.
private struct Outcome: Equatable {
    var packets: [MQTTPacket] = []
    var sizes: [Int] = []
    var failure: MQTTDecodeError?
}

private func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("mqtt-stream: " + message()) }
}

/// Feeds `stream` to a decoder in chunks of the given sizes (cycling), draining it after each chunk.
private func decode(_ stream: [UInt8], chunks: [Int], limit: Int) -> Outcome {
    var decoder = MQTTStreamDecoder(maximumPacketSize: limit)
    var outcome = Outcome()
    var offset = 0
    var chunk = 0
    while offset < stream.count && outcome.failure == nil {
        let end = min(stream.count, offset + chunks[chunk % chunks.count])
        chunk += 1
        // Use each append overload in turn.
        switch chunk % 4 {
        case 0: decoder.append(stream[offset..<end])
        case 1: decoder.append(Array(stream[offset..<end]))
        case 2: decoder.append(stream[offset..<end].lazy.map { $0 })
        default: Array(stream[offset..<end]).withUnsafeBytes { decoder.append($0) }
        }
        offset = end
        while true {
            let before = decoder.bufferedByteCount
            do {
                guard let packet = try decoder.next() else { break }
                outcome.packets.append(packet)
                outcome.sizes.append(before - decoder.bufferedByteCount)
            } catch {
                outcome.failure = error
                break
            }
        }
    }
    if let failure = outcome.failure {
        // A poisoned decoder rethrows the same error and ignores input.
        decoder.append([0x30, 0x00])
        do {
            _ = try decoder.next()
            check(false, "a poisoned decoder returned a packet")
        } catch {
            check(error == failure, "a poisoned decoder threw \(error) after \(failure)")
        }
        check(decoder.bufferedByteCount == 0, "a poisoned decoder kept bytes")
    }
    return outcome
}

/// The length of the fixed header at the start of `bytes` (type byte plus remaining-length bytes).
private func fixedHeaderLength(_ bytes: ArraySlice<UInt8>) -> Int {
    var index = bytes.startIndex + 1
    while bytes[index] & 0x80 != 0 { index += 1 }
    return index + 1 - bytes.startIndex
}

/// A plain reference for MQTT 3.1.1 §4.7 topic matching, level by level on UTF-8 bytes.
private func referenceMatch(filter: String, topic: String) -> Bool {
    let topicBytes = Array(topic.utf8)
    guard !topicBytes.isEmpty, !topicBytes.contains(0), !topicBytes.contains(UInt8(ascii: "+")),
          !topicBytes.contains(UInt8(ascii: "#")) else { return false }
    let filterBytes = Array(filter.utf8)
    if topicBytes[0] == UInt8(ascii: "$"), let first = filterBytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "#") {
        return false
    }
    let filterLevels = filterBytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    let topicLevels = topicBytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    for (index, level) in filterLevels.enumerated() {
        if level.elementsEqual([UInt8(ascii: "#")]) { return true }
        guard index < topicLevels.count else { return false }
        if level.elementsEqual([UInt8(ascii: "+")]) { continue }
        guard level.elementsEqual(topicLevels[index]) else { return false }
    }
    return filterLevels.count == topicLevels.count
}

private func checkMatching(filter: String, topic: String) {
    guard let compiled = MQTTTopicFilter(filter) else { return }
    let expected = referenceMatch(filter: filter, topic: topic)
    check(compiled.matches(topic: topic) == expected,
          "filter \(Array(filter.utf8)) vs topic \(Array(topic.utf8)): matches says \(!expected), reference \(expected)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func mqttStreamFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let limit = packetSizeLimits[Int(input[1]) % packetSizeLimits.count]
    let stream = Array(input[2...])

    // 1. Chunking never changes the result: byte by byte, in the chosen pattern, and all at once agree.
    let whole = decode(stream, chunks: [max(1, stream.count)], limit: limit)
    let pattern = [Int(input[0] & 0x0F) + 1, Int(input[0] >> 4) * 7 + 1]
    let chunked = decode(stream, chunks: pattern, limit: limit)
    check(chunked == whole, "chunks \(pattern) decoded differently from the whole stream")
    if stream.count <= 512 {
        check(decode(stream, chunks: [1], limit: limit) == whole, "byte-by-byte decoding differed")
    }

    // 2. Every decoded packet re-encodes to the same body, within the same size limit, and decodes back to itself.
    let encoder = MQTTPacketEncoder(maximumPacketSize: limit)
    var offset = 0
    var filters: [String] = []
    var topics: [String] = []
    for (packet, packetSize) in zip(whole.packets, whole.sizes) {
        let original = stream[offset..<(offset + packetSize)]
        offset += packetSize
        _ = packet.description
        let encoded: [UInt8]
        do {
            encoded = try encoder.encode(packet)
        } catch {
            check(false, "decoded \(packet) does not encode: \(error)")
            continue
        }
        check((try? encoder.encodedSize(of: packet)) == encoded.count, "encodedSize disagrees with encode")
        check(encoded.count <= packetSize, "re-encoding grew the packet")
        check(encoded[0] == original.first!, "first byte changed: \(original.first!) -> \(encoded[0])")
        check(encoded[fixedHeaderLength(encoded[...])...].elementsEqual(original[(original.startIndex + fixedHeaderLength(original))...]),
              "the body of \(packet) changed when re-encoded")
        var again = MQTTStreamDecoder(maximumPacketSize: limit)
        again.append(encoded)
        do {
            let decoded = try again.next()
            check(decoded == packet, "\(packet) decoded back as \(String(describing: decoded))")
            check(again.bufferedByteCount == 0, "bytes left after decoding a re-encoded packet")
        } catch {
            check(false, "re-encoded \(packet) does not decode: \(error)")
        }
        switch packet {
        case .publish(let publish): topics.append(publish.topic)
        case .connect(let connect): if let will = connect.will { topics.append(will.topic) }
        case .subscribe(let subscribe): filters += subscribe.subscriptions.map(\.topicFilter)
        case .unsubscribe(let unsubscribe): filters += unsubscribe.topicFilters
        default: break
        }
    }
    for topic in topics { check(MQTTTopicFilter.isValidTopicName(topic), "decoded topic name \(topic) is invalid") }
    for filter in filters { check(MQTTTopicFilter(filter) != nil, "decoded topic filter \(filter) is invalid") }

    // 3. Topic matching agrees with a plain reference: decoded filters against decoded topics, and the raw bytes
    //    split at the first NUL into a filter and a topic.
    for filter in filters.prefix(8) {
        for topic in topics.prefix(8) { checkMatching(filter: filter, topic: topic) }
    }
    if let nul = stream.firstIndex(of: 0),
       let filter = String(validating: stream[..<nul], as: UTF8.self),
       let topic = String(validating: stream[(nul + 1)...], as: UTF8.self) {
        checkMatching(filter: filter, topic: topic)
    }
    return 0
}
