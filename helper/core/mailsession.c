/* Talking to a mail server: lines, commands and the OAuth2 login. */
#include "mailsession.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mt_base64.h"
#include "mt_sha256.h"

/* Maximum length of a line in the transcript. Longer lines are cut and end in "...". */
#define DISPLAY_MAX 400

/* RFC 5321 section 4.5.3.1.4: an SMTP command line, CRLF included. */
#define SMTP_MAX_COMMAND 512

#define SETUP_MAX 65536

static void
emit(struct mail_session *s, enum mail_event event, const char *text, size_t len)
{
    char shown[DISPLAY_MAX + 4];

    if (s->observe == NULL)
        return;
    mail_sanitize(shown, DISPLAY_MAX + 1, text, len);
    if (len > DISPLAY_MAX)
        memcpy(shown + DISPLAY_MAX, "...", 4);
    s->observe(s->observe_ctx, event, shown);
}

void
mail_session_step(struct mail_session *s, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    emit(s, MAIL_EVENT_STEP, text, strlen(text));
}

static int
word_at(const char *p, size_t len, const char *word)
{
    size_t n = strlen(word);

    return len >= n && strncasecmp(p, word, n) == 0 && (len == n || p[n] == ' ');
}

/* Returns 1 when a command line (len bytes) is word, after an IMAP tag or not. */
static int
is_command(const char *line, size_t len, const char *word)
{
    const char *space = memchr(line, ' ', len);

    if (word_at(line, len, word))
        return 1;
    return space != NULL && word_at(space + 1, len - (size_t)(space + 1 - line), word);
}

/* Receives libcurl's setup transcript and keeps the capability replies. */
static void
on_setup(void *ctx, enum net_mail_event event, const char *text, size_t len)
{
    struct mail_session *s = ctx;

    switch (event) {
    case NET_MAIL_SERVER_LINE:
        emit(s, MAIL_EVENT_SERVER, text, len);
        if (mt_buf_append(&s->setup, text, len) != 0 || mt_buf_append_byte(&s->setup, '\n') != 0)
            mt_buf_reset(&s->setup);
        break;
    case NET_MAIL_CLIENT_LINE:
        emit(s, MAIL_EVENT_CLIENT, text, len);
        /*
         * Capabilities sent before STARTTLS must be discarded (RFC 3501
         * section 6.2.1, RFC 3207 section 4.2), and each EHLO or CAPA
         * reply replaces the previous one.
         */
        if (is_command(text, len, "STARTTLS") || is_command(text, len, "STLS") ||
            is_command(text, len, "EHLO") || is_command(text, len, "CAPA"))
            mt_buf_reset(&s->setup);
        break;
    case NET_MAIL_TLS:
        mail_session_step(s, "TLS handshake done: %.*s", (int)len, text);
        break;
    }
}

/* Joins the texts of the SMTP reply lines in setup, without their codes. */
static int
smtp_texts(const char *lines, struct mt_buf *out)
{
    const char *line = lines;

    while (*line != '\0') {
        size_t len = strcspn(line, "\n");
        char copy[1024];
        int code, last, off;

        mail_sanitize(copy, sizeof(copy), line, len);
        off = smtp_reply_line(copy, &code, &last);
        if (off >= 0 && code == 250 &&
            (mt_buf_append_str(out, copy + off) != 0 || mt_buf_append_byte(out, '\n') != 0))
            return -1;
        line += len;
        if (*line == '\n')
            line++;
    }
    return 0;
}

/*
 * Reads the capabilities from libcurl's setup transcript. Returns 1 when
 * the transcript has the capability reply (after STARTTLS, if any), and
 * sets s->caps_known when it lists the SASL mechanisms.
 */
