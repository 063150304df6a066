/*
 * Handling of plugin requests (mt_wire.h), for each daemon connection and
 * for `mailtoken request`, which a plugin without a daemon runs.
 */
#ifndef CORE_REQUEST_H
#define CORE_REQUEST_H

#include <sys/types.h>

#include "config.h"
#include "mt_buf.h"
#include "mt_wire.h"

/* The requesting process; the daemon checks it against each account's allow list. */
struct peer {
    int checked;          /* 0: no check (the helper runs as the caller itself) */
    uid_t uid;
    char name[64];        /* the uid's user name, or the number */
};

/*
 * Handles req and appends the whole reply to out. Returns the exit code
 * the reply carries: 0 for OK, or the ERR code.
 */
int request_handle(const struct config *cfg, const struct mt_wire_request *req,
                   const struct peer *peer, struct mt_buf *out);

/* Appends an ERR reply for code and message. */
void request_error_reply(struct mt_buf *out, int code, const char *kind, const char *message);

#endif
