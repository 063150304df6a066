/* application/x-www-form-urlencoded bodies and query strings. */
#include "form.h"

#include <errno.h>
#include <string.h>

#include "mt_sha256.h"

void
form_init(struct form *f)
{
    f->n = 0;
}

int
form_add(struct form *f, const char *key, const char *value, int secret)
{
    if (value == NULL)
        return 0;
    if (f->n == FORM_MAX_FIELDS) {
        errno = ENOSPC;
        return -1;
    }
    f->fields[f->n].key = key;
    f->fields[f->n].value = value;
    f->fields[f->n].secret = secret;
    f->n++;
    return 0;
}

static int
unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static int
escape(struct mt_buf *out, const char *s, int space_as_plus)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        int r;

        if (unreserved(*p)) {
            r = mt_buf_append_byte(out, *p);
        } else if (*p == ' ' && space_as_plus) {
            r = mt_buf_append_byte(out, '+');
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            r = mt_buf_append(out, esc, 3);
        }
        if (r != 0)
            return -1;
    }
    return 0;
}

int
form_escape(struct mt_buf *out, const char *s)
{
    return escape(out, s, 1);
}

int
url_escape(struct mt_buf *out, const char *s)
{
    return escape(out, s, 0);
}

int
form_encode(const struct form *f, struct mt_buf *out)
{
    for (size_t i = 0; i < f->n; i++) {
        if (i > 0 && mt_buf_append_byte(out, '&') != 0)
            return -1;
        if (form_escape(out, f->fields[i].key) != 0 || mt_buf_append_byte(out, '=') != 0 ||
            form_escape(out, f->fields[i].value) != 0)
            return -1;
    }
    return 0;
}

int
form_describe(const struct form *f, struct mt_buf *out)
{
    for (size_t i = 0; i < f->n; i++) {
        char fp[MT_FINGERPRINT_SIZE];
        const char *shown = f->fields[i].value;

        if (f->fields[i].secret) {
            mt_fingerprint_str(f->fields[i].value, fp);
            shown = fp;
        }
        if (mt_buf_printf(out, "%s%s=%s", i > 0 ? " " : "", f->fields[i].key, shown) != 0)
            return -1;
    }
    return 0;
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
form_unescape(struct mt_buf *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;

            if (i + 2 >= n)
                return -1;
            hi = hex_value(s[i + 1]);
            lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0' || mt_buf_append_byte(out, c) != 0)
            return -1;
    }
    return 0;
}

int
form_lookup(const char *query, const char *key, struct mt_buf *out)
{
    size_t key_len = strlen(key);
    const char *p = query;
    int found = 0;

    while (*p != '\0') {
        const char *end = strchr(p, '&');
        const char *eq;
        size_t n;

        if (end == NULL)
            end = p + strlen(p);
        n = (size_t)(end - p);
        eq = memchr(p, '=', n);
        if (eq != NULL && (size_t)(eq - p) == key_len && memcmp(p, key, key_len) == 0) {
            if (found)
                return -1;
            found = 1;
            if (form_unescape(out, eq + 1, (size_t)(end - eq - 1)) != 0)
                return -1;
        } else if (eq == NULL && n == key_len && memcmp(p, key, key_len) == 0) {
            if (found)
                return -1;
            found = 1;
        }
        p = *end == '&' ? end + 1 : end;
    }
    return found;
}
