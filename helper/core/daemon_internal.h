/*
 * The parts of the daemon, shared between daemon.c (main loop, signals,
 * reload), daemon_listen.c (sockets, systemd), daemon_conn.c (reading
 * request lines), daemon_pool.c (worker threads) and daemon_sched.c
 * (keeping tokens fresh, notify_command).
 *
 * Threads: the main thread owns the sockets, the connections that are
 * still sending their request line, the schedule and the current
 * configuration. Worker threads reply to whole requests and run refreshes.
 * They share the work queue and the account table with the main thread
 * under daemon.lock, and wake the main thread through daemon.wake.
 */
#ifndef CORE_DAEMON_INTERNAL_H
#define CORE_DAEMON_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "daemon.h"
#include "mt_sha256.h"
#include "mt_wire.h"
#include "status.h"

/* Time a client has from connect to the end of its request line. */
#define DAEMON_REQUEST_TIMEOUT_MS 5000
/* Time a worker may block sending a reply to a client that does not read. */
#define DAEMON_REPLY_TIMEOUT_S 5
/* Clients still sending their request line; the oldest is dropped beyond this. */
#define DAEMON_MAX_PENDING 256
/* Whole requests waiting for a worker; beyond this, clients get "busy". */
#define DAEMON_MAX_QUEUED 256
/* Worker threads in all, and per account. One account's refresh holds
 * the account's lock for up to its HTTP timeout, so the cap per account
 * keeps the other accounts' requests moving. */
#define DAEMON_MAX_WORKERS 32
#define DAEMON_MAX_WORKERS_PER_ACCOUNT 4
#define DAEMON_MAX_LISTENERS 16
/* Seconds between reads of every account's state, to notice changes made
 * by the command line (authorize, import, forget). */
#define DAEMON_SCAN_INTERVAL 60
/* Retry delays after a failed automatic refresh, doubling from the first. */
#define DAEMON_RETRY_FIRST 60
#define DAEMON_RETRY_MAX 3600
/* Automatic refreshes of one access token are at least this far apart. */
#define DAEMON_REFRESH_MIN_SPACING 5
/* A token in use is refreshed this long before it counts as expired, or a
 * quarter of its usable lifetime when that is shorter. */
#define DAEMON_REFRESH_AHEAD_MAX 300
/* notify_command runs at most this long before it is killed. */
#define DAEMON_NOTIFY_TIMEOUT 60
#define DAEMON_MAX_CHILDREN 16
/* Log lines about misbehaving clients, per kind and per minute. */
#define DAEMON_LOG_BURST 20

/* A configuration and the number of requests and jobs still using it. */
struct cfg_ref {
    struct config cfg;
    unsigned refs;               /* under daemon.lock */
};

struct listener {
    char *path;                  /* "@name" for an abstract socket */
    int fd;
    int inherited;               /* passed by systemd: never removed by us */
    dev_t dev;                   /* the socket file we created, to unlink only that */
    ino_t ino;
};

/* A client that has not sent its whole request line yet. */
struct conn {
    int fd;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    long long deadline_ms;       /* CLOCK_MONOTONIC */
    size_t len;
    char buf[MT_WIRE_MAX_REQUEST];
};

enum work_type {
    WORK_REQUEST,                /* reply to a client */
    WORK_REFRESH                 /* refresh an account's token ahead of time */
};

struct work {
    struct work *next;
    enum work_type type;
    struct cfg_ref *cfg;         /* a reference held until the work is done */
    char account[MT_WIRE_MAX_ACCOUNT + 1];  /* the account's section name, "" for none */
    /* WORK_REQUEST */
    int fd;
    uid_t uid;
    struct mt_wire_request req;
    /* WORK_REFRESH */
    const char *reason;          /* "keepalive", "expiry" or "rejected" */
};

