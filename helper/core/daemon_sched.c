/*
 * Keeping tokens fresh. The main thread reads each account's state from
 * the store and decides when to refresh it: ahead of the access token's
 * expiry while clients use it, and once per keepalive period in any case,
 * because Microsoft drops refresh tokens unused for 90 days. It queues the
 * refreshes, and runs notify_command when an account needs attention.
 */
#include "daemon_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "store.h"
#include "token.h"

extern char **environ;

static time_t
later(time_t a, time_t b)
{
    return a > b ? a : b;
}

time_t
sched_next_due(const struct sched_facts *f, const char **reason_r)
{
    time_t due = 0;

    *reason_r = NULL;
    if (f->state == STATE_UNAUTHORIZED || f->state == STATE_NEEDS_REAUTH)
        return 0;
    /* Client credentials have no refresh token to keep alive. */
    if (!f->client_credentials && f->keepalive > 0) {
        long period = f->keepalive > DAEMON_REFRESH_MIN_SPACING ? f->keepalive
                                                                 : DAEMON_REFRESH_MIN_SPACING;

        due = f->last_refresh + period;
        *reason_r = "keepalive";
    }
    if (f->in_use && f->has_access) {
        time_t ahead_due;

        if (f->access_rejected) {
            ahead_due = f->obtained_at;
            if (due == 0 || ahead_due < due)
                *reason_r = "rejected";
        } else if (f->expires_in > 0) {
            long usable = f->expires_in - f->margin, ahead;

            if (usable < 0)
                usable = 0;
            ahead = usable / 4 < DAEMON_REFRESH_AHEAD_MAX ? usable / 4 : DAEMON_REFRESH_AHEAD_MAX;
            ahead_due = f->obtained_at + usable - ahead;
            if (due == 0 || ahead_due < due)
                *reason_r = "expiry";
        } else {
            ahead_due = 0;
        }
        if (ahead_due != 0) {
            ahead_due = later(ahead_due, f->obtained_at + DAEMON_REFRESH_MIN_SPACING);
            if (due == 0 || ahead_due < due)
                due = ahead_due;
        }
    }
    if (due != 0 && f->retry_at != 0 && f->retry_at > due)
        due = f->retry_at;
    return due;
}

static struct account_watch *
find_state(struct daemon *d, const char *name)
{
    for (size_t i = 0; i < d->naccounts; i++)
        if (strcmp(d->accounts[i].name, name) == 0)
            return &d->accounts[i];
    return NULL;
}

int
accounts_sync(struct daemon *d, const struct config *cfg)
{
    struct account_watch *fresh, *old;
    size_t nold;

    fresh = calloc(cfg->naccounts + 1, sizeof(*fresh));
    if (fresh == NULL)
        return -1;
    for (size_t i = 0; i < cfg->naccounts; i++) {
        fresh[i].name = strdup(cfg->accounts[i].name);
        if (fresh[i].name == NULL) {
            for (size_t j = 0; j < i; j++)
                free(fresh[j].name);
            free(fresh);
            return -1;
        }
    }

    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < cfg->naccounts; i++) {
        struct account_watch *known = find_state(d, fresh[i].name);
        char *name = fresh[i].name;

        if (known != NULL)
            fresh[i] = *known;
        fresh[i].name = name;
        fresh[i].dirty = 1;
    }
    old = d->accounts;
    nold = d->naccounts;
    d->accounts = fresh;
    d->naccounts = cfg->naccounts;
    pthread_mutex_unlock(&d->lock);

    for (size_t i = 0; i < nold; i++)
        free(old[i].name);
    free(old);
    return 0;
}

void
accounts_reset(struct daemon *d)
{
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->naccounts; i++) {
        d->accounts[i].failures = 0;
        d->accounts[i].retry_at = 0;
        d->accounts[i].dirty = 1;
    }
    pthread_mutex_unlock(&d->lock);
}

void
accounts_free(struct daemon *d)
{
    for (size_t i = 0; i < d->naccounts; i++)
        free(d->accounts[i].name);
    free(d->accounts);
    d->accounts = NULL;
    d->naccounts = 0;
}

int
accounts_handed_out(struct daemon *d, const char *account, const char *fingerprint)
{
    struct account_watch *s;
    int is_new = 0, changed = 0;

    pthread_mutex_lock(&d->lock);
    s = find_state(d, account);
    if (s != NULL && fingerprint == NULL) {
        changed = 1;
    } else if (s != NULL) {
        is_new = strcmp(fingerprint, s->stored_fp) != 0 && strcmp(fingerprint, s->handed_fp) != 0;
        if (strcmp(fingerprint, s->handed_fp) != 0) {
            snprintf(s->handed_fp, sizeof(s->handed_fp), "%s", fingerprint);
            changed = 1;
        }
    }
    if (changed)
        s->dirty = 1;
    pthread_mutex_unlock(&d->lock);
    if (changed)
        daemon_wake(d);
    return is_new;
}

