/*
 * bench/c/bench.c: the C baseline of `make bench`.
 *
 * A TLS 1.3 client and server inside one wasm instance, on the project's own
 * OpenSSL build, each with two memory BIOs; this code moves the bytes
 * between them. That is the transport the TypeScript engine uses, minus the
 * JavaScript, so it is the ceiling the engine is measured against.
 *
 * It is built as an Emscripten module (bench/c-module.mjs), not a program,
 * so that bench/compare.mjs can run it in the same process as the engine,
 * alternating short time slices of each: this VM's speed drifts by tens of
 * percent within a run, and only interleaving makes the drift hit both sides
 * alike. The exported functions:
 *
 *   int    bench_setup(cert_pem, key_pem, group)  contexts for one key-exchange group, a
 *                                                  checked first handshake, a session to resume;
 *                                                  0, or -1 (see bench_error). Frees any earlier setup.
 *   double bench_full(seconds)                     full handshakes done in about `seconds`
 *   double bench_resumed(seconds)                  resumed handshakes done in about `seconds`
 *   double bench_bulk(suite, seconds)              client->server plaintext bytes moved in about
 *                                                  `seconds`, 16 KiB writes, on one connection per
 *                                                  suite that lives from call to call
 *   void   bench_teardown(void)                    frees everything
 *   const char *bench_error(void)                  why the last call returned -1
 *
 * The slice functions return the work done, not a rate: the caller times
 * every slice of the C code and of the engine with the same JavaScript clock.
 * Each stops at the first whole unit of work past `seconds` (or at a count
 * limit), so a slice is never cut mid-handshake.
 *
 * Any unexpected OpenSSL result makes the call return -1 with the error
 * queue in bench_error(): a benchmark that silently measured a failing
 * handshake would be worthless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <emscripten/emscripten.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define HOST "localhost"          /* the certificate's CN and subjectAltName */
#define CHUNK 16384               /* one SSL_write = one full TLS record */
#define BULK_LIMIT (64.0 * 1048576) /* a bulk slice stops after 64 MiB ... */
#define MAX_HANDSHAKES 1000000L   /* ... a handshake slice after this many (or the time) */
#define MAX_FLIGHTS 16            /* a TLS 1.3 handshake needs 2-3 round trips */
#define MAX_SUITES 4              /* bulk connections kept, one per cipher suite */

static unsigned char xfer[1 << 16];
static unsigned char wbuf[CHUNK], rbuf[CHUNK];
static char errbuf[2048];

/* Records what failed and OpenSSL's error queue; returns -1 for the caller to pass on. */
static int fail(const char *what)
{
    unsigned long e;
    size_t at;

    snprintf(errbuf, sizeof(errbuf), "bench.c: %s", what);
    while ((e = ERR_get_error()) != 0) {
        at = strlen(errbuf);
        if (at + 2 >= sizeof(errbuf))
            break;
        errbuf[at++] = '\n';
        errbuf[at++] = ' ';
        ERR_error_string_n(e, errbuf + at, sizeof(errbuf) - at);
    }
    return -1;
}

EMSCRIPTEN_KEEPALIVE const char *bench_error(void)
{
    return errbuf;
}

/* Seconds on a monotonic clock (performance.now() or hrtime under node). */
static double now(void)
{
    return emscripten_get_now() / 1000.0;
}

/* One end of a connection: its SSL and the two memory BIOs it owns. */
typedef struct {
    SSL *ssl;
    BIO *rbio; /* bytes from the peer, for this SSL to read */
    BIO *wbio; /* bytes this SSL wrote, for the peer */
} End;

