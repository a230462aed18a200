/* The floor under any per-device AMQP memory figure built on Qpid Proton: what Proton's own objects cost for one
 * link (pn_link_t, its four termini and their data, properties as our links carry them), measured as heap in use
 * (mallinfo2) across 10,000 devices on one session. Before any peer attach reply: a lower bound. Used by
 * scripts/bench.sh; prints one JSON object. */
#include <malloc.h>
#include <proton/codec.h>
#include <proton/connection.h>
#include <proton/link.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <stdio.h>
#include <string.h>

static size_t heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

static size_t bytes_per_device(int devices, int links_per_device) {
    pn_connection_t *connection = pn_connection();
    pn_session_t *session = pn_session(connection);
    pn_session_open(session);
    size_t before = heap_in_use();
    char name[128], address[128];
    for (int device = 0; device < devices; device++) {
        for (int k = 0; k < links_per_device; k++) {
            snprintf(name, sizeof name, "link-%d-%d-2b1f0c6e-8a7d-4c35-9e21-5f0a3d6b7c81", device, k);
            snprintf(address, sizeof address, "amqps://hub.example/devices/device-%d/messages/events", device);
            pn_link_t *link = (k % 2) ? pn_receiver(session, name) : pn_sender(session, name);
            pn_terminus_set_address(pn_link_target(link), address);
            pn_terminus_set_address(pn_link_source(link), name);
            pn_data_t *properties = pn_link_properties(link);
            pn_data_put_map(properties);
            pn_data_enter(properties);
            pn_data_put_symbol(properties, pn_bytes(strlen("com.microsoft:client-version"), "com.microsoft:client-version"));
            pn_data_put_string(properties, pn_bytes(strlen("swift-iot-hub/0.1"), "swift-iot-hub/0.1"));
            pn_data_exit(properties);
            pn_link_open(link);
        }
    }
    size_t per_device = (heap_in_use() - before) / (size_t)devices;
    pn_connection_free(connection);
    return per_device;
}

int main(void) {
    size_t one = bytes_per_device(10000, 1), two = bytes_per_device(10000, 2);
    printf("{\"benchmark\": \"proton-link-floor\", \"bytesPerLink\": %zu, \"bytesForTwoLinks\": %zu}\n", one, two);
    return 0;
}
