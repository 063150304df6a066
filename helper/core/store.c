/* The token store: one JSON file per account, replaced atomically. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jsonutil.h"
#include "mt_buf.h"
#include "mt_io.h"
#include "mt_wipe.h"

#define STORE_VERSION 1
#define STORE_MAX_FILE (1024 * 1024)

const char *
store_path(const struct store *st, const char *account)
{
    static char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s.json", st->dir, account);
    return path;
}

/* Creates dir and its missing parents with mode 0700. */
static int
make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);

    if (n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int
store_open(struct store *st, const char *dir, int create, struct mt_err *err)
{
    struct stat sb;

    st->dir = NULL;
    st->dirfd = -1;
    if (create && make_dirs(dir) != 0)
        return err_set(err, EX_CANTCREAT, "cannot create the token store folder %s: %s", dir,
                       strerror(errno));
    st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (st->dirfd < 0) {
        if (errno == ENOENT)
            return err_set(err, EX_IOERR, "the token store folder %s does not exist", dir);
        return err_set(err, EX_IOERR, "cannot open the token store folder %s: %s", dir,
                       strerror(errno));
    }
    if (fstat(st->dirfd, &sb) != 0) {
        err_set(err, EX_IOERR, "cannot examine %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (sb.st_uid != geteuid()) {
        err_set(err, EX_IOERR,
                "the token store folder %s belongs to uid %u, not to uid %u: run mailtoken as "
                "its owner, or set store = DIR to a folder of your own",
                dir, (unsigned)sb.st_uid, (unsigned)geteuid());
        goto fail;
    }
    if ((sb.st_mode & 077) != 0) {
        err_set(err, EX_IOERR,
                "the token store folder %s is open to other users (mode %04o): run chmod 700 %s",
                dir, (unsigned)(sb.st_mode & 07777), dir);
        goto fail;
    }
    st->dir = strdup(dir);
    if (st->dir == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        goto fail;
    }
    return 0;

fail:
    close(st->dirfd);
    st->dirfd = -1;
    return -1;
}

void
store_close(struct store *st)
{
    if (st->dirfd >= 0)
        close(st->dirfd);
    st->dirfd = -1;
    free(st->dir);
    st->dir = NULL;
}

void
tokens_free(struct tokens *t)
{
    mt_strfree(t->refresh_token);
    mt_strfree(t->access_token);
    free(t->token_type);
    free(t->scope);
    free(t->authorized_user);
    free(t->last_error);
    memset(t, 0, sizeof(*t));
}

int
tokens_set(char **field, const char *value)
{
    char *copy = NULL;

    if (value != NULL && (copy = strdup(value)) == NULL)
        return -1;
    mt_strfree(*field);
    *field = copy;
    return 0;
}

static int
get_time(struct json_object *o, const char *key, time_t *out)
{
    int64_t v;
    int r = json_get_int_lenient(o, key, &v);

    if (r < 0)
        return -1;
    *out = r == 1 ? (time_t)v : 0;
    return 0;
}

/* Returns 0, -1 when the member is not a string, or -2 when out of memory. */
static int
get_string(struct json_object *o, const char *key, char **out)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -1;
    return tokens_set(out, json_object_get_string(v)) != 0 ? -2 : 0;
}

/* Reads an optional integer member within [min, max]; absent reads as 0. */
static int
get_number(struct json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
    int r = json_get_int_lenient(o, key, out);

    if (r == 0)
        *out = 0;
    if (r < 0 || *out < min || *out > max)
        return -1;
    return 0;
}

/* Fills t from the parsed file. Returns 0, or -1 naming the bad member. */
static int
decode_tokens(struct json_object *o, struct tokens *t, const char **bad_r)
{
    int64_t version, n;
    time_t error_at;
    int r;

    if (!json_object_is_type(o, json_type_object)) {
        *bad_r = "the file is not a JSON object";
        return -1;
    }
    if (json_get_int_lenient(o, "version", &version) != 1 || version != STORE_VERSION) {
        *bad_r = "missing or unknown \"version\"";
        return -1;
    }
    if ((r = get_string(o, "refresh_token", &t->refresh_token)) != 0 ||
        (r = get_string(o, "access_token", &t->access_token)) != 0 ||
        (r = get_string(o, "token_type", &t->token_type)) != 0 ||
        (r = get_string(o, "scope", &t->scope)) != 0 ||
        (r = get_string(o, "authorized_user", &t->authorized_user)) != 0 ||
        (r = get_string(o, "last_error", &t->last_error)) != 0) {
        *bad_r = r == -2 ? json_out_of_memory : "a text member is not a string";
        return -1;
    }
    if (get_time(o, "authorized_at", &t->authorized_at) != 0 ||
        get_time(o, "refresh_obtained_at", &t->refresh_obtained_at) != 0 ||
        get_time(o, "refresh_used_at", &t->refresh_used_at) != 0 ||
        get_time(o, "obtained_at", &t->obtained_at) != 0 ||
        get_time(o, "last_error_at", &error_at) != 0) {
        *bad_r = "a time member is not a number";
        return -1;
    }
    t->last_error_at = error_at;
    if (get_number(o, "expires_in", LONG_MIN, LONG_MAX, &n) != 0) {
        *bad_r = "\"expires_in\" is not a number";
        return -1;
    }
    t->expires_in = (long)n;
    if (get_number(o, "access_rejected", 0, 1, &n) != 0) {
        *bad_r = "\"access_rejected\" is not 0 or 1";
        return -1;
    }
    t->access_rejected = (int)n;
    if (get_number(o, "last_error_code", 0, 255, &n) != 0) {
        *bad_r = "\"last_error_code\" is not an exit code";
        return -1;
    }
    t->last_error_code = (int)n;
    return 0;
}

int
store_decode(const char *text, size_t len, struct tokens *t, const char **problem_r)
{
    struct json_object *o;
    int rc = 0;

    memset(t, 0, sizeof(*t));
    o = json_parse_wiped(text, len, problem_r);
    if (o == NULL || decode_tokens(o, t, problem_r) != 0) {
        tokens_free(t);
        rc = -1;
    }
    json_wipe_put(o);
    return rc;
}

int
store_read(struct store *st, const char *account, struct tokens *t, struct mt_err *err)
{
    char name[NAME_MAX + 1];
    struct mt_buf buf;
    struct stat sb;
    const char *problem = NULL;
    int fd, decoded, rc = -1;

    memset(t, 0, sizeof(*t));
    mt_buf_init(&buf, STORE_MAX_FILE);
    snprintf(name, sizeof(name), "%s.json", account);
    /* O_NONBLOCK: a FIFO put in the file's place must not hang us. */
    fd = openat(st->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ELOOP)
            return err_set(err, EX_IOERR,
                           "%s is a symbolic link: mailtoken does not follow links in the token "
                           "store; remove it and run mailtoken authorize %s",
                           store_path(st, account), account);
        return err_set(err, EX_IOERR, "cannot open %s: %s", store_path(st, account),
                       strerror(errno));
    }
    if (fstat(fd, &sb) != 0) {
        err_set(err, EX_IOERR, "cannot examine %s: %s", store_path(st, account), strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        err_set(err, EX_IOERR, "%s is not a regular file: remove it and run mailtoken "
                "authorize %s", store_path(st, account), account);
        goto done;
    }
    if (sb.st_uid != geteuid()) {
        err_set(err, EX_IOERR, "%s belongs to uid %u, not to uid %u: run mailtoken as its owner",
                store_path(st, account), (unsigned)sb.st_uid, (unsigned)geteuid());
        goto done;
    }
    if ((sb.st_mode & 077) != 0) {
        err_set(err, EX_IOERR, "%s can be read by other users (mode %04o): run chmod 600 %s",
                store_path(st, account), (unsigned)(sb.st_mode & 07777),
                store_path(st, account));
        goto done;
    }
    /* Out of memory is EX_OSERR: EX_IOERR would make import and authorize move the file aside. */
    if (mt_read_all(fd, &buf) != 0) {
        err_set(err, errno == ENOMEM ? EX_OSERR : EX_IOERR, "cannot read %s: %s",
                store_path(st, account), errno == ENOSPC ? "larger than 1 MiB" : strerror(errno));
        goto done;
    }
    decoded = store_decode(mt_buf_str(&buf), buf.len, t, &problem);
    if (decoded != 0 && problem == json_out_of_memory) {
        err_set(err, EX_OSERR, "cannot read %s: out of memory", store_path(st, account));
        goto done;
    }
    if (decoded != 0) {
        err_set(err, EX_IOERR,
                "the token file %s is corrupt (%s): move it away, then run mailtoken authorize %s",
                store_path(st, account), problem, account);
        tokens_free(t);
        rc = STORE_CORRUPT;
        goto done;
    }
    rc = 1;
done:
    mt_buf_free(&buf);
    close(fd);
    return rc;
}

static int
encode_tokens(const struct tokens *t, struct mt_buf *b)
{
    if (jw_begin(b) != 0 || jw_int(b, "version", STORE_VERSION) != 0 ||
        jw_str(b, "refresh_token", t->refresh_token) != 0 ||
        jw_int(b, "authorized_at", t->authorized_at) != 0 ||
        jw_int(b, "refresh_obtained_at", t->refresh_obtained_at) != 0 ||
        jw_int(b, "refresh_used_at", t->refresh_used_at) != 0 ||
        jw_str(b, "access_token", t->access_token) != 0 ||
        jw_str(b, "token_type", t->token_type) != 0 ||
        jw_int(b, "obtained_at", t->obtained_at) != 0 ||
        jw_int(b, "expires_in", t->expires_in) != 0 ||
        jw_int(b, "access_rejected", t->access_rejected) != 0 ||
        jw_str(b, "scope", t->scope) != 0 ||
        jw_str(b, "authorized_user", t->authorized_user) != 0)
        return -1;
    if (t->last_error_code != 0 &&
        (jw_int(b, "last_error_code", t->last_error_code) != 0 ||
         jw_str(b, "last_error", t->last_error) != 0 ||
         jw_int(b, "last_error_at", t->last_error_at) != 0))
        return -1;
    return jw_end(b);
}

int
store_write(struct store *st, const char *account, const struct tokens *t, struct mt_err *err)
{
    char name[NAME_MAX + 1], tmp[NAME_MAX + 1];
    struct mt_buf buf;
    int fd = -1, rc = -1, saved;

    snprintf(name, sizeof(name), "%s.json", account);
    /* One fixed temporary name per account: the caller holds the lock, and a
     * crash leaves at most this one file behind for the next write to replace. */
    snprintf(tmp, sizeof(tmp), ".%s.json.tmp", account);
    mt_buf_init(&buf, STORE_MAX_FILE);
    if (encode_tokens(t, &buf) != 0) {
        err_set(err, EX_SOFTWARE, "cannot encode the tokens of %s: %s", account, strerror(errno));
        goto done;
    }
    if (unlinkat(st->dirfd, tmp, 0) != 0 && errno != ENOENT) {
        err_set(err, EX_CANTCREAT, "cannot remove the old temporary file %s/%s: %s", st->dir, tmp,
                strerror(errno));
        goto done;
    }
    fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(err, EX_CANTCREAT, "cannot write the token store %s: %s", st->dir,
                strerror(errno));
        goto done;
    }
    if (mt_write_all(fd, buf.data, buf.len) != 0 || fsync(fd) != 0) {
        saved = errno;
        err_set(err, EX_CANTCREAT, "cannot write %s/%s: %s", st->dir, tmp, strerror(saved));
        goto unlink_tmp;
    }
    if (close(fd) != 0) {
        fd = -1;
        err_set(err, EX_CANTCREAT, "cannot write %s/%s: %s", st->dir, tmp, strerror(errno));
        goto unlink_tmp;
    }
    fd = -1;
    if (renameat(st->dirfd, tmp, st->dirfd, name) != 0) {
        err_set(err, EX_CANTCREAT, "cannot replace %s: %s", store_path(st, account),
                strerror(errno));
        goto unlink_tmp;
    }
    if (fsync(st->dirfd) != 0) {
        err_set(err, EX_CANTCREAT, "cannot sync the token store folder %s: %s", st->dir,
                strerror(errno));
        goto done;
    }
    rc = 0;
    goto done;

unlink_tmp:
    unlinkat(st->dirfd, tmp, 0);
done:
    if (fd >= 0)
        close(fd);
    mt_buf_free(&buf);
    return rc;
}

