import CProton
import IoTHubProtocol
import ProtonCodec

/// What an ``AMQPConnection`` tells the identities (devices and modules) it carries; called on the loop.
protocol AMQPConnectionMember: AnyObject {
    /// SASL and OPEN are done: the member may put its token and attach its links.
    func connectionOpened(_ connection: AMQPConnection)
    /// The connection is gone, and every link and delivery of it; the member is no longer a member.
    func connectionLost(_ connection: AMQPConnection, _ disconnect: DeviceTransportDisconnect)
    /// The hub answered the attach of one of the member's links; `accepted` is false for a refusal.
    func linkOpened(_ link: OpaquePointer, accepted: Bool)
    /// The hub detached or closed one of the member's links.
    func linkClosed(_ link: OpaquePointer, condition: (name: String, description: String)?)
    /// A delivery on one of the member's links changed (arrived, or was settled by the hub).
    func deliveryUpdated(_ delivery: OpaquePointer, on link: OpaquePointer)
}

/// One AMQP connection to the hub (one socket, one Proton engine, one session) and the identities it carries,
/// each with its own CBS token and links, as the official C SDK multiplexes devices.
///
/// The connection opens its `$cbs-sender` / `$cbs-receiver` links at once and serves every member's put-token
/// on them (message ids count up per connection); everything else a member does on its own links. When the last
/// member leaves, the connection closes. Loop-confined.
final class AMQPConnection: DeviceSocketDelegate {
    struct Settings {
        /// The hub host (OPEN hostname, SASL, the CBS audience); `socket.host` is where to connect.
        var hubHostName: String
        var socket: DeviceSocket.Settings
        var containerId: String

        /// Connections are shared only between members with equal keys (an X.509 device brings its own TLS context).
        var key: Key {
            Key(hubHostName: hubHostName, host: socket.host, port: socket.port, bindAddress: socket.bindAddress,
                tls: socket.tls.map { ObjectIdentifier($0) })
        }
    }

    struct Key: Hashable {
        var hubHostName: String
        var host: String
        var port: Int
        var bindAddress: String?
        var tls: ObjectIdentifier?
    }

    /// The answer to a put-token: CBS `status-code` (0 when the connection went away) and description.
    typealias TokenCompletion = (_ status: Int, _ description: String) -> Void

    /// The idle-time-out announced in OPEN (the C SDK's 240 s).
    static let idleTimeoutMilliseconds: UInt32 = 240_000
    /// Credit of the CBS receiver (as the C SDK).
    static let cbsCredit: Int32 = 10_000

    let key: Key
    let loop: DeviceEventLoop
    let settings: Settings
    private let socket: DeviceSocket
    private let driver: ProtonClientDriver
    private let session: OpaquePointer
    private let cbsSender: OpaquePointer
    private let cbsReceiver: OpaquePointer
    /// The hub's OPEN arrived.
    private(set) var isOpen = false
    /// The socket is gone and every member was told.
    private(set) var isFinished = false
    /// No more members: closing politely.
    private(set) var isClosing = false
    private var members: [ObjectIdentifier: any AMQPConnectionMember] = [:]
    private var owners: [OpaquePointer: ObjectIdentifier] = [:]
    private var tokenRequests: [UInt64: TokenCompletion] = [:]
    private var nextMessageId: UInt64 = 0
    private var nextTag: UInt64 = 0
    private var pumping = false
    private var pumpAgain = false
    private var tickTimer: DeviceLoopTimer?
    private var tickDeadline: Int64 = 0
    /// Told once the connection is finished (the pool forgets it).
    var onFinished: ((AMQPConnection) -> Void)?

    init(settings: Settings, loop: DeviceEventLoop) {
        self.settings = settings
        self.key = settings.key
        self.loop = loop
        let mechanisms = settings.socket.tls?.hasClientCertificate == true ? ["EXTERNAL", "ANONYMOUS"] : ["MSSBCBS", "ANONYMOUS"]
        driver = ProtonClientDriver(hostName: settings.hubHostName, containerId: settings.containerId,
                                    idleTimeout: Self.idleTimeoutMilliseconds, mechanisms: mechanisms)
        pn_connection_open(driver.connection)
        session = ProtonLinks.openSession(driver.connection)
        cbsReceiver = ProtonLinks.open(on: session, sender: false, name: "$cbs-receiver", address: "$cbs",
                                       localAddress: "$cbs", properties: [:], credit: Self.cbsCredit)
        cbsSender = ProtonLinks.open(on: session, sender: true, name: "$cbs-sender", address: "$cbs",
                                     localAddress: "$cbs", properties: [:])
        socket = DeviceSocket(settings: settings.socket, loop: loop)
        socket.delegate = self
    }