static int end_open(End *e, SSL_CTX *ctx, int server)
{
    e->ssl = SSL_new(ctx);
    e->rbio = BIO_new(BIO_s_mem());
    e->wbio = BIO_new(BIO_s_mem());
    if (e->ssl == NULL || e->rbio == NULL || e->wbio == NULL) {
        SSL_free(e->ssl);
        BIO_free(e->rbio);
        BIO_free(e->wbio);
        e->ssl = NULL;
        return fail("SSL_new/BIO_new");
    }
    /* An empty rbio means "no data yet, retry" (WANT_READ), not EOF. */
    BIO_set_mem_eof_return(e->rbio, -1);
    BIO_set_mem_eof_return(e->wbio, -1);
    SSL_set_bio(e->ssl, e->rbio, e->wbio); /* the SSL now owns both BIOs */
    if (server) {
        SSL_set_accept_state(e->ssl);
    } else {
        SSL_set_connect_state(e->ssl);
        if (!SSL_set_tlsext_host_name(e->ssl, HOST)) /* SNI, as a real client sends */
            return fail("SSL_set_tlsext_host_name");
    }
    return 0;
}

static void end_close(End *e)
{
    SSL_free(e->ssl); /* and its BIOs */
    e->ssl = NULL;
}

/* Move everything one end has written into the other end's rbio. */
static int pump(End *from, End *to)
{
    size_t n, w;

    while (BIO_ctrl_pending(from->wbio) > 0) {
        if (!BIO_read_ex(from->wbio, xfer, sizeof(xfer), &n))
            return fail("BIO_read_ex");
        if (!BIO_write_ex(to->rbio, xfer, n, &w) || w != n)
            return fail("BIO_write_ex");
    }
    return 0;
}

/* One handshake step: 1 when done, 0 when it waits for the peer, -1 on failure. */
static int step(End *e)
{
    int r;

    ERR_clear_error();
    r = SSL_do_handshake(e->ssl);
    if (r == 1)
        return 1;
    if (SSL_get_error(e->ssl, r) != SSL_ERROR_WANT_READ)
        return fail("SSL_do_handshake");
    return 0;
}

/*
 * A TLS 1.3 server sends its NewSessionTickets after the handshake; a client
 * only processes them when it reads. Reading once with nothing else pending
 * consumes them and then reports WANT_READ.
 */
static int client_read_tickets(End *c)
{
    size_t n;

    ERR_clear_error();
    if (SSL_read_ex(c->ssl, rbuf, sizeof(rbuf), &n))
        return fail("unexpected application data after the handshake");
    if (SSL_get_error(c->ssl, 0) != SSL_ERROR_WANT_READ)
        return fail("SSL_read (tickets)");
    return 0;
}

static int handshake(End *c, End *s)
{
    int cdone = 0, sdone = 0, i;

    for (i = 0; i < MAX_FLIGHTS && !(cdone && sdone); i++) {
        if (!cdone && (cdone = step(c)) < 0)
            return -1;
        if (pump(c, s) < 0)
            return -1;
        if (!sdone && (sdone = step(s)) < 0) /* on completion this also writes the tickets */
            return -1;
        if (pump(s, c) < 0)
            return -1;
    }
    if (!(cdone && sdone))
        return fail("handshake did not finish");
    return client_read_tickets(c);
}

/* ---- the state bench_setup makes and the slices use ----------------------- */

static SSL_CTX *cctx, *sctx;
static SSL_SESSION *resume_session;
static struct {
    char suite[64];
    End c, s;
} bulk_conns[MAX_SUITES];

EMSCRIPTEN_KEEPALIVE void bench_teardown(void)
{
    int i;

    for (i = 0; i < MAX_SUITES; i++) {
        if (bulk_conns[i].c.ssl != NULL)
            end_close(&bulk_conns[i].c);
        if (bulk_conns[i].s.ssl != NULL)
            end_close(&bulk_conns[i].s);
        bulk_conns[i].suite[0] = '\0';
    }
    SSL_SESSION_free(resume_session);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    resume_session = NULL;
    cctx = sctx = NULL;
}

/*
 * One connection from scratch: new SSL objects, a handshake (resuming
 * `resume` if given), the tickets read, the client's close_notify. Stores
 * the client's session in *keep if keep is not NULL.
 */
