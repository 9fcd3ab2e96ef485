/*
 * openssl-wasm: constant-time AES (FIPS-197, 128/192/256-bit keys) in
 * WebAssembly SIMD128, replacing crypto/aes/aes_core.c's T-tables.
 *
 * Two cores, neither of which indexes memory by, or branches on, a secret
 * (the review is in wasm/crypto/README.md):
 *
 *  - Bitsliced, eight blocks at once, for CTR (AES_ctr32_encrypt: OpenSSL's
 *    AES-CTR and the GCM bulk path). The 8 x 128 state bits are transposed
 *    into 8 bit planes: plane i, byte j, bit b = bit i of byte j of block b.
 *    SubBytes is Boyar and Peralta's 128-gate circuit (AND/XOR on planes).
 *    ShiftRows is never done: each round works in the byte order ShiftRows
 *    would have produced (MixColumns's row rotations are chosen for that
 *    order, four cases, repeating every four rounds), and one shuffle
 *    restores the order at the end.
 *
 *  - One block at a time, for everything else (AES_encrypt/AES_decrypt:
 *    the key schedule, GCM's H and tag mask, CBC, ECB, CFB, OFB, CCM, key
 *    wrap). The S-box is looked up with i8x16.swizzle from the 256-byte
 *    table held in 16 registers: every lookup reads all 16 chunks, a lane
 *    selects within a chunk in-register, and the chunk that does not match
 *    yields zero; memory is only read at the tables' fixed addresses.
 *
 * AES_KEY holds the FIPS-197 expanded key as bytes (round key r at bytes
 * 16r..16r+15, in state order), AES_set_decrypt_key the equivalent inverse
 * cipher's keys in the same layout. Only the functions here read it.
 */
#ifdef OPENSSL_WASM_CT

/* SIMD128 for this file only (see chacha20-simd.c). */
#pragma clang attribute push(__attribute__((target("simd128"))), apply_to = function)

#include <stdint.h>
#include <string.h>
#include <wasm_simd128.h>
/* The low-level AES API is deprecated for applications, not for us (as
 * OpenSSL's include/internal/deprecated.h does for its own code). */
#include <openssl/configuration.h>
#undef OPENSSL_NO_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/aes.h>
#include <openssl/crypto.h>

void AES_ctr32_encrypt(const unsigned char *in, unsigned char *out,
                       size_t blocks, const AES_KEY *key,
                       const unsigned char ivec[AES_BLOCK_SIZE]);

/* ---- one block at a time ---------------------------------------------- */

