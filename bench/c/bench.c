/*
 * bench/c/bench.c: the C baseline of `make bench`.
 *
 * A TLS 1.3 client and server inside one process, on the project's own wasm
 * OpenSSL build, each with two memory BIOs; this program moves the bytes
 * between them. That is the transport the TypeScript engine uses, minus the
 * JavaScript, so it is the ceiling the engine is measured against.
 *
 * Usage (under node, see bench/run.mjs):
 *   bench.cjs CERT_PEM KEY_PEM [--seconds=S] [--group=NAME] [--only=hs]
 * The PEM texts come in argv because the wasm has no filesystem
 * (-sFILESYSTEM=0, as in the shipped module). Prints one JSON object:
 *   {"group":..., "full_hs_per_s":..., "resumed_hs_per_s":...,
 *    "aes128gcm_MBps":..., "chacha20_MBps":...}        (MB = 10^6 bytes)
 * --only=hs skips the bulk tests (their figures are then null).
 * Any unexpected OpenSSL result prints the error queue and exits 1: a
 * benchmark that silently measured a failing handshake would be worthless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define HOST "localhost"          /* the certificate's CN and subjectAltName */
#define CHUNK 16384               /* one SSL_write = one full TLS record */
#define BULK_LIMIT (64u << 20)    /* stop a bulk test after 64 MiB ... */
#define MAX_HANDSHAKES 1000000L   /* ... and a handshake test after this many (or the time) */
#define MAX_FLIGHTS 16            /* a TLS 1.3 handshake needs 2-3 round trips */
#define WARMUP_SECONDS 0.3        /* let V8 tier the wasm up before timing */

static unsigned char xfer[1 << 16];
static unsigned char wbuf[CHUNK], rbuf[CHUNK];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    unsigned long e;
    char msg[256];

    fprintf(stderr, "bench.c: %s\n", what);
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, msg, sizeof(msg));
        fprintf(stderr, "  %s\n", msg);
    }
    exit(1);
}

/* One end of a connection: its SSL and the two memory BIOs it owns. */
typedef struct {
    SSL *ssl;
    BIO *rbio; /* bytes from the peer, for this SSL to read */
    BIO *wbio; /* bytes this SSL wrote, for the peer */
} End;

static void end_open(End *e, SSL_CTX *ctx, int server)
{
    e->ssl = SSL_new(ctx);
    e->rbio = BIO_new(BIO_s_mem());
    e->wbio = BIO_new(BIO_s_mem());
    if (e->ssl == NULL || e->rbio == NULL || e->wbio == NULL)
        die("SSL_new/BIO_new");
    /* An empty rbio means "no data yet, retry" (WANT_READ), not EOF. */
    BIO_set_mem_eof_return(e->rbio, -1);
    BIO_set_mem_eof_return(e->wbio, -1);
    SSL_set_bio(e->ssl, e->rbio, e->wbio); /* the SSL now owns both BIOs */
    if (server) {
        SSL_set_accept_state(e->ssl);
    } else {
        SSL_set_connect_state(e->ssl);
        if (!SSL_set_tlsext_host_name(e->ssl, HOST)) /* SNI, as a real client sends */
            die("SSL_set_tlsext_host_name");
    }
}

/* Move everything one end has written into the other end's rbio. */
static void pump(End *from, End *to)
{
    size_t n, w;

    while (BIO_ctrl_pending(from->wbio) > 0) {
        if (!BIO_read_ex(from->wbio, xfer, sizeof(xfer), &n))
            die("BIO_read_ex");
        if (!BIO_write_ex(to->rbio, xfer, n, &w) || w != n)
            die("BIO_write_ex");
    }
}

/* One handshake step: 1 when done, 0 when it waits for the peer. */
static int step(End *e)
{
    int r;

    ERR_clear_error();
    r = SSL_do_handshake(e->ssl);
    if (r == 1)
        return 1;
    if (SSL_get_error(e->ssl, r) != SSL_ERROR_WANT_READ)
        die("SSL_do_handshake");
    return 0;
}

/*
 * A TLS 1.3 server sends its NewSessionTickets after the handshake; a client
 * only processes them when it reads. Reading once with nothing else pending
 * consumes them and then reports WANT_READ.
 */
static void client_read_tickets(End *c)
{
    size_t n;

    ERR_clear_error();
    if (SSL_read_ex(c->ssl, rbuf, sizeof(rbuf), &n))
        die("unexpected application data after the handshake");
    if (SSL_get_error(c->ssl, 0) != SSL_ERROR_WANT_READ)
        die("SSL_read (tickets)");
}