static int connection(SSL_SESSION *resume, SSL_SESSION **keep)
{
    End c, s;
    int r = -1;

    if (end_open(&c, cctx, 0) < 0)
        return -1;
    if (end_open(&s, sctx, 1) < 0) {
        end_close(&c);
        return -1;
    }
    if (resume != NULL && !SSL_set_session(c.ssl, resume)) {
        fail("SSL_set_session");
        goto out;
    }
    if (handshake(&c, &s) < 0)
        goto out;
    if (resume != NULL && !SSL_session_reused(c.ssl)) {
        fail("the session was not resumed");
        goto out;
    }
    if (keep != NULL && (*keep = SSL_get1_session(c.ssl)) == NULL) {
        fail("SSL_get1_session");
        goto out;
    }
    /* The client closes with close_notify, as Node's socket.end() and the
     * engine do. It also matters: SSL_free of a connection that was not shut
     * down marks its session not resumable (it may have been truncated). The
     * server side is simply freed. */
    ERR_clear_error();
    if (SSL_shutdown(c.ssl) != 0) {
        fail("SSL_shutdown");
        goto out;
    }
    r = 0;
out:
    end_close(&c);
    end_close(&s);
    return r;
}

static void *pem_read(const char *pem, int key)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    void *obj;

    if (b == NULL)
        return NULL;
    obj = key ? (void *)PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
              : (void *)PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return obj;
}

/* TLS 1.3 only, one key-exchange group on both sides (so the client sends one key share). */
static SSL_CTX *ctx_new(const SSL_METHOD *method, const char *group)
{
    SSL_CTX *ctx = SSL_CTX_new(method);

    if (ctx == NULL
        || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)
        || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)
        || !SSL_CTX_set1_groups_list(ctx, group)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int setup(X509 *cert, EVP_PKEY *key, const char *group)
{
    End c, s;
    int r = -1;

    /* Server: the P-256 certificate; its session cache is on (OpenSSL's
     * default, said here explicitly). TLS 1.3 tickets are stateless by
     * default, so resumption works from the ticket alone, as in Node. */
    if ((sctx = ctx_new(TLS_server_method(), group)) == NULL)
        return fail("server SSL_CTX setup (is the group known?)");
    if (!SSL_CTX_use_certificate(sctx, cert) || !SSL_CTX_use_PrivateKey(sctx, key)
        || !SSL_CTX_check_private_key(sctx))
        return fail("server certificate/key");
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER);

    /* Client: trusts the certificate and verifies it and the host name,
     * like Node's tls.connect with `ca` and `servername`, and the engine. */
    if ((cctx = ctx_new(TLS_client_method(), group)) == NULL)
        return fail("client SSL_CTX setup (is the group known?)");
    if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), cert)
        || !X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(cctx), HOST, 0))
        return fail("client trust store");
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);

    /* Check once that we measure what we say: TLS 1.3, the group, a verified peer. */
    if (end_open(&c, cctx, 0) < 0)
        return -1;
    if (end_open(&s, sctx, 1) < 0) {
        end_close(&c);
        return -1;
    }
    if (handshake(&c, &s) < 0)
        goto out;
    if (SSL_version(c.ssl) != TLS1_3_VERSION) {
        fail("the first handshake did not negotiate TLS 1.3");
        goto out;
    }
    /* case-insensitive: OpenSSL reports X25519 as "x25519" */
    if (SSL_get0_group_name(c.ssl) == NULL || strcasecmp(SSL_get0_group_name(c.ssl), group) != 0) {
        fail("the first handshake did not negotiate the requested group");
        goto out;
    }
    if (SSL_get_verify_result(c.ssl) != X509_V_OK) {
        fail("the server certificate did not verify");
        goto out;
    }
    r = 0;
out:
    end_close(&c);
    end_close(&s);
    if (r < 0)
        return -1;

    /* Resumption: one full connection gives a session with a ticket; every
     * resumed connection resumes that same session (OpenSSL accepts a
     * stateless ticket more than once without early data). */
    if (connection(NULL, &resume_session) < 0)
        return -1;
    if (!SSL_SESSION_is_resumable(resume_session))
        return fail("no resumable session (was a ticket received?)");
    return 0;
}

