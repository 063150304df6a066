/* Requests to the token endpoint and what comes back. */
#include "oauth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assertion.h"
#include "jsonutil.h"
#include "mt_base64.h"
#include "mt_sha256.h"
#include "mt_wipe.h"
#include "trace.h"

/* expires_in above this is not believed: the token is used once, then refreshed. */
#define EXPIRES_IN_MAX (2L * 86400)

void
token_reply_free(struct token_reply *r)
{
    mt_strfree(r->access_token);
    mt_strfree(r->refresh_token);
    free(r->token_type);
    free(r->scope);
    mt_strfree(r->id_token);
    memset(r, 0, sizeof(*r));
}

/* Members whose values never appear in a trace. */
static int
secret_member(const char *key)
{
    static const char *const names[] = {
        "access_token", "refresh_token", "id_token", "device_code", "code", "client_secret",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(key, names[i]) == 0)
            return 1;
    return 0;
}

static int
looks_like_json(const char *content_type, const char *body, size_t len)
{
    size_t i = 0;

    if (strncasecmp(content_type, "application/json", 16) == 0)
        return 1;
    while (i < len && strchr(" \t\r\n", body[i]) != NULL)
        i++;
    return i < len && body[i] == '{';
}

static int
looks_like_form(const char *content_type, const char *body, size_t len)
{
    if (strncasecmp(content_type, "application/x-www-form-urlencoded", 33) == 0)
        return 1;
    if (strncasecmp(content_type, "text/plain", 10) != 0 || len == 0)
        return 0;
    return memchr(body, '=', len) != NULL && memchr(body, '<', len) == NULL;
}

void
oauth_trace_reply(long status, const char *content_type, const char *body, size_t len)
{
    struct json_object *o;
    struct mt_buf line;
    const char *why;

    if (!trace_enabled())
        return;
    mt_buf_init(&line, 1500);
    mt_buf_printf(&line, "< HTTP %ld, %s, %zu bytes", status,
                  content_type[0] != '\0' ? content_type : "no content type", len);
    o = looks_like_json(content_type, body, len) ? json_parse_wiped(body, len, &why) : NULL;
    if (o != NULL && json_object_is_type(o, json_type_object)) {
        struct json_object_iterator it = json_object_iter_begin(o);
        struct json_object_iterator end = json_object_iter_end(o);
        const char *sep = ": ";

        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
            const char *key = json_object_iter_peek_name(&it);
            struct json_object *v = json_object_iter_peek_value(&it);
            const char *text = v != NULL ? json_object_get_string(v) : "null";
            char fp[MT_FINGERPRINT_SIZE];

            if (secret_member(key)) {
                mt_fingerprint_str(text, fp);
                text = fp;
            }
            mt_buf_printf(&line, "%s%s=%.*s", sep, key, 160, text);
            sep = " ";
        }
    } else if (len > 0 && !looks_like_form(content_type, body, len)) {
        /* Not JSON and not a form: show the start, which is not a token reply. */
        mt_buf_printf(&line, ": %.*s", (int)(len < 120 ? len : 120), body);
    } else if (len > 0) {
        mt_buf_append_str(&line, ": (form-encoded reply, not shown)");
    }
    trace("%s", mt_buf_str(&line));
    json_wipe_put(o);
    mt_buf_free(&line);
}

/* ---- error translation ---- */

struct aadsts_hint {
    long code;
    int exit_code;
    const char *meaning;
    const char *fix;
};

