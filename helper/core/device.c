/* The device authorization grant (RFC 8628). */
#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "jsonutil.h"
#include "mt_wipe.h"
#include "trace.h"

#define DEVICE_GRANT_TYPE "urn:ietf:params:oauth:grant-type:device_code"
#define USER_CODE_MAX 64
#define URI_MAX 1024
#define MESSAGE_MAX 1000
/* Used when a device reply has no usable expires_in (it is required). */
#define FALLBACK_EXPIRES_IN 600

void
device_authorization_free(struct device_authorization *d)
{
    mt_strfree(d->device_code);
    free(d->user_code);
    free(d->verification_uri);
    free(d->verification_uri_complete);
    free(d->message);
    memset(d, 0, sizeof(*d));
}

/* Returns 1 when scope (space-separated) contains a Gmail scope. */
static int
has_gmail_scope(const char *scope)
{
    return scope != NULL && (strstr(scope, "https://mail.google.com/") != NULL ||
                             strstr(scope, "https://www.googleapis.com/auth/gmail") != NULL);
}

int
device_check_account(const struct account *a, struct mt_err *err)
{
    if (a->provider == PROVIDER_GOOGLE && has_gmail_scope(a->scope))
        return err_set(err, EX_USAGE,
                       "%s: Google does not allow Gmail scopes in the device flow, so --device "
                       "cannot work for this account. Use the browser flow: on a machine "
                       "without a browser, set redirect_uri = http://127.0.0.1:8765/ in the "
                       "account, run ssh -L 8765:127.0.0.1:8765 THIS-HOST on your own computer, "
                       "then run mailtoken authorize %s --no-browser here and open the printed "
                       "address on your computer; or use mailtoken authorize %s --manual",
                       a->name, a->name, a->name);
    if (a->device_authorization_endpoint == NULL)
        return err_set(err, EX_CONFIG,
                       "%s: device_authorization_endpoint is not set, so --device cannot be "
                       "used; set it, or use the browser flow", a->name);
    return 0;
}

/* Returns 1 when s is printable ASCII without spaces, 1 to max bytes long. */
static int
printable_word(const char *s, size_t max)
{
    size_t n = s != NULL ? strlen(s) : 0;

    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* Copies a display text with control characters replaced by spaces, cut at max bytes. */
static char *
display_copy(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *copy = malloc(n + 1);

    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
    copy[n] = '\0';
    return copy;
}

static int
dup_field(char **dst, const char *value)
{
    if (value == NULL)
        return 0;
    *dst = strdup(value);
    return *dst == NULL ? -1 : 0;
}

static int
parse_device_reply(const struct account *a, const char *body, size_t len,
                   struct device_authorization *d, struct mt_err *err)
{
    const char *why = "not an object", *uri, *complete, *message;
    struct json_object *o;
    int64_t v;
    int rc = -1;

    o = json_parse_wiped(body, len, &why);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        err_set(err, EX_PROTOCOL, "%s: the device authorization reply is not a JSON object (%s)",
                a->name, why);
        goto done;
    }
    uri = json_get_str(o, "verification_uri");
    if (uri == NULL)
        uri = json_get_str(o, "verification_url");
    complete = json_get_str(o, "verification_uri_complete");
    message = json_get_str(o, "message");

    if (!printable_word(json_get_str(o, "device_code"), 8192) ||
        !printable_word(json_get_str(o, "user_code"), USER_CODE_MAX) ||
        !printable_word(uri, URI_MAX) ||
        (strncmp(uri, "https://", 8) != 0 && strncmp(uri, "http://", 7) != 0)) {
        err_set(err, EX_PROTOCOL,
                "%s: the device authorization reply lacks a valid device_code, user_code or "
                "verification_uri", a->name);
        goto done;
    }
    if (dup_field(&d->device_code, json_get_str(o, "device_code")) != 0 ||
        dup_field(&d->user_code, json_get_str(o, "user_code")) != 0 ||
        dup_field(&d->verification_uri, uri) != 0 ||
        (printable_word(complete, URI_MAX) && strncmp(complete, "http", 4) == 0 &&
         dup_field(&d->verification_uri_complete, complete) != 0) ||
        (message != NULL && (d->message = display_copy(message, MESSAGE_MAX)) == NULL)) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    d->expires_in = FALLBACK_EXPIRES_IN;
    if (json_get_int_lenient(o, "expires_in", &v) == 1 && v > 0 && v <= 86400)
        d->expires_in = (long)v;
    else
        trace("%s: the device reply has no usable expires_in; assuming %d s", a->name,
              FALLBACK_EXPIRES_IN);
    d->interval = DEVICE_DEFAULT_INTERVAL;
    if (json_get_int_lenient(o, "interval", &v) == 1 && v > 0 && v <= DEVICE_MAX_INTERVAL)
        d->interval = (long)v;
    rc = 0;
done:
    json_wipe_put(o);
    if (rc != 0)
        device_authorization_free(d);
    return rc;
}

int
device_start(const struct account *a, const char *secret, struct device_authorization *d,
             struct mt_err *err)
{
    static const char what[] = "requesting a device code";
    struct net_response resp;
    struct form f;
    int rc = -1;

    memset(d, 0, sizeof(*d));
    if (device_check_account(a, err) != 0)
        return -1;
    form_init(&f);
    form_add(&f, "scope", a->scope, 0);
    trace("%s: requesting a device code from %s", a->name, a->device_authorization_endpoint);
    if (oauth_post(a, a->device_authorization_endpoint, &f, secret, &resp, err) != 0)
        goto done;
    if (resp.status != 200) {
        oauth_reply_error(a, what, resp.status, resp.content_type, mt_buf_str(&resp.body),
                          resp.body.len, resp.retry_after, err);
        goto done;
    }
    rc = parse_device_reply(a, mt_buf_str(&resp.body), resp.body.len, d, err);
done:
    mt_buf_free(&resp.body);
    return rc;
}

