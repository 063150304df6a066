/*
 * The client messages of XOAUTH2 and OAUTHBEARER (RFC 7628), the checks
 * their inputs must pass, and the reading of a server's error challenge.
 * No SASL library types here, so that the unit tests can call every
 * function directly.
 */
#ifndef PLUGIN_MESSAGE_H
#define PLUGIN_MESSAGE_H

#include <stddef.h>

#include "mt_buf.h"

enum message_mech {
    MESSAGE_XOAUTH2,
    MESSAGE_OAUTHBEARER
};

/* Largest client message: the largest token a helper reply can carry plus room for the rest. */
#define MESSAGE_MAX (65536 + 4096)

/*
 * Shortest password that is taken for an access token when no account
 * matches. Google's app passwords are 16 characters (support.google.com
 * /mail/answer/185833), and none of them must go out as a bearer token.
 * The sample access tokens in Google's and Microsoft's XOAUTH2 documents
 * have 46 and 40 characters.
 */
#define MESSAGE_TOKEN_LIKE_MIN 20

struct message_params {
    enum message_mech mech;
    const char *address;    /* XOAUTH2 user=, OAUTHBEARER a=; NULL or "" for none */
    const char *host;       /* OAUTHBEARER host=; NULL to leave out */
    unsigned port;          /* OAUTHBEARER port=; 0 to leave out */
    const char *token;
    size_t token_len;
};

/*
 * Checks an access token: not empty, and only printable ASCII without a
 * space. That rejects every byte that could break the message framing
 * (0x01, CR, LF, NUL, space, DEL) and is wider than RFC 6750's b64token.
 * Returns NULL when valid, else a static English reason.
 */
const char *message_check_token(const char *token, size_t len);

/*
 * Checks an address for user= or a=: not empty, no control character,
 * space or DEL. Bytes above 0x7f pass (UTF-8 addresses).
 * Returns NULL when valid, else a static English reason.
 */
const char *message_check_address(const char *address, size_t len);

/*
 * Returns 1 when the len bytes at s have the syntax of an RFC 6750
 * b64token (ALPHA DIGIT - . _ ~ + / followed by '=' padding only) and at
 * least MESSAGE_TOKEN_LIKE_MIN characters, else 0.
 */
int message_is_token_like(const char *s, size_t len);

/*
 * Appends the client's first message to out. Checks the token and the
 * address first and appends nothing when either is invalid. A host with
 * a character that is invalid in the message is left out.
 * Returns 0, or -1 with *error_r set to a static English reason
 * (errno EINVAL for invalid input, ENOSPC or ENOMEM from out).
 */
int message_build(const struct message_params *p, struct mt_buf *out, const char **error_r);

/*
 * Returns the length of the SMTP command "AUTH <mech> <base64 of
 * raw_len bytes>" with its CRLF. RFC 4954 forbids the initial response
 * on the AUTH line when this exceeds 512 (RFC 5321 section 4.5.3.1.4).
 */
size_t message_smtp_auth_line_len(const char *mech, size_t raw_len);

#define MESSAGE_SMTP_LINE_MAX 512

/*
 * Returns the port of a Cyrus "address;port" string (as given to
 * sasl_client_new or SASL_IPREMOTEPORT), or 0 when there is none or it is
 * not a decimal number from 1 to 65535.
 */
unsigned message_port_from_ipport(const char *ipport);

/* The fields of a server's error challenge, escaped for logs. */
struct message_challenge {
    int is_json;          /* 1 when the challenge was a flat JSON object */
    char status[64];      /* "status" value, escaped; "" when absent */
    char scope[256];      /* "scope" value, escaped; "" when absent */
    char text[256];       /* the whole challenge, escaped, when not JSON */
};

/*
 * Reads the len bytes at in (not NUL-terminated, never read beyond len)
 * as the JSON object of an OAUTHBEARER or XOAUTH2 error challenge.
 * Control characters, backslashes, quotes and bytes above 0x7e are
 * written as \xHH, and long values are cut with "...", so that every
 * field is safe to log.
 */
void message_read_challenge(const char *in, size_t len, struct message_challenge *c);

/*
 * Writes the len bytes at in into out (size bytes, size > 4) as
 * printable ASCII, escaping as message_read_challenge does.
 */
void message_escape(const char *in, size_t len, char *out, size_t size);

#endif