void
accounts_rescan(struct daemon *d, const char *account)
{
    struct account_watch *s;

    pthread_mutex_lock(&d->lock);
    s = find_state(d, account);
    if (s != NULL)
        s->dirty = 1;
    pthread_mutex_unlock(&d->lock);
    if (s != NULL)
        daemon_wake(d);
}

long
accounts_job_done(struct daemon *d, const char *account, int ok, time_t now)
{
    struct account_watch *s;
    long delay = 0;

    pthread_mutex_lock(&d->lock);
    s = find_state(d, account);
    if (s != NULL) {
        s->job_running = 0;
        s->dirty = 1;
        if (ok) {
            s->failures = 0;
            s->retry_at = 0;
        } else {
            unsigned shift = s->failures < 6 ? s->failures : 6;

            s->failures++;
            delay = (long)DAEMON_RETRY_FIRST << shift;
            if (delay > DAEMON_RETRY_MAX)
                delay = DAEMON_RETRY_MAX;
            s->retry_at = now + delay;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return delay;
}

/* Formats a duration in seconds as "6d 23h", "59m 10s" or "45s". */
static void
format_duration(long long seconds, char *out, size_t size)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds >= 86400)
        snprintf(out, size, "%lldd %lldh", seconds / 86400, seconds % 86400 / 3600);
    else if (seconds >= 3600)
        snprintf(out, size, "%lldh %lldm", seconds / 3600, seconds % 3600 / 60);
    else if (seconds >= 60)
        snprintf(out, size, "%lldm %llds", seconds / 60, seconds % 60);
    else
        snprintf(out, size, "%llds", seconds);
}

void
accounts_log_summary(struct daemon *d, time_t now)
{
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->naccounts; i++) {
        const struct account_watch *s = &d->accounts[i];
        char in[32];

        if (!s->seen)
            continue;
        format_duration(s->next_due - now, in, sizeof(in));
        if (s->job_running)
            daemon_log(d, LOG_INFO, "%s: %s; refreshing now", s->name,
                       status_state_name(s->notified_state));
        else if (s->next_due != 0)
            daemon_log(d, LOG_INFO, "%s: %s; next automatic refresh in %s (%s)", s->name,
                       status_state_name(s->notified_state), in, s->due_reason);
        else
            daemon_log(d, LOG_INFO, "%s: %s; no automatic refresh%s%s", s->name,
                       status_state_name(s->notified_state),
                       s->notified_state == STATE_UNAUTHORIZED ||
                               s->notified_state == STATE_NEEDS_REAUTH
                           ? ": run mailtoken authorize "
                           : "",
                       s->notified_state == STATE_UNAUTHORIZED ||
                               s->notified_state == STATE_NEEDS_REAUTH
                           ? s->name
                           : "");
    }
    pthread_mutex_unlock(&d->lock);
}

/*
 * Checks that notify_command is a regular executable file that only its
 * owner (root or the daemon's user) can change, as sshd does for its
 * helper commands.
 */
static int
notify_command_safe(struct daemon *d, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        daemon_log(d, LOG_ERR, "notify_command %s: %s", path, strerror(errno));
        return 0;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
        daemon_log(d, LOG_ERR, "notify_command %s is not an executable file", path);
        return 0;
    }
    if ((st.st_mode & 022) != 0 || (st.st_uid != 0 && st.st_uid != geteuid())) {
        daemon_log(d, LOG_ERR,
                   "notify_command %s is not run: others can change it (it must belong to "
                   "root or to the daemon's user, without group or world write permission)",
                   path);
        return 0;
    }
    return 1;
}

