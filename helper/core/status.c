/* The state of an account, read from the store without network. */
#include "status.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "certinfo.h"
#include "err.h"
#include "token.h"

const char *
status_state_name(enum account_state s)
{
    switch (s) {
    case STATE_UNAUTHORIZED:
        return "unauthorized";
    case STATE_AUTHORIZED:
        return "authorized";
    case STATE_EXPIRED:
        return "expired";
    case STATE_NEEDS_REAUTH:
        return "needs-reauthorization";
    default:
        return "error";
    }
}

static void
add_warning(struct account_status *out, const char *text)
{
    size_t n = strlen(out->warning);

    snprintf(out->warning + n, sizeof(out->warning) - n, "%s%s", n > 0 ? "; " : "", text);
}

static void
secret_warning(const struct account *a, time_t now, struct account_status *out)
{
    char text[160];
    long days;

    if (a->client_secret_expires == 0)
        return;
    out->credential_expires = a->client_secret_expires;
    days = (long)((a->client_secret_expires - now) / 86400);
    if (a->client_secret_expires <= now) {
        add_warning(out, "the client secret has expired: create a new one in the app "
                    "registration");
    } else if (days < STATUS_SECRET_WARN_DAYS) {
        snprintf(text, sizeof(text), "the client secret expires in %ld days: create a new one "
                 "in the app registration", days);
        add_warning(out, text);
    }
}

static void
date_text(char *out, size_t size, time_t t)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%d", &tm);
}

/* Reads the certificate's validity period (a DER walk, no OpenSSL) and warns ahead of its end. */
static void
certificate_warning(const struct account *a, time_t now, struct account_status *out)
{
    const char *key = a->client_key != NULL ? a->client_key : a->client_certificate;
    struct cert_validity v;
    struct mt_err err;
    struct stat sb;
    char text[600], date[16];
    long days;

    out->credential_is_certificate = 1;
    err_clear(&err);
    if (certinfo_pem_validity(a->client_certificate, &v, &err) != 0) {
        add_warning(out, err.msg);
        return;
    }
    out->credential_expires = v.not_after;
    days = (long)((v.not_after - now) / 86400);
    date_text(date, sizeof(date), v.not_after);
    if (v.not_after <= now) {
        snprintf(text, sizeof(text), "the certificate in client_certificate expired on %s: "
                 "create a new one and upload it to the app registration", date);
        add_warning(out, text);
    } else if (days < STATUS_SECRET_WARN_DAYS) {
        snprintf(text, sizeof(text), "the certificate in client_certificate expires in %ld days "
                 "(%s): create a new one and upload it to the app registration", days, date);
        add_warning(out, text);
    } else if (v.not_before > now) {
        date_text(date, sizeof(date), v.not_before);
        snprintf(text, sizeof(text), "the certificate in client_certificate is valid only from "
                 "%s: check this computer's clock", date);
        add_warning(out, text);
    }
    if (stat(key, &sb) == 0 && (sb.st_mode & 077) != 0) {
        snprintf(text, sizeof(text), "the private key file %.256s can be read by other users, "
                 "so mailtoken will not use it: run chmod 600 %.256s", key, key);
        add_warning(out, text);
    }
}

void
status_get(const struct account *a, struct store *st, time_t now, struct account_status *out)
{
    struct tokens t;
    struct mt_err err;
    int r = 0;

    memset(out, 0, sizeof(*out));
    memset(&t, 0, sizeof(t));
    err_clear(&err);
    if (a->client_certificate != NULL)
        certificate_warning(a, now, out);
    else
        secret_warning(a, now, out);
    if (st != NULL)
        r = store_read(st, a->name, &t, &err);
    if (r < 0) {
        out->state = STATE_ERROR;
        snprintf(out->error, sizeof(out->error), "%s", err.msg);
        return;
    }

    if (t.access_token != NULL) {
        out->access_expires = t.expires_in > 0 ? t.obtained_at + t.expires_in : 0;
        out->access_valid = token_access_valid(&t, a->refresh_margin, now);
    }
    out->refresh_used_at = t.refresh_used_at;
    if (t.last_error_code != 0 && t.last_error != NULL)
        snprintf(out->error, sizeof(out->error), "%s", t.last_error);

    if (a->grant == GRANT_CLIENT_CREDENTIALS) {
        /* App-only accounts need no sign-in: they work whenever their credentials do. */
        out->state = t.last_error_code != 0 && t.last_error_code != EX_TEMPFAIL
                         ? STATE_ERROR
                         : STATE_AUTHORIZED;
        goto done;
    }
    if (t.refresh_token == NULL) {
        out->state = STATE_UNAUTHORIZED;
        goto done;
    }
    if (t.refresh_used_at > 0)
        out->refresh_lapses = t.refresh_used_at + a->refresh_token_lifetime;
    if (t.last_error_code == EX_NOPERM)
        out->state = STATE_NEEDS_REAUTH;
    else if (t.last_error_code != 0 && t.last_error_code != EX_TEMPFAIL)
        out->state = STATE_ERROR;
    else if (out->refresh_lapses != 0 && out->refresh_lapses <= now)
        out->state = STATE_EXPIRED;
    else
        out->state = STATE_AUTHORIZED;

    if (out->state == STATE_AUTHORIZED && out->refresh_lapses != 0 &&
        out->refresh_lapses - now < (time_t)STATUS_WARN_DAYS * 86400) {
        char text[200];

        snprintf(text, sizeof(text),
                 "the refresh token has not been used for %ld days and lapses in %ld days: run "
                 "mailtoken token %s", (long)((now - t.refresh_used_at) / 86400),
                 (long)((out->refresh_lapses - now) / 86400), a->name);
        add_warning(out, text);
    }
done:
    tokens_free(&t);
}