static int
caps_from_setup(struct mail_session *s)
{
    const char *setup = mt_buf_str(&s->setup);
    struct mt_buf texts;
    int found = 0;

    switch (s->target.protocol) {
    case MAIL_IMAP: {
        const char *line = setup;

        while (*line != '\0') {
            size_t len = strcspn(line, "\n");
            char copy[4096];

            mail_sanitize(copy, sizeof(copy), line, len);
            if (imap_capability_parse(copy, &s->caps) == 1)
                found = 1;
            line += len;
            if (*line == '\n')
                line++;
        }
        s->caps_known = found;
        break;
    }
    case MAIL_SMTP:
        mt_buf_init(&texts, SETUP_MAX);
        if (smtp_texts(setup, &texts) == 0 && texts.len > 0) {
            found = 1;
            /* No AUTH keyword: the server offers no mechanism at all. */
            if (smtp_ehlo_auth(mt_buf_str(&texts), &s->caps) != 1)
                mt_buf_reset(&s->caps);
            s->caps_known = 1;
        }
        mt_buf_free(&texts);
        break;
    case MAIL_POP3:
        if (strncmp(setup, "+OK", 3) == 0) {
            found = 1;
            /* Without a SASL line in CAPA the mechanisms stay unknown. */
            s->caps_known = pop3_capa_sasl(setup, &s->caps) == 1;
        }
        break;
    }
    return found;
}

int
mail_session_open(struct mail_session *s, const struct net_ops *net, const struct mail_target *t,
                  const char *ca_file, const char *proxy, long timeout_s,
                  mail_observer_fn *observe, void *observe_ctx, struct mt_err *err)
{
    struct net_mail_request req = {
        .ca_file = ca_file,
        .proxy = proxy,
        .timeout_s = timeout_s,
        .observe = on_setup,
        .observe_ctx = s,
    };
    char url[MAIL_HOST_MAX + 32];
    struct mail_reply reply;
    int found;

    memset(s, 0, sizeof(*s));
    s->net = net;
    s->target = *t;
    s->timeout_s = timeout_s;
    s->observe = observe;
    s->observe_ctx = observe_ctx;
    s->next_tag = 1;
    mt_buf_init(&s->in, MAIL_MAX_LINE + 16384);
    mt_buf_init(&s->line, MAIL_MAX_LINE);
    mt_buf_init(&s->caps, 8192);
    mt_buf_init(&s->setup, SETUP_MAX);
    if (mail_target_url(t, url, sizeof(url)) != 0)
        return err_set(err, EX_USAGE, "the server name %s is too long", t->host);
    req.url = url;

    mail_session_step(s, "connecting to %s port %ld (%s, %s)", t->host, t->port,
                      mail_protocol_name(t->protocol),
                      t->tls == MAIL_TLS_IMPLICIT ? "implicit TLS" : "STARTTLS required");
    if (net->mail_open(&req, &s->conn, &s->info, err) != 0)
        return -1;
    mail_session_step(s, "certificate verified for %s (server %s port %ld, %s)", t->host,
                      s->info.ip[0] != '\0' ? s->info.ip : t->host, s->info.port,
                      s->info.tls[0] != '\0' ? s->info.tls : "TLS");

    found = caps_from_setup(s);
    mt_buf_free(&s->setup);
    if (found)
        return 0;
    /* libcurl did not show them (or not after STARTTLS): ask. */
    switch (t->protocol) {
    case MAIL_IMAP:
        if (mail_session_command(s, "CAPABILITY", &reply, err) != 0)
            return -1;
        s->caps_known = reply.ok;
        break;
    case MAIL_SMTP:
        if (mail_session_command(s, "EHLO localhost", &reply, err) != 0)
            return -1;
        s->caps_known = reply.ok;
        break;
    case MAIL_POP3:
        if (mail_session_command(s, "CAPA", &reply, err) != 0)
            return -1;
        s->caps_known = reply.ok && s->caps.len > 0;
        break;
    }
    return 0;
}