static const struct aadsts_hint aadsts_hints[] = {
    {700082, EX_NOPERM, "the saved sign-in expired because it was not used for 90 days",
     "run mailtoken authorize %s"},
    {70008, EX_NOPERM, "the saved sign-in expired or was revoked", "run mailtoken authorize %s"},
    {50173, EX_NOPERM,
     "the sign-in was revoked (a password change, or an administrator revoked the sessions)",
     "run mailtoken authorize %s"},
    {70043, EX_NOPERM,
     "the organisation's sign-in frequency policy requires a new sign-in",
     "run mailtoken authorize %s"},
    {50076, EX_NOPERM, "multi-factor authentication is required",
     "run mailtoken authorize %s and complete the prompt in the browser"},
    {50079, EX_NOPERM, "the account must register for multi-factor authentication",
     "register, then run mailtoken authorize %s"},
    {65001, EX_NOPERM, "the user or an administrator has not consented to this app",
     "run mailtoken authorize %s; if the organisation blocks user consent, an administrator "
     "must grant it for the app"},
    {90094, EX_NOPERM, "an administrator must grant consent for this app",
     "ask an administrator to grant admin consent in the app registration, then run "
     "mailtoken authorize %s"},
    {70000, EX_NOPERM, "the grant is not valid for the requested scopes",
     "check that scope matches what was consented, then run mailtoken authorize %s"},
    {53003, EX_NOPERM, "a Conditional Access policy blocked the sign-in",
     "ask the tenant's administrator; then run mailtoken authorize %s"},
    {7000222, EX_CONFIG, "the client secret has expired",
     "create a new secret under Certificates & secrets in the app registration, put it in the "
     "configuration, then run mailtoken token %s"},
    {7000215, EX_CONFIG, "the client secret is wrong",
     "copy the secret's Value, not its Secret ID, into the configuration of %s"},
    {700025, EX_CONFIG, "the app is a public client, which must not send a client secret",
     "remove the client secret from account %s"},
    {7000218, EX_CONFIG, "the app registration requires a client secret or certificate",
     "add a client secret to account %s, or register http://localhost under Mobile and desktop "
     "applications and set Allow public client flows to Yes"},
    {700016, EX_CONFIG, "the client_id is not known in this tenant",
     "check client_id and tenant of %s (a multi-tenant app can use tenant = common)"},
    {90002, EX_CONFIG, "the tenant does not exist", "check tenant in account %s"},
    {50194, EX_CONFIG, "the app is single-tenant, so tenant common cannot be used",
     "set tenant in account %s to the tenant's domain or ID"},
    {50011, EX_CONFIG, "the redirect URI is not registered for the app",
     "register http://localhost under Mobile and desktop applications (account %s)"},
    {70004, EX_CONFIG, "the redirect URI is not registered for the app",
     "register http://localhost under Mobile and desktop applications (account %s)"},
    {70011, EX_CONFIG, "the scope was rejected",
     "check scope in account %s (do not mix Microsoft Graph and Outlook scopes)"},
    {50020, EX_CONFIG, "the account is not in this tenant",
     "sign in with an account of the tenant, or change tenant in account %s"},
    {50034, EX_CONFIG, "the user account does not exist in this tenant",
     "check user and tenant in account %s"},
    /*
     * Certificate credentials. 700027 is in Microsoft's error code
     * reference; the others are named by Microsoft.Identity.Web's
     * certificate reload tests (AzureAD/microsoft-identity-web).
     */
    {700027, EX_CONFIG,
     "the client assertion's signature could not be verified with a certificate registered for "
     "the app",
     "upload the certificate in client_certificate of %s to the app registration (Certificates & "
     "secrets), and check that client_key belongs to it and that the certificate has not expired "
     "(mailtoken status shows its expiry)"},
    {7000274, EX_CONFIG, "the client assertion contains an invalid signature",
     "check that client_key of %s belongs to client_certificate and that this certificate is "
     "uploaded to the app registration"},
    {700024, EX_CONFIG,
     "the client assertion is not within its valid time range, so this computer's clock is "
     "probably wrong",
     "set the system clock (for example with NTP: timedatectl set-ntp true), then run mailtoken "
     "token %s"},
    {1000502, EX_CONFIG, "the certificate is outside its validity period",
     "create a new certificate, upload it to the app registration and set client_certificate and "
     "client_key of %s"},
    {7000214, EX_CONFIG, "the certificate has been revoked",
     "create a new certificate, upload it to the app registration and set client_certificate and "
     "client_key of %s"},
    {7000277, EX_CONFIG, "the certificate was revoked",
     "create a new certificate, upload it to the app registration and set client_certificate and "
     "client_key of %s"},
    {54005, EX_SOFTWARE, "the authorization code was already redeemed",
     "run mailtoken authorize %s again; please report this as a bug"},
    {501481, EX_SOFTWARE, "the PKCE code verifier did not match",
     "run mailtoken authorize %s again; please report this as a bug"},
};

