/* mailtoken tunnel: log in to IMAP with OAuth2, then relay a PREAUTH session. */
#include "tunnel.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mt_io.h"
#include "mt_sha256.h"
#include "mt_wipe.h"
#include "net.h"
#include "token.h"

#define RELAY_CHUNK 16384

int
tunnel_greeting(const char *caps, struct mt_buf *out)
{
    struct mt_buf shown;
    int rc;

    mt_buf_init(&shown, 8192);
    rc = imap_caps_for_preauth(caps, &shown);
    if (rc == 0)
        rc = mt_buf_printf(out, "* PREAUTH [CAPABILITY %s] mailtoken tunnel ready\r\n",
                           mt_buf_str(&shown));
    mt_buf_free(&shown);
    return rc;
}

/*
 * Logs in with the token; when the server rejects it, marks it rejected,
 * gets a fresh one and tries once more on a new AUTHENTICATE.
 */
static int
login(const struct config *cfg, const struct account *a, struct mail_session *s,
      enum mail_mech mech, const char *user, char **token, struct mt_err *err)
{
    char fingerprint[MT_FINGERPRINT_SIZE], fresh_fingerprint[MT_FINGERPRINT_SIZE];
    struct mail_auth_result res;
    struct mt_err mark_err;
    time_t expires;

    for (int attempt = 1;; attempt++) {
        if (mail_session_authenticate(s, mech, user, *token, &res, err) != 0) {
            err_prefix(err, "%s", a->name);
            return -1;
        }
        if (res.outcome == MAIL_AUTH_OK)
            return 0;
        if (res.outcome == MAIL_AUTH_TEMPORARY)
            return err_set(err, EX_TEMPFAIL,
                           "%s: %s could not check the token now: \"%s\". Try again later",
                           a->name, s->target.host, res.reply);

        mt_fingerprint_str(*token, fingerprint);
        err_clear(&mark_err);
        if (token_mark_rejected(cfg, a, fingerprint, &mark_err) != 0)
            mail_session_step(s, "could not mark the token as rejected: %s", mark_err.msg);
        if (attempt == 2)
            return err_set(err, EX_NOPERM,
                           "%s: %s rejected the refreshed token too: \"%s\"%s%s. Run mailtoken "
                           "check %s for the likely causes",
                           a->name, s->target.host, res.reply,
                           res.had_challenge ? "; error challenge: " : "",
                           res.had_challenge ? res.challenge.text : "", a->name);

        mail_session_step(s, "%s rejected token %s (\"%s\"); getting a new token", s->target.host,
                          fingerprint, res.reply);
        mt_strfree(*token);
        *token = NULL;
        if (token_get(cfg, a, 0, token, &expires, err) != 0)
            return -1;
        mt_fingerprint_str(*token, fresh_fingerprint);
        if (strcmp(fresh_fingerprint, fingerprint) == 0)
            return err_set(err, EX_NOPERM,
                           "%s: %s rejected the token, and the token endpoint returned the same "
                           "one: \"%s\". Run mailtoken check %s for the likely causes",
                           a->name, s->target.host, res.reply, a->name);
    }
}

/* Writes server bytes to the mail program. Returns 0, 1 when it went away, -1 on error. */
static int
to_program(int out_fd, const char *p, size_t n, struct mt_err *err)
{
    if (mt_write_all(out_fd, p, n) == 0)
        return 0;
    if (errno == EPIPE)
        return 1;
    return err_set(err, EX_IOERR, "cannot write to the mail program: %s", strerror(errno));
}

/*
 * Copies bytes both ways until one side closes. When the mail program
 * closes its end first, the tunnel sends LOGOUT, and the server's
 * replies are still passed on until the server closes the connection or
 * stays silent for timeout_s seconds.
 */