void
mail_session_close(struct mail_session *s)
{
    if (s->net != NULL && s->conn != NULL)
        s->net->mail_close(s->conn);
    s->conn = NULL;
    mt_buf_free(&s->in);
    mt_buf_free(&s->line);
    mt_buf_free(&s->caps);
    mt_buf_free(&s->setup);
}

static long
ms_until(const struct timespec *deadline)
{
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? ms : 0;
}

/* Takes a complete line out of s->in into s->line. Returns 1 when there was one. */
static int
take_line(struct mail_session *s)
{
    size_t avail = s->in.len - s->in_pos;
    char *start, *nl;
    size_t len;

    /* in.data is NULL until the first byte arrives, and NULL + 0 is undefined. */
    if (avail == 0)
        return 0;
    start = s->in.data + s->in_pos;
    nl = memchr(start, '\n', avail);
    if (nl == NULL)
        return 0;
    len = (size_t)(nl - start);
    s->in_pos += len + 1;
    if (len > 0 && start[len - 1] == '\r')
        len--;
    mt_buf_reset(&s->line);
    if (mt_buf_append(&s->line, start, len) != 0)
        return -1;
    return 1;
}

static int read_line(struct mail_session *s, struct mt_err *err);

int
mail_session_read_line(struct mail_session *s, struct mt_err *err)
{
    if (read_line(s, err) != 0) {
        s->broken = 1;
        return -1;
    }
    emit(s, MAIL_EVENT_SERVER, s->line.data, s->line.len);
    return 0;
}

static int
read_line(struct mail_session *s, struct mt_err *err)
{
    struct timespec deadline;
    char chunk[16384];
    int r;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += s->timeout_s;
    r = take_line(s);
    while (r == 0) {
        size_t avail = s->in.len - s->in_pos;
        long n, ms;

        if (avail > MAIL_MAX_LINE)
            return err_set(err, EX_PROTOCOL, "%s sent a line longer than %d bytes",
                           s->target.host, MAIL_MAX_LINE);
        if (s->in_pos > 0) {
            memmove(s->in.data, s->in.data + s->in_pos, avail);
            s->in.len = avail;
            s->in.data[avail] = '\0';
            s->in_pos = 0;
        }
        ms = ms_until(&deadline);
        n = ms > 0 ? s->net->mail_recv(s->conn, chunk, sizeof(chunk), (int)ms, err)
                   : NET_MAIL_AGAIN;
        if (n == NET_MAIL_AGAIN)
            return err_set(err, EX_TEMPFAIL, "%s sent no reply within %ld s: try again later",
                           s->target.host, s->timeout_s);
        if (n < 0)
            return -1;
        if (n == 0)
            return err_set(err, EX_TEMPFAIL, "%s closed the connection", s->target.host);
        if (mt_buf_append(&s->in, chunk, (size_t)n) != 0)
            return err_set(err, EX_PROTOCOL, "%s sent a line longer than %d bytes",
                           s->target.host, MAIL_MAX_LINE);
        /* Only new bytes can end the line, so a long line is not searched again each time. */
        if (memchr(chunk, '\n', (size_t)n) != NULL)
            r = take_line(s);
    }
    if (r < 0)
        return err_set(err, EX_PROTOCOL, "%s sent a line longer than %d bytes", s->target.host,
                       MAIL_MAX_LINE);
    return 0;
}

int
mail_session_send_line(struct mail_session *s, const char *line, size_t len,
                       const char *display, struct mt_err *err)
{
    struct mt_buf out;
    int rc = -1;

    mt_buf_init(&out, len + 2);
    if (mt_buf_append(&out, line, len) != 0 || mt_buf_append(&out, "\r\n", 2) != 0) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    emit(s, MAIL_EVENT_CLIENT, display != NULL ? display : line,
         display != NULL ? strlen(display) : len);
    rc = s->net->mail_send(s->conn, out.data, out.len, s->timeout_s, err);
    if (rc != 0)
        s->broken = 1;
done:
    mt_buf_free(&out);
    return rc;
}