/* The S-box and its inverse: public constants, always read whole. */
static const unsigned char sbox[256] __attribute__((aligned(16))) = {
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
};
static const unsigned char inv_sbox[256] __attribute__((aligned(16))) = {
    0x52, 0x09, 0x6a, 0xd5, 0x30, 0x36, 0xa5, 0x38, 0xbf, 0x40, 0xa3, 0x9e, 0x81, 0xf3, 0xd7, 0xfb,
    0x7c, 0xe3, 0x39, 0x82, 0x9b, 0x2f, 0xff, 0x87, 0x34, 0x8e, 0x43, 0x44, 0xc4, 0xde, 0xe9, 0xcb,
    0x54, 0x7b, 0x94, 0x32, 0xa6, 0xc2, 0x23, 0x3d, 0xee, 0x4c, 0x95, 0x0b, 0x42, 0xfa, 0xc3, 0x4e,
    0x08, 0x2e, 0xa1, 0x66, 0x28, 0xd9, 0x24, 0xb2, 0x76, 0x5b, 0xa2, 0x49, 0x6d, 0x8b, 0xd1, 0x25,
    0x72, 0xf8, 0xf6, 0x64, 0x86, 0x68, 0x98, 0x16, 0xd4, 0xa4, 0x5c, 0xcc, 0x5d, 0x65, 0xb6, 0x92,
    0x6c, 0x70, 0x48, 0x50, 0xfd, 0xed, 0xb9, 0xda, 0x5e, 0x15, 0x46, 0x57, 0xa7, 0x8d, 0x9d, 0x84,
    0x90, 0xd8, 0xab, 0x00, 0x8c, 0xbc, 0xd3, 0x0a, 0xf7, 0xe4, 0x58, 0x05, 0xb8, 0xb3, 0x45, 0x06,
    0xd0, 0x2c, 0x1e, 0x8f, 0xca, 0x3f, 0x0f, 0x02, 0xc1, 0xaf, 0xbd, 0x03, 0x01, 0x13, 0x8a, 0x6b,
    0x3a, 0x91, 0x11, 0x41, 0x4f, 0x67, 0xdc, 0xea, 0x97, 0xf2, 0xcf, 0xce, 0xf0, 0xb4, 0xe6, 0x73,
    0x96, 0xac, 0x74, 0x22, 0xe7, 0xad, 0x35, 0x85, 0xe2, 0xf9, 0x37, 0xe8, 0x1c, 0x75, 0xdf, 0x6e,
    0x47, 0xf1, 0x1a, 0x71, 0x1d, 0x29, 0xc5, 0x89, 0x6f, 0xb7, 0x62, 0x0e, 0xaa, 0x18, 0xbe, 0x1b,
    0xfc, 0x56, 0x3e, 0x4b, 0xc6, 0xd2, 0x79, 0x20, 0x9a, 0xdb, 0xc0, 0xfe, 0x78, 0xcd, 0x5a, 0xf4,
    0x1f, 0xdd, 0xa8, 0x33, 0x88, 0x07, 0xc7, 0x31, 0xb1, 0x12, 0x10, 0x59, 0x27, 0x80, 0xec, 0x5f,
    0x60, 0x51, 0x7f, 0xa9, 0x19, 0xb5, 0x4a, 0x0d, 0x2d, 0xe5, 0x7a, 0x9f, 0x93, 0xc9, 0x9c, 0xef,
    0xa0, 0xe0, 0x3b, 0x4d, 0xae, 0x2a, 0xf5, 0xb0, 0xc8, 0xeb, 0xbb, 0x3c, 0x83, 0x53, 0x99, 0x61,
    0x17, 0x2b, 0x04, 0x7e, 0xba, 0x77, 0xd6, 0x26, 0xe1, 0x69, 0x14, 0x63, 0x55, 0x21, 0x0c, 0x7d,
};

/* SubBytes of all 16 bytes: lane value x selects chunk x >> 4 (the index
 * x - 16c is below 16 for exactly one chunk c; swizzle gives 0 for the
 * others) and byte x & 15 within it. */
static inline v128_t sub_bytes(v128_t x, const unsigned char *table)
{
    const v128_t sixteen = wasm_i8x16_splat(16);
    v128_t r = wasm_i8x16_swizzle(wasm_v128_load(table), x);
    int c;

#pragma clang loop unroll(full)
    for (c = 1; c < 16; c++) {
        x = wasm_i8x16_sub(x, sixteen);
        r = wasm_v128_xor(r, wasm_i8x16_swizzle(wasm_v128_load(table + 16 * c), x));
    }
    return r;
}

/* The state is the 16 bytes in FIPS-197 order: byte j = row j % 4, column j / 4. */
#define SHIFT_ROWS(s) wasm_i8x16_shuffle(s, s, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11)
#define INV_SHIFT_ROWS(s) wasm_i8x16_shuffle(s, s, 0, 13, 10, 7, 4, 1, 14, 11, 8, 5, 2, 15, 12, 9, 6, 3)
/* Each byte takes the one from the next (ROT1) or the one after that (ROT2) row of its column. */
#define ROT1(s) wasm_i8x16_shuffle(s, s, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12)
#define ROT2(s) wasm_i8x16_shuffle(s, s, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)

/* Multiplication by x in GF(2^8) of every byte, without a branch. */
static inline v128_t xtime(v128_t x)
{
    v128_t carry = wasm_i8x16_lt(x, wasm_i8x16_splat(0)); /* 0xff where the top bit is set */
    return wasm_v128_xor(wasm_i8x16_add(x, x), wasm_v128_and(carry, wasm_i8x16_splat(0x1b)));
}