    /// Connects the socket; members hear ``AMQPConnectionMember/connectionOpened(_:)`` once the hub opened.
    func start() {
        socket.connect()
    }

    var memberCount: Int { members.count }

    /// Whether a new member may join (it is neither closing nor gone).
    var isAcceptingMembers: Bool { !isFinished && !isClosing }

    // MARK: Members

    func add(_ member: any AMQPConnectionMember) {
        members[ObjectIdentifier(member)] = member
    }

    /// Takes a member off: its links close (its unsettled deliveries with them); the last one closes the connection.
    func remove(_ member: any AMQPConnectionMember) {
        let id = ObjectIdentifier(member)
        guard members.removeValue(forKey: id) != nil else { return }
        for (link, owner) in owners where owner == id {
            ProtonLinks.close(link)
            owners[link] = nil
        }
        if members.isEmpty { close() }
        pump()
    }

    private func close() {
        guard !isClosing, !isFinished else { return }
        isClosing = true
        pn_connection_close(driver.connection)
        pump()
        let box = LoopHandoff(self)
        loop.schedule(after: .seconds(2)) { box.value.finish(.init(kind: .requested, detail: "closed")) }
    }

    // MARK: Links and deliveries (for members)

    /// Opens a link that belongs to `member`.
    func openLink(for member: any AMQPConnectionMember, sender: Bool, name: String, address: String,
                  properties: [String: AMQPValue], credit: Int32 = 0) -> OpaquePointer {
        let link = ProtonLinks.open(on: session, sender: sender, name: name, address: address, localAddress: name,
                                    properties: properties, credit: credit)
        owners[link] = ObjectIdentifier(member)
        pump()
        return link
    }

    /// Sends a message; returns its tag (and the delivery when unsettled).
    func send(_ message: AMQPMessage, on link: OpaquePointer, settled: Bool = false) -> UInt64 {
        nextTag &+= 1
        ProtonLinks.send(message, on: link, tag: nextTag, settled: settled)
        pump()
        return nextTag
    }

    /// Sends a CBS put-token for `audience`; `completion` gets the answer's status (0 if the connection ends first).
    func putToken(_ token: String, audience: String, completion: @escaping TokenCompletion) {
        nextMessageId &+= 1
        let request = CBSPutToken(token: token, audience: audience, messageId: .ulong(nextMessageId))
        tokenRequests[nextMessageId] = completion
        nextTag &+= 1
        ProtonLinks.send(request.message, on: cbsSender, tag: nextTag, settled: false)
        pump()
    }

    /// Runs Proton and writes what it produced (after a member settled or changed something).
    func flush() { pump() }

    /// Shuts the socket down under the connection (tests).
    func shutdownSocketForTesting() { socket.shutdownForTesting() }

    // MARK: DeviceSocketDelegate

    func socketOpened(_ socket: DeviceSocket) { pump() }

    func socket(_ socket: DeviceSocket, received bytes: ArraySlice<UInt8>) {
        driver.read(bytes)
        pump()
    }

    func socketClosed(_ socket: DeviceSocket, reason: String) {
        guard !isFinished else { return }
        driver.socketClosed()
        pump()
        finish(disconnect(reason: reason))
    }

    // MARK: Driving Proton

    private func pump() {
        guard !isFinished else { return }
        guard !pumping else {
            pumpAgain = true
            return
        }
        pumping = true
        defer { pumping = false }
        repeat {
            pumpAgain = false
            while let event = driver.nextEvent() { handle(event) }
            if socket.isOpen { socket.write(driver.takeOutput()) }
        } while pumpAgain || driver.hasEvent
        if driver.isWriteClosed {
            if socket.isOpen { socket.close(reason: "closed") }
            return
        }
        scheduleTick()
    }

    private static func nowMilliseconds() -> Int64 { Int64(DeviceEventLoop.now() / 1_000_000) }

    private func scheduleTick() {
        let deadline = driver.tick(nowMilliseconds: Self.nowMilliseconds())
        guard deadline > 0, deadline != tickDeadline || tickTimer == nil else { return }
        tickTimer?.cancel()
        tickDeadline = deadline
        let box = LoopHandoff(self)
        tickTimer = loop.schedule(after: .milliseconds(max(0, deadline - Self.nowMilliseconds()))) {
            box.value.tickTimer = nil
            box.value.pump()
        }
    }