int
store_remove(struct store *st, const char *account, struct mt_err *err)
{
    char name[NAME_MAX + 1];

    snprintf(name, sizeof(name), "%s.json", account);
    if (unlinkat(st->dirfd, name, 0) != 0 && errno != ENOENT)
        return err_set(err, EX_CANTCREAT, "cannot delete %s: %s", store_path(st, account),
                       strerror(errno));
    if (fsync(st->dirfd) != 0)
        return err_set(err, EX_CANTCREAT, "cannot sync the token store folder %s: %s", st->dir,
                       strerror(errno));
    return 0;
}

int
store_lock(struct store *st, const char *account, long timeout_s, struct mt_err *err)
{
    char name[NAME_MAX + 1];
    struct timespec start, now, pause = {0, 5 * 1000 * 1000};
    int fd;

    snprintf(name, sizeof(name), "%s.lock", account);
    fd = openat(st->dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(err, errno == EROFS || errno == EACCES ? EX_CANTCREAT : EX_IOERR,
                       "cannot open the lock file %s/%s: %s", st->dir, name, strerror(errno));
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            err_set(err, EX_IOERR, "cannot lock %s/%s: %s", st->dir, name, strerror(errno));
            close(fd);
            return -1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= timeout_s) {
            close(fd);
            return err_set(err, EX_TEMPFAIL,
                           "timed out after %ld s waiting for the lock %s/%s, which another "
                           "mailtoken process holds: try again later", timeout_s, st->dir, name);
        }
        nanosleep(&pause, NULL);
    }
    return fd;
}

void
store_unlock(int lockfd)
{
    if (lockfd >= 0)
        close(lockfd);
}
