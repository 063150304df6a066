/* The client messages of XOAUTH2 and OAUTHBEARER and the server's error challenge. */
#include "message.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mt_base64.h"
#include "mt_wipe.h"

#define KVSEP '\x01'

const char *
message_check_token(const char *token, size_t len)
{
    if (token == NULL || len == 0)
        return "the access token is empty";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)token[i];

        if (c <= 0x20 || c >= 0x7f)
            return "the access token contains a space, a control character or a non-ASCII byte";
    }
    return NULL;
}

const char *
message_check_address(const char *address, size_t len)
{
    if (address == NULL || len == 0)
        return "the address is empty";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)address[i];

        if (c <= 0x20 || c == 0x7f)
            return "the address contains a space or a control character";
    }
    return NULL;
}

static int
is_b64token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

int
message_is_token_like(const char *s, size_t len)
{
    size_t i = 0;

    if (len < MESSAGE_TOKEN_LIKE_MIN)
        return 0;
    while (i < len && is_b64token_char((unsigned char)s[i]))
        i++;
    if (i == 0)
        return 0;
    while (i < len && s[i] == '=')
        i++;
    return i == len;
}

/* A host goes into OAUTHBEARER's host= only when it cannot break the framing. */
static int
host_usable(const char *host)
{
    if (host == NULL || host[0] == '\0')
        return 0;
    for (const unsigned char *c = (const unsigned char *)host; *c != '\0'; c++)
        if (*c <= 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

/* Appends a GS2 saslname (RFC 5801 section 4): ',' becomes =2C and '=' becomes =3D. */
static int
append_saslname(struct mt_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        int r;

        if (*s == ',')
            r = mt_buf_append_str(out, "=2C");
        else if (*s == '=')
            r = mt_buf_append_str(out, "=3D");
        else
            r = mt_buf_append_byte(out, (unsigned char)*s);
        if (r != 0)
            return -1;
    }
    return 0;
}

/* "user=" U ^A "auth=Bearer " T ^A ^A, from Google's and Microsoft's descriptions. */
static int
build_xoauth2(const struct message_params *p, struct mt_buf *out)
{
    if (mt_buf_append_str(out, "user=") != 0 || mt_buf_append_str(out, p->address) != 0 ||
        mt_buf_append_byte(out, KVSEP) != 0 || mt_buf_append_str(out, "auth=Bearer ") != 0 ||
        mt_buf_append(out, p->token, p->token_len) != 0 ||
        mt_buf_append(out, "\x01\x01", 2) != 0)
        return -1;
    return 0;
}

/*
 * "n," ["a=" saslname] "," ^A ["host=" H ^A] ["port=" P ^A] "auth=Bearer " T ^A ^A
 * (RFC 7628 section 3.1).
 */
static int
build_oauthbearer(const struct message_params *p, struct mt_buf *out)
{
    if (mt_buf_append_str(out, "n,") != 0)
        return -1;
    if (p->address != NULL && p->address[0] != '\0' &&
        (mt_buf_append_str(out, "a=") != 0 || append_saslname(out, p->address) != 0))
        return -1;
    if (mt_buf_append_byte(out, ',') != 0 || mt_buf_append_byte(out, KVSEP) != 0)
        return -1;
    if (host_usable(p->host) && mt_buf_printf(out, "host=%s\x01", p->host) != 0)
        return -1;
    if (p->port != 0 && mt_buf_printf(out, "port=%u\x01", p->port) != 0)
        return -1;
    if (mt_buf_append_str(out, "auth=Bearer ") != 0 ||
        mt_buf_append(out, p->token, p->token_len) != 0 ||
        mt_buf_append(out, "\x01\x01", 2) != 0)
        return -1;
    return 0;
}

int
message_build(const struct message_params *p, struct mt_buf *out, const char **error_r)
{
    const char *reason;
    size_t start = out->len;
    int r;

    reason = message_check_token(p->token, p->token_len);
    if (reason == NULL && p->mech == MESSAGE_XOAUTH2)
        reason = message_check_address(p->address, p->address != NULL ? strlen(p->address) : 0);
    if (reason == NULL && p->mech == MESSAGE_OAUTHBEARER && p->address != NULL &&
        p->address[0] != '\0')
        reason = message_check_address(p->address, strlen(p->address));
    if (reason != NULL) {
        *error_r = reason;
        errno = EINVAL;
        return -1;
    }

    r = p->mech == MESSAGE_XOAUTH2 ? build_xoauth2(p, out) : build_oauthbearer(p, out);
    if (r != 0) {
        int saved = errno;

        /* Take back a partial message; it may hold part of the token. */
        if (out->data != NULL) {
            mt_wipe(out->data + start, out->len - start);
            out->len = start;
            out->data[start] = '\0';
        }
        errno = saved;
        *error_r = saved == ENOSPC ? "the message would be too long" : "out of memory";
        return -1;
    }
    return 0;
}

size_t
message_smtp_auth_line_len(const char *mech, size_t raw_len)
{
    /* "AUTH " mech " " base64 CRLF */
    return 5 + strlen(mech) + 1 + mt_base64_encoded_len(raw_len, MT_BASE64_STD) + 2;
}

unsigned
message_port_from_ipport(const char *ipport)
{
    const char *sep, *p;
    unsigned long port = 0;

    if (ipport == NULL)
        return 0;
    sep = strrchr(ipport, ';');
    if (sep == NULL || sep[1] == '\0')
        return 0;
    for (p = sep + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535)
            return 0;
    }
    return (unsigned)port;
}

