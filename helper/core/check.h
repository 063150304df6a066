/*
 * mailtoken check: log in to the account's mail server with its access
 * token over one TLS connection, run one harmless command, log out, and
 * explain a failure with the server's reply and its likely causes.
 */
#ifndef CORE_CHECK_H
#define CORE_CHECK_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "mailproto.h"
#include "mailsession.h"

struct check_options {
    enum mail_protocol protocol;
    int protocol_given;          /* protocol was named on the command line */
    const char *server;          /* HOST:PORT or URL, or NULL for the provider's server */
    enum mail_mech mech;
};

#define CHECK_MAX_CAUSES 6

struct check_outcome {
    int token_rejected;          /* the server rejected the token, now marked in the store */
    char causes[CHECK_MAX_CAUSES][400];  /* likely causes of a failure, most likely first */
    size_t ncauses;
};

/*
 * Runs the check for account a and reports each step and every line
 * exchanged to observe (tokens never appear). Returns 0 when the login
 * and the command after it worked. Otherwise returns -1 with err set and
 * out->causes filled where the reply suggests causes. The codes:
 *   EX_NOPERM    the server rejected the token, which is then marked as
 *                rejected so that the next token request refreshes it;
 *   EX_TEMPFAIL  network, TLS or a temporary server failure;
 *   EX_PROTOCOL  the server broke the protocol or offers no usable
 *                mechanism;
 *   EX_CONFIG, EX_USAGE  configuration or arguments.
 */
int check_run(const struct config *cfg, const struct account *a, const struct check_options *o,
              mail_observer_fn *observe, void *observe_ctx, struct check_outcome *out,
              struct mt_err *err);

/*
 * Fills out->causes with the likely causes of a rejected login for
 * account a on protocol p, from the server's final reply and error
 * challenge. Exposed for tests.
 */
void check_explain_rejection(const struct account *a, enum mail_protocol p,
                             const struct mail_auth_result *res, struct check_outcome *out);

#endif
