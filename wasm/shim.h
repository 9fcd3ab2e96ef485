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
 *  - wasm/http.c: llhttp (llhttp-src/) over a buffer, for bindings/src/http/.
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


/*
 * wasm/http.c: an HTTP/1.1 response parser (llhttp) that records what one
 * call found in a static array of events, four uint32 each: kind, offset and
 * length of a span of the input, and a value. STATUS, FIELD and VALUE spans
 * may come in several pieces (input cut mid-line): JS joins consecutive
 * pieces of one kind; HEADER_END ends a header line. HEADERS_COMPLETE has
 * offset = status code, length = llhttp's flags, value = major << 8 | minor
 * | upgrade << 16. MESSAGE_COMPLETE has value = llhttp_should_keep_alive.
 * ow_http_execute returns llhttp's error code: HPE_OK (0) when it wants more
 * input, HPE_PAUSED (21) after the final response (ow_http_consumed: bytes of
 * the input it took), another code on bad input (HPE_USER with the reason
 * "header overflow" or "too many headers" for the limits of ow_http_start).
 */
typedef struct ow_http ow_http;
#define OW_HTTP_MAX_INPUT 16384   /* bytes per ow_http_execute call */
#define OW_HTTP_STATUS 1
#define OW_HTTP_FIELD 2
#define OW_HTTP_VALUE 3
#define OW_HTTP_HEADER_END 4
#define OW_HTTP_HEADERS_COMPLETE 5
#define OW_HTTP_BODY 6
#define OW_HTTP_MESSAGE_COMPLETE 7
/* llhttp's flags in HEADERS_COMPLETE (llhttp.h enum llhttp_flags) and the
 * error codes JS tells apart (enum llhttp_errno), checked in wasm/http.c. */
#define OW_HTTP_F_CHUNKED 0x8
#define OW_HTTP_F_CONTENT_LENGTH 0x20
#define OW_HTTP_F_TRANSFER_ENCODING 0x200
#define OW_HTTP_OK 0
#define OW_HTTP_PAUSED 21
#define OW_HTTP_USER 24
ow_http *ow_http_new(void);
void ow_http_free(ow_http *h);
/* Before each response: head = the request was HEAD (no body); the limits
 * cover the status line and header lines of one response. */
void ow_http_start(ow_http *h, int head, unsigned int max_header_bytes, unsigned int max_headers);
int ow_http_execute(ow_http *h, const char *data, size_t length);
/* The input ended (EOF): completes a body delimited by the connection's end,
 * or returns HPE_INVALID_EOF_STATE (14) for a message cut short. */
int ow_http_finish(ow_http *h);
size_t ow_http_consumed(ow_http *h);
const char *ow_http_reason(ow_http *h);
/* llhttp's name of an error code ("HPE_INVALID_CHUNK_SIZE", ...). */
const char *ow_http_error_name(int code);
unsigned int *ow_http_events(void);
size_t ow_http_event_count(void);

#endif