/* MixColumns: 2a0 + 3a1 + a2 + a3 = 2x + a1 + (x shifted by two rows), x = a0 + a1. */
static inline v128_t mix_columns(v128_t a)
{
    v128_t r1 = ROT1(a), x = wasm_v128_xor(a, r1);
    return wasm_v128_xor(wasm_v128_xor(xtime(x), r1), ROT2(x));
}

/* InvMixColumns = MixColumns after multiplying each column by 5 + 4y^2. */
static inline v128_t inv_mix_columns(v128_t a)
{
    v128_t t = xtime(xtime(wasm_v128_xor(a, ROT2(a))));
    return mix_columns(wasm_v128_xor(a, t));
}

static v128_t encrypt1(v128_t s, const unsigned char *rk, int rounds)
{
    int r;

    s = wasm_v128_xor(s, wasm_v128_load(rk));
    for (r = 1; r < rounds; r++)
        s = wasm_v128_xor(mix_columns(sub_bytes(SHIFT_ROWS(s), sbox)),
                          wasm_v128_load(rk + 16 * r));
    return wasm_v128_xor(sub_bytes(SHIFT_ROWS(s), sbox), wasm_v128_load(rk + 16 * rounds));
}

/* The equivalent inverse cipher (FIPS-197 5.3.5), with AES_set_decrypt_key's keys. */
static v128_t decrypt1(v128_t s, const unsigned char *dk, int rounds)
{
    int r;

    s = wasm_v128_xor(s, wasm_v128_load(dk));
    for (r = 1; r < rounds; r++)
        s = wasm_v128_xor(inv_mix_columns(sub_bytes(INV_SHIFT_ROWS(s), inv_sbox)),
                          wasm_v128_load(dk + 16 * r));
    return wasm_v128_xor(sub_bytes(INV_SHIFT_ROWS(s), inv_sbox), wasm_v128_load(dk + 16 * rounds));
}

void AES_encrypt(const unsigned char *in, unsigned char *out, const AES_KEY *key)
{
    wasm_v128_store(out, encrypt1(wasm_v128_load(in), (const unsigned char *)key->rd_key,
                                  key->rounds));
}

void AES_decrypt(const unsigned char *in, unsigned char *out, const AES_KEY *key)
{
    wasm_v128_store(out, decrypt1(wasm_v128_load(in), (const unsigned char *)key->rd_key,
                                  key->rounds));
}

/* SubWord of a key-schedule word (4 bytes in memory order, as a little-endian u32). */
static uint32_t sub_word(uint32_t w)
{
    return (uint32_t)wasm_i32x4_extract_lane(sub_bytes(wasm_i32x4_splat((int32_t)w), sbox), 0);
}

static uint32_t load32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

int AES_set_encrypt_key(const unsigned char *userKey, const int bits, AES_KEY *key)
{
    /* Round constants: public, indexed by the public word number. */
    static const uint8_t rcon[10] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36 };
    uint32_t w[60], t;
    int nk, nr, i;

    if (userKey == NULL || key == NULL)
        return -1;
    if (bits != 128 && bits != 192 && bits != 256)
        return -2;
    nk = bits / 32;
    nr = nk + 6;
    for (i = 0; i < nk; i++)
        w[i] = load32(userKey + 4 * i);
    for (i = nk; i < 4 * (nr + 1); i++) {
        t = w[i - 1];
        if (i % nk == 0)
            t = sub_word((t >> 8) | (t << 24)) ^ rcon[i / nk - 1]; /* RotWord, SubWord, Rcon */
        else if (nk > 6 && i % nk == 4)
            t = sub_word(t);
        w[i] = w[i - nk] ^ t;
    }
    memcpy(key->rd_key, w, 16 * (nr + 1));
    key->rounds = nr;
    OPENSSL_cleanse(w, sizeof(w));
    return 0;
}

