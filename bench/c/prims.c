/*
 * make bench: each symmetric primitive alone, through EVP, on 16 KiB
 * buffers (a TLS record's worth): AES-128-CTR (the bitsliced AES alone),
 * GMAC (GHASH alone: AAD only), AES-128-GCM, ChaCha20, Poly1305,
 * ChaCha20-Poly1305. prims_run(name, iterations) returns 0 or -1.
 */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>

static unsigned char buf[16384], out[16384 + 16];
static const unsigned char key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17 };
static const unsigned char iv[16] = { 9, 8, 7 };

static int cipher(const char *name, int aead, int aad_only, int iterations)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int i, n, ok = c != NULL && ctx != NULL;

    for (i = 0; ok && i < iterations; i++) {
        ok = EVP_EncryptInit_ex2(ctx, c, key, iv, NULL);
        if (ok && aad_only)
            ok = EVP_EncryptUpdate(ctx, NULL, &n, buf, sizeof(buf));
        else if (ok)
            ok = EVP_EncryptUpdate(ctx, out, &n, buf, sizeof(buf));
        if (ok && aead)
            ok = EVP_EncryptFinal_ex(ctx, out, &n);
    }
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(c);
    return ok ? 0 : -1;
}

static int poly1305(int iterations)
{
    EVP_MAC *m = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    size_t n;
    int i, ok = ctx != NULL;

    for (i = 0; ok && i < iterations; i++)
        ok = EVP_MAC_init(ctx, key, 32, NULL) && EVP_MAC_update(ctx, buf, sizeof(buf))
             && EVP_MAC_final(ctx, out, &n, sizeof(out));
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return ok ? 0 : -1;
}

int prims_run(const char *name, int iterations)
{
    if (strcmp(name, "aes-128-ctr") == 0) return cipher("AES-128-CTR", 0, 0, iterations);
    if (strcmp(name, "gmac") == 0) return cipher("AES-128-GCM", 1, 1, iterations);
    if (strcmp(name, "aes-128-gcm") == 0) return cipher("AES-128-GCM", 1, 0, iterations);
    if (strcmp(name, "aes-256-gcm") == 0) return cipher("AES-256-GCM", 1, 0, iterations);
    if (strcmp(name, "chacha20") == 0) return cipher("ChaCha20", 0, 0, iterations);
    if (strcmp(name, "poly1305") == 0) return poly1305(iterations);
    if (strcmp(name, "chacha20-poly1305") == 0) return cipher("ChaCha20-Poly1305", 1, 0, iterations);
    return -1;
}