/* Copies a hint, replacing its %s with the account's name. */
static void
fill_account(char *out, size_t size, const char *hint, const char *account)
{
    const char *mark = strstr(hint, "%s");

    if (mark == NULL)
        snprintf(out, size, "%s", hint);
    else
        snprintf(out, size, "%.*s%s%s", (int)(mark - hint), hint, account, mark + 2);
}

/* Reads the first code from error_codes, or the AADSTS number in the description. */
static long
aadsts_code(struct json_object *o, const char *description)
{
    struct json_object *codes, *first;
    const char *p;

    if (json_object_object_get_ex(o, "error_codes", &codes) &&
        json_object_is_type(codes, json_type_array) && json_object_array_length(codes) > 0 &&
        (first = json_object_array_get_idx(codes, 0)) != NULL &&
        json_object_is_type(first, json_type_int))
        return (long)json_object_get_int64(first);
    if (description != NULL && (p = strstr(description, "AADSTS")) != NULL)
        return strtol(p + 6, NULL, 10);
    return 0;
}

/* Shortens a provider's description to its first line and at most 200 bytes. */
static void
short_description(char *out, size_t size, const char *description)
{
    size_t n = 0;

    if (description == NULL) {
        out[0] = '\0';
        return;
    }
    while (description[n] != '\0' && description[n] != '\r' && description[n] != '\n' &&
           n < 200 && n + 1 < size)
        n++;
    memcpy(out, description, n);
    out[n] = '\0';
}

/* The fix for a grant error of an app-only account, where no user signs in. */
#define APP_ONLY_FIX                                                                        \
    "an administrator must grant admin consent for the app's application permissions "      \
    "(IMAP.AccessAsApp, POP.AccessAsApp or SMTP.SendAsApp) in the app registration; "     \
    "mailtoken authorize does not apply to grant client_credentials"

/*
 * Builds the message for an error about the client's own credentials,
 * for accounts with a certificate or the client credentials grant, where
 * the generic advice (the client secret, mailtoken authorize) is wrong.
 * Returns -1 with err set when the error is one of those, else 0.
 */
static int
credential_error(const struct account *a, const char *what, const char *error,
                 const char *desc, const char *ids, struct mt_err *err)
{
    const char *open = desc[0] != '\0' ? " (" : "", *close = desc[0] != '\0' ? ")" : "";

    if (a->client_certificate != NULL &&
        (strcmp(error, "invalid_client") == 0 || strcmp(error, "unauthorized_client") == 0))
        return err_set(err, EX_CONFIG,
                       "%s: %s failed: %s%s%s%s: the server rejected the client; check client_id "
                       "of account %s, and that its client_certificate is the one registered for "
                       "the app and client_key belongs to it%s", a->name, what, error, open, desc,
                       close, a->name, ids);
    if (a->grant != GRANT_CLIENT_CREDENTIALS)
        return 0;
    if (strcmp(error, "invalid_grant") == 0 || strcmp(error, "access_denied") == 0 ||
        strcmp(error, "unauthorized_client") == 0)
        return err_set(err, EX_CONFIG, "%s: %s failed: %s%s%s%s: the server refused the app a "
                       "token. To fix: %s%s", a->name, what, error, open, desc, close,
                       APP_ONLY_FIX, ids);
    return 0;
}