EMSCRIPTEN_KEEPALIVE int bench_setup(const char *cert_pem, const char *key_pem, const char *group)
{
    X509 *cert;
    EVP_PKEY *key;
    int r;

    bench_teardown();
    ERR_clear_error();
    memset(wbuf, 0x5a, sizeof(wbuf));
    cert = pem_read(cert_pem, 0);
    key = pem_read(key_pem, 1);
    if (cert == NULL || key == NULL)
        r = fail(cert == NULL ? "cannot read the certificate PEM" : "cannot read the key PEM");
    else
        r = setup(cert, key, group); /* the contexts hold their own references */
    X509_free(cert);
    EVP_PKEY_free(key);
    if (r < 0)
        bench_teardown();
    return r;
}

/* Connections completed in about `seconds`, bounded by count; -1 on failure. */
static double rate(SSL_SESSION *resume, double seconds)
{
    double t0 = now();
    long n = 0;

    if (cctx == NULL)
        return fail("bench_setup first");
    do {
        if (connection(resume, NULL) < 0)
            return -1;
        n++;
    } while (now() - t0 < seconds && n < MAX_HANDSHAKES);
    return (double)n;
}

EMSCRIPTEN_KEEPALIVE double bench_full(double seconds)
{
    return rate(NULL, seconds);
}

EMSCRIPTEN_KEEPALIVE double bench_resumed(double seconds)
{
    return rate(resume_session, seconds);
}

/*
 * The connection for `suite`, made (and handshaken) on first use and kept:
 * a slice then times only the record layer, as one long transfer would.
 * The suite is set per connection, so the handshake slices keep OpenSSL's
 * default suites.
 */
static int bulk_conn(const char *suite)
{
    int i, free_slot = -1;

    for (i = 0; i < MAX_SUITES; i++) {
        if (bulk_conns[i].suite[0] != '\0' && strcmp(bulk_conns[i].suite, suite) == 0)
            return i;
        if (bulk_conns[i].suite[0] == '\0' && free_slot < 0)
            free_slot = i;
    }
    if (free_slot < 0 || strlen(suite) >= sizeof(bulk_conns[0].suite))
        return fail("too many or too long cipher suite names");
    i = free_slot;
    if (end_open(&bulk_conns[i].c, cctx, 0) < 0)
        return -1;
    if (end_open(&bulk_conns[i].s, sctx, 1) < 0) {
        end_close(&bulk_conns[i].c);
        return -1;
    }
    if (!SSL_set_ciphersuites(bulk_conns[i].c.ssl, suite) || !SSL_set_ciphersuites(bulk_conns[i].s.ssl, suite)) {
        fail("SSL_set_ciphersuites");
        goto bad;
    }
    if (handshake(&bulk_conns[i].c, &bulk_conns[i].s) < 0)
        goto bad;
    if (strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(bulk_conns[i].c.ssl)), suite) != 0) {
        fail("negotiated another cipher suite");
        goto bad;
    }
    strcpy(bulk_conns[i].suite, suite);
    return i;
bad:
    end_close(&bulk_conns[i].c);
    end_close(&bulk_conns[i].s);
    return -1;
}

/*
 * Client-to-server plaintext bytes moved in about `seconds` (or 64 MiB):
 * 16 KiB SSL_writes, pumped, SSL_read by the server. Both the encryption and
 * the decryption are in the time. -1 on failure.
 */
EMSCRIPTEN_KEEPALIVE double bench_bulk(const char *suite, double seconds)
{
    double t0 = now(), moved = 0;
    size_t n;
    int i;
    End *c, *s;

    if (cctx == NULL)
        return fail("bench_setup first");
    if ((i = bulk_conn(suite)) < 0)
        return -1;
    c = &bulk_conns[i].c;
    s = &bulk_conns[i].s;
    do {
        ERR_clear_error();
        /* memory BIOs never refuse a write, so the whole chunk goes out */
        if (!SSL_write_ex(c->ssl, wbuf, sizeof(wbuf), &n) || n != sizeof(wbuf))
            return fail("SSL_write_ex");
        if (pump(c, s) < 0)
            return -1;
        while (SSL_read_ex(s->ssl, rbuf, sizeof(rbuf), &n))
            moved += (double)n;
        if (SSL_get_error(s->ssl, 0) != SSL_ERROR_WANT_READ)
            return fail("SSL_read_ex");
    } while (now() - t0 < seconds && moved < BULK_LIMIT);
    return moved;
}
