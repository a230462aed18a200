// CCurl: the system libcurl (OpenSSL build) for Swift.
// Swift cannot call C variadic functions, so curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt get one
// tiny typed wrapper per argument type. The client-identity helper copies a certificate, its chain and a
// reference to its key from one OpenSSL SSL_CTX onto the one curl made for a connection.
#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static inline CURLcode ccurl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/// Strings are copied by libcurl (since 7.17), so the argument may be a temporary.
static inline CURLcode ccurl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode ccurl_easy_setopt_read_function(CURL *handle, curl_read_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_READFUNCTION, callback);
}

static inline CURLcode ccurl_easy_setopt_write_function(CURL *handle, curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

static inline CURLcode ccurl_easy_setopt_seek_function(CURL *handle, curl_seek_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, callback);
}

static inline CURLcode ccurl_easy_setopt_ssl_ctx_function(CURL *handle, curl_ssl_ctx_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_SSL_CTX_FUNCTION, callback);
}

static inline CURLcode ccurl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode ccurl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLMcode ccurl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

/// Makes `target` (curl's context for one connection) verify servers with the trust store of `source` when
/// `trust_store` is set, and present the certificate, chain and private key of `source` when `client_identity` is. The key is referenced
/// (`SSL_CTX_use_PrivateKey` takes a reference), never re-read, so a key held by an engine or provider keeps working.
/// Returns 1 on success, 0 when OpenSSL refused a piece.
static inline int ccurl_adopt_ssl_context(SSL_CTX *target, SSL_CTX *source, int trust_store, int client_identity) {
    X509_STORE *store = SSL_CTX_get_cert_store(source);
    if (trust_store && store != NULL) {
        SSL_CTX_set1_cert_store(target, store);
    }
    if (!client_identity) {
        return 1;
    }
    X509 *certificate = SSL_CTX_get0_certificate(source);
    EVP_PKEY *key = SSL_CTX_get0_privatekey(source);
    if (certificate == NULL || key == NULL) {
        return 0;
    }
    if (SSL_CTX_use_certificate(target, certificate) != 1 || SSL_CTX_use_PrivateKey(target, key) != 1) {
        return 0;
    }
    STACK_OF(X509) *chain = NULL;
    if (SSL_CTX_get0_chain_certs(source, &chain) == 1 && chain != NULL && SSL_CTX_set1_chain(target, chain) != 1) {
        return 0;
    }
    STACK_OF(X509) *extra = NULL;
    SSL_CTX_get_extra_chain_certs_only(source, &extra);
    if (extra != NULL) {
        for (int index = 0; index < sk_X509_num(extra); index++) {
            X509 *intermediate = sk_X509_value(extra, index);
            X509_up_ref(intermediate);
            if (SSL_CTX_add_extra_chain_cert(target, intermediate) != 1) {
                X509_free(intermediate);
                return 0;
            }
        }
    }
    return SSL_CTX_check_private_key(target) == 1 ? 1 : 0;
}

#endif
