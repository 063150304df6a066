/*
 * The daemon's main loop: signals, reloading the configuration, accepting
 * clients, the refresh schedule, and a clean stop. See daemon_internal.h
 * for how the work is split between the main thread and the workers.
 */
#include "daemon_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "net.h"
#include "token.h"

#ifndef MAILTOKEN_VERSION
#define MAILTOKEN_VERSION "0"
#endif

#define LOG_LINE_MAX 2048
#define MAX_POLL_MS 60000

/*
 * Set by the signal handlers and by daemon_request_* from any thread; read
 * by the main loop. Lock-free atomics are safe in both places.
 */
static atomic_int stop_count;
static atomic_int stop_signal;
static atomic_int reload_wanted;
static atomic_int wake_fd = -1;
/*
 * The wake-up pipe lives as long as the process: a signal handler or
 * another thread may still write to it while daemon_run returns, and a
 * closed descriptor could by then belong to another file.
 */
static int wake_pipe[2] = {-1, -1};

static void
poke(void)
{
    int saved = errno, fd = atomic_load(&wake_fd);
    char byte = 0;

    if (fd >= 0 && write(fd, &byte, 1) < 0) {
        /* A full pipe already contains a wake-up. */
    }
    errno = saved;
}

static void
on_signal(int sig)
{
    if (sig == SIGHUP) {
        reload_wanted = 1;
    } else {
        stop_signal = sig;
        stop_count++;
    }
    poke();
}

void
daemon_request_stop(void)
{
    stop_signal = 0;
    stop_count++;
    poke();
}

void
daemon_request_reload(void)
{
    reload_wanted = 1;
    poke();
}

void
daemon_wake(struct daemon *d)
{
    char byte = 1;

    if (write(d->wake[1], &byte, 1) < 0) {
        /* A full pipe already contains a wake-up. */
    }
}

const char *
daemon_strip_account(const char *message, const char *account)
{
    size_t n = strlen(account);

    if (strncmp(message, account, n) == 0 && message[n] == ':' && message[n + 1] == ' ')
        return message + n + 2;
    return message;
}

long long
daemon_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(struct daemon *d, int priority, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
emit(struct daemon *d, int priority, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];

    vsnprintf(line, sizeof(line), fmt, ap);
    for (char *p = line; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    d->hooks.log(d->hooks.context, priority, line);
}

void
daemon_log(struct daemon *d, int priority, const char *fmt, ...)
{
    va_list ap;

    if (priority == LOG_DEBUG && !d->verbose)
        return;
    va_start(ap, fmt);
    emit(d, priority, fmt, ap);
    va_end(ap);
}

void
daemon_log_limited(struct daemon *d, struct log_limit *limit, int priority, const char *fmt,
                   ...)
{
    time_t now = time(NULL);
    unsigned suppressed = 0;
    int allowed;
    va_list ap;

    if (priority == LOG_DEBUG && !d->verbose)
        return;
    pthread_mutex_lock(&d->limit_lock);
    if (now >= limit->window + 60 || now < limit->window) {
        suppressed = limit->suppressed;
        limit->window = now;
        limit->logged = 0;
        limit->suppressed = 0;
    }
    allowed = limit->logged < DAEMON_LOG_BURST;
    if (allowed)
        limit->logged++;
    else
        limit->suppressed++;
    pthread_mutex_unlock(&d->limit_lock);

    if (suppressed > 0)
        daemon_log(d, LOG_WARNING, "%u log lines about %s were suppressed in the last minute "
                   "(at most %d a minute are logged)", suppressed, limit->topic,
                   DAEMON_LOG_BURST);
    if (!allowed)
        return;
    va_start(ap, fmt);
    emit(d, priority, fmt, ap);
    va_end(ap);
}

void
daemon_log_flush_limits(struct daemon *d)
{
    struct log_limit *limits[] = {&d->client_limit, &d->refusal_limit, &d->failure_limit};
    time_t now = time(NULL);

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct log_limit *limit = limits[i];
        unsigned suppressed = 0;

        pthread_mutex_lock(&d->limit_lock);
        if (limit->suppressed > 0 && (now >= limit->window + 60 || now < limit->window)) {
            suppressed = limit->suppressed;
            limit->window = now;
            limit->logged = 0;
            limit->suppressed = 0;
        }
        pthread_mutex_unlock(&d->limit_lock);
        if (suppressed > 0)
            daemon_log(d, LOG_WARNING, "%u log lines about %s were suppressed in the last "
                       "minute (at most %d a minute are logged)", suppressed, limit->topic,
                       DAEMON_LOG_BURST);
    }
}

