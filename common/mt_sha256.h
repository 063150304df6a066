/*
 * SHA-256 (FIPS 180-4), used for PKCE challenges and for the fingerprints
 * that stand in for secrets in messages. Kept here, not taken from
 * OpenSSL, so that the SASL plugin and the helper's cached path load no
 * crypto library.
 */
#ifndef MT_SHA256_H
#define MT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define MT_SHA256_LEN 32

struct mt_sha256 {
    uint32_t state[8];
    uint64_t total;        /* bytes hashed so far */
    unsigned char block[64];
    size_t used;           /* bytes waiting in block */
};

void mt_sha256_init(struct mt_sha256 *ctx);
void mt_sha256_update(struct mt_sha256 *ctx, const void *p, size_t n);
/* Writes the digest and wipes the context. */
void mt_sha256_final(struct mt_sha256 *ctx, unsigned char out[MT_SHA256_LEN]);
void mt_sha256(const void *p, size_t n, unsigned char out[MT_SHA256_LEN]);

/* Length of a fingerprint with its terminator: "sha256:" and 12 hex digits. */
#define MT_FINGERPRINT_SIZE 20

/*
 * Writes "sha256:" and the first 12 hex digits of the SHA-256 of the n
 * bytes at p: how a secret is shown in messages and logs.
 */
void mt_fingerprint(const void *p, size_t n, char out[MT_FINGERPRINT_SIZE]);
void mt_fingerprint_str(const char *s, char out[MT_FINGERPRINT_SIZE]);

#endif
