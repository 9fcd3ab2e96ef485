/* openssl-wasm C shim: see shim.h. */
#include "shim.h"
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <malloc.h>
#include <openssl/ocsp.h>

int ow_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
int ow_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
int ow_SSL_set_min_proto_version(SSL *s, int version) { return (int)SSL_set_min_proto_version(s, version); }
int ow_SSL_set_max_proto_version(SSL *s, int version) { return (int)SSL_set_max_proto_version(s, version); }

int ow_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
int ow_SSL_set1_groups_list(SSL *s, const char *list) { return (int)SSL_set1_groups_list(s, list); }
int ow_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_sigalgs_list(ctx, list); }
int ow_SSL_set_tlsext_host_name(SSL *s, const char *name) { return (int)SSL_set_tlsext_host_name(s, name); }
int ow_SSL_get_negotiated_group(SSL *s) { return (int)SSL_get_negotiated_group(s); }

long ow_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
long ow_SSL_set_mode(SSL *s, long mode) { return SSL_set_mode(s, mode); }
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

/* Imported from wasm/library.js. */
extern int ow_js_verify(SSL *ssl, int preverify_ok, X509_STORE_CTX *store);
extern void ow_js_msg(SSL *ssl, int write_p, int version, int content_type, const void *buf, size_t len);
extern void ow_js_info(const SSL *ssl, int where, int ret);
extern int ow_js_new_session(SSL *ssl, SSL_SESSION *session);
extern void ow_js_remove_session(SSL_CTX *ctx, SSL_SESSION *session);
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
void ow_SSL_CTX_set_msg_callback(SSL_CTX *ctx, int on) { SSL_CTX_set_msg_callback(ctx, on ? msg_tramp : NULL); }
void ow_SSL_set_msg_callback(SSL *s, int on) { SSL_set_msg_callback(s, on ? msg_tramp : NULL); }

static void info_tramp(const SSL *ssl, int where, int ret) { ow_js_info(ssl, where, ret); }
void ow_SSL_CTX_set_info_callback(SSL_CTX *ctx, int on) { SSL_CTX_set_info_callback(ctx, on ? info_tramp : NULL); }

static int new_session_tramp(SSL *ssl, SSL_SESSION *session) { return ow_js_new_session(ssl, session); }
static void remove_session_tramp(SSL_CTX *ctx, SSL_SESSION *session) { ow_js_remove_session(ctx, session); }
void ow_SSL_CTX_set_session_callbacks(SSL_CTX *ctx, int on)
{
    SSL_CTX_sess_set_new_cb(ctx, on ? new_session_tramp : NULL);
    SSL_CTX_sess_set_remove_cb(ctx, on ? remove_session_tramp : NULL);
}

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

/* ---- OCSP stapling */
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

int ow_SSL_check_ocsp(SSL *s)
{
    const unsigned char *p = NULL;
    long len = SSL_get_tlsext_status_ocsp_resp(s, &p);
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *basic = NULL;
    OCSP_CERTID *id = NULL;
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(s);
    X509 *leaf = NULL, *issuer = NULL;
    ASN1_GENERALIZEDTIME *this_update = NULL, *next_update = NULL;
    int status = -1, reason = 0, ret = -2, i;

    if (p == NULL || len <= 0)
        return -1;
    if ((resp = d2i_OCSP_RESPONSE(NULL, &p, len)) == NULL
        || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL
        || (basic = OCSP_response_get1_basic(resp)) == NULL
        || (leaf = SSL_get0_peer_certificate(s)) == NULL || chain == NULL)
        goto end;
    /* the issuer: in the chain the peer sent, else in our trust store */
    for (i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (X509_check_issued(x, leaf) == X509_V_OK) {
            issuer = x;
            break;
        }
    }
    if (issuer == NULL
        || OCSP_basic_verify(basic, chain, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(s)), 0) <= 0
        || (id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL
        || !OCSP_resp_find_status(basic, id, &status, &reason, NULL, &this_update, &next_update)
        || !OCSP_check_validity(this_update, next_update, 300, -1))
        goto end;
    ret = status == V_OCSP_CERTSTATUS_GOOD ? 0 : status == V_OCSP_CERTSTATUS_REVOKED ? 1 : 2;
 end:
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    return ret;
}
