/* Getting a valid access token, refreshing under the account's lock. */
#include "token.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt_sha256.h"
#include "mt_wipe.h"
#include "oauth.h"
#include "secret.h"
#include "trace.h"

static time_t
system_clock(void)
{
    return time(NULL);
}

time_t (*token_clock)(void) = system_clock;

int
token_access_valid(const struct tokens *t, long margin, time_t now)
{
    if (t->access_token == NULL || t->access_rejected || t->expires_in <= 0)
        return 0;
    if (now < t->obtained_at - CLOCK_SKEW_TOLERANCE)
        return 0;
    return now < t->obtained_at + t->expires_in - margin;
}

static long
lock_timeout(const struct account *a)
{
    /* Long enough for the holder's own HTTP exchange to time out first. */
    return 2 * a->timeout + 10;
}

/* Opens the store; a missing folder reads as "nothing stored" when create is 0. */
static int
open_store(const struct config *cfg, struct store *st, int create, struct mt_err *err)
{
    if (store_open(st, cfg->store, create, err) == 0)
        return 1;
    if (!create && access(cfg->store, F_OK) != 0 && errno == ENOENT) {
        err_clear(err);
        return 0;
    }
    return -1;
}

static int
not_authorized(const struct account *a, struct mt_err *err)
{
    return err_set(err, EX_NOPERM,
                   "%s: not authorized yet: run mailtoken authorize %s (or import a refresh "
                   "token with mailtoken import %s)", a->name, a->name, a->name);
}

/* A temporary token_file this old was left by a process that died before its rename. */
#define TOKEN_FILE_STALE_S 60
#define TOKEN_FILE_TMP ".tmp-"

/*
 * Removes the temporary files NAME.tmp-XXXXXX that earlier runs left
 * beside token_file when they died between mkostemp and rename: only
 * regular files of this user, older than TOKEN_FILE_STALE_S, because a
 * younger one may belong to a run that is writing now.
 */
static void
remove_stale_temporaries(const char *token_file)
{
    static const char suffix_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const char *slash = strrchr(token_file, '/');
    const char *base = slash != NULL ? slash + 1 : token_file;
    size_t base_len = strlen(base), tmp_len = strlen(TOKEN_FILE_TMP);
    time_t now = time(NULL);
    char dir[PATH_MAX];
    struct dirent *e;
    DIR *d;

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == token_file)
        snprintf(dir, sizeof(dir), "/");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - token_file), token_file);
    d = opendir(dir);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        const char *suffix = e->d_name + base_len + tmp_len;
        struct stat sb;

        if (strncmp(e->d_name, base, base_len) != 0 ||
            strncmp(e->d_name + base_len, TOKEN_FILE_TMP, tmp_len) != 0 ||
            strlen(suffix) != 6 || strspn(suffix, suffix_chars) != 6)
            continue;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
            now - sb.st_mtime < TOKEN_FILE_STALE_S)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            trace("removed %s/%s, left by a mailtoken that died while writing it", dir,
                  e->d_name);
    }
    closedir(d);
}

/*
 * Writes the access token to the account's token_file: a temporary file
 * with a unique name in the same folder, then rename. The unique name
 * matters because the cached path writes without the account's lock, so
 * two processes may write at once.
 */
