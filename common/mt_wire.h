/*
 * The messages between the SASL plugin and the helper: one request line,
 * one reply of "key value" lines ending in an empty line. The daemon
 * speaks them on its Unix socket, and "mailtoken request" prints the same
 * replies on stdout. docs/PROTOCOL.md describes the format.
 */
#ifndef MT_WIRE_H
#define MT_WIRE_H

#include <stddef.h>

#include "mt_buf.h"
#include "mt_sha256.h"

#define MT_WIRE_VERSION "MAILTOKEN/1"
#define MT_WIRE_MAX_REQUEST 1024      /* bytes, the final LF included */
#define MT_WIRE_MAX_REPLY 65536       /* bytes, the final empty line included */
#define MT_WIRE_MAX_FIELDS 64
#define MT_WIRE_MAX_ACCOUNT 255
#define MT_WIRE_MAX_KIND 31

enum mt_wire_verb {
    MT_WIRE_TOKEN = 1,   /* an access token and the address for SASL */
    MT_WIRE_REJECTED,    /* the server rejected this token: refresh next time */
    MT_WIRE_STATUS       /* the state of one account or all */
};

struct mt_wire_request {
    enum mt_wire_verb verb;
    char account[MT_WIRE_MAX_ACCOUNT + 1];   /* empty: STATUS of every account */
    char fingerprint[MT_FINGERPRINT_SIZE];   /* REJECTED: the token's fingerprint */
};

/* Error kinds of an ERR reply. The exit code travels beside the kind. */
#define MT_WIRE_UNKNOWN_ACCOUNT "unknown-account"
#define MT_WIRE_UNAUTHORIZED "unauthorized"
#define MT_WIRE_TEMPORARY "temporary"
#define MT_WIRE_CONFIG "config"
#define MT_WIRE_DENIED "denied"
#define MT_WIRE_BAD_REQUEST "bad-request"
#define MT_WIRE_PROTOCOL "protocol"
#define MT_WIRE_STORE "store"
#define MT_WIRE_INTERNAL "internal"

struct mt_wire_field {
    const char *key;
    const char *value;
};

struct mt_wire_reply {
    int ok;                              /* 1 for OK, 0 for ERR */
    int code;                            /* ERR: a sysexits.h exit code */
    char kind[MT_WIRE_MAX_KIND + 1];     /* ERR: one of MT_WIRE_* above */
    size_t nfields;
    struct mt_wire_field fields[MT_WIRE_MAX_FIELDS];
    char *storage;                       /* private copy the fields point into */
    size_t storage_size;
};

/*
 * Returns 1 when the n bytes at s can name an account: 1 to
 * MT_WIRE_MAX_ACCOUNT bytes, none of them a space, a control character
 * or DEL. Bytes above 0x7f are allowed for internationalised addresses.
 */
int mt_wire_account_valid(const char *s, size_t n);

/*
 * Parses one request line of len bytes, without its LF. Returns 0, or -1
 * with *error_r set to a static English description.
 */
int mt_wire_parse_request(const char *line, size_t len,
                          struct mt_wire_request *req, const char **error_r);

/* Appends the request line with its LF. Returns 0 or -1 (errno). */
int mt_wire_format_request(const struct mt_wire_request *req, struct mt_buf *out);

/*
 * Returns 1 when the len bytes at data hold a whole reply (they end with
 * the empty line), 0 when more must be read.
 */
int mt_wire_reply_complete(const char *data, size_t len);

/*
 * Parses a whole reply into r, which must be cleared with
 * mt_wire_reply_clear afterwards, even after a failure. Returns 0, or -1
 * with *error_r set to a static English description.
 */
int mt_wire_parse_reply(const char *data, size_t len, struct mt_wire_reply *r,
                        const char **error_r);

/* Returns the value of the first field named key, or NULL. */
const char *mt_wire_reply_get(const struct mt_wire_reply *r, const char *key);

/* Wipes and frees what mt_wire_parse_reply allocated. */
void mt_wire_reply_clear(struct mt_wire_reply *r);

/*
 * Reply builders: mt_wire_begin_ok or mt_wire_begin_err, then fields, then
 * mt_wire_end. Keys are lowercase letters and '-'. A value with a CR, LF
 * or NUL is rejected by mt_wire_add_field (EINVAL); mt_wire_add_text
 * replaces control characters with '?' instead, for messages.
 * All return 0 or -1 (errno).
 */
int mt_wire_begin_ok(struct mt_buf *out);
int mt_wire_begin_err(struct mt_buf *out, int code, const char *kind);
int mt_wire_add_field(struct mt_buf *out, const char *key, const char *value);
int mt_wire_add_text(struct mt_buf *out, const char *key, const char *text);
int mt_wire_end(struct mt_buf *out);

#endif
