/*
 * The daemon's listening sockets: creating them safely, taking them over
 * from systemd (socket activation), and telling systemd about readiness.
 */
#include "daemon_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

/* File descriptors from systemd start here (sd_listen_fds(3)). */
#define SD_LISTEN_FDS_START 3

static int
fill_address(const char *path, struct sockaddr_un *addr, socklen_t *len_r)
{
    size_t n = strlen(path);

    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (n == 0 || n >= sizeof(addr->sun_path))
        return -1;
    memcpy(addr->sun_path, path, n);
    *len_r = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* Returns 1 when something accepts connections on path, 0 when nothing does. */
static int
someone_listens(const struct sockaddr_un *addr, socklen_t len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int r;

    if (fd < 0)
        return 1;
    r = connect(fd, (const struct sockaddr *)addr, len);
    /* EAGAIN: a listener whose backlog is full is still a listener. */
    r = r == 0 || errno == EAGAIN || errno == EINPROGRESS;
    close(fd);
    return r;
}

/*
 * Removes a leftover socket file at path, but only when it is a socket
 * (never a symlink or another kind of file) and nothing listens on it.
 */
static int
remove_stale(const char *path, const struct sockaddr_un *addr, socklen_t len,
             struct mt_err *err)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return err_set(err, EX_CANTCREAT, "cannot create the socket %s: %s", path,
                       strerror(errno));
    if (S_ISLNK(st.st_mode))
        return err_set(err, EX_CANTCREAT,
                       "cannot create the socket %s: a symbolic link is in the way; "
                       "remove it or choose another socket path", path);
    if (!S_ISSOCK(st.st_mode))
        return err_set(err, EX_CANTCREAT,
                       "cannot create the socket %s: a file that is not a socket is in "
                       "the way; remove it or choose another socket path", path);
    if (someone_listens(addr, len))
        return err_set(err, EX_CANTCREAT,
                       "cannot create the socket %s: another process listens on it "
                       "(is another mailtoken serve running?)", path);
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(err, EX_CANTCREAT, "cannot remove the stale socket %s: %s", path,
                       strerror(errno));
    return 0;
}

static int
bind_error(const char *path, int error, struct mt_err *err)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (error == ENOENT)
        return err_set(err, EX_CANTCREAT,
                       "cannot create the socket %s: the folder %s does not exist; create it "
                       "first (mailtoken does not create socket folders)", path, dir);
    if (error == EACCES || error == EPERM || error == EROFS)
        return err_set(err, EX_CANTCREAT,
                       "cannot create the socket %s: %s; the user running mailtoken serve "
                       "needs write access to %s (or let systemd create the socket with "
                       "mailtoken.socket)", path, strerror(error), dir);
    return err_set(err, EX_CANTCREAT, "cannot create the socket %s: %s", path,
                   strerror(error));
}

static int
lookup_group(const char *name, gid_t *gid_r, struct mt_err *err)
{
    struct group grp, *found = NULL;
    char buf[16384], *end;
    unsigned long number;
    int r;

    errno = 0;
    number = strtoul(name, &end, 10);
    if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && errno == 0) {
        *gid_r = (gid_t)number;
        return 0;
    }
    r = getgrnam_r(name, &grp, buf, sizeof(buf), &found);
    if (found == NULL)
        return err_set(err, EX_CONFIG, "socket_group \"%s\": %s", name,
                       r != 0 ? strerror(r) : "no such group");
    *gid_r = grp.gr_gid;
    return 0;
}

/* Applies mode and group to the socket file we created, after checking it is still ours. */
static int
apply_permissions(const struct listener *l, unsigned mode, const char *group,
                  struct mt_err *err)
{
    struct stat st;
    gid_t gid;

    if (lstat(l->path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_dev != l->dev ||
        st.st_ino != l->ino)
        return err_set(err, EX_CANTCREAT,
                       "the socket %s was removed or replaced by another file", l->path);
    if (group != NULL) {
        if (lookup_group(group, &gid, err) != 0)
            return -1;
        if (lchown(l->path, (uid_t)-1, gid) != 0)
            return err_set(err, EX_CANTCREAT,
                           "cannot give the socket %s to group %s: %s (the user running "
                           "mailtoken serve must be a member of that group)",
                           l->path, group, strerror(errno));
    }
    if (chmod(l->path, mode) != 0)
        return err_set(err, EX_CANTCREAT, "cannot set mode %04o on the socket %s: %s", mode,
                       l->path, strerror(errno));
    return 0;
}

/* Creates, binds and listens on path. Fills l on success. */
static int
listener_open(struct listener *l, const char *path, unsigned mode, const char *group,
              struct mt_err *err)
{
    struct sockaddr_un addr;
    struct stat st;
    socklen_t len;
    int fd, rc = -1;