static int
send_str(struct mail_session *s, const char *line, struct mt_err *err)
{
    return mail_session_send_line(s, line, strlen(line), NULL, err);
}

static int
broken_reply(struct mail_session *s, const char *what, struct mt_err *err)
{
    char shown[200];

    mail_sanitize(shown, sizeof(shown), s->line.data, s->line.len);
    return err_set(err, EX_PROTOCOL, "%s sent %s: \"%s\"", s->target.host, what, shown);
}

/*
 * Reads a whole SMTP reply. *code_r gets its code, and texts (may be
 * NULL) gets the texts of its lines joined by '\n'. s->line contains the
 * last line.
 */
static int
read_smtp_reply(struct mail_session *s, int *code_r, struct mt_buf *texts, struct mt_err *err)
{
    int first = -1;

    for (;;) {
        int code, last, off;

        if (mail_session_read_line(s, err) != 0)
            return -1;
        off = smtp_reply_line(s->line.data, &code, &last);
        if (off < 0 || (first >= 0 && code != first))
            return broken_reply(s, "a line that is not an SMTP reply", err);
        first = code;
        if (texts != NULL && (mt_buf_append_str(texts, s->line.data + off) != 0 ||
                              mt_buf_append_byte(texts, '\n') != 0))
            return err_set(err, EX_PROTOCOL, "%s sent a reply that is too long",
                           s->target.host);
        if (last)
            break;
    }
    *code_r = first;
    return 0;
}

static void
next_tag(struct mail_session *s, char *tag, size_t size)
{
    snprintf(tag, size, "M%u", s->next_tag++);
}

/* Reads the rest of a POP3 multi-line reply (up to "."); CAPA's SASL line updates s->caps. */
static int
read_pop3_multiline(struct mail_session *s, int is_capa, struct mt_err *err)
{
    struct mt_buf lines;
    int rc = -1;

    mt_buf_init(&lines, SETUP_MAX);
    for (;;) {
        if (mail_session_read_line(s, err) != 0)
            goto done;
        if (strcmp(s->line.data, ".") == 0)
            break;
        if (mt_buf_append(&lines, s->line.data, s->line.len) != 0 ||
            mt_buf_append_byte(&lines, '\n') != 0) {
            err_set(err, EX_PROTOCOL, "%s sent a reply that is too long", s->target.host);
            goto done;
        }
    }
    if (is_capa && pop3_capa_sasl(mt_buf_str(&lines), &s->caps) < 0) {
        err_set(err, EX_PROTOCOL, "%s sent a SASL line that is too long", s->target.host);
        goto done;
    }
    rc = 0;
done:
    mt_buf_free(&lines);
    return rc;
}

/*
 * NOTE: literals ({n} at the end of a line) are not read as such. The
 * commands sent here (CAPABILITY, EXAMINE, LOGOUT) get no literals in
 * their replies; a literal's lines would be read as untagged lines.
 */
static int
imap_command(struct mail_session *s, const char *command, struct mail_reply *reply,
             struct mt_err *err)
{
    char tag[16], line[512];
    struct imap_reply r;

    next_tag(s, tag, sizeof(tag));
    snprintf(line, sizeof(line), "%s %s", tag, command);
    if (send_str(s, line, err) != 0)
        return -1;
    for (;;) {
        if (mail_session_read_line(s, err) != 0)
            return -1;
        imap_reply_parse(s->line.data, &r);
        if (r.kind == IMAP_UNTAGGED) {
            if (imap_capability_parse(s->line.data, &s->caps) < 0)
                return broken_reply(s, "a capability list that is too long", err);
            continue;
        }
        if (r.kind != IMAP_TAGGED || strcmp(r.tag, tag) != 0)
            return broken_reply(s, "an unexpected line", err);
        if (imap_capability_parse(s->line.data, &s->caps) < 0)
            return broken_reply(s, "a capability list that is too long", err);
        reply->ok = r.cond == IMAP_OK;
        reply->cond = r.cond;
        snprintf(reply->code, sizeof(reply->code), "%s", r.code);
        mail_sanitize(reply->text, sizeof(reply->text), s->line.data, s->line.len);
        return 0;
    }
}

