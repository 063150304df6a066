/* The state of an account, read from the store without network. */
#ifndef CORE_STATUS_H
#define CORE_STATUS_H

#include <time.h>

#include "config.h"
#include "store.h"

enum account_state {
    STATE_UNAUTHORIZED,    /* nothing stored: run authorize */
    STATE_AUTHORIZED,      /* a refresh token (or app credentials) that should work */
    STATE_EXPIRED,         /* the refresh token has most likely lapsed from disuse */
    STATE_NEEDS_REAUTH,    /* the server rejected the refresh token */
    STATE_ERROR            /* the store cannot be read, or the last refresh failed otherwise */
};

/* Days before a refresh token's expected lapse at which status warns. */
#define STATUS_WARN_DAYS 15
/* Days before the client secret's or certificate's expiry at which status warns. */
#define STATUS_SECRET_WARN_DAYS 30

struct account_status {
    enum account_state state;
    time_t access_expires;        /* 0 when no access token */
    int access_valid;
    time_t refresh_used_at;       /* 0 when never */
    time_t refresh_lapses;        /* expected end of the refresh token; 0 unknown */
    time_t credential_expires;    /* end of the client secret or certificate; 0 unknown */
    int credential_is_certificate;
    char warning[512];            /* empty when none */
    char error[1024];             /* the last error, or why the store cannot be read */
};

/*
 * Fills out for account a from the store st (NULL when the store folder
 * does not exist) at time now.
 */
void status_get(const struct account *a, struct store *st, time_t now,
                struct account_status *out);

/* Returns the state's name as status prints it. */
const char *status_state_name(enum account_state s);

#endif
