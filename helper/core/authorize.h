/*
 * The authorization code grant with PKCE (RFC 6749 section 4.1, RFC 7636):
 * the authorization URL, the checks on what the browser brings back to
 * the redirect URI, and the exchange of the code at the token endpoint.
 * The loopback listener is in listener.h, the device grant in device.h.
 */
#ifndef CORE_AUTHORIZE_H
#define CORE_AUTHORIZE_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "mt_buf.h"
#include "oauth.h"

/* RFC 7636 section 4.1: a verifier has 43 to 128 characters. */
#define PKCE_VERIFIER_MIN 43
#define PKCE_VERIFIER_MAX 128
/* 32 bytes of SHA-256 are 43 base64url characters; one more for the NUL. */
#define PKCE_CHALLENGE_SIZE 44
/* state: 32 random bytes (256 bits) as 43 base64url characters, and the NUL. */
#define AUTHORIZE_STATE_SIZE 44
#define AUTHORIZE_REDIRECT_URI_MAX 512
/* Maximum length of an authorization code from a redirect. */
#define AUTHORIZE_CODE_MAX 4096

struct pkce {
    char verifier[PKCE_VERIFIER_MAX + 1];
    char challenge[PKCE_CHALLENGE_SIZE];
};

/*
 * Fills p with a new verifier (32 random bytes as base64url, 43
 * characters) and its S256 challenge. Returns 0, or -1 with errno set
 * when the kernel gives no random bytes.
 */
int pkce_generate(struct pkce *p);

/*
 * Writes the S256 challenge of verifier: BASE64URL(SHA-256(verifier))
 * without padding. Returns 0, or -1 when the verifier breaks the RFC 7636
 * grammar (length 43 to 128, characters A-Z a-z 0-9 - . _ ~).
 */
int pkce_challenge_s256(const char *verifier, char challenge[PKCE_CHALLENGE_SIZE]);

/* One authorization attempt: what the URL carries and the reply must match. */
struct authorize_request {
    const struct account *account;
    char redirect_uri[AUTHORIZE_REDIRECT_URI_MAX];
    char state[AUTHORIZE_STATE_SIZE];
    char nonce[AUTHORIZE_STATE_SIZE];   /* sent when scope has openid */
    struct pkce pkce;
};

/*
 * Prepares an attempt for account a with a new state and PKCE pair.
 * redirect_uri is the exact string that both the authorization request
 * and the token request carry. Returns 0, or -1 with err set: EX_CONFIG
 * when the account has no authorization or token endpoint, EX_OSERR when
 * no random bytes are available. Wipe r with authorize_request_wipe.
 */
int authorize_request_init(struct authorize_request *r, const struct account *a,
                           const char *redirect_uri, struct mt_err *err);

/* Wipes the state and the verifier. */
void authorize_request_wipe(struct authorize_request *r);

/*
 * Appends the authorization URL to out: the account's
 * authorization_endpoint with response_type=code, client_id,
 * redirect_uri, scope, state, code_challenge, code_challenge_method=S256,
 * nonce when scope has openid (OpenID Connect servers such as glewlwyd
 * require it), login_hint (the account's user, when set) and the extra
 * parameters (Google: access_type=offline&prompt=consent). Returns 0, or
 * -1 with err set (EX_CONFIG when the URL passes out's limit).
 */
int authorize_build_url(const struct authorize_request *r, struct mt_buf *out,
                        struct mt_err *err);

/*
 * Checks the query string that came back to the redirect URI, in this
 * order: state (compared in constant time), iss when present (RFC 9207,
 * compared with the account's issuer when one is known), error (the user
 * declined, or the server refused), then code. Unknown parameters are
 * ignored. Returns 1 and the decoded code in code_out, whose limit must
 * allow AUTHORIZE_CODE_MAX bytes. Returns 0 when the query has none of
 * state, code and error, because then it is not a reply at all. Returns
 * -1 with err set: EX_NOPERM when access was declined; EX_PROTOCOL for a
 * wrong or missing state, a wrong iss, or a missing or malformed code;
 * the translated provider error otherwise (see oauth_error_code).
 */
int authorize_parse_callback(const struct authorize_request *r, const char *query,
                             struct mt_buf *code_out, struct mt_err *err);

/*
 * Checks what a user pasted in --manual mode: the whole address the
 * browser ended on (it must start with the redirect URI), or only its
 * query string. Then does what authorize_parse_callback does. Returns 0
 * and the code in code_out, or -1 with err set (EX_DATAERR when the text
 * is not an address at the redirect URI or carries no reply).
 */
int authorize_parse_pasted(const struct authorize_request *r, const char *text,
                           struct mt_buf *code_out, struct mt_err *err);

/*
 * Exchanges code at the token endpoint: grant_type=authorization_code,
 * code, the same redirect_uri, code_verifier, and the client
 * authentication of oauth_post (secret may be NULL for a public client).
 * Returns 0 and the reply in *reply (free with token_reply_free), or -1
 * with err set as oauth_token_request does.
 */
int authorize_redeem(const struct authorize_request *r, const char *code, const char *secret,
                     struct token_reply *reply, struct mt_err *err);

/*
 * Context of authorize_listener_handler: the attempt, and the buffer that
 * receives the code. Initialise code with mt_buf_init and a limit of at
 * least AUTHORIZE_CODE_MAX, and free it with mt_buf_free.
 */
struct authorize_callback {
    const struct authorize_request *request;
    struct mt_buf code;
};

/*
 * A listener_handler_fn (see listener.h) for ctx = struct
 * authorize_callback: runs authorize_parse_callback on the query.
 */
int authorize_listener_handler(void *ctx, const char *query, struct mt_err *err);

#endif
