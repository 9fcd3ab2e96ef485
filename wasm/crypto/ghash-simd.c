/*
 * openssl-wasm: constant-time GHASH (NIST SP 800-38D) in WebAssembly
 * SIMD128, replacing crypto/modes/gcm128.c's 4-bit table (which indexes a
 * key-derived table with nibbles of the data).
 *
 * WebAssembly has no carry-less multiply. Here the product X * H' is built
 * from 4-bit tables that live in registers, not in memory: for each byte
 * position b of the 17-byte product v * H' (v a nibble), one v128 holds
 * that byte for all 16 values of v, and i8x16.swizzle looks up the 16
 * low nibbles (and, from a second set, the 16 high nibbles) of X in it at
 * once. The 2 x 17 lookups give every byte of every partial product;
 * shifting them into place byte by byte (Horner's rule) and reducing modulo
 * x^128 + x^7 + x^2 + x + 1 with shifts gives X * H. Nothing is read from
 * memory at an address that depends on H or the data, and nothing branches
 * on them (wasm/crypto/README.md).
 *
 * Elements are kept as 128-bit little-endian integers whose bit n is the
 * coefficient of x^(127 - n): GHASH's bit order, with the 16 bytes
 * reversed. In that form the 255-bit integer product of X and Y represents
 * x * X * Y, so Htable holds H' = H / x: then the product is X * H.
 */
#ifdef OPENSSL_WASM_CT

/* SIMD128 for this file only (see chacha20-simd.c). */
#pragma clang attribute push(__attribute__((target("simd128"))), apply_to = function)

#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>
#include <openssl/crypto.h>
#include "wasm-crypto.h"

#define REV16(v) wasm_i8x16_shuffle(v, v, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)

/*
 * The 34 tables for multiplying by y: lo[b] lane v = byte b of v * y,
 * hi[b] lane v = byte b of (v * y) << 4, v = 0..15, b = 0..16
 * (carry-less products of integers).
 */
typedef struct {
    v128_t lo[17], hi[17];
} mul_tables;

/* 128-bit shift left by n < 8, and the bits shifted out (as a byte). */
static inline v128_t shl128(v128_t y, int n)
{
    /* the top n bits of lane 0 move into lane 1 */
    v128_t carry = wasm_i64x2_shuffle(wasm_u64x2_shr(y, 64 - n), wasm_i64x2_splat(0), 2, 0);
    return wasm_v128_or(wasm_i64x2_shl(y, n), carry);
}

/* Interleaves the bytes, 16-bit, 32-bit or 64-bit units of the low (L) or high (H) halves of a and b. */
#define UNPACK8L(a, b) wasm_i8x16_shuffle(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define UNPACK8H(a, b) wasm_i8x16_shuffle(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#define UNPACK16L(a, b) wasm_i16x8_shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define UNPACK16H(a, b) wasm_i16x8_shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#define UNPACK32L(a, b) wasm_i32x4_shuffle(a, b, 0, 4, 1, 5)
#define UNPACK32H(a, b) wasm_i32x4_shuffle(a, b, 2, 6, 3, 7)
#define UNPACK64L(a, b) wasm_i64x2_shuffle(a, b, 0, 2)
#define UNPACK64H(a, b) wasm_i64x2_shuffle(a, b, 1, 3)

/*
 * Transposes the 16 x 16 byte matrix m in four rounds of interleaving
 * (bytes, 16-bit, 32-bit, 64-bit units): byte c of row r ends up as byte r
 * of m[bitreverse4(c)].
 */
static inline void transpose16(v128_t m[16])
{
    v128_t t[16];
    int i;

    for (i = 0; i < 8; i++) {
        t[i] = UNPACK8L(m[2 * i], m[2 * i + 1]);
        t[i + 8] = UNPACK8H(m[2 * i], m[2 * i + 1]);
    }
    for (i = 0; i < 8; i++) {
        m[i] = UNPACK16L(t[2 * i], t[2 * i + 1]);
        m[i + 8] = UNPACK16H(t[2 * i], t[2 * i + 1]);
    }
    for (i = 0; i < 8; i++) {
        t[i] = UNPACK32L(m[2 * i], m[2 * i + 1]);
        t[i + 8] = UNPACK32H(m[2 * i], m[2 * i + 1]);
    }
    for (i = 0; i < 8; i++) {
        m[i] = UNPACK64L(t[2 * i], t[2 * i + 1]);
        m[i + 8] = UNPACK64H(t[2 * i], t[2 * i + 1]);
    }
}