struct cfg_ref *
cfg_acquire(struct daemon *d)
{
    struct cfg_ref *ref;

    pthread_mutex_lock(&d->lock);
    ref = d->cfg;
    ref->refs++;
    pthread_mutex_unlock(&d->lock);
    return ref;
}

void
cfg_release(struct daemon *d, struct cfg_ref *ref)
{
    unsigned left;

    pthread_mutex_lock(&d->lock);
    left = --ref->refs;
    pthread_mutex_unlock(&d->lock);
    if (left == 0) {
        config_free(&ref->cfg);
        free(ref);
    }
}

static const char *
log_target(const struct config *cfg)
{
    return cfg->log != NULL ? cfg->log : "stderr";
}

static size_t
inherited_listeners(const struct daemon *d)
{
    size_t n = 0;

    for (size_t i = 0; i < d->nlisteners; i++)
        n += d->listeners[i].inherited != 0;
    return n;
}

static void
tell_systemd_ready(struct daemon *d)
{
    char state[160];

    snprintf(state, sizeof(state), "READY=1\nSTATUS=accounts %zu, sockets %zu",
             d->cfg->cfg.naccounts, d->nlisteners);
    daemon_sd_notify(d, state);
}

static void
reload(struct daemon *d)
{
    struct cfg_ref *fresh, *old;
    struct mt_err err;

    daemon_log(d, LOG_INFO, "reloading the configuration");
    daemon_sd_notify(d, "RELOADING=1");
    fresh = calloc(1, sizeof(*fresh));
    if (fresh == NULL) {
        daemon_log(d, LOG_ERR, "cannot reload the configuration: out of memory");
        goto done;
    }
    err_clear(&err);
    if (config_load(&fresh->cfg, d->config_path, &err) != 0) {
        daemon_log(d, LOG_ERR, "cannot reload the configuration, keeping the previous one: %s",
                   err.msg);
        goto failed;
    }
    if (fresh->cfg.nsockets == 0 && inherited_listeners(d) == 0) {
        daemon_log(d, LOG_ERR, "cannot reload the configuration, keeping the previous one: "
                   "%s lists no socket in [defaults]",
                   fresh->cfg.path != NULL ? fresh->cfg.path : "it");
        goto failed;
    }
    listeners_sync(d, &fresh->cfg, 0, &err);
    d->hooks.log_target(d->hooks.context, log_target(&fresh->cfg));
    if (accounts_sync(d, &fresh->cfg) != 0) {
        daemon_log(d, LOG_ERR, "cannot reload the configuration: out of memory");
        goto failed;
    }
    fresh->refs = 1;
    pthread_mutex_lock(&d->lock);
    old = d->cfg;
    d->cfg = fresh;
    pthread_mutex_unlock(&d->lock);
    /* Requests in progress keep their reference to the old configuration. */
    cfg_release(d, old);
    accounts_reset(d);
    daemon_log(d, LOG_INFO, "reloaded the configuration from %s: accounts %zu, sockets %zu",
               d->cfg->cfg.path != NULL ? d->cfg->cfg.path : "(no file)",
               d->cfg->cfg.naccounts, d->nlisteners);
    accounts_scan(d, token_clock(), 1);
    accounts_log_summary(d, token_clock());
    if (d->nlisteners == 0)
        daemon_log(d, LOG_ERR, "no socket is open: clients cannot reach the daemon until "
                   "the configuration is fixed and reloaded");
    goto done;
failed:
    config_free(&fresh->cfg);
    free(fresh);
done:
    tell_systemd_ready(d);
}

static void
drain_wake(struct daemon *d)
{
    char buf[256];

    while (read(d->wake[0], buf, sizeof(buf)) > 0)
        ;
}

