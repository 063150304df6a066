/*
 * Where access tokens come from: the daemon's Unix socket when one is
 * configured and reachable, else the helper run as a child process. Both
 * speak the mt_wire messages (docs/PROTOCOL.md).
 */
#ifndef PLUGIN_SOURCE_H
#define PLUGIN_SOURCE_H

#include <stddef.h>

#include "config.h"
#include "mt_sha256.h"
#include "mt_wire.h"

enum source_status {
    SOURCE_OK,
    SOURCE_UNKNOWN_ACCOUNT,   /* the helper has no account by that name */
    SOURCE_FAILED             /* anything else: see the result's kind and message */
};

/* A token and its account data from the token source; clear with source_grant_clear. */
struct source_grant {
    char *account;            /* the configuration section; the request's name when not sent */
    char *user;               /* the login that owns the token; NULL when not sent */
    char *mailbox;            /* the address to act for; NULL when not sent */
    char *token;              /* secret: wiped on clear */
    long long expires;        /* unix time; 0 when not sent or invalid */
};

struct source_result {
    enum source_status status;
    int fell_back;            /* 1 when the socket was unreachable and exec was used */
    char fallback_reason[512];
    char kind[MT_WIRE_MAX_KIND + 1];  /* ERR kind, or "transport"/"protocol" for local failures */
    int code;                 /* ERR exit code; 0 for local failures */
    char message[512];        /* English, printable, without a secret */
};

/*
 * Asks for an access token for account (which must pass
 * mt_wire_account_valid). On SOURCE_OK fills grant, which the caller
 * clears; otherwise leaves it empty and describes the failure in res.
 */
enum source_status source_get_token(const struct plugin_config *cfg, const char *account,
                                    struct source_grant *grant, struct source_result *res);

/*
 * Tells the token source that the server rejected the token with the
 * given fingerprint (mt_fingerprint), so that the next request refreshes.
 */
enum source_status source_report_rejected(const struct plugin_config *cfg,
                                          const char *account,
                                          const char fingerprint[MT_FINGERPRINT_SIZE],
                                          struct source_result *res);

/* Wipes and frees what source_get_token put into grant. */
void source_grant_clear(struct source_grant *grant);

#endif