/* Reads the "error" member of a JSON reply into out (empty when there is none). */
static void
reply_error_code(const struct net_response *resp, char *out, size_t size)
{
    const char *why, *error;
    struct json_object *o;

    out[0] = '\0';
    o = json_parse_wiped(mt_buf_str(&resp->body), resp->body.len, &why);
    if (o != NULL && json_object_is_type(o, json_type_object) &&
        (error = json_get_str(o, "error")) != NULL)
        snprintf(out, size, "%s", error);
    json_wipe_put(o);
}

static long
longer_interval(long interval, long step)
{
    long next = step > 0 ? interval + step : interval * 2;

    return next > DEVICE_MAX_INTERVAL ? DEVICE_MAX_INTERVAL : next;
}

/* One poll of the token endpoint; the reply is in *resp on success. */
static int
poll_once(const struct account *a, const char *secret, const struct device_authorization *d,
          struct net_response *resp, struct mt_err *err)
{
    struct form f;

    form_init(&f);
    form_add(&f, "grant_type", DEVICE_GRANT_TYPE, 0);
    form_add(&f, "device_code", d->device_code, 1);
    return oauth_post(a, a->token_endpoint, &f, secret, resp, err);
}

/*
 * Turns the polling errors that end the grant into err and returns -1;
 * returns 0 for any other code.
 */
static int
stop_error(const struct account *a, const char *error, struct mt_err *err)
{
    if (strcmp(error, "access_denied") == 0 || strcmp(error, "authorization_declined") == 0)
        return err_set(err, EX_NOPERM,
                       "%s: the sign-in was declined (%s); run mailtoken authorize %s --device "
                       "again and accept the requested permissions", a->name, error, a->name);
    if (strcmp(error, "expired_token") == 0)
        return err_set(err, EX_TEMPFAIL,
                       "%s: the code expired (expired_token) before the sign-in on the other "
                       "device was completed; run mailtoken authorize %s --device again",
                       a->name, a->name);
    if (strcmp(error, "bad_verification_code") == 0)
        return err_set(err, EX_PROTOCOL,
                       "%s: the server does not recognise the device code "
                       "(bad_verification_code); run mailtoken authorize %s --device again",
                       a->name, a->name);
    return 0;
}

int
device_poll(const struct account *a, const char *secret, const struct device_authorization *d,
            time_t started, long max_wait, const struct device_clock *clock,
            struct token_reply *reply, struct mt_err *err)
{
    static const char what[] = "waiting for the sign-in on the other device";
    time_t deadline = started + d->expires_in;
    long interval = d->interval > 0 ? d->interval : DEVICE_DEFAULT_INTERVAL;
    int limited_by_option = 0;

    memset(reply, 0, sizeof(*reply));
    if (max_wait > 0 && started + max_wait < deadline) {
        deadline = started + max_wait;
        limited_by_option = 1;
    }

    for (;;) {
        struct net_response resp;
        char error[64];
        long left = (long)(deadline - clock->now());
        int rc;

        /* RFC 8628 section 3.5: no poll after the codes have expired. */
        if (left <= interval) {
            if (limited_by_option)
                return err_set(err, EX_TEMPFAIL,
                               "%s: timed out after %ld s waiting for the sign-in on the other "
                               "device (--timeout)", a->name, max_wait);
            return err_set(err, EX_TEMPFAIL,
                           "%s: the code expired (after %ld s) before the sign-in on the other "
                           "device was completed; run mailtoken authorize %s --device again",
                           a->name, d->expires_in, a->name);
        }
        if (clock->wait(clock->ctx, interval, left, err) != 0)
            return -1;

        if (poll_once(a, secret, d, &resp, err) != 0) {
            mt_buf_free(&resp.body);
            if (err->code != EX_TEMPFAIL)
                return -1;
            interval = longer_interval(interval, 0);
            trace("%s: polling failed (%s); next poll in %ld s", a->name, err->msg, interval);
            continue;
        }
        reply_error_code(&resp, error, sizeof(error));

        if (resp.status == 200 && error[0] == '\0') {
            rc = oauth_parse_token_reply(a, what, resp.status, resp.content_type,
                                         mt_buf_str(&resp.body), resp.body.len, reply, err);
            mt_buf_free(&resp.body);
            return rc;
        }
        if (strcmp(error, "authorization_pending") == 0) {
            trace("%s: authorization_pending; next poll in %ld s", a->name, interval);
            mt_buf_free(&resp.body);
            continue;
        }
        if (strcmp(error, "slow_down") == 0) {
            interval = longer_interval(interval, DEVICE_SLOW_DOWN_STEP);
            trace("%s: slow_down; polling every %ld s from now on", a->name, interval);
            mt_buf_free(&resp.body);
            continue;
        }
        if (stop_error(a, error, err) != 0) {
            mt_buf_free(&resp.body);
            return -1;
        }

        /* Anything else: the provider's error, translated; 5xx and 429 are retried. */
        oauth_reply_error(a, what, resp.status, resp.content_type, mt_buf_str(&resp.body),
                          resp.body.len, resp.retry_after, err);
        mt_buf_free(&resp.body);
        if (err->code != EX_TEMPFAIL)
            return -1;
        interval = longer_interval(interval, 0);
        trace("%s: %s; next poll in %ld s", a->name, err->msg, interval);
    }
}
