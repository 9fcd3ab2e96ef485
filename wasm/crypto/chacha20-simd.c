/*
 * openssl-wasm: ChaCha20 (RFC 8439) in WebAssembly SIMD128, four blocks at
 * a time: each of the 16 state words is one v128 whose four 32-bit lanes
 * belong to four consecutive blocks ("inter-block" parallelism), so a
 * quarter round is the scalar one on vectors. Additions, XORs and rotations
 * only: nothing is indexed by, and nothing branches on, the key, the nonce
 * or the data (wasm/crypto/README.md).
 *
 * Replaces crypto/chacha/chacha_enc.c's ChaCha20_ctr32 (which our patch
 * renames ChaCha20_ctr32_c, as OpenSSL does for RISC-V): same contract,
 * a 32-bit block counter in counter[0] that wraps without carrying into
 * counter[1].
 */
#ifdef OPENSSL_WASM_CT

/* SIMD128 for this file only: -msimd128 on OpenSSL's C would let LLVM
 * auto-vectorize it, which halves chacha_enc.c (the research notes). */
#pragma clang attribute push(__attribute__((target("simd128"))), apply_to = function)

#include <wasm_simd128.h>
#include <openssl/crypto.h>

void ChaCha20_ctr32(unsigned char *out, const unsigned char *inp, size_t len,
                    const unsigned int key[8], const unsigned int counter[4]);

#define ROTL16(v) wasm_i8x16_shuffle(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)
#define ROTL8(v) wasm_i8x16_shuffle(v, v, 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14)
#define ROTL(v, n) wasm_v128_or(wasm_i32x4_shl(v, n), wasm_u32x4_shr(v, 32 - (n)))

#define QR(a, b, c, d)                                             \
    a = wasm_i32x4_add(a, b); d = ROTL16(wasm_v128_xor(d, a));     \
    c = wasm_i32x4_add(c, d); b = ROTL(wasm_v128_xor(b, c), 12);   \
    a = wasm_i32x4_add(a, b); d = ROTL8(wasm_v128_xor(d, a));      \
    c = wasm_i32x4_add(c, d); b = ROTL(wasm_v128_xor(b, c), 7)

/* Words a, b, c, d of four blocks (lanes) -> 16 bytes of each block, XORed
 * with the input at byte offset `at` of each of the four 64-byte blocks. */
static inline void out4(unsigned char *out, const unsigned char *in, size_t at,
                        v128_t a, v128_t b, v128_t c, v128_t d)
{
    v128_t t0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5);  /* a0 b0 a1 b1 */
    v128_t t1 = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5);  /* c0 d0 c1 d1 */
    v128_t t2 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);  /* a2 b2 a3 b3 */
    v128_t t3 = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);  /* c2 d2 c3 d3 */

    wasm_v128_store(out + at, wasm_v128_xor(wasm_v128_load(in + at),
                                            wasm_i64x2_shuffle(t0, t1, 0, 2)));
    wasm_v128_store(out + 64 + at, wasm_v128_xor(wasm_v128_load(in + 64 + at),
                                                 wasm_i64x2_shuffle(t0, t1, 1, 3)));
    wasm_v128_store(out + 128 + at, wasm_v128_xor(wasm_v128_load(in + 128 + at),
                                                  wasm_i64x2_shuffle(t2, t3, 0, 2)));
    wasm_v128_store(out + 192 + at, wasm_v128_xor(wasm_v128_load(in + 192 + at),
                                                  wasm_i64x2_shuffle(t2, t3, 1, 3)));
}