int
mail_session_command(struct mail_session *s, const char *command, struct mail_reply *reply,
                     struct mt_err *err)
{
    struct mt_buf texts;
    int rc = -1;

    memset(reply, 0, sizeof(*reply));
    switch (s->target.protocol) {
    case MAIL_IMAP:
        return imap_command(s, command, reply, err);
    case MAIL_POP3:
        if (send_str(s, command, err) != 0 || mail_session_read_line(s, err) != 0)
            return -1;
        if (strncmp(s->line.data, "+OK", 3) == 0)
            reply->ok = 1;
        else if (strncmp(s->line.data, "-ERR", 4) != 0)
            return broken_reply(s, "a line that is not a POP3 reply", err);
        pop3_resp_code(s->line.data, reply->code, sizeof(reply->code));
        mail_sanitize(reply->text, sizeof(reply->text), s->line.data, s->line.len);
        if (reply->ok && strcasecmp(command, "CAPA") == 0)
            return read_pop3_multiline(s, 1, err);
        return 0;
    case MAIL_SMTP:
        mt_buf_init(&texts, SETUP_MAX);
        if (send_str(s, command, err) == 0 &&
            read_smtp_reply(s, &reply->smtp_code, &texts, err) == 0) {
            reply->ok = reply->smtp_code / 100 == 2;
            mail_sanitize(reply->text, sizeof(reply->text), s->line.data, s->line.len);
            if (reply->ok && strncasecmp(command, "EHLO", 4) == 0 &&
                smtp_ehlo_auth(mt_buf_str(&texts), &s->caps) != 1)
                mt_buf_reset(&s->caps);
            rc = 0;
        }
        mt_buf_free(&texts);
        return rc;
    }
    return err_set(err, EX_SOFTWARE, "unknown protocol");
}

int
mail_session_goodbye(struct mail_session *s)
{
    struct mail_reply reply;
    struct mt_err ignored;

    if (s->conn == NULL || s->broken)
        return -1;
    err_clear(&ignored);
    if (mail_session_command(s, s->target.protocol == MAIL_IMAP ? "LOGOUT" : "QUIT", &reply,
                             &ignored) != 0)
        return -1;
    return reply.ok ? 0 : -1;
}

const char *
mail_session_pending(const struct mail_session *s, size_t *n_r)
{
    *n_r = s->in.len - s->in_pos;
    return *n_r > 0 ? s->in.data + s->in_pos : "";
}

/* ---- choosing the mechanism ---- */

static const char *
offered_word(enum mail_protocol p, enum mail_mech m)
{
    if (p == MAIL_IMAP)
        return m == MAIL_MECH_OAUTHBEARER ? "AUTH=OAUTHBEARER" : "AUTH=XOAUTH2";
    return mail_mech_name(m);
}

int
mail_session_choose_mech(struct mail_session *s, enum mail_mech requested, enum mail_mech *mech_r,
                         struct mt_err *err)
{
    const char *caps = mt_buf_str(&s->caps);
    int x = mail_caps_has(caps, offered_word(s->target.protocol, MAIL_MECH_XOAUTH2));
    int o = mail_caps_has(caps, offered_word(s->target.protocol, MAIL_MECH_OAUTHBEARER));