    memset(l, 0, sizeof(*l));
    l->fd = -1;
    if (fill_address(path, &addr, &len) != 0)
        return err_set(err, EX_CONFIG, "socket path %s is longer than %zu bytes", path,
                       sizeof(addr.sun_path) - 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_set(err, EX_OSERR, "cannot create a socket: %s", strerror(errno));
    /* daemon_run sets umask 077, so no other user can connect before chmod sets the mode. */
    if (bind(fd, (struct sockaddr *)&addr, len) != 0) {
        if (errno != EADDRINUSE) {
            bind_error(path, errno, err);
            goto done;
        }
        if (remove_stale(path, &addr, len, err) != 0)
            goto done;
        if (bind(fd, (struct sockaddr *)&addr, len) != 0) {
            bind_error(path, errno, err);
            goto done;
        }
    }
    if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        err_set(err, EX_CANTCREAT, "the socket %s vanished right after it was created", path);
        goto done;
    }
    l->path = strdup(path);
    if (l->path == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        unlink(path);
        goto done;
    }
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    if (apply_permissions(l, mode, group, err) != 0 || listen(fd, SOMAXCONN) != 0) {
        if (err->code == 0)
            err_set(err, EX_OSERR, "cannot listen on %s: %s", path, strerror(errno));
        unlink(path);
        free(l->path);
        l->path = NULL;
        goto done;
    }
    l->fd = fd;
    fd = -1;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void
listener_close(struct listener *l)
{
    struct stat st;

    if (l->fd >= 0)
        close(l->fd);
    /* Remove the file only while it is still the socket we created. */
    if (!l->inherited && l->path != NULL && l->path[0] == '/' && lstat(l->path, &st) == 0 &&
        S_ISSOCK(st.st_mode) && st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->path);
    free(l->path);
    memset(l, 0, sizeof(*l));
    l->fd = -1;
}

void
listeners_close_all(struct daemon *d)
{
    for (size_t i = 0; i < d->nlisteners; i++)
        listener_close(&d->listeners[i]);
    d->nlisteners = 0;
}

/* Returns the path a listening socket is bound to, "@name" for an abstract one. */
static int
socket_path(int fd, char *out, size_t size)
{
    struct sockaddr_un addr;
    socklen_t len = sizeof(addr);
    size_t n;

    memset(&addr, 0, sizeof(addr));
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0 || addr.sun_family != AF_UNIX ||
        len <= offsetof(struct sockaddr_un, sun_path))
        return -1;
    n = len - offsetof(struct sockaddr_un, sun_path);
    if (addr.sun_path[0] == '\0') {
        snprintf(out, size, "@%.*s", (int)(n - 1), addr.sun_path + 1);
        return 0;
    }
    snprintf(out, size, "%.*s", (int)strnlen(addr.sun_path, n), addr.sun_path);
    return 0;
}

static int
adopt_one(struct daemon *d, int fd, struct mt_err *err)
{
    struct listener *l = &d->listeners[d->nlisteners];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
    int type = 0, listening = 0, flags;
    socklen_t len = sizeof(type);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM ||
        socket_path(fd, path, sizeof(path)) != 0)
        return err_set(err, EX_CONFIG,
                       "file descriptor %d from systemd is not a Unix stream socket: use "
                       "ListenStream=/PATH in mailtoken.socket", fd);
    len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
        return err_set(err, EX_CONFIG,
                       "the socket %s from systemd is not listening: set Accept=no in "
                       "mailtoken.socket", path);
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return err_set(err, EX_OSERR, "cannot prepare the socket %s: %s", path,
                       strerror(errno));
    memset(l, 0, sizeof(*l));
    l->path = strdup(path);
    if (l->path == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    l->fd = fd;
    l->inherited = 1;
    d->nlisteners++;
    return 0;
}

int
listeners_adopt(struct daemon *d, struct mt_err *err)
{
    const char *pid_text = getenv("LISTEN_PID"), *fds_text = getenv("LISTEN_FDS");
    char *end;
    long pid, n;
    int rc = 0;

    if (pid_text == NULL || fds_text == NULL)
        goto done;
    pid = strtol(pid_text, &end, 10);
    if (*end != '\0' || pid != (long)getpid())
        goto done;
    n = strtol(fds_text, &end, 10);
    if (*end != '\0' || n < 0 || n > DAEMON_MAX_LISTENERS) {
        rc = err_set(err, EX_CONFIG, "LISTEN_FDS=%s from systemd is not between 0 and %d",
                     fds_text, DAEMON_MAX_LISTENERS);
        goto done;
    }
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
        if (adopt_one(d, fd, err) != 0) {
            rc = -1;
            break;
        }
    }
done:
    /* Children (notify_command, client_secret_command) must not take these as theirs. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return rc;
}

static int
listed(const struct config *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->nsockets; i++)
        if (strcmp(cfg->sockets[i], path) == 0)
            return 1;
    return 0;
}

static void
describe_listener(struct daemon *d, const struct listener *l, const struct config *cfg)
{
    if (l->inherited)
        daemon_log(d, LOG_INFO, "listening on %s (socket from systemd%s)", l->path,
                   listed(cfg, l->path) ? "" : "; not in the configuration's socket list");
    else
        daemon_log(d, LOG_INFO, "listening on %s (mode %04o%s%s)", l->path, cfg->socket_mode,
                   cfg->socket_group != NULL ? ", group " : "",
                   cfg->socket_group != NULL ? cfg->socket_group : "");
}

int
listeners_sync(struct daemon *d, const struct config *cfg, int strict, struct mt_err *err)
{
    struct mt_err one;

    /* Sockets the new configuration no longer lists (systemd's stay). */
    for (size_t i = 0; i < d->nlisteners;) {
        struct listener *l = &d->listeners[i];

        if (l->inherited || listed(cfg, l->path)) {
            i++;
            continue;
        }
        daemon_log(d, LOG_INFO, "closing %s: no longer in the configuration", l->path);
        listener_close(l);
        d->listeners[i] = d->listeners[--d->nlisteners];
    }

