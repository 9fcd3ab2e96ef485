/*
 * The C side of bench/ct.mjs (`make bench-ct`): a dudect-style timing test
 * ("Dude, is my code constant time?", Reparaz, Balasch and Verbauwhede,
 * 2017) of this project's wasm OpenSSL. Built with emcc against the
 * module's libraries and link flags (bench/c-module.mjs).
 *
 *   int    ct_setup(void)                  before anything else
 *   double ct_run(target, n, inputs, times) runs target n times, input i
 *                                           (ct_input_size() bytes each) for
 *                                           run i, and writes each run's
 *                                           duration in ns to times[i]; -1
 *                                           on an OpenSSL failure
 *   int    ct_input_size(void)
 *
 * The caller (bench/ct.mjs) chooses each run's class, fixed or random, at
 * random, and makes its input (key and plaintext) beforehand; nothing in
 * the timed region depends on the class except the input itself.
 *
 * Targets (the first input bytes are the key, the rest the plaintext):
 *   0  AES-128-GCM seal through EVP: key setup (AES key schedule, H,
 *      GHASH's tables), IV, 13 bytes of AAD, 512 bytes, the tag
 *   1  AES-256-GCM seal, the same
 *   2  ChaCha20-Poly1305 seal, the same
 *   3  AES-128 single blocks: AES_set_encrypt_key + 16 x AES_encrypt
 *   4  control, leaky by design: the same with OpenSSL's T-table AES
 *      (aes_core.c, kept as ossl_wasm_ttable_* by patches/0003)
 *   5  control, leaky by design: a 16-byte comparison that stops at the
 *      first difference from the fixed class's value
 *   6  control, leaky by design: 16 loads from a 16 MiB table at offsets
 *      taken from the input (a cache-timing leak, exaggerated)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <emscripten/emscripten.h>
#include <openssl/configuration.h>
#undef OPENSSL_NO_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/aes.h>
#include <openssl/evp.h>

#define INPUT 544 /* 32 bytes of key, 512 of plaintext */
#define MSG 512
#define BIG_TABLE (16u << 20)

int ossl_wasm_ttable_AES_set_encrypt_key(const unsigned char *userKey, const int bits, AES_KEY *key);
void ossl_wasm_ttable_AES_encrypt(const unsigned char *in, unsigned char *out, const AES_KEY *key);

static EVP_CIPHER *ciphers[3];
static EVP_CIPHER_CTX *ctx;
static unsigned char out[MSG + 64], tag[16];
static unsigned char *big;
static volatile unsigned sink;
static const unsigned char iv[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
static const unsigned char aad[13] = { 0x17, 3, 3, 2, 0 };

EMSCRIPTEN_KEEPALIVE int ct_input_size(void)
{
    return INPUT;
}

EMSCRIPTEN_KEEPALIVE int ct_setup(void)
{
    ciphers[0] = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    ciphers[1] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    ciphers[2] = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    ctx = EVP_CIPHER_CTX_new();
    big = malloc(BIG_TABLE);
    if (ciphers[0] == NULL || ciphers[1] == NULL || ciphers[2] == NULL || ctx == NULL || big == NULL)
        return -1;
    memset(big, 1, BIG_TABLE);
    return 0;
}

static int seal(EVP_CIPHER *cipher, const unsigned char *in)
{
    int n;

    return EVP_EncryptInit_ex2(ctx, cipher, in, iv, NULL)
           && EVP_EncryptUpdate(ctx, NULL, &n, aad, sizeof(aad))
           && EVP_EncryptUpdate(ctx, out, &n, in + 32, MSG)
           && EVP_EncryptFinal_ex(ctx, out + n, &n)
           && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) > 0;
}

static int run(int target, const unsigned char *in)
{
    AES_KEY ks;
    unsigned acc = 0;
    int i;

    switch (target) {
    case 0: case 1: case 2:
        return seal(ciphers[target], in);
    case 3:
        AES_set_encrypt_key(in, 128, &ks);
        for (i = 0; i < 16; i++)
            AES_encrypt(in + 32 + 16 * i, out + 16 * i, &ks);
        return 1;
    case 4:
        ossl_wasm_ttable_AES_set_encrypt_key(in, 128, &ks);
        for (i = 0; i < 16; i++)
            ossl_wasm_ttable_AES_encrypt(in + 32 + 16 * i, out + 16 * i, &ks);
        return 1;
    case 5: /* the fixed class's input is all 0x5a: stop at the first other byte */
        for (i = 0; i < 16 && in[32 + i] == 0x5a; i++)
            acc++;
        sink = acc;
        return 1;
    case 6:
        for (i = 0; i < 16; i++) {
            uint32_t at = ((uint32_t)in[2 * i] << 16 | (uint32_t)in[2 * i + 1] << 8) % (BIG_TABLE / 64);
            acc += big[64 * at];
        }
        sink = acc;
        return 1;
    }
    return 0;
}

EMSCRIPTEN_KEEPALIVE int ct_run(int target, int n, const unsigned char *inputs, double *times)
{
    int i;

    for (i = 0; i < n; i++) {
        const unsigned char *in = inputs + (size_t)INPUT * (size_t)i;
        double t0 = emscripten_get_now();

        if (!run(target, in))
            return -1;
        times[i] = (emscripten_get_now() - t0) * 1e6;
    }
    return 0;
}