int AES_set_decrypt_key(const unsigned char *userKey, const int bits, AES_KEY *key)
{
    unsigned char *rk = (unsigned char *)key->rd_key;
    v128_t a, b;
    int ret, i, j;

    if ((ret = AES_set_encrypt_key(userKey, bits, key)) < 0)
        return ret;
    /* Reverse the round keys; InvMixColumns on all but the outer two. */
    for (i = 0, j = key->rounds; i <= j; i++, j--) {
        a = wasm_v128_load(rk + 16 * i);
        b = wasm_v128_load(rk + 16 * j);
        if (i != 0 && i != key->rounds) {
            a = inv_mix_columns(a);
            if (i != j)
                b = inv_mix_columns(b);
        }
        wasm_v128_store(rk + 16 * i, b);
        wasm_v128_store(rk + 16 * j, a);
    }
    return 0;
}

/* ---- eight blocks at once, bitsliced ---------------------------------- */

/*
 * Transposes the 8x8 bit matrix in every byte lane of q[0..7]: bit i of
 * byte j of q[b] <-> bit b of byte j of q[i]. Blocks to bit planes and
 * back (it is its own inverse).
 */
#define SWAPMOVE(a, b, mask, n)                                                  \
    do {                                                                         \
        v128_t t_ = wasm_v128_and(wasm_v128_xor(wasm_u64x2_shr(a, n), b), mask); \
        b = wasm_v128_xor(b, t_);                                                \
        a = wasm_v128_xor(a, wasm_i64x2_shl(t_, n));                             \
    } while (0)

static inline void ortho(v128_t q[8])
{
    const v128_t m1 = wasm_i8x16_splat(0x55), m2 = wasm_i8x16_splat(0x33),
                 m4 = wasm_i8x16_splat(0x0f);

    SWAPMOVE(q[0], q[1], m1, 1);
    SWAPMOVE(q[2], q[3], m1, 1);
    SWAPMOVE(q[4], q[5], m1, 1);
    SWAPMOVE(q[6], q[7], m1, 1);
    SWAPMOVE(q[0], q[2], m2, 2);
    SWAPMOVE(q[1], q[3], m2, 2);
    SWAPMOVE(q[4], q[6], m2, 2);
    SWAPMOVE(q[5], q[7], m2, 2);
    SWAPMOVE(q[0], q[4], m4, 4);
    SWAPMOVE(q[1], q[5], m4, 4);
    SWAPMOVE(q[2], q[6], m4, 4);
    SWAPMOVE(q[3], q[7], m4, 4);
}

/*
 * SubBytes on bit planes, without its affine constant 0x63 (folded into the
 * round keys): the circuit of J. Boyar and R. Peralta, "A depth-16 circuit
 * for the AES S-box" (2011), 34 AND and 94 XOR. U0 is the most significant
 * bit (plane 7), S0 likewise.
 */