    if (!s->caps_known) {
        *mech_r = requested == MAIL_MECH_AUTO ? MAIL_MECH_XOAUTH2 : requested;
        mail_session_step(s, "the server did not list its mechanisms; trying %s",
                          mail_mech_name(*mech_r));
        return 0;
    }
    if (requested == MAIL_MECH_AUTO) {
        if (x || o) {
            *mech_r = x ? MAIL_MECH_XOAUTH2 : MAIL_MECH_OAUTHBEARER;
            return 0;
        }
    } else if ((requested == MAIL_MECH_XOAUTH2 && x) ||
               (requested == MAIL_MECH_OAUTHBEARER && o)) {
        *mech_r = requested;
        return 0;
    }
    return err_set(err, EX_PROTOCOL,
                   "%s does not offer %s (it offers: %s)%s", s->target.host,
                   requested == MAIL_MECH_AUTO ? "XOAUTH2 or OAUTHBEARER"
                                               : mail_mech_name(requested),
                   caps[0] != '\0' ? caps : "nothing",
                   requested != MAIL_MECH_AUTO && (x || o)
                       ? ": choose the other mechanism" : "");
}

/* ---- authentication ---- */

struct auth_exchange {
    struct mail_session *s;
    enum mail_mech mech;
    struct mt_buf b64;           /* the base64 initial response */
    char display[200];           /* how the transcript shows it */
    int sent_ir;
    struct mail_auth_result *res;
};

/*
 * Responds to a continuation: with the initial response when it has not
 * been sent yet, else with the reply to the error challenge. A third
 * continuation cancels the exchange.
 * Returns 0 to go on, 1 when the exchange was cancelled, -1 on error.
 */
static int
answer_challenge(struct auth_exchange *x, const char *challenge, struct mt_err *err)
{
    struct mail_session *s = x->s;

    if (!x->sent_ir) {
        x->sent_ir = 1;
        return mail_session_send_line(s, x->b64.data, x->b64.len, x->display, err);
    }
    if (!x->res->had_challenge) {
        x->res->had_challenge = 1;
        mail_challenge_parse(challenge, strlen(challenge), &x->res->challenge);
        mail_session_step(s, "error challenge from the server: %s", x->res->challenge.text);
        if (x->mech == MAIL_MECH_OAUTHBEARER)
            return mail_session_send_line(s, "AQ==", 4,
                                          "AQ== (0x01: acknowledges the error challenge)", err);
        return mail_session_send_line(s, "", 0,
                                      "(empty line: acknowledges the error challenge)", err);
    }
    if (send_str(s, "*", err) != 0)
        return -1;
    return 1;
}

static int
imap_authenticate(struct auth_exchange *x, struct mt_err *err)
{
    struct mail_session *s = x->s;
    const char *mech = mail_mech_name(x->mech);
    char tag[16], display[300];
    struct mt_buf line, before;
    struct imap_reply r;
    int rc = -1, cancelled = 0, known_before = s->caps_known;

    next_tag(s, tag, sizeof(tag));
    mt_buf_init(&line, x->b64.len + 64);
    mt_buf_init(&before, s->caps.max);
    if (mt_buf_append(&before, mt_buf_str(&s->caps), s->caps.len) != 0) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    if (mail_caps_has(mt_buf_str(&s->caps), "SASL-IR")) {
        x->sent_ir = 1;
        x->res->used_ir = 1;
        mt_buf_printf(&line, "%s AUTHENTICATE %s %s", tag, mech, x->b64.data);
        snprintf(display, sizeof(display), "%s AUTHENTICATE %s %s", tag, mech, x->display);
    } else {
        mt_buf_printf(&line, "%s AUTHENTICATE %s", tag, mech);
        snprintf(display, sizeof(display), "%s AUTHENTICATE %s", tag, mech);
    }
    if (mail_session_send_line(s, line.data, line.len, display, err) != 0)
        goto done;
    /* The capabilities change with the login; keep only those sent with its result. */
    mt_buf_reset(&s->caps);
    s->caps_known = 0;
    for (;;) {
        if (mail_session_read_line(s, err) != 0)
            goto done;
        imap_reply_parse(s->line.data, &r);
        if (r.kind == IMAP_CONTINUATION) {
            int a = cancelled ? 0 : answer_challenge(x, r.text, err);

            if (a < 0)
                goto done;
            cancelled |= a;
            continue;
        }
        if (r.kind == IMAP_UNTAGGED) {
            if (imap_capability_parse(s->line.data, &s->caps) == 1)
                s->caps_known = 1;
            continue;
        }
        if (r.kind != IMAP_TAGGED || strcmp(r.tag, tag) != 0) {
            broken_reply(s, "an unexpected line during AUTHENTICATE", err);
            goto done;
        }
        break;
    }
    mail_sanitize(x->res->reply, sizeof(x->res->reply), s->line.data, s->line.len);
    if (cancelled) {
        err_set(err, EX_PROTOCOL, "%s sent a second challenge, so the login was cancelled: %s",
                s->target.host, x->res->reply);
        goto done;
    }
    if (r.cond == IMAP_OK) {
        x->res->outcome = MAIL_AUTH_OK;
        if (imap_capability_parse(s->line.data, &s->caps) == 1)
            s->caps_known = 1;
    } else if (r.cond == IMAP_NO) {
        /* RFC 5530: UNAVAILABLE means the server could not check now. */
        x->res->outcome = strcasecmp(r.code, "UNAVAILABLE") == 0 ? MAIL_AUTH_TEMPORARY
                                                                  : MAIL_AUTH_REJECTED;
    } else {
        err_set(err, EX_PROTOCOL, "%s refused the AUTHENTICATE command: %s", s->target.host,
                x->res->reply);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0 || x->res->outcome != MAIL_AUTH_OK) {
        /* A later attempt needs what the server offered before login. */
        mt_buf_reset(&s->caps);
        mt_buf_append(&s->caps, mt_buf_str(&before), before.len);
        s->caps_known = known_before;
    }
    mt_buf_free(&before);
    mt_buf_free(&line);
    return rc;
}

