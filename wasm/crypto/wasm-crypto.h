/*
 * openssl-wasm: constant-time symmetric crypto for the wasm32 build, in
 * WebAssembly SIMD128 (wasm/crypto/README.md has the design and the
 * constant-time review).
 *
 * These files are compiled into libcrypto (wasm/crypto/install.sh copies
 * them into OpenSSL's tree as crypto/wasm/, and include/crypto/wasm-crypto.h)
 * when Configure is given -DOPENSSL_WASM_CT (wasm/configure-flags.txt); our
 * patches (openssl-src/patches/0003-*.patch) then route OpenSSL's AES, GCM,
 * ChaCha20 and Poly1305 entry points here, the way OpenSSL routes them to
 * its assembly on other platforms. Without -DOPENSSL_WASM_CT every file
 * compiles to nothing and OpenSSL's own C code is used.
 *
 * Only functions that are not OpenSSL's own names are declared here: AES
 * (AES_set_encrypt_key, AES_set_decrypt_key, AES_encrypt, AES_decrypt,
 * AES_ctr32_encrypt) and ChaCha20_ctr32 are defined under OpenSSL's names
 * and prototypes (openssl/aes.h, crypto/aes_platform.h, crypto/chacha.h).
 */
#ifndef OPENSSL_WASM_CRYPTO_H
#define OPENSSL_WASM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/*
 * GHASH for crypto/modes/gcm128.c (its ginit/gmult/ghash function pointers;
 * Htable is its u128 Htable[16], 256 bytes; H and Xi are its u64[2]).
 * ossl_wasm_gcm_init stores H and its powers in Htable; ghash takes a
 * multiple of 16 bytes.
 */
void ossl_wasm_gcm_init(void *Htable, const uint64_t H[2]);
void ossl_wasm_gcm_gmult(uint64_t Xi[2], const void *Htable);
void ossl_wasm_gcm_ghash(uint64_t Xi[2], const void *Htable,
                         const unsigned char *inp, size_t len);

/*
 * Poly1305 for crypto/poly1305/poly1305.c (its POLY1305_ASM interface:
 * ctx is its opaque state, at least 24 u64 in size and 8-byte aligned).
 */
int ossl_wasm_poly1305_init(void *ctx, const unsigned char key[16]);
void ossl_wasm_poly1305_blocks(void *ctx, const unsigned char *inp,
                               size_t len, unsigned int padbit);
void ossl_wasm_poly1305_emit(void *ctx, unsigned char mac[16],
                             const unsigned int nonce[4]);

#endif
