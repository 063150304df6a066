/*
 * Requests to the token endpoint (RFC 6749 section 5) and what comes
 * back: the tolerant reply parser and the translation of provider error
 * codes into messages that name the fix.
 */
#ifndef CORE_OAUTH_H
#define CORE_OAUTH_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "err.h"
#include "form.h"
#include "net.h"

/* The fields of a successful token reply. */
struct token_reply {
    char *access_token;
    char *refresh_token;     /* NULL when the reply has none (Google on refresh) */
    char *token_type;
    char *scope;
    char *id_token;
    long expires_in;         /* 0 when missing or not usable */
};

void token_reply_free(struct token_reply *r);

/*
 * Parses a token endpoint reply: JSON, or a form-encoded body. Tolerates
 * expires_in as a string, any case of token_type, and extra members.
 * A body with an "error" member is an error even with HTTP 200.
 * Returns 0, or -1 with err set (see oauth_reply_error).
 */
int oauth_parse_token_reply(const struct account *a, const char *what, long status,
                            const char *content_type, const char *body, size_t len,
                            struct token_reply *out, struct mt_err *err);

/*
 * Builds the error for a failed reply: the provider's code quoted and
 * translated into the fix, its trace and correlation ids, and the exit
 * code (75 for 429 and 5xx, 77 when the user must sign in again, 78 for
 * configuration problems, 76 for replies that make no sense). what names
 * the request, e.g. "refreshing the access token". Always returns -1.
 */
int oauth_reply_error(const struct account *a, const char *what, long status,
                      const char *content_type, const char *body, size_t len, long retry_after,
                      struct mt_err *err);

/*
 * Builds the error for an OAuth2 error code that came outside a token
 * reply, e.g. error= in the redirect after an authorization request:
 * the same translation as oauth_reply_error (AADSTS hints included),
 * without an HTTP status. description may be NULL. Always returns -1.
 */
int oauth_error_code(const struct account *a, const char *what, const char *error,
                     const char *description, struct mt_err *err);

/*
 * Posts form f to url with the account's client authentication added
 * (HTTP Basic or body, or client_id alone for a public client) and
 * parses the token reply. secret may be NULL. Writes the -v trace.
 * Returns 0, or -1 with err set.
 */
int oauth_token_request(const struct account *a, const char *what, const char *url,
                        struct form *f, const char *secret, struct token_reply *out,
                        struct mt_err *err);

/*
 * Posts form f to url with client authentication and returns the raw
 * reply in resp (free its body with mt_buf_free), for callers with their
 * own reply format (the device grant). Returns 0 or -1 with err set.
 */
int oauth_post(const struct account *a, const char *url, struct form *f, const char *secret,
               struct net_response *resp, struct mt_err *err);

/*
 * Reads the address of the signed-in user from an id_token's payload
 * (preferred_username, else email), without checking its signature: the
 * result is only shown to the user. Returns a new string or NULL.
 */
char *oauth_id_token_user(const char *id_token);

/* Writes a trace line describing a reply with secrets as fingerprints. */
void oauth_trace_reply(long status, const char *content_type, const char *body, size_t len);

#endif
