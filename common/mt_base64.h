/* Base64 (RFC 4648 section 4) and base64url (section 5). */
#ifndef MT_BASE64_H
#define MT_BASE64_H

#include <stddef.h>

#include "mt_buf.h"

enum mt_base64_alphabet {
    MT_BASE64_STD,       /* + / with = padding */
    MT_BASE64_URL_NOPAD  /* - _ without padding, as PKCE and JWT use */
};

/* Returns the length of the encoding of n bytes, without a terminator. */
size_t mt_base64_encoded_len(size_t n, enum mt_base64_alphabet alphabet);

/* Appends the encoding of n bytes at p to out. Returns 0 or -1 (errno). */
int mt_base64_encode(struct mt_buf *out, const void *p, size_t n,
                     enum mt_base64_alphabet alphabet);

/*
 * Appends the decoding of n characters at s to out. Decoding is strict:
 * characters outside the alphabet, misplaced or missing padding (standard
 * alphabet), padding in base64url, and non-zero trailing bits are errors.
 * Returns 0, or -1 with errno EINVAL, ENOSPC or ENOMEM.
 */
int mt_base64_decode(struct mt_buf *out, const char *s, size_t n,
                     enum mt_base64_alphabet alphabet);

#endif
