/*
 * A conversation with a mail server over a connection of the network
 * module. It reads lines under a size limit and a timeout, and sends
 * commands with secrets hidden from the transcript. It logs in with
 * XOAUTH2 or OAUTHBEARER over IMAP, POP3 or SMTP, including the error
 * challenge that servers send before they reject a token.
 */
#ifndef CORE_MAILSESSION_H
#define CORE_MAILSESSION_H

#include <stddef.h>

#include "err.h"
#include "mailproto.h"
#include "mt_buf.h"
#include "net.h"

/* Maximum length of a server line, in bytes. */
#define MAIL_MAX_LINE 65536

enum mail_event {
    MAIL_EVENT_STEP,     /* what happens next, in words */
    MAIL_EVENT_SERVER,   /* a line from the server */
    MAIL_EVENT_CLIENT    /* a line to the server, with secrets replaced by a description */
};

/* Receives the transcript. The text is sanitized and never contains a token. */
typedef void mail_observer_fn(void *ctx, enum mail_event event, const char *text);

struct mail_session {
    const struct net_ops *net;
    struct net_mail *conn;
    struct mail_target target;
    long timeout_s;              /* for each reply */
    mail_observer_fn *observe;   /* may be NULL */
    void *observe_ctx;
    struct net_mail_info info;
    struct mt_buf in;            /* bytes received and not yet read as lines */
    size_t in_pos;
    struct mt_buf line;          /* the last line read, without CRLF */
    struct mt_buf caps;          /* IMAP capabilities, or the SASL mechanisms (SMTP, POP3) */
    int caps_known;              /* caps contains the server's list */
    struct mt_buf setup;         /* server lines of libcurl's setup, '\n'-separated */
    unsigned next_tag;
    int broken;                  /* sending or receiving failed, so no LOGOUT or QUIT */
};

/*
 * Connects to t through the network module (TLS verified with ca_file)
 * and learns the capabilities: from libcurl's setup transcript, or by
 * asking again. Returns 0, or -1 with err set (see net_ops.mail_open;
 * EX_PROTOCOL also for a server that breaks the protocol).
 * mail_session_close must follow in both cases.
 */
int mail_session_open(struct mail_session *s, const struct net_ops *net,
                      const struct mail_target *t, const char *ca_file, const char *proxy,
                      long timeout_s, mail_observer_fn *observe, void *observe_ctx,
                      struct mt_err *err);

/* Closes the connection (after mail_session_goodbye, if wanted) and frees s's buffers. */
void mail_session_close(struct mail_session *s);

/* Reports a step in words to the observer. */
void mail_session_step(struct mail_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Reads one line into s->line (CRLF removed), waiting at most timeout_s
 * seconds. Returns 0, or -1 with err set: EX_TEMPFAIL for a timeout or
 * a closed connection, EX_PROTOCOL for a line over MAIL_MAX_LINE.
 */
int mail_session_read_line(struct mail_session *s, struct mt_err *err);

/*
 * Sends len bytes and CRLF. display is what the transcript shows
 * instead (NULL: the line itself). Returns 0 or -1 with err set.
 */
int mail_session_send_line(struct mail_session *s, const char *line, size_t len,
                           const char *display, struct mt_err *err);

/* The result of an authentication exchange. */
enum mail_auth_outcome {
    MAIL_AUTH_OK,
    MAIL_AUTH_REJECTED,  /* the server refused the credentials */
    MAIL_AUTH_TEMPORARY  /* the server could not check them now (IMAP [UNAVAILABLE], SMTP 4xx, POP3 [SYS/TEMP]) */
};

struct mail_auth_result {
    enum mail_auth_outcome outcome;
    enum mail_mech mech;             /* the mechanism used */
    char reply[512];                 /* the server's final reply, sanitized */
    char enhanced[16];               /* SMTP enhanced status code, e.g. "5.7.139"; or "" */
    int had_challenge;
    struct mail_challenge challenge; /* when had_challenge */
    int used_ir;                     /* the response went on the command line */
};

/*
 * Chooses the mechanism: the requested one, or for MAIL_MECH_AUTO
 * XOAUTH2 when offered, else OAUTHBEARER. A server that lists no
 * mechanisms (POP3 without a SASL line in CAPA) is assumed to offer the
 * requested one. Returns 0 and *mech_r, or -1 with err set (EX_PROTOCOL)
 * when the server does not offer it.
 */
int mail_session_choose_mech(struct mail_session *s, enum mail_mech requested,
                             enum mail_mech *mech_r, struct mt_err *err);

/*
 * Authenticates with mech as user with token: one AUTHENTICATE (IMAP)
 * or AUTH (POP3, SMTP) command. The initial response goes on the command
 * line only when the protocol allows it (IMAP: SASL-IR offered; SMTP: the
 * line stays within 512 octets; POP3: never), else after the server's
 * empty challenge. An error challenge is answered as the
 * mechanism requires (XOAUTH2: an empty response; OAUTHBEARER: 0x01) and
 * recorded in *res. A further challenge cancels the exchange. IMAP
 * capabilities sent with the result replace s->caps.
 * Returns 0 with *res filled when the server accepted or refused, or -1
 * with err set (EX_TEMPFAIL, EX_PROTOCOL for a reply that makes no sense
 * or a refusal that is not about the credentials, such as an unknown
 * mechanism or a line too long).
 */
int mail_session_authenticate(struct mail_session *s, enum mail_mech mech, const char *user,
                              const char *token, struct mail_auth_result *res,
                              struct mt_err *err);

/* The reply to a simple command. */
struct mail_reply {
    int ok;                  /* IMAP OK, POP3 +OK, SMTP 2xx */
    int smtp_code;
    enum imap_cond cond;     /* IMAP only */
    char code[64];           /* IMAP response code or POP3 RFC 2449 code, or "" */
    char text[512];          /* the final line, sanitized */
};

/*
 * Sends a command that needs no login data (IMAP: a new tag is put in
 * front) and reads its whole reply. IMAP capability lists update s->caps.
 * Returns 0 with *reply, or -1 with err set (EX_TEMPFAIL, EX_PROTOCOL).
 */
int mail_session_command(struct mail_session *s, const char *command, struct mail_reply *reply,
                         struct mt_err *err);

/*
 * Says goodbye (IMAP LOGOUT, POP3 and SMTP QUIT) and reads the reply,
 * unless the connection already failed. Errors are ignored: the
 * connection ends anyway. Returns 0 when the server replied as expected.
 */
int mail_session_goodbye(struct mail_session *s);

/*
 * Returns the bytes received after the last line read, which a relay
 * must pass on; *n_r gets their number.
 */
const char *mail_session_pending(const struct mail_session *s, size_t *n_r);

#endif
