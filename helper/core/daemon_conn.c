/*
 * Reading request lines. The main thread reads every client without
 * blocking, each with a deadline and a fixed buffer, so a client that
 * stalls, sends too much or disconnects costs a file descriptor and a
 * kilobyte until its deadline, and never a thread.
 */
#include "daemon_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "mt_buf.h"
#include "request.h"

void
conn_reject(int fd, int code, const char *kind, const char *message)
{
    struct mt_buf reply;

    mt_buf_init(&reply, 1024);
    request_error_reply(&reply, code, kind, message);
    /* The socket buffer is empty, so a short reply fits; if not, the client is gone anyway. */
    if (send(fd, reply.data, reply.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* Nothing to do: the connection is closed next. */
    }
    mt_buf_free(&reply);
    close(fd);
}

void
conn_close(struct daemon *d, size_t index)
{
    struct conn *c = d->conns[index];

    if (c->fd >= 0)
        close(c->fd);
    free(c);
    d->conns[index] = d->conns[--d->nconns];
}

void
conns_close_all(struct daemon *d)
{
    while (d->nconns > 0)
        conn_close(d, d->nconns - 1);
}

/* Makes room for one more connection by dropping the one that has waited longest. */
static void
drop_oldest(struct daemon *d)
{
    size_t oldest = 0;

    for (size_t i = 1; i < d->nconns; i++)
        if (d->conns[i]->deadline_ms < d->conns[oldest]->deadline_ms)
            oldest = i;
    daemon_log_limited(d, &d->client_limit, LOG_WARNING,
                       "%d clients are still sending their request: closed the oldest "
                       "(uid %u, pid %ld)", DAEMON_MAX_PENDING, (unsigned)d->conns[oldest]->uid,
                       (long)d->conns[oldest]->pid);
    conn_close(d, oldest);
}

void
conns_accept(struct daemon *d, int listen_fd)
{
    for (;;) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        struct conn *c;
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Leave the rest in the backlog for a moment instead of spinning. */
                d->accept_paused_until_ms = daemon_now_ms() + 100;
                daemon_log_limited(d, &d->client_limit, LOG_ERR,
                                   "cannot accept a connection: %s", strerror(errno));
            }
            return;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
            daemon_log_limited(d, &d->client_limit, LOG_ERR,
                               "cannot read the credentials of a client: %s", strerror(errno));
            close(fd);
            continue;
        }
        c = malloc(sizeof(*c));
        if (c == NULL) {
            conn_reject(fd, EX_TEMPFAIL, MT_WIRE_TEMPORARY, "the daemon is out of memory");
            continue;
        }
        if (d->nconns == DAEMON_MAX_PENDING)
            drop_oldest(d);
        c->fd = fd;
        c->uid = cred.uid;
        c->gid = cred.gid;
        c->pid = cred.pid;
        c->deadline_ms = daemon_now_ms() + DAEMON_REQUEST_TIMEOUT_MS;
        c->len = 0;
        d->conns[d->nconns++] = c;
    }
}

/* Builds the work item for a parsed request and queues it. */
static void
dispatch(struct daemon *d, struct conn *c, const struct mt_wire_request *req)
{
    const struct account *a = NULL;
    struct mt_err ignored;
    struct work *w;
    int as_mailbox;

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        conn_reject(c->fd, EX_TEMPFAIL, MT_WIRE_TEMPORARY, "the daemon is out of memory");
        c->fd = -1;
        return;
    }
    w->type = WORK_REQUEST;
    w->fd = c->fd;
    w->uid = c->uid;
    w->req = *req;
    c->fd = -1;
    /* The account decides which per-account worker limit applies. */
    err_clear(&ignored);
    if (req->account[0] != '\0')
        a = config_find_account(&d->cfg->cfg, req->account, &as_mailbox, &ignored);
    if (a != NULL)
        snprintf(w->account, sizeof(w->account), "%s", a->name);
    w->cfg = cfg_acquire(d);
    if (pool_submit(d, w) != 0) {
        daemon_log_limited(d, &d->failure_limit, LOG_WARNING,
                           "%d requests are waiting for a worker: told uid %u to try again",
                           DAEMON_MAX_QUEUED, (unsigned)w->uid);
        conn_reject(w->fd, EX_TEMPFAIL, MT_WIRE_TEMPORARY,
                    "the mailtoken daemon is busy: try again later");
        w->fd = -1;
        work_discard(d, w);
    }
}

/* Handles a whole request line (without its LF). */
static void
line_received(struct daemon *d, struct conn *c, size_t len)
{
    struct mt_wire_request req;
    const char *problem = NULL;

    if (mt_wire_parse_request(c->buf, len, &req, &problem) != 0) {
        daemon_log_limited(d, &d->client_limit, LOG_WARNING,
                           "client uid %u (pid %ld): invalid request: %s",
                           (unsigned)c->uid, (long)c->pid, problem);
        conn_reject(c->fd, EX_USAGE, MT_WIRE_BAD_REQUEST, problem);
        c->fd = -1;
        return;
    }
    dispatch(d, c, &req);
}

int
conn_readable(struct daemon *d, struct conn *c)
{
    char *lf;
    ssize_t n;

    n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        if (d->verbose)
            daemon_log_limited(d, &d->client_limit, LOG_DEBUG,
                               "client uid %u (pid %ld) closed the connection before sending "
                               "a whole request (%zu bytes)", (unsigned)c->uid, (long)c->pid,
                               c->len);
        close(c->fd);
        c->fd = -1;
        return 1;
    }
    lf = memchr(c->buf + c->len, '\n', (size_t)n);
    c->len += (size_t)n;
    if (lf != NULL) {
        /* One request per connection: whatever follows the line is ignored. */
        line_received(d, c, (size_t)(lf - c->buf));
        return 1;
    }
    if (c->len == sizeof(c->buf)) {
        daemon_log_limited(d, &d->client_limit, LOG_WARNING,
                           "client uid %u (pid %ld): request line longer than %d bytes",
                           (unsigned)c->uid, (long)c->pid, MT_WIRE_MAX_REQUEST - 1);
        conn_reject(c->fd, EX_USAGE, MT_WIRE_BAD_REQUEST, "request line too long");
        c->fd = -1;
        return 1;
    }
    return 0;
}

long long
conns_expire(struct daemon *d, long long now_ms)
{
    long long earliest = -1;

    for (size_t i = 0; i < d->nconns;) {
        struct conn *c = d->conns[i];

        if (c->deadline_ms > now_ms) {
            if (earliest < 0 || c->deadline_ms < earliest)
                earliest = c->deadline_ms;
            i++;
            continue;
        }
        daemon_log_limited(d, &d->client_limit, LOG_WARNING,
                           "client uid %u (pid %ld) sent no whole request line within %d ms "
                           "(%zu bytes): connection closed", (unsigned)c->uid, (long)c->pid,
                           DAEMON_REQUEST_TIMEOUT_MS, c->len);
        conn_reject(c->fd, EX_USAGE, MT_WIRE_BAD_REQUEST,
                    "no whole request line within the time allowed");
        c->fd = -1;
        conn_close(d, i);
    }
    return earliest;
}
