/*
 * openssl-wasm: constant-time symmetric crypto for the wasm32 build, in
 * WebAssembly SIMD128 (wasm/crypto/README.md has the design and the
 * constant-time review).
 *
 * These files are compiled into libcrypto (wasm/crypto/install.sh copies
 * them into OpenSSL's tree as crypto/wasm/) when Configure is given
 * -DOPENSSL_WASM_CT (wasm/configure-flags.txt); our
 * patch (openssl-src/patches/0003-*.patch) then routes OpenSSL's AES, GHASH
 * and ChaCha20 entry points here, the way OpenSSL routes them to
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
 * ossl_wasm_gcm_init stores H / x in Htable (ghash-simd.c says why);
 * ghash takes a multiple of 16 bytes.
 */
void ossl_wasm_gcm_init(void *Htable, const uint64_t H[2]);
void ossl_wasm_gcm_gmult(uint64_t Xi[2], const void *Htable);
void ossl_wasm_gcm_ghash(uint64_t Xi[2], const void *Htable,
                         const unsigned char *inp, size_t len);

#endif