/* The daemon's record of an account between scans. */
struct account_watch {
    char *name;
    char stored_fp[MT_FINGERPRINT_SIZE];  /* stored access token at the last scan, "" none */
    char handed_fp[MT_FINGERPRINT_SIZE];  /* the last access token handed to a client */
    time_t next_due;             /* next automatic refresh; 0 none */
    const char *due_reason;
    time_t retry_at;             /* no automatic refresh before this, after a failure */
    unsigned failures;           /* automatic refreshes failed in a row */
    int job_running;
    int dirty;                   /* scan again soon: a worker changed something */
    int seen;                    /* state is known (notified_state is valid) */
    enum account_state notified_state;
    int notified_secret;         /* 0 none, 1 expiring soon, 2 expired */
};

/*
 * A worker thread. Workers are joined, not detached, so that the
 * thread-exit cleanup of the libraries they used (OpenSSL's per-thread
 * state) has finished before the daemon returns.
 */
struct worker {
    struct daemon *d;
    pthread_t thread;
    enum { WORKER_FREE, WORKER_RUNNING, WORKER_FINISHED, WORKER_JOINING } state;
};

/* A run of notify_command that has not been reaped. */
struct child {
    pid_t pid;
    time_t deadline;
    int killed;
    char account[MT_WIRE_MAX_ACCOUNT + 1];
    char state[32];
};

/* A counter that lets DAEMON_LOG_BURST lines through per minute. */
struct log_limit {
    const char *topic;           /* for the summary line, e.g. "refusals" */
    time_t window;
    unsigned logged;
    unsigned suppressed;
};

struct daemon {
    const char *config_path;
    int verbose;
    struct daemon_hooks hooks;
    pthread_mutex_t lock;

    struct cfg_ref *cfg;         /* current; replaced by the main thread only */
    struct listener listeners[DAEMON_MAX_LISTENERS];
    size_t nlisteners;
    long long accept_paused_until_ms;  /* after EMFILE */
    struct conn *conns[DAEMON_MAX_PENDING];
    size_t nconns;

    /* Under lock: the queue, the workers, the accounts. */
    struct work *queue_head, *queue_tail;
    size_t nqueued;
    size_t nworkers;             /* workers in state WORKER_RUNNING */
    struct worker workers[DAEMON_MAX_WORKERS];
    struct {
        char account[MT_WIRE_MAX_ACCOUNT + 1];
        unsigned n;
    } inflight[DAEMON_MAX_WORKERS];
    struct account_watch *accounts;
    size_t naccounts;

    time_t next_scan;
    struct child children[DAEMON_MAX_CHILDREN];
    size_t nchildren;
    int wake[2];                 /* pipe: signals and workers wake the main loop */
    char notify_socket[128];     /* $NOTIFY_SOCKET, "" when not under systemd */

    pthread_mutex_t limit_lock;
    struct log_limit client_limit, refusal_limit, failure_limit;
};