static int
error_from_json(const struct account *a, const char *what, long status, struct json_object *o,
                struct mt_err *err)
{
    const char *error = json_get_str(o, "error");
    const char *description = json_get_str(o, "error_description");
    const char *trace_id = json_get_str(o, "trace_id");
    const char *correlation_id = json_get_str(o, "correlation_id");
    char desc[256], ids[256] = "", fix[512];
    long code = aadsts_code(o, description);
    int exit_code;

    short_description(desc, sizeof(desc), description);
    if (trace_id != NULL || correlation_id != NULL)
        snprintf(ids, sizeof(ids), " (trace ID %.64s, correlation ID %.64s)",
                 trace_id != NULL ? trace_id : "none",
                 correlation_id != NULL ? correlation_id : "none");

    for (size_t i = 0; code != 0 && i < sizeof(aadsts_hints) / sizeof(aadsts_hints[0]); i++) {
        const struct aadsts_hint *h = &aadsts_hints[i];

        if (h->code != code)
            continue;
        if (a->grant == GRANT_CLIENT_CREDENTIALS && h->exit_code == EX_NOPERM)
            return err_set(err, EX_CONFIG, "%s: %s failed: AADSTS%ld (%s): %s. To fix: %s%s",
                           a->name, what, code, error, h->meaning, APP_ONLY_FIX, ids);
        fill_account(fix, sizeof(fix), h->fix, a->name);
        return err_set(err, h->exit_code, "%s: %s failed: AADSTS%ld (%s): %s. To fix: %s%s",
                       a->name, what, code, error, h->meaning, fix, ids);
    }
    if (credential_error(a, what, error, desc, ids, err) != 0)
        return -1;

    if (strcmp(error, "invalid_grant") == 0) {
        const char *meaning = a->provider == PROVIDER_GOOGLE
                                  ? "Google rejected the saved sign-in (revoked, a password "
                                    "change, 6 months unused, or an app in Testing mode whose "
                                    "sign-ins last 7 days)"
                                  : "the server rejected the saved sign-in";

        return err_set(err, EX_NOPERM, "%s: %s failed: invalid_grant%s%s%s: %s. Run mailtoken "
                       "authorize %s%s", a->name, what, desc[0] ? " (" : "", desc,
                       desc[0] ? ")" : "", meaning, a->name, ids);
    }
    if (strcmp(error, "invalid_client") == 0 || strcmp(error, "unauthorized_client") == 0)
        exit_code = EX_CONFIG;
    else if (strcmp(error, "invalid_scope") == 0)
        exit_code = EX_CONFIG;
    else if (strcmp(error, "temporarily_unavailable") == 0 || strcmp(error, "server_error") == 0)
        exit_code = EX_TEMPFAIL;
    else if (strcmp(error, "access_denied") == 0)
        exit_code = EX_NOPERM;
    else
        exit_code = EX_CONFIG;

    if (exit_code == EX_TEMPFAIL)
        return err_set(err, exit_code, "%s: %s failed: %s%s%s%s: the server is having trouble; "
                       "try again later%s", a->name, what, error, desc[0] ? " (" : "", desc,
                       desc[0] ? ")" : "", ids);
    if (strcmp(error, "invalid_scope") == 0)
        return err_set(err, exit_code, "%s: %s failed: invalid_scope%s%s%s: check scope in "
                       "account %s%s", a->name, what, desc[0] ? " (" : "", desc,
                       desc[0] ? ")" : "", a->name, ids);
    if (exit_code == EX_CONFIG && strcmp(error, "invalid_client") == 0)
        return err_set(err, exit_code, "%s: %s failed: invalid_client%s%s%s: the server rejected "
                       "the client; check client_id and the client secret of account %s%s",
                       a->name, what, desc[0] ? " (" : "", desc, desc[0] ? ")" : "", a->name,
                       ids);
    if (status <= 0)
        return err_set(err, exit_code, "%s: %s failed: %s%s%s%s%s", a->name, what, error,
                       desc[0] ? " (" : "", desc, desc[0] ? ")" : "", ids);
    return err_set(err, exit_code, "%s: %s failed: HTTP %ld, %s%s%s%s%s", a->name, what, status,
                   error, desc[0] ? " (" : "", desc, desc[0] ? ")" : "", ids);
}

