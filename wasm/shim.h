/*
 * openssl-wasm's own C functions, all exported through bindings/gen/api.txt
 * and typed by the generator like OpenSSL's own:
 *  - wasm/shim.c: the small part of the API that OpenSSL offers only as
 *    macros or through C callbacks. Macros become functions with the macro's
 *    name prefixed by "ow_". Callbacks go through fixed trampolines that call
 *    imported JS functions (wasm/library.js), so no function-table entries
 *    are created at run time.
 *  - wasm/bio.c: the memory BIO of both ends of a connection.
 *  - wasm/ocsp.c: the check of a stapled OCSP response.
 */
#ifndef OPENSSL_WASM_SHIM_H
#define OPENSSL_WASM_SHIM_H

#include <stddef.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/bio.h>

/* Protocol versions (SSL_CTX_set_min_proto_version and friends are macros). */
int ow_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int ow_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);

/* Groups, signature algorithms, SNI. */
int ow_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
int ow_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list);
int ow_SSL_set_tlsext_host_name(SSL *s, const char *name);

/* Modes, session cache, certificate chains. */
long ow_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
long ow_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
long ow_SSL_CTX_sess_number(SSL_CTX *ctx);
int ow_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x509);

/* Memory BIOs: "no data yet" (-1, retry) or EOF (0). */
long ow_BIO_set_mem_eof_return(BIO *b, int v);

/*
 * wasm/bio.c: the memory BIO of both ends of a connection. As BIO_s_mem
 * (write appends, read consumes, ow_BIO_set_mem_eof_return, pending, EOF),
 * but its storage is freed once drained, and it takes an optional capacity:
 * at most `capacity` pending bytes (-1: unlimited, 0: blocked), the rest
 * refused with BIO_set_retry_write, which OpenSSL reports as
 * SSL_ERROR_WANT_WRITE. This is how a transport that cannot take more bytes
 * right now is expressed (SHUTDOWN.md scenarios 24-25).
 */
BIO *ow_BIO_new_buffer(void);
void ow_BIO_buffer_set_capacity(BIO *b, long capacity);
/* Bytes of storage it holds now (0 once drained). */
size_t ow_BIO_buffer_allocated(BIO *b);

/* OPENSSL_free and the error-code accessors (macro / static inline). */
void ow_OPENSSL_free(void *p);
int ow_ERR_GET_LIB(unsigned long e);
int ow_ERR_GET_REASON(unsigned long e);
int ow_ERR_SYSTEM_ERROR(unsigned long e);

/* Bytes of the wasm heap currently allocated (dlmalloc's mallinfo().uordblks):
 * the leak tests compare it before and after. */
size_t ow_heap_in_use(void);

/* X509 stacks (sk_X509_* are type-safe macros over OPENSSL_sk_*). */
int ow_sk_X509_num(const STACK_OF(X509) *sk);
X509 *ow_sk_X509_value(const STACK_OF(X509) *sk, int i);

/*
 * Callback trampolines. Each installs a fixed C function that forwards to an
 * imported JS function in wasm/library.js, which dispatches to
 * Module.callbacks (set by the bindings).
 */
/* SSL_CTX_set_verify with a callback that asks JS (ow_js_verify). */
void ow_SSL_CTX_set_verify(SSL_CTX *ctx, int mode, int with_callback);
/* SSL_set_msg_callback: every protocol message and alert (ow_js_msg). */
void ow_SSL_set_msg_callback(SSL *s, int on);
/* SSL_CTX_sess_set_new_cb: each new session (ow_js_new_session); the only session callback. */
void ow_SSL_CTX_set_session_callbacks(SSL_CTX *ctx, int on);
/* SSL_CTX_set_alpn_select_cb: JS picks a protocol from the client's list (ow_js_alpn_select). */
void ow_SSL_CTX_set_alpn_select_callback(SSL_CTX *ctx, int on);
/* SSL_CTX_set_tlsext_servername_callback (ow_js_servername). */
int ow_SSL_CTX_set_servername_callback(SSL_CTX *ctx, int on);

/*
 * OCSP stapling. Servers: ow_SSL_CTX_set_status_callback(ctx, 1) makes
 * OpenSSL ask JS (ow_js_status) for each connection, which may staple a DER
 * response with ow_SSL_set_ocsp_response (copied). Clients:
 * ow_SSL_set_tlsext_status_type requests stapling, the same callback lets JS
 * judge the response, and ow_SSL_check_ocsp (wasm/ocsp.c) checks it: the
 * response is signed by the peer's issuer (or its delegated responder),
 * current, and for the peer's certificate.
 * Returns 0 good, 1 revoked, 2 unknown, -1 nothing stapled, -2 invalid.
 */
int ow_SSL_CTX_set_status_callback(SSL_CTX *ctx, int on);
long ow_SSL_set_tlsext_status_type(SSL *s, int type);
int ow_SSL_set_ocsp_response(SSL *s, const unsigned char *der, long len);
int ow_SSL_check_ocsp(SSL *s);

#endif
