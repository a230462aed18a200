import Foundation
import MQTTCore
#if canImport(Glibc)
import Glibc
#endif

/// A socket call that failed, with its `errno` text.
struct RawSocketError: Error, CustomStringConvertible {
    let description: String

    init(_ call: String, errno code: Int32 = errno) {
        description = "\(call): \(String(cString: strerror(code))) (errno \(code))"
    }

    init(message: String) { description = message }
}

/// A blocking TCP connection to `127.0.0.1` over plain POSIX sockets.
///
/// No event loop sits between the test and the kernel, so after the peer dies every byte it sent before dying is
/// still read (``receive(timeout:)`` returns data before it reports the close).
final class RawTCPConnection {
    /// What one ``receive(timeout:)`` saw.
    enum Received {
        case bytes([UInt8])
        case timedOut
        /// The peer closed the connection (EOF) or reset it.
        case closed(String)
    }

    private var descriptor: Int32

    /// Connects to `127.0.0.1:port`, from the loopback address `source` when given (such as `127.0.0.2`, to act
    /// as another client address).
    init(port: Int, source: String? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw RawSocketError("socket") }
        if let source {
            var local = RawTCPConnection.loopback(port: 0)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                let error = RawSocketError("bind to \(source)")
                close()
                throw error
            }
        }
        var address = RawTCPConnection.loopback(port: port)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else {
            let error = RawSocketError("connect to 127.0.0.1:\(port)")
            // close() resets the descriptor: deinit runs after this throw (every property is set) and must not
            // close the number again, by then perhaps another socket's.
            close()
            throw error
        }
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    /// Writes all of `bytes`. Never raises SIGPIPE: a dead peer is an error.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw RawSocketError("send")
            }
            offset += written
        }
    }

    /// Waits up to `timeout` for bytes.
    func receive(timeout: Duration) -> Received {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let ready = poll(&poller, 1, milliseconds)
        if ready == 0 { return .timedOut }
        if ready < 0 { return errno == EINTR ? .timedOut : .closed(RawSocketError("poll").description) }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count > 0 { return .bytes(Array(buffer[..<count])) }
        if count == 0 { return .closed("EOF") }
        return errno == EINTR ? .timedOut : .closed(RawSocketError("recv").description)
    }

    /// Closes the socket (idempotent).
    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    /// Whether something accepts TCP connections on `127.0.0.1:port` right now.
    static func isAccepting(port: Int) -> Bool {
        guard let connection = try? RawTCPConnection(port: port) else { return false }
        connection.close()
        return true
    }

    /// `count` distinct ports that are free on `127.0.0.1`, below the kernel's ephemeral range (32768–60999 by
    /// default) so that no outgoing connection takes one of them between this check and the hub binding it, or
    /// between a crash and a restart on the same ports.
    static func freePorts(_ count: Int) throws -> [Int] {
        var ports: [Int] = []
        for _ in 0..<2_000 where ports.count < count {
            let port = Int.random(in: 20_000..<32_000)
            if !ports.contains(port), isBindable(port: port) { ports.append(port) }
        }
        guard ports.count == count else { throw RawSocketError(message: "found only \(ports.count) free ports of \(count)") }
        return ports
    }

    private static func isBindable(port: Int) -> Bool {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { Glibc.close(probe) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

/// An MQTT 3.1.1 client in the raw: packets out as encoded, packets in as decoded, nothing else (no retries, no
/// keep-alive, no reconnect), so a test sees exactly which PUBACKs the hub sent.
final class RawMQTTClient {
    let connection: RawTCPConnection
    private var decoder = MQTTStreamDecoder()
    /// Why the connection ended, once it has.
    private(set) var closeReason: String?

    init(port: Int, source: String? = nil) throws {
        connection = try RawTCPConnection(port: port, source: source)
    }

    /// Sends `packets` in one write.
    func send(_ packets: [MQTTPacket]) throws {
        var bytes: [UInt8] = []
        for packet in packets { try packet.encode(into: &bytes) }
        try connection.send(bytes)
    }

    /// The packets that arrive within `timeout` of the first read: everything decodable from one read, or none
    /// when the time passed or the connection closed (then ``closeReason`` is set).
    func receive(timeout: Duration) throws -> [MQTTPacket] {
        let deadline = ContinuousClock.now + timeout
        while closeReason == nil {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return [] }
            switch connection.receive(timeout: remaining) {
            case .timedOut:
                return []
            case .closed(let reason):
                closeReason = reason
            case .bytes(let bytes):
                decoder.append(bytes)
                var packets: [MQTTPacket] = []
                while let packet = try decoder.next() { packets.append(packet) }
                if !packets.isEmpty { return packets }
            }
        }
        return []
    }

    /// Sends CONNECT and waits for CONNACK.
    /// - Throws: when the hub refuses, closes or does not answer within `timeout`.
    func connect(_ connect: MQTTConnect, timeout: Duration = .seconds(10)) throws {
        try send([.connect(connect)])
        let packets = try receive(timeout: timeout)
        guard case .connAck(let ack)? = packets.first else {
            throw RawSocketError(message: "no CONNACK (got \(packets), closed: \(closeReason ?? "no"))")
        }
        guard ack.returnCode == .accepted else { throw RawSocketError(message: "CONNECT refused: \(ack.returnCode)") }
        guard packets.count == 1 else { throw RawSocketError(message: "unexpected packets after CONNACK: \(packets)") }
    }
}