int
oauth_error_code(const struct account *a, const char *what, const char *error,
                 const char *description, struct mt_err *err)
{
    struct json_object *o = json_object_new_object();
    int rc;

    if (o == NULL || json_object_object_add(o, "error", json_object_new_string(error)) != 0 ||
        (description != NULL &&
         json_object_object_add(o, "error_description",
                                json_object_new_string(description)) != 0)) {
        json_wipe_put(o);
        return err_set(err, EX_OSERR, "out of memory");
    }
    rc = error_from_json(a, what, 0, o, err);
    json_wipe_put(o);
    return rc;
}

int
oauth_reply_error(const struct account *a, const char *what, long status,
                  const char *content_type, const char *body, size_t len, long retry_after,
                  struct mt_err *err)
{
    struct json_object *o = NULL;
    const char *why = NULL;
    int rc;

    if (looks_like_json(content_type, body, len))
        o = json_parse_wiped(body, len, &why);
    if (o != NULL && json_object_is_type(o, json_type_object) && json_get_str(o, "error") != NULL) {
        rc = error_from_json(a, what, status, o, err);
        json_wipe_put(o);
        return rc;
    }
    json_wipe_put(o);

    if (status == 429 || status >= 500) {
        char later[64] = "later";

        if (retry_after >= 0)
            snprintf(later, sizeof(later), "in %ld s (the server's Retry-After)", retry_after);
        return err_set(err, EX_TEMPFAIL, "%s: %s failed: HTTP %ld from %s: try again %s", a->name,
                       what, status, a->token_endpoint, later);
    }
    /* glewlwyd and others reply to a rejected grant with 400 and no body. */
    if (status == 400 && len == 0 && a->grant == GRANT_CLIENT_CREDENTIALS)
        return err_set(err, EX_CONFIG,
                       "%s: %s failed: HTTP 400 without an error code: the server refused the "
                       "app a token; check client_id, scope and the app's permissions of "
                       "account %s", a->name, what, a->name);
    if (status == 400 && len == 0)
        return err_set(err, EX_NOPERM,
                       "%s: %s failed: HTTP 400 without an error code; the server most likely "
                       "rejected the saved sign-in. Run mailtoken authorize %s",
                       a->name, what, a->name);
    /* glewlwyd replies to a client assertion it cannot verify with 403 and no body. */
    if ((status == 401 || status == 403) && len == 0)
        return err_set(err, EX_CONFIG,
                       "%s: %s failed: HTTP %ld: the server rejected the client; check client_id "
                       "and the client %s of account %s", a->name, what, status,
                       a->client_certificate != NULL ? "certificate and key" : "secret", a->name);
    if (status >= 300 && status < 400)
        return err_set(err, EX_PROTOCOL,
                       "%s: %s failed: HTTP %ld redirect, which mailtoken does not follow: check "
                       "the endpoint URL in account %s", a->name, what, status, a->name);
    if (why == json_out_of_memory)
        return err_set(err, EX_OSERR, "%s: %s failed: reading the HTTP %ld reply: %s", a->name,
                       what, status, why);
    if (why != NULL)
        return err_set(err, EX_PROTOCOL, "%s: %s failed: HTTP %ld with malformed JSON (%s)",
                       a->name, what, status, why);
    return err_set(err, EX_PROTOCOL,
                   "%s: %s failed: HTTP %ld with %s, not an OAuth2 reply: is %s the token "
                   "endpoint?", a->name, what, status,
                   content_type[0] != '\0' ? content_type : "a body of unknown type",
                   a->token_endpoint);
}

static int
copy_field(char **dst, const char *value)
{
    if (value == NULL)
        return 0;
    *dst = strdup(value);
    return *dst == NULL ? -1 : 0;
}