/* Four blocks (256 bytes) of out = in ^ keystream, from block counter ctr. */
static void chacha20_4blocks(unsigned char *out, const unsigned char *in,
                             const v128_t init[16], unsigned int ctr)
{
    v128_t x0 = init[0], x1 = init[1], x2 = init[2], x3 = init[3];
    v128_t x4 = init[4], x5 = init[5], x6 = init[6], x7 = init[7];
    v128_t x8 = init[8], x9 = init[9], x10 = init[10], x11 = init[11];
    v128_t x12 = wasm_i32x4_add(wasm_i32x4_splat((int)ctr), wasm_i32x4_make(0, 1, 2, 3));
    v128_t x13 = init[13], x14 = init[14], x15 = init[15];
    v128_t c12 = x12;
    int i;

    for (i = 0; i < 10; i++) {
        QR(x0, x4, x8, x12);
        QR(x1, x5, x9, x13);
        QR(x2, x6, x10, x14);
        QR(x3, x7, x11, x15);
        QR(x0, x5, x10, x15);
        QR(x1, x6, x11, x12);
        QR(x2, x7, x8, x13);
        QR(x3, x4, x9, x14);
    }
    x0 = wasm_i32x4_add(x0, init[0]); x1 = wasm_i32x4_add(x1, init[1]);
    x2 = wasm_i32x4_add(x2, init[2]); x3 = wasm_i32x4_add(x3, init[3]);
    x4 = wasm_i32x4_add(x4, init[4]); x5 = wasm_i32x4_add(x5, init[5]);
    x6 = wasm_i32x4_add(x6, init[6]); x7 = wasm_i32x4_add(x7, init[7]);
    x8 = wasm_i32x4_add(x8, init[8]); x9 = wasm_i32x4_add(x9, init[9]);
    x10 = wasm_i32x4_add(x10, init[10]); x11 = wasm_i32x4_add(x11, init[11]);
    x12 = wasm_i32x4_add(x12, c12); x13 = wasm_i32x4_add(x13, init[13]);
    x14 = wasm_i32x4_add(x14, init[14]); x15 = wasm_i32x4_add(x15, init[15]);

    out4(out, in, 0, x0, x1, x2, x3);
    out4(out, in, 16, x4, x5, x6, x7);
    out4(out, in, 32, x8, x9, x10, x11);
    out4(out, in, 48, x12, x13, x14, x15);
}

/*
 * One block, the state's four rows as vectors (the column round is then
 * the quarter round on vectors; the diagonal round rotates rows 1-3 into
 * columns first and back after): for the last 1..255 bytes, where four
 * blocks at once would mostly be wasted (the Poly1305 key, TLS's one-byte
 * record tail). n <= 64 bytes of out = in ^ keystream.
 */
static void chacha20_1block(unsigned char *out, const unsigned char *in, size_t n,
                            v128_t a0, v128_t b0, v128_t c0, v128_t d0)
{
    v128_t a = a0, b = b0, c = c0, d = d0;
    unsigned char ks[64];
    size_t i;
    int r;

    for (r = 0; r < 10; r++) {
        QR(a, b, c, d);
        b = wasm_i32x4_shuffle(b, b, 1, 2, 3, 0);
        c = wasm_i32x4_shuffle(c, c, 2, 3, 0, 1);
        d = wasm_i32x4_shuffle(d, d, 3, 0, 1, 2);
        QR(a, b, c, d);
        b = wasm_i32x4_shuffle(b, b, 3, 0, 1, 2);
        c = wasm_i32x4_shuffle(c, c, 2, 3, 0, 1);
        d = wasm_i32x4_shuffle(d, d, 1, 2, 3, 0);
    }
    wasm_v128_store(ks, wasm_i32x4_add(a, a0));
    wasm_v128_store(ks + 16, wasm_i32x4_add(b, b0));
    wasm_v128_store(ks + 32, wasm_i32x4_add(c, c0));
    wasm_v128_store(ks + 48, wasm_i32x4_add(d, d0));
    for (i = 0; i < n; i++)
        out[i] = in[i] ^ ks[i];
    OPENSSL_cleanse(ks, sizeof(ks));
}

void ChaCha20_ctr32(unsigned char *out, const unsigned char *inp, size_t len,
                    const unsigned int key[8], const unsigned int counter[4])
{
    v128_t init[16];
    unsigned int ctr = counter[0];
    size_t i, n;

    /* "expand 32-byte k", then the key and the nonce, each word in every lane */
    init[0] = wasm_i32x4_splat(0x61707865);
    init[1] = wasm_i32x4_splat(0x3320646e);
    init[2] = wasm_i32x4_splat(0x79622d32);
    init[3] = wasm_i32x4_splat(0x6b206574);
    for (i = 0; i < 8; i++)
        init[4 + i] = wasm_i32x4_splat((int)key[i]);
    init[12] = wasm_i32x4_splat(0); /* per call: the counter lanes */
    init[13] = wasm_i32x4_splat((int)counter[1]);
    init[14] = wasm_i32x4_splat((int)counter[2]);
    init[15] = wasm_i32x4_splat((int)counter[3]);

    for (; len >= 256; len -= 256, inp += 256, out += 256, ctr += 4)
        chacha20_4blocks(out, inp, init, ctr);
    /* The last 1..255 bytes, a block at a time (the length is public). */
    for (; len > 0; len -= n, inp += n, out += n, ctr++) {
        n = len < 64 ? len : 64;
        chacha20_1block(out, inp, n,
                        wasm_i32x4_make(0x61707865, 0x3320646e, 0x79622d32, 0x6b206574),
                        wasm_v128_load(key), wasm_v128_load(key + 4),
                        wasm_i32x4_make((int)ctr, (int)counter[1], (int)counter[2], (int)counter[3]));
    }
}

#pragma clang attribute pop

#endif /* OPENSSL_WASM_CT */