/* daemon.c */
void daemon_log(struct daemon *d, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like daemon_log, but at most DAEMON_LOG_BURST lines a minute per limit. */
void daemon_log_limited(struct daemon *d, struct log_limit *limit, int priority,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Logs how many lines each limit held back, once its minute is over. */
void daemon_log_flush_limits(struct daemon *d);
void daemon_wake(struct daemon *d);
/* Returns message without a leading "ACCOUNT: ", which core errors start with. */
const char *daemon_strip_account(const char *message, const char *account);
long long daemon_now_ms(void);
struct cfg_ref *cfg_acquire(struct daemon *d);
void cfg_release(struct daemon *d, struct cfg_ref *ref);

/* daemon_listen.c */
/* Takes the sockets systemd passed (LISTEN_FDS). Returns 0, or -1 with err set. */
int listeners_adopt(struct daemon *d, struct mt_err *err);
/*
 * Makes the listeners match cfg's socket list: opens new paths, applies
 * mode and group, closes and removes paths no longer listed (sockets from
 * systemd stay). With strict set the first failure stops it and returns
 * -1 with err set; otherwise failures are logged and it returns 0.
 */
int listeners_sync(struct daemon *d, const struct config *cfg, int strict, struct mt_err *err);
/* Closes every listener and removes the socket files the daemon created. */
void listeners_close_all(struct daemon *d);
/* Sends a state line (READY=1, RELOADING=1, ...) to systemd, when it asked. */
void daemon_sd_notify(struct daemon *d, const char *state);

/* daemon_conn.c */
/* Accepts every waiting connection on a listener. */
void conns_accept(struct daemon *d, int listen_fd);
/* Reads what a connection sent; returns 1 when the connection was handed on or closed. */
int conn_readable(struct daemon *d, struct conn *c);
/* Closes connections whose time ran out; returns the earliest deadline left, or -1. */
long long conns_expire(struct daemon *d, long long now_ms);
void conn_close(struct daemon *d, size_t index);
void conns_close_all(struct daemon *d);
/* Sends a short ERR reply without blocking, then closes fd. */
void conn_reject(int fd, int code, const char *kind, const char *message);

/* daemon_pool.c */
/* Queues work for a worker thread; takes ownership of w. Returns 0, or -1 when the queue is full. */
int pool_submit(struct daemon *d, struct work *w);
/* Frees a work item that never ran: closes its client and drops its configuration. */
void work_discard(struct daemon *d, struct work *w);
/* Drops the queued work, at shutdown. */
void pool_drop_queue(struct daemon *d);
/* Starts a worker if queued work waits for one (after a failed thread start). */
void pool_kick(struct daemon *d);
/* Joins the worker threads that have finished. Main thread only. */
void pool_reap(struct daemon *d);
/* Returns the number of workers still running. */
size_t pool_workers(struct daemon *d);

/* daemon_sched.c */
/* Facts about one account that decide when the daemon refreshes it. */
struct sched_facts {
    enum account_state state;
    int client_credentials;
    int has_access;              /* an access token is stored */
    int access_rejected;
    time_t obtained_at;
    long expires_in;
    time_t last_refresh;         /* the refresh token's last use, or its arrival */
    int in_use;                  /* the daemon handed out the stored access token */
    long keepalive;              /* 0: no keepalive */
    long margin;
    time_t retry_at;
};
/* Returns when to refresh (0: not at all) and sets *reason_r. */
time_t sched_next_due(const struct sched_facts *f, const char **reason_r);
/* Rebuilds the account table for cfg, keeping what is known of accounts by name. */
int accounts_sync(struct daemon *d, const struct config *cfg);
/* Forgets retry delays and marks every account for a scan (after a reload). */
void accounts_reset(struct daemon *d);
/*
 * Reads the state of the accounts that are due (all of them when all is
 * set), runs notify_command on changes, and queues refreshes. Returns
 * the next time something is due.
 */
time_t accounts_scan(struct daemon *d, time_t now, int all);
/*
 * Records that a client got the access token with this fingerprint (NULL:
 * a client reported the token as rejected), and marks the account for a
 * scan when that changes its schedule. Returns 1 when the daemon had not
 * seen this token before (it was just refreshed).
 */
int accounts_handed_out(struct daemon *d, const char *account, const char *fingerprint);
/* Marks an account for a scan soon, and wakes the main loop. */
void accounts_rescan(struct daemon *d, const char *account);
/*
 * Records the end of a refresh job. Returns the delay in seconds before
 * the next automatic attempt after a failure, 0 after success. The caller
 * wakes the main loop, after logging the outcome.
 */
long accounts_job_done(struct daemon *d, const char *account, int ok, time_t now);
/* Logs each account's state and next refresh, after start and reload. */
void accounts_log_summary(struct daemon *d, time_t now);
/* Reaps notify_command runs and kills those over time; returns 1 while some run. */
int children_reap(struct daemon *d, time_t now);
void accounts_free(struct daemon *d);

#endif