    for (size_t i = 0; i < cfg->nsockets; i++) {
        const char *path = cfg->sockets[i];
        struct listener *found = NULL;

        err_clear(&one);
        for (size_t j = 0; j < d->nlisteners; j++)
            if (strcmp(d->listeners[j].path, path) == 0)
                found = &d->listeners[j];
        if (found != NULL) {
            if (!found->inherited &&
                apply_permissions(found, cfg->socket_mode, cfg->socket_group, &one) != 0)
                goto failed;
            continue;
        }
        if (d->nlisteners == DAEMON_MAX_LISTENERS) {
            err_set(&one, EX_CONFIG, "socket %s: at most %d sockets are supported", path,
                    DAEMON_MAX_LISTENERS);
            goto failed;
        }
        if (listener_open(&d->listeners[d->nlisteners], path, cfg->socket_mode,
                          cfg->socket_group, &one) != 0)
            goto failed;
        d->nlisteners++;
        describe_listener(d, &d->listeners[d->nlisteners - 1], cfg);
        continue;
failed:
        if (strict) {
            *err = one;
            return -1;
        }
        daemon_log(d, LOG_ERR, "%s", one.msg);
    }
    if (strict)
        for (size_t i = 0; i < d->nlisteners; i++)
            if (d->listeners[i].inherited)
                describe_listener(d, &d->listeners[i], cfg);
    return 0;
}

void
daemon_sd_notify(struct daemon *d, const char *state)
{
    struct sockaddr_un addr;
    socklen_t len;
    int fd;

    if (d->notify_socket[0] == '\0')
        return;
    if (fill_address(d->notify_socket, &addr, &len) != 0)
        return;
    /* "@name" is an abstract socket: a NUL in place of the '@', no terminator. */
    if (addr.sun_path[0] == '@') {
        addr.sun_path[0] = '\0';
        len--;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, len) < 0)
        daemon_log(d, LOG_WARNING, "cannot send \"%s\" to systemd at %s: %s", state,
                   d->notify_socket, strerror(errno));
    close(fd);
}