    private func handle(_ event: OpaquePointer) {
        switch pn_event_type(event) {
        case PN_CONNECTION_REMOTE_OPEN:
            isOpen = true
            for member in Array(members.values) where members[ObjectIdentifier(member)] != nil {
                member.connectionOpened(self)
            }
        case PN_CONNECTION_REMOTE_CLOSE:
            pn_connection_close(driver.connection)
        case PN_SESSION_REMOTE_CLOSE:
            pn_connection_close(driver.connection)
        case PN_LINK_REMOTE_OPEN:
            guard let link = pn_event_link(event), link != cbsSender, link != cbsReceiver else { return }
            member(of: link)?.linkOpened(link, accepted: ProtonLinks.remoteAddress(link) != nil)
        case PN_LINK_REMOTE_CLOSE, PN_LINK_REMOTE_DETACH:
            guard let link = pn_event_link(event) else { return }
            if link == cbsSender || link == cbsReceiver {
                let condition = ProtonLinks.remoteCondition(link)
                cproton_condition_set(pn_connection_condition(driver.connection), "amqp:internal-error",
                                      "the hub closed the $cbs link: \(condition?.description ?? "no reason")")
                pn_connection_close(driver.connection)
                return
            }
            let owner = member(of: link)
            let condition = ProtonLinks.remoteCondition(link)
            owners[link] = nil
            ProtonLinks.close(link)
            owner?.linkClosed(link, condition: condition)
            ProtonLinks.free(link)
        case PN_DELIVERY:
            guard let delivery = pn_event_delivery(event), let link = ProtonLinks.link(of: delivery) else { return }
            if link == cbsReceiver { return tokenAnswer(delivery) }
            if link == cbsSender {
                if ProtonLinks.remoteOutcome(delivery) != nil { ProtonLinks.release(delivery) }
                return
            }
            if let owner = member(of: link) { return owner.deliveryUpdated(delivery, on: link) }
            // A link its member gave up: nothing more is taken on it.
            if ProtonLinks.isSender(link) {
                if ProtonLinks.remoteOutcome(delivery) != nil { ProtonLinks.release(delivery) }
            } else if ProtonLinks.receive(delivery) != nil {
                ProtonLinks.settle(delivery, outcome: UInt64(PN_RELEASED))
            }
        case PN_TRANSPORT_CLOSED:
            finish(disconnect(reason: "the connection closed"))
        default:
            break
        }
    }

    private func member(of link: OpaquePointer) -> (any AMQPConnectionMember)? {
        owners[link].flatMap { members[$0] }
    }

    private func tokenAnswer(_ delivery: OpaquePointer) {
        guard let bytes = ProtonLinks.receive(delivery) else { return }
        ProtonLinks.settle(delivery, outcome: UInt64(PN_ACCEPTED))
        ProtonLinks.topUpCredit(cbsReceiver, to: Self.cbsCredit)
        guard let answer = try? ProtonMessageCodec.decode(bytes),
              case .ulong(let id)? = answer.correlationId ?? answer.messageId,
              let completion = tokenRequests.removeValue(forKey: id) else { return }
        let status = answer.applicationProperties["status-code"]?.integer ?? 0
        completion(Int(status), answer.applicationProperties["status-description"]?.text ?? "")
    }

    /// Why the connection ended, in the transport's terms.
    private func disconnect(reason: String) -> DeviceTransportDisconnect {
        if let condition = driver.remoteCondition ?? driver.transportCondition {
            let detail = "\(condition.name): \(condition.description)"
            if !isOpen, condition.name == "amqp:unauthorized-access" {
                return DeviceTransportDisconnect(kind: .unauthorized, detail: detail)
            }
            if condition.name == "amqp:resource-limit-exceeded" {
                return DeviceTransportDisconnect(kind: .throttled, detail: detail)
            }
            return DeviceTransportDisconnect(kind: isOpen ? .closedByHub : .networkError, detail: detail)
        }
        return DeviceTransportDisconnect(kind: isOpen ? .closedByHub : .networkError, detail: reason)
    }

    /// The end: the socket closes, pending put-tokens fail, every member hears it once.
    private func finish(_ disconnect: DeviceTransportDisconnect) {
        guard !isFinished else { return }
        isFinished = true
        tickTimer?.cancel()
        tickTimer = nil
        socket.close(reason: disconnect.detail)
        let requests = tokenRequests
        tokenRequests.removeAll()
        for (_, completion) in requests { completion(0, disconnect.detail) }
        let lost = Array(members.values)
        members.removeAll()
        owners.removeAll()
        for member in lost { member.connectionLost(self, disconnect) }
        onFinished?(self)
    }
}
