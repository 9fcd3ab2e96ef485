/*
 * openssl-wasm's check of a stapled OCSP response, the client side of OCSP
 * stapling (the server side and the status callback are macro wrappers and a
 * trampoline in wasm/shim.c). OpenSSL hands a client the response bytes and
 * leaves the judgement to the application: this is that application code, in
 * C because it is a dozen OpenSSL calls on objects JS never needs to see.
 */
#include "shim.h"
#include <openssl/ocsp.h>

/*
 * Judges the response stapled to `s`'s handshake; called from the status
 * callback (the peer's chain is there, not yet verified by OpenSSL). "good",
 * "revoked" or "unknown" only if the response parses, says "successful", is
 * signed by the issuer of the peer's certificate (or a responder it
 * delegated to) with a chain to our trust store, is current (300 s of clock
 * skew allowed), and answers for the peer's certificate itself.
 * Returns 0 good, 1 revoked, 2 unknown, -1 nothing stapled, -2 invalid.
 */
int ow_SSL_check_ocsp(SSL *s)
{
    const unsigned char *p = NULL;
    long len = SSL_get_tlsext_status_ocsp_resp(s, &p);
    X509_STORE *store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(s));
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(s);
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *basic = NULL;
    OCSP_CERTID *id = NULL;
    X509_STORE_CTX *lookup = NULL;
    X509 *leaf = NULL, *issuer = NULL, *trusted_issuer = NULL;
    ASN1_GENERALIZEDTIME *this_update = NULL, *next_update = NULL;
    int status = -1, reason = 0, ret = -2, i;

    if (p == NULL || len <= 0)
        return -1;
    if ((resp = d2i_OCSP_RESPONSE(NULL, &p, len)) == NULL
        || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL
        || (basic = OCSP_response_get1_basic(resp)) == NULL
        || (leaf = SSL_get0_peer_certificate(s)) == NULL || chain == NULL)
        goto end;
    /* The issuer, for the certificate's ID: in the chain the peer sent... */
    for (i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (X509_check_issued(x, leaf) == X509_V_OK) {
            issuer = x;
            break;
        }
    }
    /* ...else in our trust store (a leaf issued by a root, sent alone). */
    if (issuer == NULL) {
        if ((lookup = X509_STORE_CTX_new()) == NULL
            || !X509_STORE_CTX_init(lookup, store, leaf, NULL)
            || X509_STORE_CTX_get1_issuer(&trusted_issuer, lookup, leaf) != 1)
            goto end;
        issuer = trusted_issuer;
    }
    if (OCSP_basic_verify(basic, chain, store, 0) <= 0
        || (id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL
        || !OCSP_resp_find_status(basic, id, &status, &reason, NULL, &this_update, &next_update)
        || !OCSP_check_validity(this_update, next_update, 300, -1))
        goto end;
    ret = status == V_OCSP_CERTSTATUS_GOOD ? 0 : status == V_OCSP_CERTSTATUS_REVOKED ? 1 : 2;
 end:
    X509_free(trusted_issuer);
    X509_STORE_CTX_free(lookup);
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    return ret;
}
