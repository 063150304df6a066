/*
 * The device authorization grant (RFC 8628): the user signs in on any
 * other device with a short code while mailtoken polls the token
 * endpoint. Microsoft adds a display "message"; Google calls the address
 * "verification_url" and refuses Gmail scopes in this grant.
 */
#ifndef CORE_DEVICE_H
#define CORE_DEVICE_H

#include <time.h>

#include "config.h"
#include "err.h"
#include "oauth.h"

/* RFC 8628 section 3.2: the polling interval when the server names none. */
#define DEVICE_DEFAULT_INTERVAL 5
/* RFC 8628 section 3.5: what slow_down adds to the interval, for good. */
#define DEVICE_SLOW_DOWN_STEP 5
/* Maximum polling interval, reached when network failures double it. */
#define DEVICE_MAX_INTERVAL 60

/* The device authorization response. */
struct device_authorization {
    char *device_code;                /* secret: wipe */
    char *user_code;
    char *verification_uri;           /* verification_uri, or Google's verification_url */
    char *verification_uri_complete;  /* NULL when absent (Microsoft never sends it) */
    char *message;                    /* Microsoft's display text, sanitised; or NULL */
    long expires_in;                  /* seconds the codes stay valid */
    long interval;                    /* seconds between polls */
};

void device_authorization_free(struct device_authorization *d);

/*
 * Checks before any request that account a can use the device grant: a
 * device_authorization_endpoint is known, and the account is not Google
 * with a Gmail scope, which Google rejects in this grant. Returns 0, or -1
 * with err set (EX_USAGE for Gmail, with the way to use the browser flow
 * from a remote shell; EX_CONFIG for a missing endpoint).
 */
int device_check_account(const struct account *a, struct mt_err *err);

/*
 * Requests device and user codes: POST client_id (with the client
 * authentication of oauth_post; secret may be NULL) and scope to the
 * device endpoint. Returns 0 and *d (free with
 * device_authorization_free), or -1 with err set: the translated
 * provider error, or EX_PROTOCOL for a reply without device_code,
 * user_code or verification URI.
 */
int device_start(const struct account *a, const char *secret,
                 struct device_authorization *d, struct mt_err *err);

/*
 * Waits between polls: called with the seconds to wait and the seconds
 * left before the codes expire. Returns 0 to go on, or -1 with err set
 * to stop polling with that error.
 */
typedef int device_wait_fn(void *ctx, long seconds, long seconds_left, struct mt_err *err);

/* How device_poll waits and reads the clock; tests replace both. */
struct device_clock {
    device_wait_fn *wait;
    time_t (*now)(void);    /* seconds on a clock that does not jump */
    void *ctx;
};

/*
 * Polls the token endpoint with grant_type
 * urn:ietf:params:oauth:grant-type:device_code until the user has signed
 * in. started is clock->now() at the time of device_start. Waits
 * d->interval before each poll; authorization_pending polls again,
 * slow_down adds DEVICE_SLOW_DOWN_STEP seconds to the interval for all
 * later polls, and a network failure or HTTP 5xx doubles it (at most
 * DEVICE_MAX_INTERVAL). Stops without another request once d->expires_in
 * (or max_wait, when greater than 0 and sooner) has passed.
 * Returns 0 and the token reply in *reply (free with token_reply_free).
 * Returns -1 with err set: EX_NOPERM for access_denied and Microsoft's
 * authorization_declined; EX_TEMPFAIL for expired_token and when the time
 * ran out; EX_PROTOCOL for bad_verification_code; the translated provider
 * error for the rest.
 */
int device_poll(const struct account *a, const char *secret,
                const struct device_authorization *d, time_t started, long max_wait,
                const struct device_clock *clock, struct token_reply *reply,
                struct mt_err *err);

#endif