static int
relay(struct mail_session *s, int in_fd, int out_fd, struct mt_err *err)
{
    char buf[RELAY_CHUNK];
    int sock = s->net->mail_socket(s->conn), program_open = 1;

    for (;;) {
        struct pollfd fds[2] = {
            {.fd = sock, .events = POLLIN},
            {.fd = in_fd, .events = POLLIN},
        };
        int r;

        /* TLS may hold decrypted bytes that poll cannot see: drain them first. */
        for (;;) {
            long n = s->net->mail_recv(s->conn, buf, sizeof(buf), 0, err);

            if (n == NET_MAIL_AGAIN)
                break;
            if (n < 0)
                return -1;
            if (n == 0) {
                mail_session_step(s, "the server closed the connection");
                return 0;
            }
            r = to_program(out_fd, buf, (size_t)n, err);
            if (r != 0) {
                if (r > 0)
                    mail_session_step(s, "the mail program went away");
                return r > 0 ? 0 : -1;
            }
        }

        r = poll(fds, program_open ? 2 : 1, program_open ? -1 : (int)(s->timeout_s * 1000));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_set(err, EX_OSERR, "poll failed: %s", strerror(errno));
        if (r == 0) {
            mail_session_step(s, "the server sent nothing for %ld s after the mail program "
                              "closed its end", s->timeout_s);
            return 0;
        }
        if (!program_open)
            continue;
        if (fds[1].revents & POLLNVAL)
            return err_set(err, EX_IOERR, "standard input is not open");
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(in_fd, buf, sizeof(buf));

            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n < 0)
                return err_set(err, EX_IOERR, "cannot read from the mail program: %s",
                               strerror(errno));
            if (n == 0) {
                static const char logout[] = "MTLOGOUT LOGOUT\r\n";

                /* Programs that just close (NeoMutt, a killed mutt) would leave the server
                 * session open until the timeout. A LOGOUT after their last command ends
                 * it at once, and does no harm after their own LOGOUT. */
                mail_session_step(s, "the mail program closed its end; sending LOGOUT and "
                                  "passing on the rest of the server's replies");
                program_open = 0;
                if (s->net->mail_send(s->conn, logout, sizeof(logout) - 1, s->timeout_s, err) != 0) {
                    err_clear(err);
                    mail_session_step(s, "the server had closed the connection already");
                    return 0;
                }
                continue;
            }
            if (s->net->mail_send(s->conn, buf, (size_t)n, s->timeout_s, err) != 0)
                return -1;
        }
    }
}

int
tunnel_run(const struct config *cfg, const struct account *a, const struct tunnel_options *o,
           mail_observer_fn *observe, void *observe_ctx, struct mt_err *err)
{
    struct mail_session s;
    struct mail_target t;
    struct mail_reply reply;
    struct mt_buf greeting;
    const struct net_ops *net;
    const char *user = a->mailbox != NULL ? a->mailbox : a->user;
    const char *pending;
    enum mail_mech mech;
    char *token = NULL;
    time_t expires;
    size_t npending;
    int rc = -1;

    memset(&s, 0, sizeof(s));
    mt_buf_init(&greeting, 16384);
    if (o->server != NULL) {
        if (mail_target_parse(o->server, 1, MAIL_IMAP, &t, err) != 0)
            return -1;
    } else if (mail_target_for_account(a, MAIL_IMAP, &t, err) != 0) {
        err_prefix(err, "%s", a->name);
        return -1;
    }
    if (user == NULL)
        return err_set(err, EX_CONFIG,
                       "%s: no user name for the login: set user = ADDRESS (or mailbox =)",
                       a->name);
    if (token_get(cfg, a, 0, &token, &expires, err) != 0)
        return -1;
    net = net_load(err);
    if (net == NULL)
        goto done;
    if (mail_session_open(&s, net, &t, a->ca_file, a->proxy, a->timeout, observe, observe_ctx,
                          err) != 0 ||
        mail_session_choose_mech(&s, o->mech, &mech, err) != 0) {
        err_prefix(err, "%s", a->name);
        mail_session_goodbye(&s);
        goto done;
    }
    if (login(cfg, a, &s, mech, user, &token, err) != 0) {
        mail_session_goodbye(&s);
        goto done;
    }
    mail_session_step(&s, "authenticated as %s with %s", user, mail_mech_name(mech));

    if (!s.caps_known) {
        if (mail_session_command(&s, "CAPABILITY", &reply, err) != 0) {
            err_prefix(err, "%s", a->name);
            goto done;
        }
        if (!reply.ok) {
            err_set(err, EX_PROTOCOL, "%s: %s refused CAPABILITY after login: \"%s\"", a->name,
                    t.host, reply.text);
            mail_session_goodbye(&s);
            goto done;
        }
    }
    if (tunnel_greeting(mt_buf_str(&s.caps), &greeting) != 0) {
        err_set(err, EX_PROTOCOL, "%s: %s sent a capability list that is too long", a->name,
                t.host);
        mail_session_goodbye(&s);
        goto done;
    }
    mail_session_step(&s, "to the mail program: %.*s", (int)greeting.len - 2, greeting.data);
    pending = mail_session_pending(&s, &npending);
    if (mt_write_all(o->out_fd, greeting.data, greeting.len) != 0 ||
        mt_write_all(o->out_fd, pending, npending) != 0) {
        err_set(err, EX_IOERR, "%s: cannot write to the mail program: %s", a->name,
                strerror(errno));
        mail_session_goodbye(&s);
        goto done;
    }
    mt_strfree(token);
    token = NULL;
    if (relay(&s, o->in_fd, o->out_fd, err) != 0) {
        err_prefix(err, "%s", a->name);
        goto done;
    }
    rc = 0;
done:
    mail_session_close(&s);
    mt_buf_free(&greeting);
    mt_strfree(token);
    return rc;
}
