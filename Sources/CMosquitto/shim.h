// CMosquitto: libmosquitto (MQTT 3.1.1 client) for Swift.
// Only what Swift cannot call directly gets a static inline wrapper here.
#ifndef CMOSQUITTO_SHIM_H
#define CMOSQUITTO_SHIM_H

#include <mosquitto.h>
#include <mqtt_protocol.h>

/// The library version as a single integer (major * 1000000 + minor * 1000 + revision).
static inline int cmosquitto_version_number(void) {
    int major = 0, minor = 0, revision = 0;
    return mosquitto_lib_version(&major, &minor, &revision);
}

#endif