/* Checks a token's characters: printable ASCII without spaces (RFC 6750 is stricter). */
static int
token_text_valid(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return 0;
    return 1;
}

static long
usable_expires_in(int64_t v)
{
    if (v <= 0 || v > EXPIRES_IN_MAX)
        return 0;
    return (long)v;
}

static int
parse_json_reply(const struct account *a, const char *what, long status, const char *body,
                 size_t len, struct token_reply *out, struct mt_err *err)
{
    struct json_object *o;
    const char *why = "not an object";
    int64_t expires;
    int r, rc = -1;

    o = json_parse_wiped(body, len, &why);
    if (o == NULL && why == json_out_of_memory) {
        err_set(err, EX_OSERR, "%s: %s failed: reading the reply: %s", a->name, what, why);
        goto done;
    }
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        err_set(err, EX_PROTOCOL, "%s: %s failed: HTTP %ld with malformed JSON (%s)", a->name,
                what, status, why);
        goto done;
    }
    if (json_get_str(o, "error") != NULL) {
        error_from_json(a, what, status, o, err);
        goto done;
    }
    if (copy_field(&out->access_token, json_get_str(o, "access_token")) != 0 ||
        copy_field(&out->refresh_token, json_get_str(o, "refresh_token")) != 0 ||
        copy_field(&out->token_type, json_get_str(o, "token_type")) != 0 ||
        copy_field(&out->scope, json_get_str(o, "scope")) != 0 ||
        copy_field(&out->id_token, json_get_str(o, "id_token")) != 0) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    r = json_get_int_lenient(o, "expires_in", &expires);
    out->expires_in = r == 1 ? usable_expires_in(expires) : 0;
    rc = 0;
done:
    json_wipe_put(o);
    return rc;
}

static int
parse_form_reply(const struct account *a, const char *what, long status, const char *body,
                 size_t len, struct token_reply *out, struct mt_err *err)
{
    struct mt_buf text, value;
    char *end;
    long long expires;
    int rc = -1;

    mt_buf_init(&text, len + 1);
    mt_buf_init(&value, len + 1);
    if (mt_buf_append(&text, body, len) != 0) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    /* Trailing white space is not part of the last value. */
    while (text.len > 0 && strchr(" \t\r\n", text.data[text.len - 1]) != NULL)
        text.data[--text.len] = '\0';

    if (form_lookup(mt_buf_str(&text), "error", &value) == 1) {
        err_set(err, EX_CONFIG, "%s: %s failed: HTTP %ld, %.64s", a->name, what, status,
                mt_buf_str(&value));
        if (strcmp(mt_buf_str(&value), "invalid_grant") == 0)
            err_set(err, EX_NOPERM, "%s: %s failed: invalid_grant: the server rejected the saved "
                    "sign-in. Run mailtoken authorize %s", a->name, what, a->name);
        goto done;
    }
#define FORM_FIELD(key, field)                                                  \
    do {                                                                        \
        mt_buf_reset(&value);                                                   \
        value.len = 0;                                                          \
        errno = 0;                                                              \
        if (form_lookup(mt_buf_str(&text), key, &value) < 0) {                  \
            if (errno == ENOMEM)                                                \
                err_set(err, EX_OSERR, "%s: %s failed: out of memory",          \
                        a->name, what);                                         \
            else                                                                \
                err_set(err, EX_PROTOCOL, "%s: %s failed: malformed form reply",\
                        a->name, what);                                         \
            goto done;                                                          \
        }                                                                       \
        if (value.len > 0 && copy_field(&out->field, value.data) != 0) {        \
            err_set(err, EX_OSERR, "out of memory");                            \
            goto done;                                                          \
        }                                                                       \
    } while (0)
    FORM_FIELD("access_token", access_token);
    FORM_FIELD("refresh_token", refresh_token);
    FORM_FIELD("token_type", token_type);
    FORM_FIELD("scope", scope);
#undef FORM_FIELD
    mt_buf_reset(&value);
    value.len = 0;
    if (form_lookup(mt_buf_str(&text), "expires_in", &value) == 1) {
        expires = strtoll(mt_buf_str(&value), &end, 10);
        out->expires_in = *end == '\0' ? usable_expires_in(expires) : 0;
    }
    rc = 0;
done:
    mt_buf_free(&text);
    mt_buf_free(&value);
    return rc;
}

