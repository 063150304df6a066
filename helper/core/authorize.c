/* The authorization code grant with PKCE. */
#include "authorize.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "form.h"
#include "mt_base64.h"
#include "mt_sha256.h"
#include "mt_wipe.h"
#include "random.h"
#include "trace.h"

/* Random bytes behind a verifier and a state: 256 bits each. */
#define RANDOM_LEN 32
#define URL_MAX (16 * 1024)
/* Limit for a decoded state, error, error_description or iss value. */
#define FIELD_MAX 4096

static int
verifier_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int
pkce_challenge_s256(const char *verifier, char challenge[PKCE_CHALLENGE_SIZE])
{
    unsigned char digest[MT_SHA256_LEN];
    struct mt_buf out;
    size_t n = strlen(verifier);
    int rc = -1;

    if (n < PKCE_VERIFIER_MIN || n > PKCE_VERIFIER_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!verifier_char((unsigned char)verifier[i]))
            return -1;

    mt_sha256(verifier, n, digest);
    mt_buf_init(&out, PKCE_CHALLENGE_SIZE - 1);
    if (mt_base64_encode(&out, digest, sizeof(digest), MT_BASE64_URL_NOPAD) == 0 &&
        out.len == PKCE_CHALLENGE_SIZE - 1) {
        memcpy(challenge, out.data, out.len + 1);
        rc = 0;
    }
    mt_buf_free(&out);
    mt_wipe(digest, sizeof(digest));
    return rc;
}

/* Writes RANDOM_LEN random bytes as 43 base64url characters into out (44 bytes). */
static int
random_text(char out[PKCE_CHALLENGE_SIZE])
{
    unsigned char bytes[RANDOM_LEN];
    struct mt_buf text;
    int rc = -1;

    if (random_bytes(bytes, sizeof(bytes)) != 0)
        return -1;
    mt_buf_init(&text, PKCE_CHALLENGE_SIZE - 1);
    if (mt_base64_encode(&text, bytes, sizeof(bytes), MT_BASE64_URL_NOPAD) == 0) {
        memcpy(out, text.data, text.len + 1);
        rc = 0;
    }
    mt_buf_free(&text);
    mt_wipe(bytes, sizeof(bytes));
    return rc;
}