/* Milliseconds to sleep in poll until the next deadline. */
static int
poll_timeout(struct daemon *d, time_t now, time_t next_due, long long now_ms,
             long long conn_deadline, int children)
{
    long long ms = MAX_POLL_MS;

    if (next_due != 0 && (next_due - now) * 1000LL < ms)
        ms = (next_due - now) * 1000LL;
    if (conn_deadline >= 0 && conn_deadline - now_ms < ms)
        ms = conn_deadline - now_ms;
    if (children && ms > 1000)
        ms = 1000;
    if (d->accept_paused_until_ms > now_ms && d->accept_paused_until_ms - now_ms < ms)
        ms = d->accept_paused_until_ms - now_ms;
    return ms < 0 ? 0 : (int)ms;
}

static void
serve(struct daemon *d, struct pollfd *fds)
{
    while (stop_count == 0) {
        long long now_ms, conn_deadline;
        size_t nfds = 0, first_listener, first_conn, nconns;
        time_t now, next_due;
        int accepting, children;

        if (atomic_exchange(&reload_wanted, 0))
            reload(d);
        now_ms = daemon_now_ms();
        now = token_clock();
        conn_deadline = conns_expire(d, now_ms);
        children = children_reap(d, now);
        next_due = accounts_scan(d, now, 0);
        pool_reap(d);
        pool_kick(d);
        daemon_log_flush_limits(d);

        fds[nfds++] = (struct pollfd){.fd = d->wake[0], .events = POLLIN};
        first_listener = nfds;
        accepting = d->accept_paused_until_ms <= now_ms;
        for (size_t i = 0; accepting && i < d->nlisteners; i++)
            fds[nfds++] = (struct pollfd){.fd = d->listeners[i].fd, .events = POLLIN};
        first_conn = nfds;
        nconns = d->nconns;
        for (size_t i = 0; i < nconns; i++)
            fds[nfds++] = (struct pollfd){.fd = d->conns[i]->fd, .events = POLLIN};

        if (poll(fds, nfds, poll_timeout(d, now, next_due, now_ms, conn_deadline, children)) <
            0) {
            if (errno != EINTR) {
                daemon_log(d, LOG_ERR, "poll failed: %s", strerror(errno));
                sleep(1);
            }
            continue;
        }
        if (fds[0].revents != 0)
            drain_wake(d);
        /* Connections first, backwards: closing one moves the last into its slot. */
        for (size_t i = nconns; i-- > 0;)
            if (fds[first_conn + i].revents != 0 && conn_readable(d, d->conns[i]))
                conn_close(d, i);
        for (size_t i = first_listener; i < first_conn; i++)
            if (fds[i].revents & POLLIN)
                conns_accept(d, fds[i].fd);
    }
}

/* Stops serving, then waits for the workers unless a second stop signal arrives. */
static int
stop(struct daemon *d)
{
    int seen = stop_count;
    size_t busy;

    daemon_sd_notify(d, "STOPPING=1");
    if (stop_signal == SIGTERM || stop_signal == SIGINT)
        daemon_log(d, LOG_INFO, "stopping on %s", stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
    else
        daemon_log(d, LOG_INFO, "stopping");
    listeners_close_all(d);
    conns_close_all(d);
    pool_drop_queue(d);
    busy = pool_workers(d);
    if (busy > 0)
        daemon_log(d, LOG_INFO, "waiting for the requests and refreshes in progress: %zu (a "
                   "second signal stops at once)", busy);
    while ((busy = pool_workers(d)) > 0 && stop_count == seen) {
        struct pollfd pfd = {.fd = d->wake[0], .events = POLLIN};

        if (poll(&pfd, 1, 1000) > 0)
            drain_wake(d);
        children_reap(d, token_clock());
    }
    if (busy > 0) {
        daemon_log(d, LOG_WARNING, "stopped without waiting for %zu requests or refreshes",
                   busy);
        return -1;
    }
    pool_reap(d);
    daemon_log(d, LOG_INFO, "stopped");
    return 0;
}

static int
install_signals(struct sigaction *old)
{
    static const int signals[] = {SIGHUP, SIGTERM, SIGINT};
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; i++)
        if (sigaction(signals[i], &sa, &old[i]) != 0)
            return -1;
    return 0;
}

static void
restore_signals(const struct sigaction *old)
{
    static const int signals[] = {SIGHUP, SIGTERM, SIGINT};

    for (size_t i = 0; i < 3; i++)
        sigaction(signals[i], &old[i], NULL);
}