static void handshake(End *c, End *s)
{
    int cdone = 0, sdone = 0, i;

    for (i = 0; i < MAX_FLIGHTS && !(cdone && sdone); i++) {
        if (!cdone)
            cdone = step(c);
        pump(c, s);
        if (!sdone)
            sdone = step(s); /* on completion this also writes the tickets */
        pump(s, c);
    }
    if (!(cdone && sdone))
        die("handshake did not finish");
    client_read_tickets(c);
}

/*
 * One connection from scratch: new SSL objects, a handshake (resuming
 * `resume` if given), the tickets read, the client's close_notify. Returns
 * the client's session if `keep` is set.
 */
static SSL_SESSION *connection(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *resume, int keep)
{
    End c, s;
    SSL_SESSION *out = NULL;

    end_open(&c, cctx, 0);
    end_open(&s, sctx, 1);
    if (resume != NULL && !SSL_set_session(c.ssl, resume))
        die("SSL_set_session");
    handshake(&c, &s);
    if (resume != NULL && !SSL_session_reused(c.ssl))
        die("the session was not resumed");
    if (keep && (out = SSL_get1_session(c.ssl)) == NULL)
        die("SSL_get1_session");
    /* The client closes with close_notify, as Node's socket.end() does. It
     * also matters: SSL_free of a connection that was not shut down marks
     * its session not resumable (it may have been truncated). The server
     * side is simply freed. */
    ERR_clear_error();
    if (SSL_shutdown(c.ssl) != 0)
        die("SSL_shutdown");
    SSL_free(c.ssl);
    SSL_free(s.ssl);
    return out;
}

/* Connections per second, for `seconds` (after a warm-up), bounded by count. */
static double rate(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *resume, double seconds)
{
    double t0 = now(), t;
    long n = 0;

    while (now() - t0 < WARMUP_SECONDS)
        connection(cctx, sctx, resume, 0);
    t0 = now();
    do {
        connection(cctx, sctx, resume, 0);
        n++;
        t = now() - t0;
    } while (t < seconds && n < MAX_HANDSHAKES);
    return (double)n / t;
}

/*
 * Client-to-server throughput of one connection with one cipher suite:
 * 16 KiB SSL_writes, pumped, SSL_read by the server, until 64 MiB or
 * `seconds`. Both the encryption and the decryption are in the time.
 */
static double bulk(SSL_CTX *cctx, SSL_CTX *sctx, const char *suite, double seconds)
{
    End c, s;
    size_t n, moved = 0, warm = 0;
    double t0, t;
    int timing = 0;

    end_open(&c, cctx, 0);
    end_open(&s, sctx, 1);
    /* per connection, so the handshake tests keep OpenSSL's default suites */
    if (!SSL_set_ciphersuites(c.ssl, suite) || !SSL_set_ciphersuites(s.ssl, suite))
        die("SSL_set_ciphersuites");
    handshake(&c, &s);
    if (strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl)), suite) != 0)
        die("negotiated another cipher suite");
    memset(wbuf, 0x5a, sizeof(wbuf));

    t0 = now();
    for (;;) {
        ERR_clear_error();
        /* memory BIOs never refuse a write, so the whole chunk goes out */
        if (!SSL_write_ex(c.ssl, wbuf, sizeof(wbuf), &n) || n != sizeof(wbuf))
            die("SSL_write_ex");
        pump(&c, &s);
        while (SSL_read_ex(s.ssl, rbuf, sizeof(rbuf), &n))
            moved += n;
        if (SSL_get_error(s.ssl, 0) != SSL_ERROR_WANT_READ)
            die("SSL_read_ex");
        t = now() - t0;
        if (!timing) {
            /* warm-up: a few MiB so the timed part runs optimized code */
            if (t >= WARMUP_SECONDS || ++warm >= 256) {
                timing = 1;
                moved = 0;
                t0 = now();
            }
        } else if (moved >= BULK_LIMIT || t >= seconds) {
            break;
        }
    }
    SSL_free(c.ssl);
    SSL_free(s.ssl);
    return (double)moved / 1e6 / t;
}

static void *pem_read(const char *pem, int key)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    void *obj;

    if (b == NULL)
        die("BIO_new_mem_buf");
    obj = key ? (void *)PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
              : (void *)PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (obj == NULL)
        die(key ? "cannot read the key PEM" : "cannot read the certificate PEM");
    return obj;
}