static inline void sbox_bs(v128_t q[8])
{
#define X(a, b) wasm_v128_xor(a, b)
#define A(a, b) wasm_v128_and(a, b)
    v128_t U0 = q[7], U1 = q[6], U2 = q[5], U3 = q[4], U4 = q[3], U5 = q[2], U6 = q[1], U7 = q[0];
    v128_t T1 = X(U0, U3), T2 = X(U0, U5), T3 = X(U0, U6), T4 = X(U3, U5), T5 = X(U4, U6);
    v128_t T6 = X(T1, T5), T7 = X(U1, U2), T8 = X(U7, T6), T9 = X(U7, T7), T10 = X(T6, T7);
    v128_t T11 = X(U1, U5), T12 = X(U2, U5), T13 = X(T3, T4), T14 = X(T6, T11), T15 = X(T5, T11);
    v128_t T16 = X(T5, T12), T17 = X(T9, T16), T18 = X(U3, U7), T19 = X(T7, T18), T20 = X(T1, T19);
    v128_t T21 = X(U6, U7), T22 = X(T7, T21), T23 = X(T2, T22), T24 = X(T2, T10), T25 = X(T20, T17);
    v128_t T26 = X(T3, T16), T27 = X(T1, T12);

    v128_t M1 = A(T13, T6), M2 = A(T23, T8), M3 = X(T14, M1), M4 = A(T19, U7), M5 = X(M4, M1);
    v128_t M6 = A(T3, T16), M7 = A(T22, T9), M8 = X(T26, M6), M9 = A(T20, T17), M10 = X(M9, M6);
    v128_t M11 = A(T1, T15), M12 = A(T4, T27), M13 = X(M12, M11), M14 = A(T2, T10), M15 = X(M14, M11);
    v128_t M16 = X(M3, M2), M17 = X(M5, T24), M18 = X(M8, M7), M19 = X(M10, M15), M20 = X(M16, M13);
    v128_t M21 = X(M17, M15), M22 = X(M18, M13), M23 = X(M19, T25), M24 = X(M22, M23), M25 = A(M22, M20);
    v128_t M26 = X(M21, M25), M27 = X(M20, M21), M28 = X(M23, M25), M29 = A(M28, M27), M30 = A(M26, M24);
    v128_t M31 = A(M20, M23), M32 = A(M27, M31), M33 = X(M27, M25), M34 = A(M21, M22), M35 = A(M24, M34);
    v128_t M36 = X(M24, M25), M37 = X(M21, M29), M38 = X(M32, M33), M39 = X(M23, M30), M40 = X(M35, M36);
    v128_t M41 = X(M38, M40), M42 = X(M37, M39), M43 = X(M37, M38), M44 = X(M39, M40), M45 = X(M42, M41);
    v128_t M46 = A(M44, T6), M47 = A(M40, T8), M48 = A(M39, U7), M49 = A(M43, T16), M50 = A(M38, T9);
    v128_t M51 = A(M37, T17), M52 = A(M42, T15), M53 = A(M45, T27), M54 = A(M41, T10), M55 = A(M44, T13);
    v128_t M56 = A(M40, T23), M57 = A(M39, T19), M58 = A(M43, T3), M59 = A(M38, T22), M60 = A(M37, T20);
    v128_t M61 = A(M42, T1), M62 = A(M45, T4), M63 = A(M41, T2);

    v128_t L0 = X(M61, M62), L1 = X(M50, M56), L2 = X(M46, M48), L3 = X(M47, M55), L4 = X(M54, M58);
    v128_t L5 = X(M49, M61), L6 = X(M62, L5), L7 = X(M46, L3), L8 = X(M51, M59), L9 = X(M52, M53);
    v128_t L10 = X(M53, L4), L11 = X(M60, L2), L12 = X(M48, M51), L13 = X(M50, L0), L14 = X(M52, M61);
    v128_t L15 = X(M55, L1), L16 = X(M56, L0), L17 = X(M57, L1), L18 = X(M58, L8), L19 = X(M63, L4);
    v128_t L20 = X(L0, L1), L21 = X(L1, L7), L22 = X(L3, L12), L23 = X(L18, L2), L24 = X(L15, L9);
    v128_t L25 = X(L6, L10), L26 = X(L7, L9), L27 = X(L8, L10), L28 = X(L11, L14), L29 = X(L11, L17);

    /* S1, S2, S6 and S7 are complemented in the circuit: that is the 0x63. */
    q[7] = X(L6, L24);
    q[6] = X(L16, L26);
    q[5] = X(L19, L28);
    q[4] = X(L6, L21);
    q[3] = X(L20, L22);
    q[2] = X(L25, L29);
    q[1] = X(L13, L27);
    q[0] = X(L6, L23);
#undef X
#undef A
}

/*
 * Bit planes hold the state row by row (byte 4r + c = row r, column c; the
 * blocks are reordered so on the way in and out), and round r's state in
 * the order ShiftRows^r would give it (m = r mod 4): row r rotated left by
 * m * r. MixColumns's "next row" and "row after next" of a byte are then
 * (row + 1, column + m) and (row + 2, column + 2m): a rotation of the bytes
 * inside each 32-bit row, then of the rows (pshufd) - cheaper in V8 than a
 * general byte shuffle, whose constant it rebuilds at every use.
 */
#define ROWS1(s) wasm_i32x4_shuffle(s, s, 1, 2, 3, 0)
#define ROWS2(s) wasm_i32x4_shuffle(s, s, 2, 3, 0, 1)
#define ROTR_BYTES(s, n) wasm_v128_or(wasm_u32x4_shr(s, 8 * (n)), wasm_i32x4_shl(s, 32 - 8 * (n)))
#define BS_ROT1_0(s) ROWS1(s)
#define BS_ROT2_0(s) ROWS2(s)
#define BS_ROT1_1(s) ROWS1(ROTR_BYTES(s, 1))
#define BS_ROT2_1(s) ROWS2(ROTR_BYTES(s, 2))
#define BS_ROT1_2(s) ROWS1(ROTR_BYTES(s, 2))
#define BS_ROT2_2(s) ROWS2(s)
#define BS_ROT1_3(s) ROWS1(ROTR_BYTES(s, 3))
#define BS_ROT2_3(s) ROWS2(ROTR_BYTES(s, 2))

