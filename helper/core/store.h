/*
 * The token store: one JSON file per account in the store folder
 * (folder 0700, files 0600, owned by the user running mailtoken),
 * replaced atomically, with an exclusive lock per account for refreshes.
 */
#ifndef CORE_STORE_H
#define CORE_STORE_H

#include <time.h>

#include "err.h"

struct tokens {
    char *refresh_token;
    char *access_token;
    char *token_type;
    char *scope;                 /* as granted, when the reply names it */
    char *authorized_user;       /* from the id_token, for display only */
    time_t authorized_at;        /* when authorize or import stored a refresh token */
    time_t refresh_obtained_at;  /* when the current refresh token arrived */
    time_t refresh_used_at;      /* the last refresh that succeeded */
    time_t obtained_at;          /* when the access token was requested */
    long expires_in;             /* seconds, from the reply; 0 unknown */
    int access_rejected;         /* a server rejected the access token */
    int last_error_code;         /* exit code of the last failed refresh; 0 none */
    char *last_error;            /* its message */
    time_t last_error_at;
};

struct store {
    char *dir;
    int dirfd;
};

/*
 * Opens the store folder, creating it (and missing parents) with mode
 * 0700 when create is set. Refuses a folder that others can enter or
 * that belongs to another user, with the chmod or chown that fixes it.
 * Returns 0, or -1 with err set (EX_CANTCREAT or EX_IOERR).
 */
int store_open(struct store *st, const char *dir, int create, struct mt_err *err);
void store_close(struct store *st);

/* store_read's result for a file whose content is not a token file. */
#define STORE_CORRUPT (-2)

/*
 * Reads an account's tokens. Returns 1 when the file exists and was read,
 * 0 when there is no file (t is then empty), STORE_CORRUPT for a file
 * that is not a valid token file, or -1. Both failures set err, with the
 * path and the fix in the message. The code is EX_IOERR for a corrupt,
 * unreadable or unsafe file (one that others can read, that is not a
 * regular file or that belongs to another user), and EX_OSERR when memory
 * ran out.
 * Free t with tokens_free in every case.
 */
int store_read(struct store *st, const char *account, struct tokens *t, struct mt_err *err);

/*
 * Decodes the text of a store file into t (free with tokens_free).
 * Returns 0, or -1 with *problem_r set to a static description, which is
 * json_out_of_memory (jsonutil.h) when memory ran out.
 */
int store_decode(const char *text, size_t len, struct tokens *t, const char **problem_r);

/*
 * Replaces an account's file atomically: a temporary file in the same
 * folder, fsync, rename, fsync of the folder. The caller holds the
 * account's lock. Returns 0, or -1 with err set (EX_CANTCREAT) and the
 * old file untouched.
 */
int store_write(struct store *st, const char *account, const struct tokens *t,
                struct mt_err *err);

/* Deletes an account's file. Returns 0 (also when there was none) or -1. */
int store_remove(struct store *st, const char *account, struct mt_err *err);

/*
 * Takes the account's exclusive lock, waiting at most timeout_s seconds.
 * Returns a lock descriptor for store_unlock, or -1 with err set
 * (EX_TEMPFAIL when it timed out).
 */
int store_lock(struct store *st, const char *account, long timeout_s, struct mt_err *err);
void store_unlock(int lockfd);

/* Wipes and frees the fields of t and leaves it empty. */
void tokens_free(struct tokens *t);

/* Copies a string into a field of t, wiping the old one. Returns 0 or -1. */
int tokens_set(char **field, const char *value);

/* Returns the path of an account's file in a static buffer, for messages. */
const char *store_path(const struct store *st, const char *account);

#endif