/* Runs notify_command ACCOUNT STATE without a shell, stdin from /dev/null. */
static void
run_notify(struct daemon *d, const char *account, const char *state, const char *message)
{
    const char *command = d->cfg->cfg.notify_command;
    char path[4096], arg_account[MT_WIRE_MAX_ACCOUNT + 1], arg_state[32];
    char env_path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char env_account[300], env_state[64], env_message[1100];
    char *argv[4], *envp[5];
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t empty, defaults;
    struct child *c;
    pid_t pid;
    int r;

    if (command == NULL)
        return;
    if (d->nchildren == DAEMON_MAX_CHILDREN) {
        daemon_log(d, LOG_ERR, "%s: notify_command not run for %s: %d earlier runs are still "
                   "going", account, state, DAEMON_MAX_CHILDREN);
        return;
    }
    if (!notify_command_safe(d, command))
        return;

    snprintf(env_account, sizeof(env_account), "MAILTOKEN_ACCOUNT=%s", account);
    snprintf(env_state, sizeof(env_state), "MAILTOKEN_STATE=%s", state);
    snprintf(env_message, sizeof(env_message), "MAILTOKEN_MESSAGE=%s", message);
    /* posix_spawn takes writable strings. */
    snprintf(path, sizeof(path), "%s", command);
    snprintf(arg_account, sizeof(arg_account), "%s", account);
    snprintf(arg_state, sizeof(arg_state), "%s", state);
    argv[0] = path;
    argv[1] = arg_account;
    argv[2] = arg_state;
    argv[3] = NULL;
    envp[0] = env_path;
    envp[1] = env_account;
    envp[2] = env_state;
    envp[3] = env_message;
    envp[4] = NULL;

    /* The child starts with default signal handling, whatever the daemon set. */
    sigemptyset(&empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    r = posix_spawn(&pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (r != 0) {
        daemon_log(d, LOG_ERR, "%s: cannot run notify_command %s: %s", account, command,
                   strerror(r));
        return;
    }
    daemon_log(d, LOG_INFO, "%s: ran notify_command %s %s %s (pid %ld)", account, command,
               account, state, (long)pid);
    c = &d->children[d->nchildren++];
    c->pid = pid;
    c->deadline = token_clock() + DAEMON_NOTIFY_TIMEOUT;
    c->killed = 0;
    snprintf(c->account, sizeof(c->account), "%s", account);
    snprintf(c->state, sizeof(c->state), "%s", state);
}

int
children_reap(struct daemon *d, time_t now)
{
    for (size_t i = 0; i < d->nchildren;) {
        struct child *c = &d->children[i];
        int status;
        pid_t r = waitpid(c->pid, &status, WNOHANG);

        if (r == 0) {
            if (now >= c->deadline && !c->killed) {
                daemon_log(d, LOG_WARNING, "%s: notify_command for %s still runs after %d s: "
                           "killing it", c->account, c->state, DAEMON_NOTIFY_TIMEOUT);
                kill(c->pid, SIGKILL);
                c->killed = 1;
            }
            i++;
            continue;
        }
        if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0)
            daemon_log(d, LOG_WARNING, "%s: notify_command for %s exited with status %d",
                       c->account, c->state, WEXITSTATUS(status));
        else if (r > 0 && WIFSIGNALED(status) && !c->killed)
            daemon_log(d, LOG_WARNING, "%s: notify_command for %s was killed by signal %d",
                       c->account, c->state, WTERMSIG(status));
        d->children[i] = d->children[--d->nchildren];
    }
    return d->nchildren > 0;
}

static int
secret_level(const struct account *a, time_t now)
{
    if (a->client_secret_expires == 0)
        return 0;
    if (a->client_secret_expires <= now)
        return 2;
    if (a->client_secret_expires - now < (time_t)STATUS_SECRET_WARN_DAYS * 86400)
        return 1;
    return 0;
}

/* Changes found by a scan that need a log line or notify_command, reported outside the lock. */
struct scan_news {
    int state_changed;
    enum account_state old_state, new_state;
    int old_seen;
    int secret_rose;
    int secret;
    struct work *job;
};

static void
report_news(struct daemon *d, const struct account *a, const struct account_status *status,
            const struct scan_news *news, time_t now)
{
    if (news->state_changed && news->new_state == STATE_NEEDS_REAUTH) {
        daemon_log(d, LOG_ERR, "%s: the account needs reauthorization: %s", a->name,
                   status->error[0] != '\0' ? daemon_strip_account(status->error, a->name)
                                            : "the refresh token was rejected");
        run_notify(d, a->name, "needs-reauthorization", status->error);
    } else if (news->state_changed && news->old_seen && news->new_state == STATE_AUTHORIZED &&
               (news->old_state == STATE_NEEDS_REAUTH ||
                news->old_state == STATE_UNAUTHORIZED)) {
        daemon_log(d, LOG_NOTICE, "%s: the account is authorized now", a->name);
    }
    if (news->secret_rose) {
        char date[32], message[256];
        struct tm tm;

        gmtime_r(&a->client_secret_expires, &tm);
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
        snprintf(message, sizeof(message),
                 "the client secret %s on %s: create a new one in the app registration and "
                 "put it in the configuration", news->secret == 2 ? "expired" : "expires",
                 date);
        daemon_log(d, news->secret == 2 ? LOG_ERR : LOG_WARNING, "%s: %s", a->name, message);
        run_notify(d, a->name, news->secret == 2 ? "client-secret-expired"
                                                 : "client-secret-expiring", message);
    }
    (void)now;
}

/* Reads one account's state from the store and updates its schedule. Returns its next due time. */
static time_t
scan_account(struct daemon *d, struct store *st, size_t index, time_t now)
{
    const struct account *a = &d->cfg->cfg.accounts[index];
    struct account_status status;
    struct sched_facts facts;
    struct scan_news news;
    struct tokens t;
    struct mt_err err;
    struct account_watch *s;
    char fp[MT_FINGERPRINT_SIZE] = "";
    time_t due;

    memset(&news, 0, sizeof(news));
    memset(&t, 0, sizeof(t));
    err_clear(&err);
    status_get(a, st, now, &status);
    if (st != NULL && store_read(st, a->name, &t, &err) < 0)
        tokens_free(&t);
    if (t.access_token != NULL)
        mt_fingerprint_str(t.access_token, fp);

    memset(&facts, 0, sizeof(facts));
    facts.state = status.state;
    facts.client_credentials = a->grant == GRANT_CLIENT_CREDENTIALS;
    facts.has_access = t.access_token != NULL;
    facts.access_rejected = t.access_rejected;
    facts.obtained_at = t.obtained_at;
    facts.expires_in = t.expires_in;
    facts.last_refresh = t.refresh_used_at != 0      ? t.refresh_used_at
                         : t.refresh_obtained_at != 0 ? t.refresh_obtained_at
                                                      : t.authorized_at;
    facts.keepalive = d->cfg->cfg.keepalive;
    facts.margin = a->refresh_margin;
    tokens_free(&t);

    pthread_mutex_lock(&d->lock);
    s = &d->accounts[index];
    s->dirty = 0;
    snprintf(s->stored_fp, sizeof(s->stored_fp), "%s", fp);
    facts.in_use = fp[0] != '\0' && strcmp(fp, s->handed_fp) == 0;
    facts.retry_at = s->retry_at;
    due = sched_next_due(&facts, &s->due_reason);

    news.old_seen = s->seen;
    news.old_state = s->notified_state;
    news.new_state = status.state;
    news.state_changed = !s->seen || s->notified_state != status.state;
    s->seen = 1;
    s->notified_state = status.state;
    news.secret = secret_level(a, now);
    news.secret_rose = news.secret > s->notified_secret;
    s->notified_secret = news.secret;

    if (due != 0 && due <= now && !s->job_running) {
        news.job = calloc(1, sizeof(*news.job));
        if (news.job != NULL) {
            news.job->type = WORK_REFRESH;
            news.job->fd = -1;
            news.job->reason = s->due_reason;
            snprintf(news.job->account, sizeof(news.job->account), "%s", a->name);
            s->job_running = 1;
            due = 0;
        }
    }
    s->next_due = due;
    pthread_mutex_unlock(&d->lock);

    report_news(d, a, &status, &news, now);
    if (news.job != NULL) {
        news.job->cfg = cfg_acquire(d);
        pool_submit(d, news.job);
    }
    return due;
}

time_t
accounts_scan(struct daemon *d, time_t now, int all)
{
    struct store st = {.dirfd = -1};
    struct store *stp = NULL;
    struct mt_err err;
    time_t next = now + DAEMON_SCAN_INTERVAL;
    int opened = 0;

    if (all)
        d->next_scan = now + DAEMON_SCAN_INTERVAL;
    else if (d->next_scan <= now)
        return accounts_scan(d, now, 1);
    else
        next = d->next_scan;

    for (size_t i = 0; i < d->naccounts; i++) {
        struct account_watch *s = &d->accounts[i];
        time_t due;
        int wanted;

        pthread_mutex_lock(&d->lock);
        wanted = !s->job_running &&
                 (all || s->dirty || (s->next_due != 0 && s->next_due <= now));
        due = s->next_due;
        pthread_mutex_unlock(&d->lock);
        if (wanted) {
            if (!opened) {
                err_clear(&err);
                opened = 1;
                if (store_open(&st, d->cfg->cfg.store, 0, &err) == 0)
                    stp = &st;
                else if (access(d->cfg->cfg.store, F_OK) == 0)
                    daemon_log_limited(d, &d->failure_limit, LOG_ERR, "%s", err.msg);
            }
            due = scan_account(d, stp, i, now);
        }
        if (due != 0 && due < next)
            next = due;
    }
    store_close(&st);
    return next;
}