int
pkce_generate(struct pkce *p)
{
    if (random_text(p->verifier) != 0)
        return -1;
    if (pkce_challenge_s256(p->verifier, p->challenge) != 0) {
        mt_wipe(p, sizeof(*p));
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int
authorize_request_init(struct authorize_request *r, const struct account *a,
                       const char *redirect_uri, struct mt_err *err)
{
    memset(r, 0, sizeof(*r));
    r->account = a;
    if (a->authorization_endpoint == NULL)
        return err_set(err, EX_CONFIG,
                       "%s: authorization_endpoint is not set: provider generic needs it for "
                       "mailtoken authorize", a->name);
    if (a->token_endpoint == NULL)
        return err_set(err, EX_CONFIG, "%s: token_endpoint is not set", a->name);
    if (snprintf(r->redirect_uri, sizeof(r->redirect_uri), "%s", redirect_uri) >=
        (int)sizeof(r->redirect_uri))
        return err_set(err, EX_CONFIG, "%s: redirect_uri is longer than %d characters", a->name,
                       AUTHORIZE_REDIRECT_URI_MAX - 1);
    if (random_text(r->state) != 0 || random_text(r->nonce) != 0 ||
        pkce_generate(&r->pkce) != 0) {
        err_set(err, EX_OSERR, "%s: cannot get random bytes from the kernel: %s", a->name,
                strerror(errno));
        authorize_request_wipe(r);
        return -1;
    }
    if (trace_enabled()) {
        char state_fp[MT_FINGERPRINT_SIZE], verifier_fp[MT_FINGERPRINT_SIZE];

        mt_fingerprint_str(r->state, state_fp);
        mt_fingerprint_str(r->pkce.verifier, verifier_fp);
        trace("%s: new authorization request: state %s, PKCE S256 with verifier %s, "
              "redirect_uri %s", a->name, state_fp, verifier_fp, r->redirect_uri);
    }
    return 0;
}

void
authorize_request_wipe(struct authorize_request *r)
{
    mt_wipe(r->state, sizeof(r->state));
    mt_wipe(r->nonce, sizeof(r->nonce));
    mt_wipe(&r->pkce, sizeof(r->pkce));
}

static int
add_param(struct mt_buf *out, const char *key, const char *value)
{
    if (mt_buf_printf(out, "&%s=", key) != 0)
        return -1;
    return url_escape(out, value);
}

/* Returns 1 when the space-separated scope contains word. */
static int
scope_has(const char *scope, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = scope; p != NULL && (p = strstr(p, word)) != NULL; p += n)
        if ((p == scope || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

int
authorize_build_url(const struct authorize_request *r, struct mt_buf *out, struct mt_err *err)
{
    const struct account *a = r->account;
    const char *base = a->authorization_endpoint;
    size_t start = out->len;

    if (mt_buf_append_str(out, base) != 0 ||
        mt_buf_append_str(out, strchr(base, '?') != NULL ? "&" : "?") != 0 ||
        mt_buf_append_str(out, "response_type=code") != 0 ||
        add_param(out, "client_id", a->client_id) != 0 ||
        add_param(out, "redirect_uri", r->redirect_uri) != 0 ||
        add_param(out, "scope", a->scope) != 0 ||
        add_param(out, "state", r->state) != 0 ||
        add_param(out, "code_challenge", r->pkce.challenge) != 0 ||
        mt_buf_append_str(out, "&code_challenge_method=S256") != 0 ||
        (scope_has(a->scope, "openid") && add_param(out, "nonce", r->nonce) != 0) ||
        (a->user != NULL && add_param(out, "login_hint", a->user) != 0) ||
        (a->authorize_params != NULL && a->authorize_params[0] != '\0' &&
         (mt_buf_append_byte(out, '&') != 0 ||
          mt_buf_append_str(out, a->authorize_params) != 0))) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return err_set(err, EX_CONFIG, "%s: the authorization URL would be too long", a->name);
    }
    return 0;
}

/* Looks up key in query. Returns 1 found, 0 absent, -1 malformed, repeated or too long. */
static int
lookup(const char *query, const char *key, struct mt_buf *out)
{
    mt_buf_reset(out);
    out->len = 0;
    return form_lookup(query, key, out);
}

/* Returns 1 when s is a plausible authorization code: printable ASCII without spaces. */
static int
code_valid(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static int
check_state(const struct authorize_request *r, const char *query, struct mt_buf *value,
            struct mt_err *err)
{
    const char *name = r->account->name;
    size_t expected = strlen(r->state);
    int found = lookup(query, "state", value);

    if (found < 0)
        return err_set(err, EX_PROTOCOL,
                       "%s: the reply at the redirect URI has a malformed or repeated state "
                       "parameter; run mailtoken authorize %s again", name, name);
    if (found == 0)
        return err_set(err, EX_PROTOCOL,
                       "%s: the reply at the redirect URI has no state parameter, so it cannot "
                       "be matched to this request; run mailtoken authorize %s again",
                       name, name);
    /* The length is not secret; the content is compared in constant time. */
    if (value->len != expected || mt_consttime_memcmp(value->data, r->state, expected) != 0)
        return err_set(err, EX_PROTOCOL,
                       "%s: state mismatch: the reply at the redirect URI does not belong to "
                       "this authorization request (an old browser tab, or a forged request); "
                       "run mailtoken authorize %s again and use the new address", name, name);
    return 0;
}

/* RFC 9207: a reply that names an issuer must name ours. */
static int
check_iss(const struct authorize_request *r, const char *query, struct mt_buf *value,
          struct mt_err *err)
{
    const struct account *a = r->account;
    int found = lookup(query, "iss", value);

    if (found < 0)
        return err_set(err, EX_PROTOCOL,
                       "%s: the reply at the redirect URI has a malformed or repeated iss "
                       "parameter", a->name);
    if (found == 0) {
        trace("%s: the reply names no issuer (iss)", a->name);
        return 0;
    }
    if (a->issuer == NULL) {
        trace("%s: the reply names issuer %.200s; no issuer is configured to compare it with",
              a->name, mt_buf_str(value));
        return 0;
    }
    if (strcmp(mt_buf_str(value), a->issuer) != 0)
        return err_set(err, EX_PROTOCOL,
                       "%s: the reply at the redirect URI comes from issuer \"%.200s\", but "
                       "this account expects \"%s\" (RFC 9207): the sign-in may have gone to "
                       "another server; run mailtoken authorize %s again, and check issuer if "
                       "the account's server changed", a->name, mt_buf_str(value), a->issuer,
                       a->name);
    trace("%s: the reply's issuer matches %s", a->name, a->issuer);
    return 0;
}

static int
report_error(const struct authorize_request *r, const char *query, const char *error,
             struct mt_err *err)
{
    const struct account *a = r->account;
    struct mt_buf description;

    mt_buf_init(&description, FIELD_MAX);
    /* A malformed description is left out; the error code is what counts. */
    if (form_lookup(query, "error_description", &description) < 0)
        mt_buf_free(&description);

    if (strcmp(error, "access_denied") == 0)
        err_set(err, EX_NOPERM,
                "%s: you declined access, or the server denied it (access_denied%s%.200s). "
                "Run mailtoken authorize %s again and accept the requested permissions",
                a->name, description.len > 0 ? ": " : "", mt_buf_str(&description), a->name);
    else
        oauth_error_code(a, "signing in", error,
                         description.len > 0 ? mt_buf_str(&description) : NULL, err);
    mt_buf_free(&description);
    return -1;
}

int
authorize_parse_callback(const struct authorize_request *r, const char *query,
                         struct mt_buf *code_out, struct mt_err *err)
{
    const struct account *a = r->account;
    struct mt_buf value;
    int has_state, has_code, has_error, rc = -1;

    mt_buf_init(&value, FIELD_MAX);
    has_state = lookup(query, "state", &value) != 0;
    has_code = lookup(query, "code", &value) != 0;
    has_error = lookup(query, "error", &value) != 0;
    if (!has_state && !has_code && !has_error) {
        rc = 0;
        goto done;
    }
    if (check_state(r, query, &value, err) != 0 || check_iss(r, query, &value, err) != 0)
        goto done;

    if (has_error) {
        if (lookup(query, "error", &value) < 0 || value.len == 0) {
            err_set(err, EX_PROTOCOL, "%s: the reply at the redirect URI has a malformed error "
                    "parameter", a->name);
            goto done;
        }
        report_error(r, query, mt_buf_str(&value), err);
        goto done;
    }

    mt_buf_reset(code_out);
    code_out->len = 0;
    switch (form_lookup(query, "code", code_out)) {
    case 1:
        if (code_valid(code_out->data, code_out->len)) {
            char fp[MT_FINGERPRINT_SIZE];

            mt_fingerprint(code_out->data, code_out->len, fp);
            trace("%s: the reply passed the checks; authorization code %s", a->name, fp);
            rc = 1;
            goto done;
        }
        err_set(err, EX_PROTOCOL, "%s: the authorization code in the reply is empty or "
                "contains characters that a code cannot have", a->name);
        break;
    case 0:
        err_set(err, EX_PROTOCOL, "%s: the reply at the redirect URI has no authorization code "
                "and no error; run mailtoken authorize %s again", a->name, a->name);
        break;
    default:
        err_set(err, EX_PROTOCOL, "%s: the reply at the redirect URI has a malformed, repeated "
                "or too long authorization code", a->name);
        break;
    }
    mt_buf_reset(code_out);
    code_out->len = 0;
done:
    mt_buf_free(&value);
    return rc;
}

/* Returns the length of the part of a URL before its query or fragment. */
static size_t
before_query(const char *url)
{
    return strcspn(url, "?#");
}

int
authorize_parse_pasted(const struct authorize_request *r, const char *text,
                       struct mt_buf *code_out, struct mt_err *err)
{
    const struct account *a = r->account;
    size_t base_len = before_query(r->redirect_uri);
    struct mt_buf pasted;
    char empty[1] = "", *start, *query;
    size_t n;
    int found, rc = -1;

    while (*text == ' ' || *text == '\t')
        text++;
    mt_buf_init(&pasted, URL_MAX);
    if (mt_buf_append_str(&pasted, text) != 0) {
        err_set(err, EX_DATAERR, "%s: the pasted text is longer than %d bytes", a->name,
                URL_MAX);
        goto done;
    }
    start = pasted.data != NULL ? pasted.data : empty;
    n = strlen(start);
    while (n > 0 && strchr(" \t\r\n", start[n - 1]) != NULL)
        start[--n] = '\0';

    if (strncmp(start, "http://", 7) == 0 || strncmp(start, "https://", 8) == 0) {
        /* The address must be the redirect URI's: a code must not come from elsewhere. */
        size_t address_len = before_query(start);
        int same_base = strncmp(start, r->redirect_uri, base_len) == 0 &&
                        (address_len == base_len ||
                         (address_len == base_len + 1 && start[base_len] == '/'));

        if (!same_base) {
            err_set(err, EX_DATAERR,
                    "%s: the pasted address does not start with the redirect URI %s: paste "
                    "the whole address the browser shows after the sign-in", a->name,
                    r->redirect_uri);
            goto done;
        }
        query = start + address_len;
    } else {
        query = start;
    }
    if (*query == '?')
        query++;
    /* What follows '#' is a fragment, not part of the query. */
    query[strcspn(query, "#")] = '\0';

    found = authorize_parse_callback(r, query, code_out, err);
    if (found == 1)
        rc = 0;
    else if (found == 0)
        err_set(err, EX_DATAERR,
                "%s: the pasted text carries no reply of the authorization server (no code, "
                "state or error): paste the whole address the browser shows after the "
                "sign-in, starting with %s", a->name, r->redirect_uri);
done:
    mt_buf_free(&pasted);
    return rc;
}

int
authorize_redeem(const struct authorize_request *r, const char *code, const char *secret,
                 struct token_reply *reply, struct mt_err *err)
{
    const struct account *a = r->account;
    struct form f;

    form_init(&f);
    form_add(&f, "grant_type", "authorization_code", 0);
    form_add(&f, "code", code, 1);
    form_add(&f, "redirect_uri", r->redirect_uri, 0);
    form_add(&f, "code_verifier", r->pkce.verifier, 1);
    /* Microsoft's v2 endpoint issues the token for the resource named in scope. */
    if (a->send_scope_on_refresh)
        form_add(&f, "scope", a->scope, 0);
    trace("%s: redeeming the authorization code at %s", a->name, a->token_endpoint);
    return oauth_token_request(a, "redeeming the authorization code", a->token_endpoint, &f,
                               secret, reply, err);
}

int
authorize_listener_handler(void *ctx, const char *query, struct mt_err *err)
{
    struct authorize_callback *cb = ctx;

    return authorize_parse_callback(cb->request, query, &cb->code, err);
}
