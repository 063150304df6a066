/* Handling of plugin requests. */
#include "request.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "mt_wipe.h"
#include "status.h"
#include "token.h"

void
request_error_reply(struct mt_buf *out, int code, const char *kind, const char *message)
{
    mt_buf_reset(out);
    out->len = 0;
    if (mt_wire_begin_err(out, code, kind) != 0 || mt_wire_add_text(out, "message", message) != 0 ||
        mt_wire_end(out) != 0) {
        mt_buf_reset(out);
        out->len = 0;
        mt_buf_append_str(out, MT_WIRE_VERSION " ERR 70 internal\n\n");
    }
}

static int
reply_err(struct mt_buf *out, const struct mt_err *err)
{
    request_error_reply(out, err->code, err->kind[0] != '\0' ? err->kind : "internal", err->msg);
    return err->code;
}

static int
peer_allowed(const struct account *a, const struct peer *peer)
{
    char uid[16];

    if (peer == NULL || !peer->checked)
        return 1;
    snprintf(uid, sizeof(uid), "%u", (unsigned)peer->uid);
    for (size_t i = 0; i < a->nallow; i++)
        if (strcmp(a->allow[i], peer->name) == 0 || strcmp(a->allow[i], uid) == 0)
            return 1;
    /* The daemon's own user may always ask, as it could read the store anyway. */
    return peer->uid == geteuid();
}

static const struct account *
find(const struct config *cfg, const char *name, const struct peer *peer, int *as_mailbox,
     struct mt_err *err)
{
    const struct account *a = config_find_account(cfg, name, as_mailbox, err);

    if (a == NULL)
        return NULL;
    if (!peer_allowed(a, peer)) {
        err_set_kind(err, EX_NOPERM, "denied",
                     "%s: user %s (uid %u) is not in the account's allow list", a->name,
                     peer->name, (unsigned)peer->uid);
        return NULL;
    }
    return a;
}

static int
answer_token(const struct config *cfg, const struct mt_wire_request *req, const struct peer *peer,
             struct mt_buf *out)
{
    const struct account *a;
    struct mt_err err;
    char *token = NULL, expires[32];
    time_t expires_at;
    int as_mailbox, r;

    err_clear(&err);
    a = find(cfg, req->account, peer, &as_mailbox, &err);
    if (a == NULL || token_get(cfg, a, 0, &token, &expires_at, &err) != 0)
        return reply_err(out, &err);
    snprintf(expires, sizeof(expires), "%lld", (long long)expires_at);
    r = mt_wire_begin_ok(out);
    r |= mt_wire_add_field(out, "account", a->name);
    if (a->user != NULL)
        r |= mt_wire_add_field(out, "user", a->user);
    if (as_mailbox || a->mailbox != NULL)
        r |= mt_wire_add_field(out, "mailbox", as_mailbox ? req->account : a->mailbox);
    r |= mt_wire_add_field(out, "token", token);
    r |= mt_wire_add_field(out, "expires", expires);
    r |= mt_wire_end(out);
    mt_strfree(token);
    if (r != 0) {
        err_set(&err, EX_SOFTWARE, "%s: the reply does not fit", a->name);
        return reply_err(out, &err);
    }
    return 0;
}

static int
answer_rejected(const struct config *cfg, const struct mt_wire_request *req,
                const struct peer *peer, struct mt_buf *out)
{
    const struct account *a;
    struct mt_err err;
    int as_mailbox;

    err_clear(&err);
    a = find(cfg, req->account, peer, &as_mailbox, &err);
    if (a == NULL || token_mark_rejected(cfg, a, req->fingerprint, &err) != 0)
        return reply_err(out, &err);
    if (mt_wire_begin_ok(out) != 0 || mt_wire_add_field(out, "account", a->name) != 0 ||
        mt_wire_end(out) != 0) {
        err_set(&err, EX_SOFTWARE, "out of memory");
        return reply_err(out, &err);
    }
    return 0;
}

static int
add_status(struct mt_buf *out, const struct account *a, struct store *st, time_t now)
{
    struct account_status s;
    char line[512];

    status_get(a, st, now, &s);
    snprintf(line, sizeof(line), "%s %s %lld %lld", a->name, status_state_name(s.state),
             (long long)s.access_expires, (long long)s.refresh_lapses);
    return mt_wire_add_field(out, "status", line);
}

static int
answer_status(const struct config *cfg, const struct mt_wire_request *req,
              const struct peer *peer, struct mt_buf *out)
{
    struct store st = {.dirfd = -1};
    struct store *stp = NULL;
    struct mt_err err;
    time_t now = token_clock();
    int r, as_mailbox;

    err_clear(&err);
    if (store_open(&st, cfg->store, 0, &err) == 0)
        stp = &st;
    err_clear(&err);
    r = mt_wire_begin_ok(out);
    if (req->account[0] != '\0') {
        const struct account *a = find(cfg, req->account, peer, &as_mailbox, &err);

        if (a == NULL) {
            store_close(&st);
            return reply_err(out, &err);
        }
        r |= add_status(out, a, stp, now);
    } else {
        for (size_t i = 0; i < cfg->naccounts && i < MT_WIRE_MAX_FIELDS - 1; i++)
            if (peer_allowed(&cfg->accounts[i], peer))
                r |= add_status(out, &cfg->accounts[i], stp, now);
    }
    r |= mt_wire_end(out);
    store_close(&st);
    if (r != 0) {
        err_set(&err, EX_SOFTWARE, "the status reply does not fit");
        return reply_err(out, &err);
    }
    return 0;
}

int
request_handle(const struct config *cfg, const struct mt_wire_request *req,
               const struct peer *peer, struct mt_buf *out)
{
    switch (req->verb) {
    case MT_WIRE_TOKEN:
        return answer_token(cfg, req, peer, out);
    case MT_WIRE_REJECTED:
        return answer_rejected(cfg, req, peer, out);
    case MT_WIRE_STATUS:
        return answer_status(cfg, req, peer, out);
    default:
        request_error_reply(out, EX_USAGE, MT_WIRE_BAD_REQUEST, "unknown request");
        return EX_USAGE;
    }
}