int
oauth_parse_token_reply(const struct account *a, const char *what, long status,
                        const char *content_type, const char *body, size_t len,
                        struct token_reply *out, struct mt_err *err)
{
    int r;

    memset(out, 0, sizeof(*out));
    if (status != 200)
        return oauth_reply_error(a, what, status, content_type, body, len, -1, err);
    if (looks_like_json(content_type, body, len))
        r = parse_json_reply(a, what, status, body, len, out, err);
    else if (looks_like_form(content_type, body, len))
        r = parse_form_reply(a, what, status, body, len, out, err);
    else
        r = oauth_reply_error(a, what, status, content_type, body, len, -1, err);
    if (r != 0) {
        token_reply_free(out);
        return -1;
    }

    if (!token_text_valid(out->access_token)) {
        err_set(err, EX_PROTOCOL, "%s: %s failed: the reply has %s access_token", a->name, what,
                out->access_token == NULL ? "no" : "an invalid");
        token_reply_free(out);
        return -1;
    }
    if (out->refresh_token != NULL && !token_text_valid(out->refresh_token)) {
        err_set(err, EX_PROTOCOL, "%s: %s failed: the reply has an invalid refresh_token",
                a->name, what);
        token_reply_free(out);
        return -1;
    }
    if (out->token_type != NULL && strcasecmp(out->token_type, "bearer") != 0) {
        err_set(err, EX_PROTOCOL,
                "%s: %s failed: token_type is \"%.32s\"; mail servers accept only Bearer tokens",
                a->name, what, out->token_type);
        token_reply_free(out);
        return -1;
    }
    return 0;
}

/*
 * Authenticates the client with a certificate (RFC 7523 section 2.2):
 * client_id, client_assertion_type and a client assertion for url,
 * built in the network module into assertion, which must outlive f.
 */
static int
add_client_assertion(const struct account *a, const char *url, struct form *f,
                     struct mt_buf *assertion, struct mt_err *err)
{
    const struct assertion_ops *ops = assertion_load(err);
    struct assertion_request req = {
        .certificate_file = a->client_certificate,
        .key_file = a->client_key,
        .client_id = a->client_id,
        .audience = url,
        .alg = a->client_assertion_alg,
        .now = time(NULL),
    };

    if (ops == NULL)
        return -1;
    if (ops->build(&req, assertion, err) != 0) {
        err_prefix(err, "%s: cannot sign a client assertion", a->name);
        return -1;
    }
    if (form_add(f, "client_id", a->client_id, 0) != 0 ||
        form_add(f, "client_assertion_type", ASSERTION_TYPE, 0) != 0 ||
        form_add(f, "client_assertion", mt_buf_str(assertion), 1) != 0)
        return err_set(err, EX_SOFTWARE, "too many form fields");
    return 0;
}

int
oauth_post(const struct account *a, const char *url, struct form *f, const char *secret,
           struct net_response *resp, struct mt_err *err)
{
    const struct net_ops *net;
    struct net_request req = {
        .method = "POST",
        .url = url,
        .ca_file = a->ca_file,
        .proxy = a->proxy,
        .timeout_s = a->timeout,
    };
    struct mt_buf body, user, password, described, assertion;
    int rc = -1;

    mt_buf_init(&body, 64 * 1024);
    mt_buf_init(&user, 4096);
    mt_buf_init(&password, 4096);
    mt_buf_init(&described, 4096);
    mt_buf_init(&assertion, 32 * 1024);
    mt_buf_init(&resp->body, NET_MAX_BODY);