/* Column-major block <-> row-major (an involution), and the last round's
 * order back to a column-major block (m = 2: 10 and 14 rounds; m = 0: 12). */
#define TO_ROWS(s) wasm_i8x16_shuffle(s, s, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
#define FROM_ROWS_2(s) wasm_i8x16_shuffle(s, s, 0, 6, 8, 14, 1, 7, 9, 15, 2, 4, 10, 12, 3, 5, 11, 13)

/*
 * One full round (SubBytes, ShiftRows by reordering, MixColumns,
 * AddRoundKey). MixColumns per plane i: r = next row, x = q + r,
 * q' = r + (row after next of x) + 2x + key, where 2x moves the planes up
 * one bit and adds plane 7 to planes 0, 1, 3 and 4 (x^8 = x^4 + x^3 + x + 1).
 * The planes are done in the order 7, 0, 1, ..., 6 so that only x7 and the
 * previous plane's x need to stay live.
 */
#define BS_ROUND(q, k, m)                                                          \
    do {                                                                           \
        v128_t r_, x_, x7_, xp_, p7_;                                              \
        sbox_bs(q);                                                                \
        r_ = BS_ROT1_##m(q[7]);                                                    \
        x7_ = wasm_v128_xor(q[7], r_);                                             \
        p7_ = wasm_v128_xor(wasm_v128_xor(r_, BS_ROT2_##m(x7_)), (k)[7]);          \
        xp_ = x7_;                                                                 \
        BS_MIX_PLANE(q, k, m, 0, xp_);                                             \
        BS_MIX_PLANE(q, k, m, 1, wasm_v128_xor(xp_, x7_));                         \
        BS_MIX_PLANE(q, k, m, 2, xp_);                                             \
        BS_MIX_PLANE(q, k, m, 3, wasm_v128_xor(xp_, x7_));                         \
        BS_MIX_PLANE(q, k, m, 4, wasm_v128_xor(xp_, x7_));                         \
        BS_MIX_PLANE(q, k, m, 5, xp_);                                             \
        BS_MIX_PLANE(q, k, m, 6, xp_);                                             \
        q[7] = wasm_v128_xor(p7_, xp_);                                            \
    } while (0)
/* plane i of MixColumns + AddRoundKey; two_x is plane i of 2x (from the previous plane's x) */
#define BS_MIX_PLANE(q, k, m, i, two_x)                                            \
    do {                                                                           \
        v128_t t_ = two_x;                                                         \
        r_ = BS_ROT1_##m(q[i]);                                                    \
        x_ = wasm_v128_xor(q[i], r_);                                              \
        q[i] = wasm_v128_xor(wasm_v128_xor(r_, BS_ROT2_##m(x_)),                   \
                             wasm_v128_xor((k)[i], t_));                           \
        xp_ = x_;                                                                  \
    } while (0)

static inline void add_round_key(v128_t q[8], const v128_t k[8])
{
    int i;

    for (i = 0; i < 8; i++)
        q[i] = wasm_v128_xor(q[i], k[i]);
}

/*
 * Round keys as bit planes, for the byte order of their round, with
 * SubBytes's constant 0x63 added to every key after the first. 15 x 8
 * planes: 1920 bytes, on the caller's stack.
 */
typedef struct {
    v128_t k[15][8];
    int rounds;
} bs_key;

static void bs_key_setup(bs_key *bk, const AES_KEY *key)
{
    const unsigned char *rk = (const unsigned char *)key->rd_key;
    int r, i;
    v128_t k, bit;

    bk->rounds = key->rounds;
    for (r = 0; r <= key->rounds; r++) {
        k = wasm_v128_load(rk + 16 * r);
        /* row-major, in round r's byte order */
        switch (r & 3) {
        case 0:
            k = TO_ROWS(k);
            break;
        case 1:
            k = wasm_i8x16_shuffle(k, k, 0, 4, 8, 12, 13, 1, 5, 9, 10, 14, 2, 6, 7, 11, 15, 3);
            break;
        case 2:
            k = wasm_i8x16_shuffle(k, k, 0, 4, 8, 12, 9, 13, 1, 5, 2, 6, 10, 14, 11, 15, 3, 7);
            break;
        case 3:
            k = wasm_i8x16_shuffle(k, k, 0, 4, 8, 12, 5, 9, 13, 1, 10, 14, 2, 6, 15, 3, 7, 11);
            break;
        }
        if (r > 0)
            k = wasm_v128_xor(k, wasm_i8x16_splat(0x63));
        for (i = 0; i < 8; i++) {
            bit = wasm_i8x16_splat((int8_t)(1 << i));
            bk->k[r][i] = wasm_i8x16_eq(wasm_v128_and(k, bit), bit);
        }
    }
}

/* Encrypts the eight blocks in q (bit planes in, bit planes out). */
static void bs_encrypt(v128_t q[8], const bs_key *bk)
{
    int r;

    add_round_key(q, bk->k[0]);
    /* rounds 1 .. rounds-1, four at a time, then the 1 or 3 left */
    for (r = 1; r + 4 <= bk->rounds; r += 4) {
        BS_ROUND(q, bk->k[r], 1);
        BS_ROUND(q, bk->k[r + 1], 2);
        BS_ROUND(q, bk->k[r + 2], 3);
        BS_ROUND(q, bk->k[r + 3], 0);
    }
    BS_ROUND(q, bk->k[r], 1);
    if (r + 1 < bk->rounds) { /* AES-192: rounds 10 and 11 */
        BS_ROUND(q, bk->k[r + 1], 2);
        BS_ROUND(q, bk->k[r + 2], 3);
    }
    sbox_bs(q);
    add_round_key(q, bk->k[bk->rounds]);
}

void AES_ctr32_encrypt(const unsigned char *in, unsigned char *out,
                       size_t blocks, const AES_KEY *key,
                       const unsigned char ivec[AES_BLOCK_SIZE])
{
    bs_key bk;
    v128_t q[8], iv = wasm_v128_load(ivec);
    unsigned char buf[128];
    uint32_t ctr = ((uint32_t)ivec[12] << 24) | ((uint32_t)ivec[13] << 16)
                   | ((uint32_t)ivec[14] << 8) | ivec[15];
    size_t n, i;

    if (blocks == 0)
        return;
    bs_key_setup(&bk, key);
    while (blocks > 0) {
        for (i = 0; i < 8; i++)
            q[i] = TO_ROWS(wasm_i32x4_replace_lane(iv, 3, (int32_t)__builtin_bswap32(ctr + (uint32_t)i)));
        ortho(q);
        bs_encrypt(q, &bk);
        ortho(q);
        n = blocks < 8 ? blocks : 8;
        if (n == 8) {
            for (i = 0; i < 8; i++) {
                /* from the last round's order (ShiftRows^rounds, by rows) */
                q[i] = (bk.rounds & 3) == 2 ? FROM_ROWS_2(q[i]) : TO_ROWS(q[i]);
                wasm_v128_store(out + 16 * i, wasm_v128_xor(wasm_v128_load(in + 16 * i), q[i]));
            }
        } else {
            for (i = 0; i < 8; i++) {
                q[i] = (bk.rounds & 3) == 2 ? FROM_ROWS_2(q[i]) : TO_ROWS(q[i]);
                wasm_v128_store(buf + 16 * i, q[i]);
            }
            for (i = 0; i < 16 * n; i++)
                out[i] = in[i] ^ buf[i];
            OPENSSL_cleanse(buf, sizeof(buf));
        }
        ctr += 8;
        blocks -= n;
        in += 16 * n;
        out += 16 * n;
    }
    OPENSSL_cleanse(&bk, sizeof(bk));
}

#pragma clang attribute pop

#endif /* OPENSSL_WASM_CT */
