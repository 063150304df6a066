/*
 * Getting a valid access token: from the store when it is still good,
 * else by refreshing under the account's lock, so that any number of
 * concurrent callers make at most one request to the token endpoint.
 */
#ifndef CORE_TOKEN_H
#define CORE_TOKEN_H

#include <time.h>

#include "config.h"
#include "err.h"
#include "store.h"

/* Clock for expiry decisions; tests replace it. */
extern time_t (*token_clock)(void);

/* Access tokens obtained more than this before "now" in the future mean the clock moved back. */
#define CLOCK_SKEW_TOLERANCE 60

/*
 * Returns 1 when t's access token may be handed out at time now. It must be
 * present and not rejected by a server, with a believable expires_in. It
 * must not come from the future (a clock that moved back), and must be more
 * than margin seconds before its expiry.
 */
int token_access_valid(const struct tokens *t, long margin, time_t now);

/*
 * Returns a valid access token for account a in *token_r (free with
 * mt_strfree) and its expiry time in *expires_r. Refreshes when needed,
 * or always when force is set. Returns 0, or -1 with err set: EX_NOPERM
 * when the account needs `mailtoken authorize`, EX_TEMPFAIL for network
 * trouble, and so on (see DESIGN's exit codes).
 */
int token_get(const struct config *cfg, const struct account *a, int force, char **token_r,
              time_t *expires_r, struct mt_err *err);

/*
 * Marks the stored access token as rejected when its fingerprint matches,
 * so that the next token_get refreshes. Returns 0 (also when the token
 * was already replaced), or -1 with err set.
 */
int token_mark_rejected(const struct config *cfg, const struct account *a,
                        const char *fingerprint, struct mt_err *err);

/*
 * Stores a refresh token (mailtoken import) in place of what the store
 * contained for the account. A corrupt file is first moved aside to
 * NAME.json.corrupt, and *moved_r is then set to 1. Returns 0 or -1 with
 * err set.
 */
int token_import(const struct config *cfg, const struct account *a, const char *refresh_token,
                 int *moved_r, struct mt_err *err);

/*
 * Stores the reply of an authorization (code or device grant): tokens and
 * the time. Returns 0 or -1 with err set (the store could not be written).
 */
struct token_reply;
int token_store_authorized(const struct config *cfg, const struct account *a,
                           const struct token_reply *reply, time_t requested_at,
                           struct mt_err *err);

/*
 * Deletes the account's stored tokens, and hands the refresh token to the
 * caller for revocation (free with mt_strfree). Returns 1 when a token
 * file was deleted, 0 when there was none, or -1 with err set.
 */
int token_forget(const struct config *cfg, const struct account *a, char **refresh_token_r,
                 struct mt_err *err);

#endif