/*
 * Sends "AUTH MECH [IR]" for SMTP and POP3. The initial response goes on
 * the line only when the line fits in max octets (0: never).
 */
static int
send_auth_command(struct auth_exchange *x, size_t max, struct mt_err *err)
{
    const char *mech = mail_mech_name(x->mech);
    char display[300];
    struct mt_buf line;
    int rc;

    mt_buf_init(&line, x->b64.len + 64);
    if (strlen("AUTH  ") + strlen(mech) + x->b64.len + 2 <= max) {
        x->sent_ir = 1;
        x->res->used_ir = 1;
        mt_buf_printf(&line, "AUTH %s %s", mech, x->b64.data);
        snprintf(display, sizeof(display), "AUTH %s %s", mech, x->display);
    } else {
        mt_buf_printf(&line, "AUTH %s", mech);
        snprintf(display, sizeof(display), "AUTH %s", mech);
    }
    rc = mail_session_send_line(x->s, line.data, line.len, display, err);
    mt_buf_free(&line);
    return rc;
}

static int
smtp_authenticate(struct auth_exchange *x, struct mt_err *err)
{
    struct mail_session *s = x->s;
    int code, cancelled = 0;

    if (send_auth_command(x, SMTP_MAX_COMMAND, err) != 0)
        return -1;
    for (;;) {
        if (read_smtp_reply(s, &code, NULL, err) != 0)
            return -1;
        if (code != 334)
            break;
        if (!cancelled) {
            int a = answer_challenge(x, s->line.len > 4 ? s->line.data + 4 : "", err);

            if (a < 0)
                return -1;
            cancelled = a;
        }
    }
    mail_sanitize(x->res->reply, sizeof(x->res->reply), s->line.data, s->line.len);
    smtp_enhanced_code(s->line.len > 4 ? s->line.data + 4 : "", x->res->enhanced,
                       sizeof(x->res->enhanced));
    if (cancelled)
        return err_set(err, EX_PROTOCOL,
                       "%s sent a second challenge, so the login was cancelled: %s",
                       s->target.host, x->res->reply);
    if (code == 235) {
        x->res->outcome = MAIL_AUTH_OK;
    } else if (code == 535 || code == 534) {
        x->res->outcome = MAIL_AUTH_REJECTED;
    } else if (code / 100 == 4) {
        x->res->outcome = MAIL_AUTH_TEMPORARY;
    } else {
        return err_set(err, EX_PROTOCOL, "%s refused the AUTH command: %s", s->target.host,
                       x->res->reply);
    }
    return 0;
}

