/* The validity period of an X.509 certificate, without OpenSSL. */
#include "certinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt_base64.h"
#include "mt_buf.h"

#define PEM_MAX (64 * 1024)
#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

#define TAG_INTEGER 0x02
#define TAG_UTC_TIME 0x17
#define TAG_GENERALIZED_TIME 0x18
#define TAG_SEQUENCE 0x30
#define TAG_VERSION 0xa0   /* [0] EXPLICIT, constructed */

/* One DER element: its tag and its contents. */
struct tlv {
    unsigned char tag;
    const unsigned char *value;
    size_t len;
};

/*
 * Reads the element at *p (single-byte tag, definite length of at most
 * four bytes, as DER has) and moves *p past it. Returns 0, or -1 when it
 * does not fit before end.
 */
static int
read_tlv(const unsigned char **p, const unsigned char *end, struct tlv *t)
{
    const unsigned char *q = *p;
    size_t len = 0;

    if (end - q < 2)
        return -1;
    t->tag = *q++;
    if (*q < 0x80) {
        len = *q++;
    } else {
        size_t n = *q++ & 0x7f;

        if (n == 0 || n > 4 || (size_t)(end - q) < n)
            return -1;
        while (n-- > 0)
            len = (len << 8) | *q++;
    }
    if ((size_t)(end - q) < len)
        return -1;
    t->value = q;
    t->len = len;
    *p = q + len;
    return 0;
}

/* Reads n decimal digits at s. Returns the number, or -1. */
static int
digits(const unsigned char *s, size_t n)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Converts a UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as DER writes them. */
static int
parse_time(const struct tlv *t, time_t *out)
{
    const unsigned char *s = t->value;
    struct tm tm, check;
    int year;

    if (t->tag == TAG_UTC_TIME && t->len == 13) {
        year = digits(s, 2);
        if (year < 0)
            return -1;
        /* RFC 5280 section 4.1.2.5.1: YY of 50 or more is 19YY, else 20YY. */
        year += year >= 50 ? 1900 : 2000;
        s += 2;
    } else if (t->tag == TAG_GENERALIZED_TIME && t->len == 15) {
        year = digits(s, 4);
        if (year < 0)
            return -1;
        s += 4;
    } else {
        return -1;
    }
    if (s[10] != 'Z')
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = digits(s, 2) - 1;
    tm.tm_mday = digits(s + 2, 2);
    tm.tm_hour = digits(s + 4, 2);
    tm.tm_min = digits(s + 6, 2);
    tm.tm_sec = digits(s + 8, 2);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
        tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
        return -1;
    *out = timegm(&tm);
    /* timegm moves 31 April to 1 May: such a date is not valid. */
    gmtime_r(out, &check);
    if (check.tm_mday != tm.tm_mday)
        return -1;
    return 0;
}

int
certinfo_der_validity(const unsigned char *der, size_t len, struct cert_validity *out)
{
    const unsigned char *p = der, *end = der + len;
    struct tlv cert, tbs, field, validity, not_before, not_after;

    if (read_tlv(&p, end, &cert) != 0 || cert.tag != TAG_SEQUENCE)
        return -1;
    p = cert.value;
    end = cert.value + cert.len;
    if (read_tlv(&p, end, &tbs) != 0 || tbs.tag != TAG_SEQUENCE)
        return -1;
    p = tbs.value;
    end = tbs.value + tbs.len;

    /* [0] version (optional), serialNumber, signature, issuer, then validity. */
    if (read_tlv(&p, end, &field) != 0)
        return -1;
    if (field.tag == TAG_VERSION && read_tlv(&p, end, &field) != 0)
        return -1;
    if (field.tag != TAG_INTEGER)
        return -1;
    if (read_tlv(&p, end, &field) != 0 || field.tag != TAG_SEQUENCE ||
        read_tlv(&p, end, &field) != 0 || field.tag != TAG_SEQUENCE ||
        read_tlv(&p, end, &validity) != 0 || validity.tag != TAG_SEQUENCE)
        return -1;

    p = validity.value;
    end = validity.value + validity.len;
    if (read_tlv(&p, end, &not_before) != 0 || read_tlv(&p, end, &not_after) != 0 || p != end)
        return -1;
    if (parse_time(&not_before, &out->not_before) != 0 ||
        parse_time(&not_after, &out->not_after) != 0)
        return -1;
    return 0;
}

/* Reads the whole file into buf. Returns 0 or -1 with err set. */
static int
read_file(const char *path, struct mt_buf *buf, struct mt_err *err)
{
    struct stat sb;
    char chunk[4096];
    ssize_t n;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return err_set(err, EX_CONFIG, "cannot open client_certificate %s: %s", path,
                       strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        err_set(err, EX_CONFIG, "client_certificate %s is not a regular file", path);
        goto done;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || mt_buf_append(buf, chunk, (size_t)n) != 0) {
            err_set(err, EX_CONFIG, "cannot read client_certificate %s: %s", path,
                    n < 0 ? strerror(errno) : "larger than 64 KiB");
            goto done;
        }
    }
    rc = 0;
done:
    close(fd);
    return rc;
}

int
certinfo_pem_validity(const char *path, struct cert_validity *out, struct mt_err *err)
{
    struct mt_buf pem, b64, der;
    const char *begin, *end;
    int rc = -1;

    mt_buf_init(&pem, PEM_MAX);
    mt_buf_init(&b64, PEM_MAX);
    mt_buf_init(&der, PEM_MAX);
    if (read_file(path, &pem, err) != 0)
        goto done;
    begin = strstr(mt_buf_str(&pem), PEM_BEGIN);
    end = begin != NULL ? strstr(begin, PEM_END) : NULL;
    if (end == NULL) {
        err_set(err, EX_CONFIG, "client_certificate %s holds no PEM certificate (%s)", path,
                PEM_BEGIN);
        goto done;
    }
    for (const char *c = begin + strlen(PEM_BEGIN); c < end; c++)
        if (*c != '\n' && *c != '\r' && *c != ' ' && *c != '\t')
            mt_buf_append_byte(&b64, (unsigned char)*c);
    if (mt_base64_decode(&der, mt_buf_str(&b64), b64.len, MT_BASE64_STD) != 0 || der.len == 0 ||
        certinfo_der_validity((const unsigned char *)der.data, der.len, out) != 0) {
        err_set(err, EX_CONFIG, "client_certificate %s: the certificate cannot be read (not "
                "DER inside the PEM)", path);
        goto done;
    }
    rc = 0;
done:
    mt_buf_free(&pem);
    mt_buf_free(&b64);
    mt_buf_free(&der);
    return rc;
}