/* Appends byte c to out[*pos], escaped, keeping room for "..." and the NUL. */
static int
escape_byte(unsigned char c, char *out, size_t size, size_t *pos)
{
    char tmp[5];
    size_t n;

    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
        tmp[0] = (char)c;
        n = 1;
    } else {
        snprintf(tmp, sizeof(tmp), "\\x%02x", c);
        n = 4;
    }
    if (*pos + n + 4 > size)
        return -1;
    memcpy(out + *pos, tmp, n);
    *pos += n;
    return 0;
}

void
message_escape(const char *in, size_t len, char *out, size_t size)
{
    size_t pos = 0;

    for (size_t i = 0; i < len; i++) {
        if (escape_byte((unsigned char)in[i], out, size, &pos) != 0) {
            memcpy(out + pos, "...", 3);
            pos += 3;
            break;
        }
    }
    out[pos] = '\0';
}

/* Copies an escaped value, cutting it with "..." when it does not fit. */
static void
copy_cut(char *out, size_t size, const char *value)
{
    size_t n = strlen(value);

    if (n < size) {
        memcpy(out, value, n + 1);
        return;
    }
    memcpy(out, value, size - 4);
    memcpy(out + size - 4, "...", 4);
}

/* A cursor over the challenge: reads stop at end. */
struct json_cursor {
    const char *p;
    const char *end;
};

static void
json_skip_space(struct json_cursor *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
        j->p++;
}

static int
json_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Reads a JSON string at the cursor into out (escaped for logs; cut when
 * long). \uXXXX escapes outside ASCII become '?'. Returns 0 or -1.
 */
static int
json_read_string(struct json_cursor *j, char *out, size_t size)
{
    size_t pos = 0;
    int cut = 0;

    if (j->p >= j->end || *j->p != '"')
        return -1;
    j->p++;
    for (;;) {
        unsigned char c;

        if (j->p >= j->end)
            return -1;
        c = (unsigned char)*j->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (j->p >= j->end)
                return -1;
            c = (unsigned char)*j->p++;
            switch (c) {
            case '"': case '\\': case '/':
                break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                int v = 0;

                if (j->end - j->p < 4)
                    return -1;
                for (int k = 0; k < 4; k++) {
                    int h = json_hex(j->p[k]);

                    if (h < 0)
                        return -1;
                    v = v * 16 + h;
                }
                j->p += 4;
                c = v < 0x80 ? (unsigned char)v : '?';
                break;
            }
            default:
                return -1;
            }
        }
        if (!cut && escape_byte(c, out, size, &pos) != 0) {
            memcpy(out + pos, "...", 3);
            pos += 3;
            cut = 1;
        }
    }
    out[pos] = '\0';
    return 0;
}

/* Reads a number, true, false or null as its text. */
static int
json_read_literal(struct json_cursor *j, char *out, size_t size)
{
    const char *start = j->p;

    while (j->p < j->end &&
           ((*j->p >= '0' && *j->p <= '9') || (*j->p >= 'a' && *j->p <= 'z') ||
            *j->p == '-' || *j->p == '+' || *j->p == '.' || *j->p == 'E'))
        j->p++;
    if (j->p == start)
        return -1;
    message_escape(start, (size_t)(j->p - start), out, size);
    return 0;
}

/*
 * Parses a flat JSON object (string, number and literal values only, as
 * every known server sends) and keeps "status" and "scope".
 */
static int
json_read_error_object(const char *in, size_t len, struct message_challenge *c)
{
    struct json_cursor j = {.p = in, .end = in + len};
    char key[32], value[256];

    json_skip_space(&j);
    if (j.p >= j.end || *j.p++ != '{')
        return -1;
    json_skip_space(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            json_skip_space(&j);
            if (json_read_string(&j, key, sizeof(key)) != 0)
                return -1;
            json_skip_space(&j);
            if (j.p >= j.end || *j.p++ != ':')
                return -1;
            json_skip_space(&j);
            if (j.p < j.end && *j.p == '"') {
                if (json_read_string(&j, value, sizeof(value)) != 0)
                    return -1;
            } else if (json_read_literal(&j, value, sizeof(value)) != 0) {
                return -1;
            }
            if (strcmp(key, "status") == 0)
                copy_cut(c->status, sizeof(c->status), value);
            else if (strcmp(key, "scope") == 0)
                copy_cut(c->scope, sizeof(c->scope), value);
            json_skip_space(&j);
            if (j.p >= j.end)
                return -1;
            if (*j.p == ',') {
                j.p++;
                continue;
            }
            if (*j.p++ != '}')
                return -1;
            break;
        }
    }
    json_skip_space(&j);
    return j.p == j.end ? 0 : -1;
}

void
message_read_challenge(const char *in, size_t len, struct message_challenge *c)
{
    memset(c, 0, sizeof(*c));
    if (json_read_error_object(in, len, c) == 0) {
        c->is_json = 1;
        return;
    }
    c->status[0] = '\0';
    c->scope[0] = '\0';
    message_escape(in, len, c->text, sizeof(c->text));
}
