/*
 * openssl-wasm's memory BIO: the two ends of a connection (network bytes in,
 * network bytes out), in place of BIO_s_mem.
 *
 * It behaves as BIO_s_mem does for everything OpenSSL and the bindings use
 * (write appends, read consumes, BIO_set_mem_eof_return, pending, EOF), and
 * adds two things:
 *  - its storage is freed as soon as it is drained: a BIO_s_mem keeps the
 *    largest buffer it ever had, ~17 KiB per direction after one full
 *    record, which made up two thirds of an idle connection's heap;
 *  - an optional capacity: beyond `capacity` pending bytes a write takes
 *    only what fits and asks OpenSSL to retry the rest (BIO_set_retry_write),
 *    which OpenSSL reports as SSL_ERROR_WANT_WRITE (-1: unlimited, 0: blocked).
 */
#include "shim.h"
#include <string.h>
#include <openssl/crypto.h>

typedef struct {
    unsigned char *data; /* storage, NULL when empty */
    size_t size;         /* allocated bytes */
    size_t start, end;   /* pending bytes are data[start..end) */
    long capacity;       /* most pending bytes accepted; -1: no limit */
    int eof_return;      /* what a read of an empty BIO returns: -1 "retry", 0 EOF */
} buffer_t;

static size_t pending(const buffer_t *b) { return b->end - b->start; }

/* Frees the storage (wiped: it held network bytes, possibly before encryption). */
static void release(buffer_t *b)
{
    OPENSSL_clear_free(b->data, b->size);
    b->data = NULL;
    b->size = b->start = b->end = 0;
}

/* Room for `n` more bytes after `end`: compacts or grows (at least doubling). */
static int reserve(buffer_t *b, size_t n)
{
    size_t live = pending(b), want;
    unsigned char *p;

    if (b->size - b->end >= n)
        return 1;
    if (b->size - live >= n && b->start > 0) {
        memmove(b->data, b->data + b->start, live);
        b->start = 0;
        b->end = live;
        return 1;
    }
    want = b->size * 2 > live + n ? b->size * 2 : live + n;
    if (want < 4096)
        want = 4096;
    if ((p = OPENSSL_malloc(want)) == NULL)
        return 0;
    if (live > 0)
        memcpy(p, b->data + b->start, live);
    OPENSSL_clear_free(b->data, b->size);
    b->data = p;
    b->size = want;
    b->start = 0;
    b->end = live;
    return 1;
}

static int buffer_write(BIO *bio, const char *in, size_t len, size_t *written)
{
    buffer_t *b = BIO_get_data(bio);
    size_t n = len;

    *written = 0;
    BIO_clear_retry_flags(bio);
    if (b->capacity >= 0) {
        size_t room = pending(b) >= (size_t)b->capacity ? 0 : (size_t)b->capacity - pending(b);
        if (n > room)
            n = room;
    }
    if (n == 0 && len > 0) {
        BIO_set_retry_write(bio);
        return 0;
    }
    if (!reserve(b, n))
        return 0;
    memcpy(b->data + b->end, in, n);
    b->end += n;
    *written = n;
    return 1;
}

static int buffer_read(BIO *bio, char *out, size_t len, size_t *readbytes)
{
    buffer_t *b = BIO_get_data(bio);
    size_t n = pending(b);

    *readbytes = 0;
    BIO_clear_retry_flags(bio);
    if (n == 0) {
        if (b->eof_return != 0)
            BIO_set_retry_read(bio);
        return 0;
    }
    if (n > len)
        n = len;
    memcpy(out, b->data + b->start, n);
    b->start += n;
    if (b->start == b->end)
        release(b);
    *readbytes = n;
    return 1;
}

static long buffer_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    buffer_t *b = BIO_get_data(bio);

    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_PENDING:
        return (long)pending(b);
    case BIO_CTRL_WPENDING:
        return 0; /* nothing waits to be written out of this BIO itself */
    case BIO_CTRL_EOF:
        return pending(b) == 0;
    case BIO_CTRL_RESET:
        release(b);
        return 1;
    case BIO_C_SET_BUF_MEM_EOF_RETURN:
        b->eof_return = (int)num;
        return 1;
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

static int buffer_create(BIO *bio)
{
    buffer_t *b = OPENSSL_zalloc(sizeof(*b));

    if (b == NULL)
        return 0;
    b->capacity = -1;
    b->eof_return = -1;
    BIO_set_data(bio, b);
    BIO_set_init(bio, 1);
    return 1;
}

static int buffer_destroy(BIO *bio)
{
    buffer_t *b = BIO_get_data(bio);

    if (b != NULL) {
        release(b);
        OPENSSL_free(b);
        BIO_set_data(bio, NULL);
    }
    return 1;
}

static BIO_METHOD *buffer_method;

BIO *ow_BIO_new_buffer(void)
{
    if (buffer_method == NULL) {
        buffer_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "openssl-wasm buffer");
        if (buffer_method == NULL
            || !BIO_meth_set_write_ex(buffer_method, buffer_write)
            || !BIO_meth_set_read_ex(buffer_method, buffer_read)
            || !BIO_meth_set_ctrl(buffer_method, buffer_ctrl)
            || !BIO_meth_set_create(buffer_method, buffer_create)
            || !BIO_meth_set_destroy(buffer_method, buffer_destroy)) {
            BIO_meth_free(buffer_method);
            buffer_method = NULL;
            return NULL;
        }
    }
    return BIO_new(buffer_method);
}

void ow_BIO_buffer_set_capacity(BIO *bio, long capacity)
{
    buffer_t *b = BIO_get_data(bio);

    if (b != NULL)
        b->capacity = capacity < 0 ? -1 : capacity;
}

size_t ow_BIO_buffer_allocated(BIO *bio)
{
    buffer_t *b = BIO_get_data(bio);

    return b == NULL ? 0 : b->size;
}
