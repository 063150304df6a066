/* The messages between the SASL plugin and the helper. */
#include "mt_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mt_wipe.h"

#define VERSION_LEN (sizeof(MT_WIRE_VERSION) - 1)

int
mt_wire_account_valid(const char *s, size_t n)
{
    if (n == 0 || n > MT_WIRE_MAX_ACCOUNT)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Splits off the next space-separated word of line[*pos..len). */
static int
next_word(const char *line, size_t len, size_t *pos, const char **word, size_t *word_len)
{
    size_t start = *pos, end = start;

    if (start >= len)
        return 0;
    while (end < len && line[end] != ' ')
        end++;
    *word = line + start;
    *word_len = end - start;
    *pos = end < len ? end + 1 : end;
    return 1;
}

static int
word_is(const char *word, size_t n, const char *literal)
{
    return n == strlen(literal) && memcmp(word, literal, n) == 0;
}

static int
fingerprint_valid(const char *s, size_t n)
{
    if (n != MT_FINGERPRINT_SIZE - 1 || memcmp(s, "sha256:", 7) != 0)
        return 0;
    for (size_t i = 7; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int
mt_wire_parse_request(const char *line, size_t len, struct mt_wire_request *req,
                      const char **error_r)
{
    const char *word;
    size_t pos = 0, n;

    memset(req, 0, sizeof(*req));
    if (len >= MT_WIRE_MAX_REQUEST) {
        *error_r = "request line too long";
        return -1;
    }
    if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL) {
        *error_r = "request line contains a NUL or CR byte";
        return -1;
    }
    if (!next_word(line, len, &pos, &word, &n) || !word_is(word, n, MT_WIRE_VERSION)) {
        *error_r = "request does not start with " MT_WIRE_VERSION;
        return -1;
    }
    if (!next_word(line, len, &pos, &word, &n)) {
        *error_r = "request names no command";
        return -1;
    }
    if (word_is(word, n, "TOKEN"))
        req->verb = MT_WIRE_TOKEN;
    else if (word_is(word, n, "REJECTED"))
        req->verb = MT_WIRE_REJECTED;
    else if (word_is(word, n, "STATUS"))
        req->verb = MT_WIRE_STATUS;
    else {
        *error_r = "unknown command (expected TOKEN, REJECTED or STATUS)";
        return -1;
    }

    if (next_word(line, len, &pos, &word, &n)) {
        if (!mt_wire_account_valid(word, n)) {
            *error_r = "invalid account name";
            return -1;
        }
        memcpy(req->account, word, n);
        req->account[n] = '\0';
    } else if (req->verb != MT_WIRE_STATUS) {
        *error_r = "request names no account";
        return -1;
    }

    if (req->verb == MT_WIRE_REJECTED) {
        if (!next_word(line, len, &pos, &word, &n) || !fingerprint_valid(word, n)) {
            *error_r = "REJECTED needs the token's fingerprint (sha256: and 12 hex digits)";
            return -1;
        }
        memcpy(req->fingerprint, word, n);
        req->fingerprint[n] = '\0';
    }
    if (pos < len || (len > 0 && line[len - 1] == ' ')) {
        *error_r = "unexpected words at the end of the request";
        return -1;
    }
    return 0;
}

int
mt_wire_format_request(const struct mt_wire_request *req, struct mt_buf *out)
{
    const char *verb;

    switch (req->verb) {
    case MT_WIRE_TOKEN:
        verb = "TOKEN";
        break;
    case MT_WIRE_REJECTED:
        verb = "REJECTED";
        break;
    case MT_WIRE_STATUS:
        verb = "STATUS";
        break;
    default:
        errno = EINVAL;
        return -1;
    }
    if ((req->account[0] != '\0' &&
         !mt_wire_account_valid(req->account, strlen(req->account))) ||
        (req->account[0] == '\0' && req->verb != MT_WIRE_STATUS)) {
        errno = EINVAL;
        return -1;
    }
    if (mt_buf_printf(out, "%s %s", MT_WIRE_VERSION, verb) != 0)
        return -1;
    if (req->account[0] != '\0' && mt_buf_printf(out, " %s", req->account) != 0)
        return -1;
    if (req->verb == MT_WIRE_REJECTED) {
        if (!fingerprint_valid(req->fingerprint, strlen(req->fingerprint))) {
            errno = EINVAL;
            return -1;
        }
        if (mt_buf_printf(out, " %s", req->fingerprint) != 0)
            return -1;
    }
    return mt_buf_append_byte(out, '\n');
}

int
mt_wire_reply_complete(const char *data, size_t len)
{
    if (len >= 2 && data[len - 1] == '\n' && data[len - 2] == '\n')
        return 1;
    return 0;
}

static int
key_valid(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
            return 0;
    return 1;
}

/* Parses the first line: "MAILTOKEN/1 OK" or "MAILTOKEN/1 ERR <code> <kind>". */
static int
parse_status_line(const char *line, size_t len, struct mt_wire_reply *r, const char **error_r)
{
    const char *word;
    size_t pos = 0, n;
    char digits[4], *end;
    long code;

    if (!next_word(line, len, &pos, &word, &n) || !word_is(word, n, MT_WIRE_VERSION) ||
        !next_word(line, len, &pos, &word, &n)) {
        *error_r = "reply does not start with " MT_WIRE_VERSION " OK or ERR";
        return -1;
    }
    if (word_is(word, n, "OK") && pos == len) {
        r->ok = 1;
        return 0;
    }
    if (!word_is(word, n, "ERR") || !next_word(line, len, &pos, &word, &n) ||
        n == 0 || n > 3) {
        *error_r = "reply does not start with " MT_WIRE_VERSION " OK or ERR";
        return -1;
    }
    memcpy(digits, word, n);
    digits[n] = '\0';
    code = strtol(digits, &end, 10);
    if (digits[0] < '1' || digits[0] > '9' || *end != '\0' || code > 125) {
        *error_r = "ERR reply has an invalid exit code";
        return -1;
    }
    if (!next_word(line, len, &pos, &word, &n) || n == 0 || n > MT_WIRE_MAX_KIND ||
        pos != len || !key_valid(word, n)) {
        *error_r = "ERR reply has an invalid error kind";
        return -1;
    }
    r->ok = 0;
    r->code = (int)code;
    memcpy(r->kind, word, n);
    r->kind[n] = '\0';
    return 0;
}

int
mt_wire_parse_reply(const char *data, size_t len, struct mt_wire_reply *r,
                    const char **error_r)
{
    char *p, *line_end;
    size_t remaining;

    memset(r, 0, sizeof(*r));
    if (len > MT_WIRE_MAX_REPLY) {
        *error_r = "reply too long";
        return -1;
    }
    if (!mt_wire_reply_complete(data, len)) {
        *error_r = "reply is incomplete (no empty line at its end)";
        return -1;
    }
    if (memchr(data, '\0', len) != NULL || memchr(data, '\r', len) != NULL) {
        *error_r = "reply contains a NUL or CR byte";
        return -1;
    }
    r->storage = malloc(len);
    if (r->storage == NULL) {
        *error_r = "out of memory";
        return -1;
    }
    r->storage_size = len;
    memcpy(r->storage, data, len);

    p = r->storage;
    remaining = len;
    line_end = memchr(p, '\n', remaining);
    *line_end = '\0';
    if (parse_status_line(p, (size_t)(line_end - p), r, error_r) != 0)
        return -1;
    remaining -= (size_t)(line_end - p) + 1;
    p = line_end + 1;

    /* Field lines up to the empty line, which is the last line. */
    while (remaining > 1) {
        char *space;

        line_end = memchr(p, '\n', remaining);
        if (line_end == p) {
            *error_r = "reply has data after its empty line";
            return -1;
        }
        *line_end = '\0';
        space = strchr(p, ' ');
        if (space == NULL || !key_valid(p, (size_t)(space - p))) {
            *error_r = "reply has a line that is not \"key value\"";
            return -1;
        }
        if (r->nfields == MT_WIRE_MAX_FIELDS) {
            *error_r = "reply has too many fields";
            return -1;
        }
        *space = '\0';
        r->fields[r->nfields].key = p;
        r->fields[r->nfields].value = space + 1;
        r->nfields++;
        remaining -= (size_t)(line_end - p) + 1;
        p = line_end + 1;
    }
    return 0;
}

const char *
mt_wire_reply_get(const struct mt_wire_reply *r, const char *key)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp(r->fields[i].key, key) == 0)
            return r->fields[i].value;
    return NULL;
}