static int
pop3_authenticate(struct auth_exchange *x, struct mt_err *err)
{
    struct mail_session *s = x->s;
    char code[32];
    int cancelled = 0;

    /*
     * Never an initial response: Microsoft requires the two-step form,
     * and RFC 2449 limits POP3 commands to 255 octets, which real tokens
     * exceed anyway.
     */
    if (send_auth_command(x, 0, err) != 0)
        return -1;
    for (;;) {
        const char *line;

        if (mail_session_read_line(s, err) != 0)
            return -1;
        line = s->line.data;
        if (line[0] == '+' && (line[1] == ' ' || line[1] == '\0')) {
            int a = cancelled ? 0 : answer_challenge(x, line[1] == ' ' ? line + 2 : "", err);

            if (a < 0)
                return -1;
            cancelled |= a;
            continue;
        }
        break;
    }
    mail_sanitize(x->res->reply, sizeof(x->res->reply), s->line.data, s->line.len);
    if (cancelled)
        return err_set(err, EX_PROTOCOL,
                       "%s sent a second challenge, so the login was cancelled: %s",
                       s->target.host, x->res->reply);
    if (strncmp(s->line.data, "+OK", 3) == 0) {
        x->res->outcome = MAIL_AUTH_OK;
        return 0;
    }
    if (strncmp(s->line.data, "-ERR", 4) != 0)
        return broken_reply(s, "a line that is not a POP3 reply", err);
    /* RFC 2449 and RFC 3206: SYS/TEMP and IN-USE are temporary. */
    pop3_resp_code(s->line.data, code, sizeof(code));
    x->res->outcome = strcasecmp(code, "SYS/TEMP") == 0 || strcasecmp(code, "IN-USE") == 0
                          ? MAIL_AUTH_TEMPORARY
                          : MAIL_AUTH_REJECTED;
    return 0;
}

int
mail_session_authenticate(struct mail_session *s, enum mail_mech mech, const char *user,
                          const char *token, struct mail_auth_result *res, struct mt_err *err)
{
    struct auth_exchange x = {.s = s, .mech = mech, .res = res};
    char fingerprint[MT_FINGERPRINT_SIZE];
    struct mt_buf raw;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    res->mech = mech;
    mt_buf_init(&raw, MAIL_MAX_LINE / 2);
    mt_buf_init(&x.b64, MAIL_MAX_LINE);
    if (mech == MAIL_MECH_OAUTHBEARER) {
        if (mail_sasl_oauthbearer(&raw, user, s->target.host, s->target.port, token, err) != 0)
            goto done;
    } else if (mail_sasl_xoauth2(&raw, user, token, err) != 0) {
        goto done;
    }
    if (mt_base64_encode(&x.b64, raw.data, raw.len, MT_BASE64_STD) != 0) {
        err_set(err, EX_PROTOCOL, "the access token is too long (%zu bytes)", strlen(token));
        goto done;
    }
    mt_fingerprint_str(token, fingerprint);
    snprintf(x.display, sizeof(x.display),
             "[%s response: %zu base64 characters, user=%s, token %s]", mail_mech_name(mech),
             x.b64.len, user, fingerprint);

    switch (s->target.protocol) {
    case MAIL_IMAP:
        rc = imap_authenticate(&x, err);
        break;
    case MAIL_SMTP:
        rc = smtp_authenticate(&x, err);
        break;
    case MAIL_POP3:
        rc = pop3_authenticate(&x, err);
        break;
    }
done:
    mt_buf_free(&raw);
    mt_buf_free(&x.b64);
    return rc;
}
