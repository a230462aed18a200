import CMosquitto
import COpenSSL
import CProton
import CLinuxSystem
import Glibc
import Testing

/// Each system library target imports, links and runs, and each shim compiles: the base the SDK and hub build on.
@Suite("system libraries")
struct SystemLibraryTests {
    @Test("libmosquitto 2.x initialises and creates a client")
    func mosquitto() {
        #expect(mosquitto_lib_init() == MOSQ_ERR_SUCCESS.rawValue)
        defer { mosquitto_lib_cleanup() }
        #expect(cmosquitto_version_number() >= 2_000_000)
        let client = mosquitto_new("probe", true, nil)
        #expect(client != nil)
        #expect(mosquitto_int_option(client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311) == MOSQ_ERR_SUCCESS.rawValue)
        mosquitto_destroy(client)
    }

    @Test("Qpid Proton encodes and decodes an AMQP message")
    func proton() throws {
        #expect(cproton_version_number() >= 37)
        let message = try #require(pn_message())
        defer { pn_message_free(message) }
        _ = pn_message_set_address(message, "/devices/d1/messages/events")
        _ = pn_data_put_binary(pn_message_body(message), pn_bytes(5, "hello"))
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        #expect(pn_message_encode(message, &buffer, &size) == 0)
        #expect(size > 0)

        let decoded = try #require(pn_message())
        defer { pn_message_free(decoded) }
        #expect(pn_message_decode(decoded, buffer, size) == 0)
        #expect(String(cString: pn_message_get_address(decoded)) == "/devices/d1/messages/events")
        // The shims for macros and variadic functions link and work.
        #expect(cproton_void_class() != nil)
        let condition = pn_condition()
        defer { pn_condition_free(condition) }
        #expect(cproton_condition_set(condition, "amqp:unauthorized-access", "denied: 100%s") == 0)
        #expect(String(cString: pn_condition_get_description(condition)) == "denied: 100%s")
    }

    @Test("OpenSSL 3 builds a TLS 1.2+ client context through the shims")
    func openSSL() {
        #expect(OpenSSL_version_num() >= 0x3000_0000)
        let context = SSL_CTX_new(TLS_client_method())
        #expect(context != nil)
        defer { SSL_CTX_free(context) }
        #expect(copenssl_ctx_set_min_proto_version(context, TLS1_2_VERSION) == 1)
        #expect(copenssl_ctx_get_min_proto_version(context) == TLS1_2_VERSION)
        _ = copenssl_ctx_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
    }

    @Test("epoll, eventfd and timerfd from CLinuxSystem")
    func epoll() {
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        #expect(epollFD >= 0)
        defer { close(epollFD) }
        let eventFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        #expect(eventFD >= 0)
        defer { close(eventFD) }
        var event = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: 7))
        #expect(epoll_ctl(epollFD, EPOLL_CTL_ADD, eventFD, &event) == 0)
        var one: UInt64 = 1
        #expect(write(eventFD, &one, 8) == 8)
        var ready = [epoll_event](repeating: epoll_event(), count: 4)
        #expect(epoll_wait(epollFD, &ready, 4, 1000) == 1)
        #expect(ready[0].data.u64 == 7)
        let timerFD = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
        #expect(timerFD >= 0)
        close(timerFD)
    }
}