void
mt_wire_reply_clear(struct mt_wire_reply *r)
{
    mt_freezero(r->storage, r->storage_size);
    memset(r, 0, sizeof(*r));
}

int
mt_wire_begin_ok(struct mt_buf *out)
{
    return mt_buf_append_str(out, MT_WIRE_VERSION " OK\n");
}

int
mt_wire_begin_err(struct mt_buf *out, int code, const char *kind)
{
    if (code < 1 || code > 125 || !key_valid(kind, strlen(kind))) {
        errno = EINVAL;
        return -1;
    }
    return mt_buf_printf(out, "%s ERR %d %s\n", MT_WIRE_VERSION, code, kind);
}

int
mt_wire_add_field(struct mt_buf *out, const char *key, const char *value)
{
    if (!key_valid(key, strlen(key)) || strpbrk(value, "\r\n") != NULL) {
        errno = EINVAL;
        return -1;
    }
    return mt_buf_printf(out, "%s %s\n", key, value);
}

int
mt_wire_add_text(struct mt_buf *out, const char *key, const char *text)
{
    if (!key_valid(key, strlen(key))) {
        errno = EINVAL;
        return -1;
    }
    if (mt_buf_printf(out, "%s ", key) != 0)
        return -1;
    for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; c++)
        if (mt_buf_append_byte(out, *c < 0x20 || *c == 0x7f ? '?' : *c) != 0)
            return -1;
    return mt_buf_append_byte(out, '\n');
}

int
mt_wire_end(struct mt_buf *out)
{
    return mt_buf_append_byte(out, '\n');
}
