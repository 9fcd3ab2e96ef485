/*
 * Test-only access to the symmetric primitives of this project's wasm
 * OpenSSL (the libraries the module links: same objects, same flags), for
 * test/unit/symmetric.test.ts. Built with emcc by test/helpers/crypto-harness.ts
 * into test/build-out/ with the module's link flags.
 *
 *   h_cipher(...)  any EVP cipher by name, in either direction, input and
 *                  AAD fed in chunks; AEAD tags out (encrypt) or checked
 *                  (decrypt: -2 when the tag does not verify)
 *   h_mac(...)     any EVP MAC by name (POLY1305)
 *   h_aes(...)     AES_encrypt/AES_decrypt on n blocks, ours or (ref = 1)
 *                  the T-table code that patches/0003 keeps as
 *                  ossl_wasm_ttable_*
 *   h_aes_ctr32    AES_ctr32_encrypt (the bitsliced CTR) directly
 *   h_chacha20     ChaCha20_ctr32, ours or (ref = 1) OpenSSL's C one
 */
#include <stdint.h>
#include <string.h>
#include <emscripten/emscripten.h>
#include <openssl/configuration.h>
#undef OPENSSL_NO_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/aes.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

/* libcrypto internals (include/crypto/*.h, crypto/aes/aes_core.c with patches/0003) */
void AES_ctr32_encrypt(const unsigned char *in, unsigned char *out, size_t blocks,
                       const AES_KEY *key, const unsigned char ivec[16]);
int ossl_wasm_ttable_AES_set_encrypt_key(const unsigned char *userKey, const int bits, AES_KEY *key);
int ossl_wasm_ttable_AES_set_decrypt_key(const unsigned char *userKey, const int bits, AES_KEY *key);
void ossl_wasm_ttable_AES_encrypt(const unsigned char *in, unsigned char *out, const AES_KEY *key);
void ossl_wasm_ttable_AES_decrypt(const unsigned char *in, unsigned char *out, const AES_KEY *key);
void ChaCha20_ctr32(unsigned char *out, const unsigned char *inp, size_t len,
                    const unsigned int key[8], const unsigned int counter[4]);
void ChaCha20_ctr32_c(unsigned char *out, const unsigned char *inp, size_t len,
                      const unsigned int key[8], const unsigned int counter[4]);

/* Feeds len bytes of in (NULL for AAD) to the cipher in pieces of `chunk` bytes (0: at once). */
static int feed(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, int len, int chunk, int *done)
{
    int at = 0, n, outl;

    *done = 0;
    do {
        n = chunk > 0 && len - at > chunk ? chunk : len - at;
        if (!EVP_CipherUpdate(ctx, out == NULL ? NULL : out + *done, &outl, in + at, n))
            return 0;
        *done += outl;
        at += n;
    } while (at < len);
    return 1;
}

/*
 * Returns the output length, -1 on an error (the queue is left for the
 * caller), -2 when an AEAD tag does not verify. For AEAD ciphers, taglen
 * bytes of tag are written (enc) or checked (dec).
 */
EMSCRIPTEN_KEEPALIVE int h_cipher(const char *name, int enc, const unsigned char *key, const unsigned char *iv,
                                  int ivlen, const unsigned char *aad, int aadlen, const unsigned char *in,
                                  int inlen, unsigned char *out, unsigned char *tag, int taglen, int chunk,
                                  int padding)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int aead, ret = -1, n, total = 0;

    ERR_clear_error();
    if (cipher == NULL || ctx == NULL)
        goto end;
    aead = (EVP_CIPHER_get_flags(cipher) & EVP_CIPH_FLAG_AEAD_CIPHER) != 0;
    if (!EVP_CipherInit_ex2(ctx, cipher, NULL, NULL, enc, NULL))
        goto end;
    if (aead && ivlen != EVP_CIPHER_CTX_get_iv_length(ctx)
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, ivlen, NULL) <= 0)
        goto end;
    if (!EVP_CipherInit_ex2(ctx, NULL, key, ivlen > 0 ? iv : NULL, enc, NULL))
        goto end;
    if (!EVP_CIPHER_CTX_set_padding(ctx, padding))
        goto end;
    if (aead && !enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, taglen, tag) <= 0)
        goto end;
    if (aadlen > 0 && !feed(ctx, NULL, aad, aadlen, chunk, &n))
        goto end;
    if (!feed(ctx, out, in, inlen, chunk, &n))
        goto end;
    total = n;
    if (!EVP_CipherFinal_ex(ctx, out + total, &n)) {
        ret = aead && !enc ? -2 : -1;
        goto end;
    }
    total += n;
    if (aead && enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, taglen, tag) <= 0)
        goto end;
    ret = total;
end:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return ret;
}

/* An EVP MAC by name over msg; returns the MAC's length or -1. */
EMSCRIPTEN_KEEPALIVE int h_mac(const char *name, const unsigned char *key, int keylen, const unsigned char *msg,
                               int msglen, unsigned char *out, int outcap)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, name, NULL);
    EVP_MAC_CTX *ctx = mac == NULL ? NULL : EVP_MAC_CTX_new(mac);
    size_t outl = 0;
    int ret = -1;

    if (ctx != NULL && EVP_MAC_init(ctx, key, (size_t)keylen, NULL) && EVP_MAC_update(ctx, msg, (size_t)msglen)
        && EVP_MAC_final(ctx, out, &outl, (size_t)outcap))
        ret = (int)outl;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ret;
}

/* n blocks of AES (ECB) with this project's AES or (ref) the T-table reference. */
EMSCRIPTEN_KEEPALIVE int h_aes(int ref, int enc, const unsigned char *key, int bits, const unsigned char *in,
                               unsigned char *out, int n)
{
    AES_KEY ks;
    int i, r;

    if (ref)
        r = enc ? ossl_wasm_ttable_AES_set_encrypt_key(key, bits, &ks)
                : ossl_wasm_ttable_AES_set_decrypt_key(key, bits, &ks);
    else
        r = enc ? AES_set_encrypt_key(key, bits, &ks) : AES_set_decrypt_key(key, bits, &ks);
    if (r != 0)
        return r;
    for (i = 0; i < n; i++) {
        if (ref)
            (enc ? ossl_wasm_ttable_AES_encrypt : ossl_wasm_ttable_AES_decrypt)(in + 16 * i, out + 16 * i, &ks);
        else
            (enc ? AES_encrypt : AES_decrypt)(in + 16 * i, out + 16 * i, &ks);
    }
    return 0;
}

EMSCRIPTEN_KEEPALIVE int h_aes_ctr32(const unsigned char *key, int bits, const unsigned char *ivec,
                                     const unsigned char *in, unsigned char *out, int blocks)
{
    AES_KEY ks;

    if (AES_set_encrypt_key(key, bits, &ks) != 0)
        return -1;
    AES_ctr32_encrypt(in, out, (size_t)blocks, &ks, ivec);
    return 0;
}

/* key: 32 bytes, counter: 16 bytes (block counter, then the nonce), as chacha_enc.c reads them. */
EMSCRIPTEN_KEEPALIVE void h_chacha20(int ref, const unsigned char *key, const unsigned char *counter,
                                     const unsigned char *in, unsigned char *out, int len)
{
    unsigned int k[8], c[4];
    int i;

    for (i = 0; i < 8; i++)
        k[i] = (unsigned int)key[4 * i] | (unsigned int)key[4 * i + 1] << 8
               | (unsigned int)key[4 * i + 2] << 16 | (unsigned int)key[4 * i + 3] << 24;
    for (i = 0; i < 4; i++)
        c[i] = (unsigned int)counter[4 * i] | (unsigned int)counter[4 * i + 1] << 8
               | (unsigned int)counter[4 * i + 2] << 16 | (unsigned int)counter[4 * i + 3] << 24;
    (ref ? ChaCha20_ctr32_c : ChaCha20_ctr32)(out, in, (size_t)len, k, c);
}
