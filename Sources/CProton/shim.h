// CProton: Qpid Proton C (AMQP 1.0) for Swift.
// Only what Swift cannot call directly gets a static inline wrapper here: variadic functions and
// macros that are casts or references to incomplete extern arrays.
#ifndef CPROTON_SHIM_H
#define CPROTON_SHIM_H

#include <proton/types.h>
#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/object.h>
#include <proton/proactor.h>
#include <proton/listener.h>
#include <proton/netaddr.h>
#include <proton/sasl.h>
#include <proton/sasl_plugin.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>
#include <proton/version.h>

/// `PN_LEGCTX`, a cast macro: the record key for the legacy context slot.
static inline pn_handle_t cproton_legctx(void) { return PN_LEGCTX; }

/// `PN_VOID`: the class for untyped pointers stored in a `pn_record_t`.
static inline const pn_class_t *cproton_void_class(void) { return PN_VOID; }

/// Fixed-arity form of the variadic `pn_condition_format`.
static inline int cproton_condition_set(pn_condition_t *condition, const char *name, const char *description) {
    return pn_condition_format(condition, name, "%s", description);
}

/// Fixed-arity form of the variadic `pn_connection_driver_errorf`.
static inline void cproton_driver_error(pn_connection_driver_t *driver, const char *name, const char *description) {
    pn_connection_driver_errorf(driver, name, "%s", description);
}

/// `PN_VERSION_MAJOR * 100 + PN_VERSION_MINOR`.
static inline int cproton_version_number(void) { return PN_VERSION_MAJOR * 100 + PN_VERSION_MINOR; }

#endif