static void
log_start(struct daemon *d)
{
    const struct config *cfg = &d->cfg->cfg;
    char keepalive[32];

    if (cfg->keepalive > 0)
        snprintf(keepalive, sizeof(keepalive), "%ld s", cfg->keepalive);
    else
        snprintf(keepalive, sizeof(keepalive), "off");
    daemon_log(d, LOG_INFO, "started: mailtoken %s, pid %ld, configuration %s, accounts %zu, "
               "store %s, keepalive %s", MAILTOKEN_VERSION, (long)getpid(),
               cfg->path != NULL ? cfg->path : "(no file)", cfg->naccounts, cfg->store,
               keepalive);
}

/* Prepares everything up to the first request; the caller cleans up after a failure. */
static int
start(struct daemon *d, struct mt_err *err)
{
    const char *notify = getenv("NOTIFY_SOCKET");

    if (notify != NULL && strlen(notify) < sizeof(d->notify_socket))
        snprintf(d->notify_socket, sizeof(d->notify_socket), "%s", notify);
    /* Children must not talk to systemd in our name. */
    unsetenv("NOTIFY_SOCKET");
    d->hooks.log_target(d->hooks.context, log_target(&d->cfg->cfg));

    /* Loaded now, before threads start, and to fail early when it is missing. */
    if (net_load(err) == NULL)
        return -1;
    if (listeners_adopt(d, err) != 0)
        return -1;
    if (d->cfg->cfg.nsockets == 0 && d->nlisteners == 0)
        return err_set(err, EX_CONFIG,
                       "no socket to listen on: add socket = /run/mailtoken/socket (or the "
                       "socket inside the Postfix chroot) to [defaults] in %s",
                       d->cfg->cfg.path != NULL ? d->cfg->cfg.path : config_system_path());
    log_start(d);
    if (listeners_sync(d, &d->cfg->cfg, 1, err) != 0)
        return -1;
    if (accounts_sync(d, &d->cfg->cfg) != 0)
        return err_set(err, EX_OSERR, "out of memory");
    accounts_scan(d, token_clock(), 1);
    accounts_log_summary(d, token_clock());
    tell_systemd_ready(d);
    return 0;
}

int
daemon_run(struct config *cfg, const char *config_path, int verbose,
           const struct daemon_hooks *hooks, struct mt_err *err)
{
    struct sigaction old[3];
    struct pollfd *fds = NULL;
    struct daemon *d;
    int rc = -1, signals = 0, waited = 0;

    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    /* Sockets are created 0700 and opened up by chmod; store files are 0600 anyway. */
    umask(077);
    d->config_path = config_path;
    d->verbose = verbose;
    d->hooks = *hooks;
    d->wake[0] = d->wake[1] = -1;
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->limit_lock, NULL);
    d->client_limit.topic = "misbehaving clients";
    d->refusal_limit.topic = "refused requests";
    d->failure_limit.topic = "failed requests";
    d->cfg = calloc(1, sizeof(*d->cfg));
    fds = calloc(1 + DAEMON_MAX_LISTENERS + DAEMON_MAX_PENDING, sizeof(*fds));
    if (d->cfg == NULL || fds == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    d->cfg->cfg = *cfg;
    d->cfg->refs = 1;
    memset(cfg, 0, sizeof(*cfg));

    if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        err_set(err, EX_OSERR, "cannot create a pipe: %s", strerror(errno));
        goto done;
    }
    d->wake[0] = wake_pipe[0];
    d->wake[1] = wake_pipe[1];
    drain_wake(d);
    stop_count = 0;
    reload_wanted = 0;
    wake_fd = d->wake[1];
    if (install_signals(old) != 0) {
        err_set(err, EX_OSERR, "cannot install signal handlers: %s", strerror(errno));
        goto done;
    }
    signals = 1;
    if (start(d, err) != 0)
        goto done;
    serve(d, fds);
    waited = stop(d) == 0;
    rc = 0;
done:
    if (signals)
        restore_signals(old);
    wake_fd = -1;
    if (rc != 0)
        listeners_close_all(d);
    if (rc != 0 || waited) {
        /* Nothing runs any more: everything can go. */
        conns_close_all(d);
        pool_drop_queue(d);
        accounts_free(d);
        if (d->cfg != NULL)
            cfg_release(d, d->cfg);
        pthread_mutex_destroy(&d->lock);
        pthread_mutex_destroy(&d->limit_lock);
        free(d);
    }
    /* Otherwise workers still run and use d: the process is about to exit. */
    free(fds);
    return rc;
}
