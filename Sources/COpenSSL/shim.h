// COpenSSL: the system OpenSSL 3 (libssl + libcrypto) for Swift.
// Only what Swift cannot call directly gets a static inline wrapper here: function-like and cast macros.
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static inline int copenssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int copenssl_ctx_get_min_proto_version(SSL_CTX *ctx) {
    return (int)SSL_CTX_get_min_proto_version(ctx);
}

static inline long copenssl_ctx_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline long copenssl_ctx_set_options_no_compression(SSL_CTX *ctx) {
    return (long)SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
}

static inline int copenssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// `SSL_set_mode`, a function-like macro (per connection, e.g. partial and moving write buffers).
static inline long copenssl_set_mode(SSL *ssl, long mode) {
    return SSL_set_mode(ssl, mode);
}

static inline long copenssl_bio_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

/// `SSL_CTX_add_extra_chain_cert`, a macro; on success the context owns `certificate`.
static inline long copenssl_ctx_add_extra_chain_cert(SSL_CTX *ctx, X509 *certificate) {
    return SSL_CTX_add_extra_chain_cert(ctx, certificate);
}

static inline void copenssl_free(void *pointer) {
    OPENSSL_free(pointer);
}

#endif
