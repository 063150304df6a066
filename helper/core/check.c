/* mailtoken check: one login with the token, one harmless command, logout. */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mt_sha256.h"
#include "mt_wipe.h"
#include "net.h"
#include "token.h"

static void
add_cause(struct check_outcome *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add_cause(struct check_outcome *out, const char *fmt, ...)
{
    va_list ap;

    if (out->ncauses >= CHECK_MAX_CAUSES)
        return;
    va_start(ap, fmt);
    vsnprintf(out->causes[out->ncauses], sizeof(out->causes[0]), fmt, ap);
    va_end(ap);
    out->ncauses++;
}

/* Returns 1 when the space-separated list has a word that ends with suffix. */
static int
has_word_ending(const char *list, const char *suffix)
{
    size_t n = strlen(suffix);
    const char *p = list != NULL ? list : "";

    while (*p != '\0') {
        size_t len;

        while (*p == ' ')
            p++;
        len = strcspn(p, " ");
        if (len >= n && strncasecmp(p + len - n, suffix, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/* The scope a provider's token needs for a protocol, or NULL when unknown. */
static const char *
needed_scope(const struct account *a, enum mail_protocol p, const char **short_name_r)
{
    static const char *const short_names[] = {"imap", "pop", "smtp"};

    *short_name_r = short_names[p];
    if (a->grant == GRANT_CLIENT_CREDENTIALS)
        return NULL;
    if (a->provider == PROVIDER_GOOGLE)
        return "https://mail.google.com/";
    if (a->provider != PROVIDER_MICROSOFT)
        return NULL;
    switch (p) {
    case MAIL_IMAP:
        return "/IMAP.AccessAsUser.All";
    case MAIL_POP3:
        return "/POP.AccessAsUser.All";
    case MAIL_SMTP:
        return "/SMTP.Send";
    }
    return NULL;
}

static const char *
sasl_user(const struct account *a)
{
    return a->mailbox != NULL ? a->mailbox : a->user;
}

static void
explain_user(const struct account *a, struct check_outcome *out)
{
    if (a->mailbox != NULL && a->user != NULL)
        add_cause(out,
                  "the signed-in user %s has no full access to the mailbox %s (user=%s in the "
                  "login): an administrator must grant it, or remove mailbox = from the account",
                  a->user, a->mailbox, a->mailbox);
    else
        add_cause(out,
                  "user=%s in the login is not the account that signed in during mailtoken "
                  "authorize %s: set user = to that account's address",
                  sasl_user(a), a->name);
}

static void
explain_expiry(const struct account *a, struct check_outcome *out)
{
    add_cause(out,
              "the token expired or was revoked at the server (for example after a password "
              "change): the next mailtoken run refreshes it, and if the refresh fails, run "
              "mailtoken authorize %s",
              a->name);
}

void
check_explain_rejection(const struct account *a, enum mail_protocol p,
                        const struct mail_auth_result *res, struct check_outcome *out)
{
    const char *short_name, *scope = needed_scope(a, p, &short_name);
    int microsoft = a->provider == PROVIDER_MICROSOFT;
    /* An error challenge means that the server found the token itself invalid. */
    int token_invalid = res->had_challenge;

    if (p == MAIL_SMTP && strcmp(res->enhanced, "5.7.139") == 0)
        add_cause(out,
                  "SMTP AUTH is disabled for this mailbox or for the whole tenant (reply "
                  "5.7.139): an Exchange administrator must allow authenticated SMTP, for the "
                  "mailbox with Set-CASMailbox -SmtpClientAuthenticationDisabled $false (see "
                  "https://aka.ms/smtp_auth_disabled)");
    if (token_invalid)
        explain_expiry(a, out);
    if (scope != NULL && !has_word_ending(a->scope, scope))
        add_cause(out,
                  "the account does not request the %s scope (scope = %s): add %s to scope, "
                  "then run mailtoken authorize %s",
                  scope[0] == '/' ? scope + 1 : scope, a->scope != NULL ? a->scope : "",
                  short_name, a->name);
    if (res->had_challenge && res->challenge.scope[0] != '\0' &&
        !has_word_ending(a->scope, res->challenge.scope))
        add_cause(out,
                  "the server asks for the scope \"%s\", which the account does not request: "
                  "add it to scope, then run mailtoken authorize %s",
                  res->challenge.scope, a->name);
    explain_user(a, out);
    if (microsoft && p == MAIL_IMAP)
        add_cause(out, "IMAP is disabled for the mailbox: an Exchange administrator can enable "
                       "it with Set-CASMailbox -ImapEnabled $true");
    else if (microsoft && p == MAIL_POP3)
        add_cause(out, "POP is disabled for the mailbox: an Exchange administrator can enable "
                       "it with Set-CASMailbox -PopEnabled $true");
    else if (microsoft && strcmp(res->enhanced, "5.7.139") != 0)
        add_cause(out, "SMTP AUTH is disabled for the mailbox: an Exchange administrator can "
                       "enable it with Set-CASMailbox -SmtpClientAuthenticationDisabled $false");
    if (!token_invalid)
        explain_expiry(a, out);
}

/* Causes of Microsoft's "User is authenticated but not connected" and similar. */
static void
explain_not_connected(const struct account *a, struct check_outcome *out)
{
    explain_user(a, out);
    add_cause(out, "too many connections to this mailbox are open: close other mail programs "
                   "(each open folder may hold one) and try again");
    if (a->grant == GRANT_CLIENT_CREDENTIALS)
        add_cause(out, "app-only access: the application's service principal must be "
                       "registered in Exchange and given access to the mailbox "
                       "(New-ServicePrincipal, Add-MailboxPermission)");
}

static int
resolve_target(const struct account *a, const struct check_options *o, struct mail_target *t,
               struct mt_err *err)
{
    if (o->server != NULL)
        return mail_target_parse(o->server, o->protocol_given, o->protocol, t, err);
    if (mail_target_for_account(a, o->protocol, t, err) != 0) {
        err_prefix(err, "%s", a->name);
        return -1;
    }
    return 0;
}

/* The login's outcome, when it was not a success, as an error and causes. */
static int
login_failed(const struct config *cfg, const struct account *a, struct mail_session *s,
             const char *token, const struct mail_auth_result *res, struct check_outcome *out,
             struct mt_err *err)
{
    char fingerprint[MT_FINGERPRINT_SIZE];
    struct mt_err mark_err;

    if (res->outcome == MAIL_AUTH_TEMPORARY)
        return err_set(err, EX_TEMPFAIL,
                       "%s: %s could not check the token now: \"%s\". Try again later",
                       a->name, s->target.host, res->reply);

    check_explain_rejection(a, s->target.protocol, res, out);
    mt_fingerprint_str(token, fingerprint);
    err_clear(&mark_err);
    if (token_mark_rejected(cfg, a, fingerprint, &mark_err) == 0) {
        out->token_rejected = 1;
        mail_session_step(s, "token %s marked as rejected: the next mailtoken run refreshes it",
                          fingerprint);
    } else {
        mail_session_step(s, "could not mark the token as rejected: %s", mark_err.msg);
    }
    if (res->had_challenge)
        return err_set(err, EX_NOPERM,
                       "%s: %s rejected the token with %s: \"%s\" (error challenge: %s)",
                       a->name, s->target.host, mail_mech_name(res->mech), res->reply,
                       res->challenge.text);
    return err_set(err, EX_NOPERM, "%s: %s rejected the token with %s: \"%s\"", a->name,
                   s->target.host, mail_mech_name(res->mech), res->reply);
}

/* Runs the protocol's harmless command after login. */
static int
after_login(const struct account *a, struct mail_session *s, struct check_outcome *out,
            struct mt_err *err)
{
    struct mail_reply reply;

    switch (s->target.protocol) {
    case MAIL_IMAP:
        /* EXAMINE, not SELECT: read-only, so not even \Recent flags change. */
        if (mail_session_command(s, "EXAMINE INBOX", &reply, err) != 0)
            return -1;
        if (reply.ok)
            return 0;
        if (strcasestr(reply.text, "not connected") != NULL) {
            explain_not_connected(a, out);
            return err_set(err, EX_CONFIG,
                           "%s: the token was accepted, but %s cannot open the mailbox of "
                           "user=%s: \"%s\"",
                           a->name, s->target.host, sasl_user(a), reply.text);
        }
        return err_set(err, EX_PROTOCOL,
                       "%s: the login worked, but EXAMINE INBOX failed: \"%s\"", a->name,
                       reply.text);
    case MAIL_POP3:
        if (mail_session_command(s, "STAT", &reply, err) != 0)
            return -1;
        if (reply.ok)
            return 0;
        return err_set(err, EX_PROTOCOL, "%s: the login worked, but STAT failed: \"%s\"",
                       a->name, reply.text);
    case MAIL_SMTP:
        /* Nothing more: MAIL FROM would start sending a message. */
        return 0;
    }
    return 0;
}

int
check_run(const struct config *cfg, const struct account *a, const struct check_options *o,
          mail_observer_fn *observe, void *observe_ctx, struct check_outcome *out,
          struct mt_err *err)
{
    struct mail_session s;
    struct mail_auth_result res;
    struct mail_target t;
    char fingerprint[MT_FINGERPRINT_SIZE];
    const struct net_ops *net;
    enum mail_mech mech = MAIL_MECH_XOAUTH2;
    char *token = NULL;
    time_t expires;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    memset(&s, 0, sizeof(s));
    if (resolve_target(a, o, &t, err) != 0)
        return -1;
    if (sasl_user(a) == NULL)
        return err_set(err, EX_CONFIG,
                       "%s: no user name for the login: set user = ADDRESS (or mailbox =)",
                       a->name);
    /* The token first: without one there is no point in connecting. */
    if (token_get(cfg, a, 0, &token, &expires, err) != 0)
        return -1;
    net = net_load(err);
    if (net == NULL)
        goto done;

    mt_fingerprint_str(token, fingerprint);
    if (observe != NULL) {
        char text[256];

        snprintf(text, sizeof(text), "access token %s for user=%s, valid for %ld more minutes",
                 fingerprint, sasl_user(a), expires > 0 ? (long)(expires - time(NULL)) / 60 : 0L);
        observe(observe_ctx, MAIL_EVENT_STEP, text);
    }
    if (mail_session_open(&s, net, &t, a->ca_file, a->proxy, a->timeout, observe, observe_ctx,
                          err) != 0) {
        err_prefix(err, "%s", a->name);
        goto done;
    }
    if (mail_session_choose_mech(&s, o->mech, &mech, err) != 0) {
        err_prefix(err, "%s", a->name);
        goto goodbye;
    }
    mail_session_step(&s, "logging in with %s (the server offers: %s)", mail_mech_name(mech),
                      s.caps_known ? mt_buf_str(&s.caps) : "unknown");
    if (mail_session_authenticate(&s, mech, sasl_user(a), token, &res, err) != 0) {
        err_prefix(err, "%s", a->name);
        goto goodbye;
    }
    if (res.outcome != MAIL_AUTH_OK) {
        login_failed(cfg, a, &s, token, &res, out, err);
        goto goodbye;
    }
    mail_session_step(&s, "authenticated as %s with %s%s", sasl_user(a), mail_mech_name(mech),
                      res.used_ir ? "" : " (response sent after the server's continuation)");
    if (after_login(a, &s, out, err) != 0)
        goto goodbye;
    rc = 0;
goodbye:
    if (mail_session_goodbye(&s) == 0)
        mail_session_step(&s, "logged out");
    if (rc == 0)
        mail_session_step(&s, "ok: %s logs in to %s port %ld over %s with %s", a->name, t.host,
                          t.port, mail_protocol_name(t.protocol), mail_mech_name(mech));
done:
    mail_session_close(&s);
    mt_strfree(token);
    return rc;
}