static int
write_token_file(const struct account *a, const char *token, struct mt_err *err)
{
    char tmp[PATH_MAX];
    size_t n = strlen(token);
    int fd;

    if (a->token_file == NULL)
        return 0;
    if (snprintf(tmp, sizeof(tmp), "%s" TOKEN_FILE_TMP "XXXXXX", a->token_file) >=
        (int)sizeof(tmp))
        return err_set(err, EX_CONFIG, "%s: token_file path is too long", a->name);
    remove_stale_temporaries(a->token_file);
    /* mkostemp creates the file with mode 0600 and O_EXCL. */
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return err_set(err, EX_CANTCREAT, "%s: cannot write token_file %s: %s", a->name, tmp,
                       strerror(errno));
    if (write(fd, token, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        err_set(err, EX_CANTCREAT, "%s: cannot write token_file %s: %s", a->name, tmp,
                strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, a->token_file) != 0) {
        err_set(err, EX_CANTCREAT, "%s: cannot replace token_file %s: %s", a->name,
                a->token_file, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int
hand_out(const struct account *a, const struct tokens *t, char **token_r, time_t *expires_r,
         struct mt_err *err)
{
    *token_r = strdup(t->access_token);
    if (*token_r == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    *expires_r = t->expires_in > 0 ? t->obtained_at + t->expires_in : 0;
    if (a->token_file != NULL && access(a->token_file, F_OK) != 0 &&
        write_token_file(a, t->access_token, err) != 0) {
        mt_strfree(*token_r);
        *token_r = NULL;
        return -1;
    }
    return 0;
}

/* Records a failed refresh in the store, so that status and waiting callers see it. */
static void
record_failure(struct store *st, const struct account *a, struct tokens *t,
               const struct mt_err *failure, time_t now)
{
    struct mt_err ignored;

    t->last_error_code = failure->code;
    t->last_error_at = now;
    if (tokens_set(&t->last_error, failure->msg) != 0)
        return;
    err_clear(&ignored);
    store_write(st, a->name, t, &ignored);
}

/* Performs the refresh (or client credentials) request and updates t. */
static int
refresh(const struct account *a, struct tokens *t, time_t now, struct mt_err *err)
{
    struct token_reply reply;
    struct form f;
    char *secret = NULL;
    int rc = -1;

    if (secret_fetch(a, &secret, err) != 0) {
        err_prefix(err, "%s", a->name);
        return -1;
    }
    form_init(&f);
    if (a->grant == GRANT_CLIENT_CREDENTIALS) {
        form_add(&f, "grant_type", "client_credentials", 0);
        form_add(&f, "scope", a->scope, 0);
    } else {
        form_add(&f, "grant_type", "refresh_token", 0);
        form_add(&f, "refresh_token", t->refresh_token, 1);
        if (a->send_scope_on_refresh)
            form_add(&f, "scope", a->scope, 0);
    }
    trace("%s: requesting a new access token from %s", a->name, a->token_endpoint);
    if (oauth_token_request(a, "refreshing the access token", a->token_endpoint, &f, secret,
                            &reply, err) != 0)
        goto done;

    if (tokens_set(&t->access_token, reply.access_token) != 0 ||
        tokens_set(&t->token_type, reply.token_type != NULL ? reply.token_type : "Bearer") != 0 ||
        (reply.scope != NULL && tokens_set(&t->scope, reply.scope) != 0)) {
        err_set(err, EX_OSERR, "out of memory");
        goto reply_done;
    }
    t->obtained_at = now;
    t->expires_in = reply.expires_in;
    t->access_rejected = 0;
    if (reply.refresh_token != NULL &&
        (t->refresh_token == NULL || strcmp(reply.refresh_token, t->refresh_token) != 0)) {
        if (tokens_set(&t->refresh_token, reply.refresh_token) != 0) {
            err_set(err, EX_OSERR, "out of memory");
            goto reply_done;
        }
        t->refresh_obtained_at = now;
        trace("%s: the server sent a new refresh token", a->name);
    }
    if (a->grant != GRANT_CLIENT_CREDENTIALS)
        t->refresh_used_at = now;
    t->last_error_code = 0;
    free(t->last_error);
    t->last_error = NULL;
    t->last_error_at = 0;
    rc = 0;
reply_done:
    token_reply_free(&reply);
done:
    mt_strfree(secret);
    return rc;
}

int
token_get(const struct config *cfg, const struct account *a, int force, char **token_r,
          time_t *expires_r, struct mt_err *err)
{
    struct tokens seen, t;
    struct store st = {.dirfd = -1};
    time_t now = token_clock();
    char *seen_access = NULL;
    time_t seen_error_at;
    int lockfd = -1, r, rc = -1;

    *token_r = NULL;
    *expires_r = 0;
    memset(&t, 0, sizeof(t));
    memset(&seen, 0, sizeof(seen));

    /* Fast path: no lock, just the file, which is only ever replaced whole. */
    r = open_store(cfg, &st, 0, err);
    if (r < 0)
        return -1;
    if (r > 0 && store_read(&st, a->name, &seen, err) < 0)
        goto done;
    if (!force && token_access_valid(&seen, a->refresh_margin, now)) {
        rc = hand_out(a, &seen, token_r, expires_r, err);
        goto done;
    }
    if (a->grant != GRANT_CLIENT_CREDENTIALS && seen.refresh_token == NULL) {
        not_authorized(a, err);
        goto done;
    }
    if (seen.access_token != NULL && (seen_access = strdup(seen.access_token)) == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    seen_error_at = seen.last_error_at;

    /* Slow path: under the lock, read again; another process may have refreshed. */
    if (st.dirfd < 0 && open_store(cfg, &st, 1, err) < 0)
        goto done;
    lockfd = store_lock(&st, a->name, lock_timeout(a), err);
    if (lockfd < 0) {
        err_prefix(err, "%s", a->name);
        goto done;
    }
    if (store_read(&st, a->name, &t, err) < 0)
        goto done;
    now = token_clock();
    if (t.access_token != NULL && !t.access_rejected &&
        (seen_access == NULL || strcmp(seen_access, t.access_token) != 0)) {
        /* A token that appeared while we waited is fresh, whatever its expires_in. */
        trace("%s: another mailtoken refreshed the token while this one waited", a->name);
        rc = hand_out(a, &t, token_r, expires_r, err);
        goto done;
    }
    if (!force && token_access_valid(&t, a->refresh_margin, now)) {
        rc = hand_out(a, &t, token_r, expires_r, err);
        goto done;
    }
    if (t.last_error_code != 0 && t.last_error_at != seen_error_at && t.last_error != NULL) {
        /* The process we waited for failed just now: report that, do not ask again. */
        err_set(err, t.last_error_code, "%s", t.last_error);
        goto done;
    }
    if (a->grant != GRANT_CLIENT_CREDENTIALS && t.refresh_token == NULL) {
        not_authorized(a, err);
        goto done;
    }

    if (refresh(a, &t, now, err) != 0) {
        if (err->code != EX_TEMPFAIL || t.last_error_code == 0)
            record_failure(&st, a, &t, err, now);
        goto done;
    }
    /* The new refresh token must be on disk before the access token is used. */
    if (store_write(&st, a->name, &t, err) != 0) {
        err_prefix(err, "%s: the new tokens could not be saved, and the server may already have "
                   "replaced the old refresh token; if the next run fails, run mailtoken "
                   "authorize %s", a->name, a->name);
        goto done;
    }
    if (write_token_file(a, t.access_token, err) != 0)
        goto done;
    rc = hand_out(a, &t, token_r, expires_r, err);
done:
    store_unlock(lockfd);
    store_close(&st);
    mt_strfree(seen_access);
    tokens_free(&seen);
    tokens_free(&t);
    return rc;
}

int
token_mark_rejected(const struct config *cfg, const struct account *a, const char *fingerprint,
                    struct mt_err *err)
{
    struct store st = {.dirfd = -1};
    struct tokens t;
    char fp[MT_FINGERPRINT_SIZE];
    int lockfd = -1, r, rc = -1;

    memset(&t, 0, sizeof(t));
    r = open_store(cfg, &st, 0, err);
    if (r <= 0)
        return r;
    lockfd = store_lock(&st, a->name, lock_timeout(a), err);
    if (lockfd < 0)
        goto done;
    r = store_read(&st, a->name, &t, err);
    if (r < 0)
        goto done;
    rc = 0;
    if (r == 0 || t.access_token == NULL)
        goto done;
    mt_fingerprint_str(t.access_token, fp);
    if (strcmp(fp, fingerprint) != 0 || t.access_rejected) {
        trace("%s: the rejected token %s is no longer the stored one", a->name, fingerprint);
        goto done;
    }
    t.access_rejected = 1;
    trace("%s: marking access token %s as rejected", a->name, fp);
    rc = store_write(&st, a->name, &t, err);
done:
    store_unlock(lockfd);
    store_close(&st);
    tokens_free(&t);
    return rc;
}

/* Moves a corrupt store file aside so that it is kept, not overwritten. */
static int
move_corrupt(struct store *st, const char *account, struct mt_err *err)
{
    char from[NAME_MAX + 1], to[NAME_MAX + 1];

    snprintf(from, sizeof(from), "%s.json", account);
    snprintf(to, sizeof(to), "%s.json.corrupt", account);
    if (renameat(st->dirfd, from, st->dirfd, to) != 0)
        return err_set(err, EX_CANTCREAT, "cannot move the corrupt %s aside: %s",
                       store_path(st, account), strerror(errno));
    return 0;
}

/* Opens the store, takes the lock, and reads the account's file for a rewrite. */
static int
begin_rewrite(const struct config *cfg, const struct account *a, struct store *st,
              struct tokens *t, int *moved_r, struct mt_err *err)
{
    struct mt_err read_err;
    int lockfd, r;

    *moved_r = 0;
    if (store_open(st, cfg->store, 1, err) != 0)
        return -1;
    lockfd = store_lock(st, a->name, lock_timeout(a), err);
    if (lockfd < 0)
        return -1;
    err_clear(&read_err);
    r = store_read(st, a->name, t, &read_err);
    if (r < 0) {
        /* Only a corrupt file is moved aside; an unsafe one is left for the user to fix. */
        if (r != STORE_CORRUPT) {
            *err = read_err;
            store_unlock(lockfd);
            return -1;
        }
        if (move_corrupt(st, a->name, err) != 0) {
            store_unlock(lockfd);
            return -1;
        }
        *moved_r = 1;
    }
    return lockfd;
}

int
token_import(const struct config *cfg, const struct account *a, const char *refresh_token,
             int *moved_r, struct mt_err *err)
{
    struct store st = {.dirfd = -1};
    struct tokens t;
    time_t now = token_clock();
    int lockfd, rc = -1;

    memset(&t, 0, sizeof(t));
    lockfd = begin_rewrite(cfg, a, &st, &t, moved_r, err);
    if (lockfd < 0)
        goto done;
    tokens_free(&t);
    if (tokens_set(&t.refresh_token, refresh_token) != 0) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    t.authorized_at = now;
    t.refresh_obtained_at = now;
    t.refresh_used_at = now;
    rc = store_write(&st, a->name, &t, err);
done:
    store_unlock(lockfd);
    store_close(&st);
    tokens_free(&t);
    return rc;
}

int
token_store_authorized(const struct config *cfg, const struct account *a,
                       const struct token_reply *reply, time_t requested_at, struct mt_err *err)
{
    struct store st = {.dirfd = -1};
    struct tokens t;
    int lockfd, moved, rc = -1;

    memset(&t, 0, sizeof(t));
    lockfd = begin_rewrite(cfg, a, &st, &t, &moved, err);
    if (lockfd < 0)
        goto done;
    tokens_free(&t);
    if (tokens_set(&t.refresh_token, reply->refresh_token) != 0 ||
        tokens_set(&t.access_token, reply->access_token) != 0 ||
        tokens_set(&t.token_type, reply->token_type != NULL ? reply->token_type : "Bearer") != 0 ||
        tokens_set(&t.scope, reply->scope) != 0) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    t.authorized_user = oauth_id_token_user(reply->id_token);
    t.authorized_at = requested_at;
    t.refresh_obtained_at = reply->refresh_token != NULL ? requested_at : 0;
    t.refresh_used_at = t.refresh_obtained_at;
    t.obtained_at = requested_at;
    t.expires_in = reply->expires_in;
    rc = store_write(&st, a->name, &t, err);
    if (rc == 0 && write_token_file(a, t.access_token, err) != 0)
        rc = -1;
done:
    store_unlock(lockfd);
    store_close(&st);
    tokens_free(&t);
    return rc;
}

int
token_forget(const struct config *cfg, const struct account *a, char **refresh_token_r,
             struct mt_err *err)
{
    struct store st = {.dirfd = -1};
    struct tokens t;
    int lockfd = -1, r, rc = -1;

    *refresh_token_r = NULL;
    memset(&t, 0, sizeof(t));
    r = open_store(cfg, &st, 0, err);
    if (r <= 0)
        return r;
    lockfd = store_lock(&st, a->name, lock_timeout(a), err);
    if (lockfd < 0)
        goto done;
    /* A corrupt file is deleted too: forgetting is what the user asked for. */
    r = store_read(&st, a->name, &t, err);
    if (r > 0 && t.refresh_token != NULL) {
        *refresh_token_r = t.refresh_token;
        t.refresh_token = NULL;
    }
    err_clear(err);
    rc = store_remove(&st, a->name, err);
    if (rc == 0 && a->token_file != NULL)
        unlink(a->token_file);
    if (rc == 0 && r != 0)
        rc = 1;
done:
    store_unlock(lockfd);
    store_close(&st);
    tokens_free(&t);
    return rc;
}