/* TLS 1.3 only, one key-exchange group on both sides (so the client sends one key share). */
static SSL_CTX *ctx_new(const SSL_METHOD *method, const char *group)
{
    SSL_CTX *ctx = SSL_CTX_new(method);

    if (ctx == NULL
        || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)
        || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)
        || !SSL_CTX_set1_groups_list(ctx, group))
        die("SSL_CTX setup (is the group known?)");
    return ctx;
}

int main(int argc, char **argv)
{
    const char *group = "X25519MLKEM768";
    double seconds = 2.0, full, resumed, aes = -1, chacha = -1;
    int only_hs = 0, i;
    X509 *cert;
    EVP_PKEY *key;
    SSL_CTX *cctx, *sctx;
    SSL_SESSION *sess;
    End c, s;

    if (argc < 3) {
        fprintf(stderr, "usage: bench CERT_PEM KEY_PEM [--seconds=S] [--group=NAME] [--only=hs]\n");
        return 2;
    }
    for (i = 3; i < argc; i++) {
        if (strncmp(argv[i], "--seconds=", 10) == 0)
            seconds = atof(argv[i] + 10);
        else if (strncmp(argv[i], "--group=", 8) == 0)
            group = argv[i] + 8;
        else if (strcmp(argv[i], "--only=hs") == 0)
            only_hs = 1;
        else {
            fprintf(stderr, "bench: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!(seconds > 0 && seconds <= 60)) {
        fprintf(stderr, "bench: --seconds must be in (0, 60]\n");
        return 2;
    }

    cert = pem_read(argv[1], 0);
    key = pem_read(argv[2], 1);

    /* Server: the P-256 certificate; its session cache is on (OpenSSL's
     * default, said here explicitly). TLS 1.3 tickets are stateless by
     * default, so resumption works from the ticket alone, as in Node. */
    sctx = ctx_new(TLS_server_method(), group);
    if (!SSL_CTX_use_certificate(sctx, cert) || !SSL_CTX_use_PrivateKey(sctx, key)
        || !SSL_CTX_check_private_key(sctx))
        die("server certificate/key");
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER);

    /* Client: trusts the certificate and verifies it and the host name,
     * like Node's tls.connect with `ca` and `servername`. */
    cctx = ctx_new(TLS_client_method(), group);
    if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), cert)
        || !X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(cctx), HOST, 0))
        die("client trust store");
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);

    /* Check once that we measure what we say: TLS 1.3, the group, a verified peer. */
    end_open(&c, cctx, 0);
    end_open(&s, sctx, 1);
    handshake(&c, &s);
    if (SSL_version(c.ssl) != TLS1_3_VERSION)
        die("the first handshake did not negotiate TLS 1.3");
    /* case-insensitive: OpenSSL reports X25519 as "x25519" */
    if (SSL_get0_group_name(c.ssl) == NULL || strcasecmp(SSL_get0_group_name(c.ssl), group) != 0)
        die("the first handshake did not negotiate the requested group");
    if (SSL_get_verify_result(c.ssl) != X509_V_OK)
        die("the server certificate did not verify");
    SSL_free(c.ssl);
    SSL_free(s.ssl);

    full = rate(cctx, sctx, NULL, seconds);

    /* Resumption: one full connection gives a session with a ticket; every
     * timed connection resumes that same session (OpenSSL accepts a
     * stateless ticket more than once without early data). */
    sess = connection(cctx, sctx, NULL, 1);
    if (!SSL_SESSION_is_resumable(sess))
        die("no resumable session (was a ticket received?)");
    resumed = rate(cctx, sctx, sess, seconds);
    SSL_SESSION_free(sess);

    if (!only_hs) {
        aes = bulk(cctx, sctx, "TLS_AES_128_GCM_SHA256", seconds);
        chacha = bulk(cctx, sctx, "TLS_CHACHA20_POLY1305_SHA256", seconds);
    }

    printf("{\"group\":\"%s\",\"full_hs_per_s\":%.1f,\"resumed_hs_per_s\":%.1f,", group, full, resumed);
    if (only_hs)
        printf("\"aes128gcm_MBps\":null,\"chacha20_MBps\":null}\n");
    else
        printf("\"aes128gcm_MBps\":%.2f,\"chacha20_MBps\":%.2f}\n", aes, chacha);

    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    return 0;
}
