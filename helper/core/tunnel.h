/*
 * mailtoken tunnel: an IMAP session, already logged in with OAuth2, for
 * mail programs that cannot log in with OAuth2 themselves (fetchmail's
 * plugin, mutt's tunnel, mbsync's Tunnel). The program speaks IMAP on
 * the tunnel's standard input and output. The tunnel logs in over TLS,
 * greets the program with PREAUTH and then copies bytes both ways.
 */
#ifndef CORE_TUNNEL_H
#define CORE_TUNNEL_H

#include "config.h"
#include "err.h"
#include "mailproto.h"
#include "mailsession.h"

struct tunnel_options {
    const char *server;          /* HOST:PORT or URL; NULL for the provider's IMAP server */
    enum mail_mech mech;         /* MAIL_MECH_AUTO: XOAUTH2, or OAUTHBEARER when only that is offered */
    int in_fd;                   /* the mail program's commands */
    int out_fd;                  /* where its replies go: only IMAP, never messages */
};

/*
 * Logs in to the account's IMAP server and relays the session until
 * either side closes it. When the server rejects the token, the token is
 * marked as rejected, refreshed once, and tried again on a new
 * AUTHENTICATE. Before the login succeeds nothing is written to out_fd;
 * after it, "* PREAUTH [CAPABILITY ...] mailtoken tunnel ready" and the
 * server's bytes. Returns 0 when the session ended because a side closed
 * it, or -1 with err set. EX_NOPERM means that the token was rejected
 * twice or could not be refreshed, and EX_IOERR that out_fd could not be
 * written. The other codes are those of mailtoken check.
 */
int tunnel_run(const struct config *cfg, const struct account *a, const struct tunnel_options *o,
               mail_observer_fn *observe, void *observe_ctx, struct mt_err *err);

/*
 * Builds the PREAUTH greeting for capabilities caps (see
 * imap_caps_for_preauth) into out, CRLF included. Returns 0 or -1 (errno).
 */
int tunnel_greeting(const char *caps, struct mt_buf *out);

#endif