    if (a->client_certificate != NULL) {
        if (add_client_assertion(a, url, f, &assertion, err) != 0)
            goto done;
    } else if (secret != NULL && a->client_auth == CLIENT_AUTH_BASIC) {
        /* RFC 6749 section 2.3.1: form-encode both parts before Basic. */
        if (form_escape(&user, a->client_id) != 0 || form_escape(&password, secret) != 0) {
            if (errno == ENOMEM)
                err_set(err, EX_OSERR, "%s: out of memory", a->name);
            else
                err_set(err, EX_CONFIG, "%s: client_id or client secret is too long", a->name);
            goto done;
        }
        req.basic_user = mt_buf_str(&user);
        req.basic_password = mt_buf_str(&password);
    } else if (form_add(f, "client_id", a->client_id, 0) != 0 ||
               form_add(f, "client_secret", secret, 1) != 0) {
        err_set(err, EX_SOFTWARE, "too many form fields");
        goto done;
    }
    if (form_encode(f, &body) != 0) {
        if (errno == ENOMEM)
            err_set(err, EX_OSERR, "%s: out of memory", a->name);
        else
            err_set(err, EX_SOFTWARE, "%s: the request is too large", a->name);
        goto done;
    }
    req.body = mt_buf_str(&body);
    req.body_len = body.len;

    if (trace_enabled()) {
        form_describe(f, &described);
        trace("> POST %s %s%s", url, mt_buf_str(&described),
              req.basic_user != NULL     ? " (client secret in HTTP Basic)"
              : assertion.len > 0        ? " (client assertion signed with the certificate's key)"
                                         : "");
    }
    net = net_load(err);
    if (net == NULL)
        goto done;
    if (net->http(&req, resp, err) != 0) {
        err_prefix(err, "%s", a->name);
        goto done;
    }
    oauth_trace_reply(resp->status, resp->content_type, mt_buf_str(&resp->body), resp->body.len);
    rc = 0;
done:
    mt_buf_free(&body);
    mt_buf_free(&user);
    mt_buf_free(&password);
    mt_buf_free(&described);
    mt_buf_free(&assertion);
    return rc;
}

int
oauth_token_request(const struct account *a, const char *what, const char *url,
                    struct form *f, const char *secret, struct token_reply *out,
                    struct mt_err *err)
{
    struct net_response resp;
    int rc;

    memset(out, 0, sizeof(*out));
    if (oauth_post(a, url, f, secret, &resp, err) != 0) {
        mt_buf_free(&resp.body);
        return -1;
    }
    if (resp.status != 200)
        rc = oauth_reply_error(a, what, resp.status, resp.content_type, mt_buf_str(&resp.body),
                               resp.body.len, resp.retry_after, err);
    else
        rc = oauth_parse_token_reply(a, what, resp.status, resp.content_type,
                                     mt_buf_str(&resp.body), resp.body.len, out, err);
    mt_buf_free(&resp.body);
    return rc;
}

char *
oauth_id_token_user(const char *id_token)
{
    const char *dot1, *dot2, *why, *name;
    struct json_object *o;
    struct mt_buf payload;
    char *user = NULL;

    if (id_token == NULL || (dot1 = strchr(id_token, '.')) == NULL ||
        (dot2 = strchr(dot1 + 1, '.')) == NULL)
        return NULL;
    mt_buf_init(&payload, 64 * 1024);
    if (mt_base64_decode(&payload, dot1 + 1, (size_t)(dot2 - dot1 - 1), MT_BASE64_URL_NOPAD) == 0 &&
        (o = json_parse_wiped(mt_buf_str(&payload), payload.len, &why)) != NULL) {
        name = json_get_str(o, "preferred_username");
        if (name == NULL)
            name = json_get_str(o, "email");
        if (name != NULL)
            user = strdup(name);
        json_wipe_put(o);
    }
    mt_buf_free(&payload);
    return user;
}