static void tables_setup(mul_tables *t, v128_t y)
{
    /* rows[v] = v * y (128 bits); its bits 128..130 go to over[v] */
    v128_t rows[16], ys[4], over = wasm_i64x2_splat(0);
    uint64_t top = (uint64_t)wasm_i64x2_extract_lane(y, 1);
    int v, i, b;

    for (i = 0; i < 4; i++)
        ys[i] = i == 0 ? y : shl128(y, i);
    rows[0] = wasm_i64x2_splat(0);
    for (v = 1; v < 16; v++) /* v = (v with its lowest bit cleared) + that bit: public indices */
        rows[v] = wasm_v128_xor(rows[v & (v - 1)], ys[__builtin_ctz((unsigned)v)]);
    /* lane v of over: the top bits of y shifted out by v's bits 1..3 (bit 0 shifts nothing out) */
    for (i = 1; i < 4; i++) {
        v128_t bit = wasm_i8x16_splat((int8_t)(1 << i));
        v128_t has = wasm_i8x16_eq(wasm_v128_and(wasm_i8x16_make(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), bit), bit);
        over = wasm_v128_xor(over, wasm_v128_and(has, wasm_i8x16_splat((int8_t)(top >> (64 - i)))));
    }
    /* lo[b] lane v = byte b of rows[v]: the interleaving leaves column b in register bitreverse4(b) */
    transpose16(rows);
    for (b = 0; b < 16; b++)
        t->lo[b] = rows[((b & 1) << 3) | ((b & 2) << 1) | ((b & 4) >> 1) | ((b & 8) >> 3)];
    t->lo[16] = over;
    /* hi = lo shifted left by 4 bits across the byte positions */
    t->hi[0] = wasm_i8x16_shl(t->lo[0], 4);
    for (b = 1; b < 17; b++)
        t->hi[b] = wasm_v128_or(wasm_i8x16_shl(t->lo[b], 4), wasm_u8x16_shr(t->lo[b - 1], 4));
    OPENSSL_cleanse(rows, sizeof(rows));
    OPENSSL_cleanse(ys, sizeof(ys));
}

/* x * y, reduced, for the y of t. */
static inline v128_t gf_mul(v128_t x, const mul_tables *t)
{
    const v128_t zero = wasm_i64x2_splat(0);
    v128_t nlo = wasm_v128_and(x, wasm_i8x16_splat(0x0f));
    v128_t nhi = wasm_u8x16_shr(x, 4);
    v128_t lo, hi, d, e, z, c;
    int b;

    /* Horner over the 17 byte positions of the partial products:
     * (hi:lo) = sum over b of R_b << 8b, R_b lane k = byte b of x_k * y. */
    lo = wasm_v128_xor(wasm_i8x16_swizzle(t->lo[16], nlo), wasm_i8x16_swizzle(t->hi[16], nhi));
    hi = zero;
#pragma clang loop unroll(full)
    for (b = 15; b >= 0; b--) {
        hi = wasm_i8x16_shuffle(lo, hi, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
        /* (written as a concatenation, which V8 emits as one palignr) */
        lo = wasm_i8x16_shuffle(zero, lo, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
        lo = wasm_v128_xor(lo, wasm_v128_xor(wasm_i8x16_swizzle(t->lo[b], nlo),
                                             wasm_i8x16_swizzle(t->hi[b], nhi)));
    }

    /*
     * (hi:lo) represents hi + x^128 d with d = lo. x^128 = 1 + x + x^2 + x^7,
     * and in this bit order multiplying by x^k is a right shift by k: the
     * bits shifted out at the bottom (e, at most 7 of them) are x^128 times
     * a small polynomial and are folded in once more.
     */
    d = lo;
    e = wasm_v128_xor(wasm_v128_xor(wasm_i64x2_shl(d, 63), wasm_i64x2_shl(d, 62)), wasm_i64x2_shl(d, 57));
    z = wasm_v128_xor(d, wasm_i64x2_shuffle(zero, e, 0, 2)); /* lane 0 of e -> lane 1 */
    c = wasm_v128_xor(wasm_v128_xor(wasm_i64x2_shl(z, 63), wasm_i64x2_shl(z, 62)), wasm_i64x2_shl(z, 57));
    c = wasm_i64x2_shuffle(c, zero, 1, 2);                    /* lane 1 of c -> lane 0 */
    z = wasm_v128_xor(wasm_v128_xor(z, c),
                      wasm_v128_xor(wasm_v128_xor(wasm_u64x2_shr(z, 1), wasm_u64x2_shr(z, 2)),
                                    wasm_u64x2_shr(z, 7)));
    return wasm_v128_xor(hi, z);
}

/* H' = H / x: H shifted left by one, plus x^-1 = x^127 + x^6 + x + 1 if H's constant term was set. */
void ossl_wasm_gcm_init(void *Htable, const uint64_t H[2])
{
    v128_t h = wasm_i64x2_make((int64_t)H[1], (int64_t)H[0]);
    v128_t mask = wasm_i64x2_splat((int64_t)(H[0] >> 63) * -1); /* all ones iff bit 127 */
    v128_t hp = wasm_v128_xor(shl128(h, 1),
                              wasm_v128_and(mask, wasm_i64x2_make(1, (int64_t)0xc200000000000000ULL)));

    memset(Htable, 0, 256);
    wasm_v128_store(Htable, hp);
}

void ossl_wasm_gcm_gmult(uint64_t Xi[2], const void *Htable)
{
    mul_tables t;
    v128_t y = REV16(wasm_v128_load(Xi));

    tables_setup(&t, wasm_v128_load(Htable));
    y = gf_mul(y, &t);
    wasm_v128_store(Xi, REV16(y));
    OPENSSL_cleanse(&t, sizeof(t));
}

void ossl_wasm_gcm_ghash(uint64_t Xi[2], const void *Htable,
                         const unsigned char *inp, size_t len)
{
    mul_tables t;
    v128_t y = REV16(wasm_v128_load(Xi));

    tables_setup(&t, wasm_v128_load(Htable));
    for (; len >= 16; len -= 16, inp += 16)
        y = gf_mul(wasm_v128_xor(y, REV16(wasm_v128_load(inp))), &t);
    wasm_v128_store(Xi, REV16(y));
    OPENSSL_cleanse(&t, sizeof(t));
}

#pragma clang attribute pop

#endif /* OPENSSL_WASM_CT */
