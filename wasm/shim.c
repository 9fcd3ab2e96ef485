/*
 * openssl-wasm's C shim: the part of the API that OpenSSL offers only as
 * macros (or static inline functions, or a struct result) made into exported
 * functions, and the fixed trampolines that forward OpenSSL's C callbacks to
 * JS (wasm/library.js). Nothing else: the memory BIO is wasm/bio.c, the OCSP
 * check wasm/ocsp.c. Declared, with what each does, in wasm/shim.h.
 */
#include "shim.h"
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <malloc.h>

/* ---- macros as functions: ow_ + the macro's name */
int ow_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
int ow_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }

int ow_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
int ow_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_sigalgs_list(ctx, list); }
int ow_SSL_set_tlsext_host_name(SSL *s, const char *name) { return (int)SSL_set_tlsext_host_name(s, name); }

long ow_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
long ow_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
long ow_SSL_CTX_sess_number(SSL_CTX *ctx) { return SSL_CTX_sess_number(ctx); }
int ow_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x509) { return (int)SSL_CTX_add1_chain_cert(ctx, x509); }

long ow_BIO_set_mem_eof_return(BIO *b, int v) { return BIO_set_mem_eof_return(b, v); }

void ow_OPENSSL_free(void *p) { OPENSSL_free(p); }
int ow_ERR_GET_LIB(unsigned long e) { return ERR_GET_LIB(e); }
int ow_ERR_GET_REASON(unsigned long e) { return ERR_GET_REASON(e); }
int ow_ERR_SYSTEM_ERROR(unsigned long e) { return ERR_SYSTEM_ERROR(e); }

size_t ow_heap_in_use(void) { return mallinfo().uordblks; }

int ow_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
X509 *ow_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }

/* ---- callback trampolines, imported from wasm/library.js */
extern int ow_js_verify(SSL *ssl, int preverify_ok, X509_STORE_CTX *store);
extern void ow_js_msg(SSL *ssl, int write_p, int version, int content_type, const void *buf, size_t len);
extern int ow_js_new_session(SSL *ssl, SSL_SESSION *session);
extern int ow_js_alpn_select(SSL *ssl, const unsigned char *in, unsigned int inlen);
extern int ow_js_servername(SSL *ssl, int *alert);

static int verify_tramp(int preverify_ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    return ow_js_verify(ssl, preverify_ok, store);
}
void ow_SSL_CTX_set_verify(SSL_CTX *ctx, int mode, int with_callback)
{
    SSL_CTX_set_verify(ctx, mode, with_callback ? verify_tramp : NULL);
}

static void msg_tramp(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg)
{
    (void)arg;
    ow_js_msg(ssl, write_p, version, content_type, buf, len);
}
void ow_SSL_set_msg_callback(SSL *s, int on) { SSL_set_msg_callback(s, on ? msg_tramp : NULL); }

static int new_session_tramp(SSL *ssl, SSL_SESSION *session) { return ow_js_new_session(ssl, session); }
void ow_SSL_CTX_set_session_callbacks(SSL_CTX *ctx, int on) { SSL_CTX_sess_set_new_cb(ctx, on ? new_session_tramp : NULL); }

/* JS returns the offset of the chosen protocol's length byte in `in`, or -1. */
static int alpn_tramp(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                      const unsigned char *in, unsigned int inlen, void *arg)
{
    int at;
    (void)arg;
    at = ow_js_alpn_select(ssl, in, inlen);
    if (at < 0 || (unsigned int)at >= inlen || (unsigned int)at + 1 + in[at] > inlen)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
    *out = in + at + 1;
    *outlen = in[at];
    return SSL_TLSEXT_ERR_OK;
}
void ow_SSL_CTX_set_alpn_select_callback(SSL_CTX *ctx, int on)
{
    SSL_CTX_set_alpn_select_cb(ctx, on ? alpn_tramp : NULL, NULL);
}

static int servername_tramp(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    return ow_js_servername(ssl, alert);
}
int ow_SSL_CTX_set_servername_callback(SSL_CTX *ctx, int on)
{
    if (on)
        return (int)SSL_CTX_set_tlsext_servername_callback(ctx, servername_tramp);
    return (int)SSL_CTX_set_tlsext_servername_callback(ctx, NULL);
}

/* ---- OCSP stapling: the status callback and two macros (the check is wasm/ocsp.c) */
extern int ow_js_status(SSL *ssl);

static int status_tramp(SSL *ssl, void *arg)
{
    (void)arg;
    return ow_js_status(ssl);
}

int ow_SSL_CTX_set_status_callback(SSL_CTX *ctx, int on)
{
    if (!on)
        return (int)SSL_CTX_set_tlsext_status_cb(ctx, NULL);
    return (int)SSL_CTX_set_tlsext_status_cb(ctx, status_tramp);
}

long ow_SSL_set_tlsext_status_type(SSL *s, int type) { return SSL_set_tlsext_status_type(s, type); }

int ow_SSL_set_ocsp_response(SSL *s, const unsigned char *der, long len)
{
    unsigned char *copy = OPENSSL_memdup(der, (size_t)len);

    if (copy == NULL)
        return 0;
    if (!SSL_set_tlsext_status_ocsp_resp(s, copy, len)) {
        OPENSSL_free(copy);
        return 0;
    }
    return 1; /* the SSL owns the copy now */
}
