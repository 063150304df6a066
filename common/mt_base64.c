/* Base64 (RFC 4648 section 4) and base64url (section 5). */
#include "mt_base64.h"

#include <errno.h>

static const char std_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
mt_base64_encoded_len(size_t n, enum mt_base64_alphabet alphabet)
{
    if (alphabet == MT_BASE64_STD)
        return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

int
mt_base64_encode(struct mt_buf *out, const void *p, size_t n,
                 enum mt_base64_alphabet alphabet)
{
    const unsigned char *in = p;
    const char *chars = alphabet == MT_BASE64_STD ? std_chars : url_chars;
    int pad = alphabet == MT_BASE64_STD;
    char quad[4];
    size_t i;

    for (i = 0; i + 3 <= n; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 |
                          (unsigned long)in[i + 1] << 8 | in[i + 2];
        quad[0] = chars[v >> 18 & 63];
        quad[1] = chars[v >> 12 & 63];
        quad[2] = chars[v >> 6 & 63];
        quad[3] = chars[v & 63];
        if (mt_buf_append(out, quad, 4) != 0)
            return -1;
    }
    if (i < n) {
        unsigned long v = (unsigned long)in[i] << 16;
        size_t used = 2;

        if (i + 1 < n) {
            v |= (unsigned long)in[i + 1] << 8;
            used = 3;
        }
        quad[0] = chars[v >> 18 & 63];
        quad[1] = chars[v >> 12 & 63];
        quad[2] = used == 3 ? chars[v >> 6 & 63] : '=';
        quad[3] = '=';
        if (mt_buf_append(out, quad, pad ? 4 : used) != 0)
            return -1;
    }
    return 0;
}

/* Returns the 6-bit value of c, or -1 when c is not in the alphabet. */
static int
decode_char(unsigned char c, enum mt_base64_alphabet alphabet)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (alphabet == MT_BASE64_STD) {
        if (c == '+')
            return 62;
        if (c == '/')
            return 63;
    } else {
        if (c == '-')
            return 62;
        if (c == '_')
            return 63;
    }
    return -1;
}

int
mt_base64_decode(struct mt_buf *out, const char *s, size_t n,
                 enum mt_base64_alphabet alphabet)
{
    const unsigned char *in = (const unsigned char *)s;
    unsigned long acc = 0;
    size_t data_len = n, bits = 0, i;
    unsigned char byte;

    if (alphabet == MT_BASE64_STD) {
        if (n % 4 != 0)
            goto invalid;
        if (n > 0 && in[n - 1] == '=')
            data_len--;
        if (n > 1 && in[n - 2] == '=')
            data_len--;
    } else if (n % 4 == 1) {
        goto invalid;
    }

    for (i = 0; i < data_len; i++) {
        int v = decode_char(in[i], alphabet);

        if (v < 0)
            goto invalid;
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            byte = (unsigned char)(acc >> bits & 0xff);
            if (mt_buf_append_byte(out, byte) != 0)
                return -1;
        }
    }
    /* The bits left over must be zero (RFC 4648 section 3.5). */
    if ((acc & ((1UL << bits) - 1)) != 0)
        goto invalid;
    return 0;

invalid:
    errno = EINVAL;
    return -1;
}
