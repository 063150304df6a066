/*
 * Worker threads. Each whole request and each automatic refresh is a
 * work item. Workers start on demand, up to DAEMON_MAX_WORKERS, and take
 * the oldest item whose account has fewer than
 * DAEMON_MAX_WORKERS_PER_ACCOUNT items in progress. A refresh can hold
 * its account's lock for the whole HTTP timeout, and the cap per account
 * keeps such an account from taking every worker, so requests for other
 * accounts still get their replies.
 */
#include "daemon_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include "mt_buf.h"
#include "mt_wipe.h"
#include "request.h"
#include "token.h"

static unsigned *
inflight_count(struct daemon *d, const char *account, int create)
{
    size_t free_slot = DAEMON_MAX_WORKERS;

    for (size_t i = 0; i < DAEMON_MAX_WORKERS; i++) {
        if (d->inflight[i].n > 0 && strcmp(d->inflight[i].account, account) == 0)
            return &d->inflight[i].n;
        if (d->inflight[i].n == 0 && free_slot == DAEMON_MAX_WORKERS)
            free_slot = i;
    }
    /* Each worker works on one item at a time, so a worker always finds a free slot. */
    if (!create || free_slot == DAEMON_MAX_WORKERS)
        return NULL;
    snprintf(d->inflight[free_slot].account, sizeof(d->inflight[free_slot].account), "%s",
             account);
    return &d->inflight[free_slot].n;
}

/* Unlinks and returns the oldest queued item whose account is under its cap. Under lock. */
static struct work *
take_eligible(struct daemon *d, int remove)
{
    struct work *prev = NULL;

    for (struct work *w = d->queue_head; w != NULL; prev = w, w = w->next) {
        unsigned *n = inflight_count(d, w->account, 0);

        if (n != NULL && *n >= DAEMON_MAX_WORKERS_PER_ACCOUNT)
            continue;
        if (!remove)
            return w;
        if (prev == NULL)
            d->queue_head = w->next;
        else
            prev->next = w->next;
        if (d->queue_tail == w)
            d->queue_tail = prev;
        w->next = NULL;
        d->nqueued--;
        return w;
    }
    return NULL;
}

/* Looks up the user name of uid for the allow list; the number when it has none. */
static void
peer_name(uid_t uid, char *out, size_t size)
{
    struct passwd pw, *found = NULL;
    char buf[16384];

    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != NULL &&
        strlen(pw.pw_name) < size)
        snprintf(out, size, "%s", pw.pw_name);
    else
        snprintf(out, size, "%u", (unsigned)uid);
}

static const char *
verb_name(enum mt_wire_verb verb)
{
    switch (verb) {
    case MT_WIRE_TOKEN:
        return "TOKEN";
    case MT_WIRE_REJECTED:
        return "REJECTED";
    default:
        return "STATUS";
    }
}

/* Sends the whole reply; a client that stops reading gets DAEMON_REPLY_TIMEOUT_S. */
static int
send_reply(int fd, const struct mt_buf *reply)
{
    struct timeval tv = {.tv_sec = DAEMON_REPLY_TIMEOUT_S};
    const char *p = reply->data;
    size_t left = reply->len;
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        return -1;
    while (left > 0) {
        ssize_t n = send(fd, p, left, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        left -= (size_t)n;
    }
    return 0;
}

/* Logs the outcome of a request, and records for the scheduler which token a client now uses. */
static void
report(struct daemon *d, const struct work *w, const struct peer *peer, int code,
       const struct mt_buf *reply)
{
    const char *account = w->account[0] != '\0' ? w->account : w->req.account;
    const char *verb = verb_name(w->req.verb), *problem, *token, *expires, *message;
    char fp[MT_FINGERPRINT_SIZE];
    struct mt_wire_reply r;
    long long valid = 0;

    if (mt_wire_parse_reply(reply->data, reply->len, &r, &problem) != 0) {
        daemon_log(d, LOG_ERR, "%s: the reply to %s is malformed (%s): this is a bug",
                   account, verb, problem);
        mt_wire_reply_clear(&r);
        return;
    }
    if (code != 0) {
        message = mt_wire_reply_get(&r, "message");
        if (message == NULL)
            message = r.kind;
        if (strcmp(r.kind, MT_WIRE_DENIED) == 0)
            daemon_log_limited(d, &d->refusal_limit, LOG_WARNING,
                               "%s: refused %s from uid %u (%s): not in the account's allow "
                               "list", account, verb, (unsigned)peer->uid, peer->name);
        else
            daemon_log_limited(d, &d->failure_limit, LOG_WARNING,
                               "%s: %s from uid %u (%s) failed: %s", account, verb,
                               (unsigned)peer->uid, peer->name,
                               daemon_strip_account(message, account));
        /* A refresh for this request may have found the account needing authorize. */
        if (strcmp(r.kind, MT_WIRE_UNAUTHORIZED) == 0)
            accounts_rescan(d, w->account);
        mt_wire_reply_clear(&r);
        return;
    }
    if (w->req.verb == MT_WIRE_TOKEN && (token = mt_wire_reply_get(&r, "token")) != NULL) {
        mt_fingerprint_str(token, fp);
        expires = mt_wire_reply_get(&r, "expires");
        if (expires != NULL)
            valid = strtoll(expires, NULL, 10) - (long long)token_clock();
        if (accounts_handed_out(d, w->account, fp))
            daemon_log(d, LOG_INFO, "%s: handed out a new access token %s, valid for %lld s, "
                       "to uid %u (%s)", account, fp, valid, (unsigned)peer->uid, peer->name);
        else if (d->verbose)
            daemon_log(d, LOG_DEBUG, "%s: TOKEN for uid %u (%s): %s, valid for %lld s",
                       account, (unsigned)peer->uid, peer->name, fp, valid);
    } else if (w->req.verb == MT_WIRE_REJECTED) {
        daemon_log(d, LOG_NOTICE, "%s: uid %u (%s) reports that a server rejected access "
                   "token %s: the next request gets a new one", account,
                   (unsigned)peer->uid, peer->name, w->req.fingerprint);
        accounts_handed_out(d, w->account, NULL);
    } else if (d->verbose) {
        daemon_log(d, LOG_DEBUG, "%s for uid %u (%s): ok", verb, (unsigned)peer->uid,
                   peer->name);
    }
    mt_wire_reply_clear(&r);
}

static void
run_request(struct daemon *d, struct work *w)
{
    struct peer peer = {.checked = 1, .uid = w->uid};
    struct mt_buf reply;
    int code;

    peer_name(w->uid, peer.name, sizeof(peer.name));
    mt_buf_init(&reply, MT_WIRE_MAX_REPLY);
    code = request_handle(&w->cfg->cfg, &w->req, &peer, &reply);
    report(d, w, &peer, code, &reply);
    if (send_reply(w->fd, &reply) != 0)
        daemon_log_limited(d, &d->client_limit, LOG_WARNING,
                           "cannot send the reply to %s to uid %u (%s): %s",
                           verb_name(w->req.verb), (unsigned)peer.uid, peer.name,
                           errno == EAGAIN ? "the client does not read" : strerror(errno));
    mt_buf_free(&reply);
}

static void
run_refresh(struct daemon *d, struct work *w)
{
    const struct account *a = NULL;
    char fp[MT_FINGERPRINT_SIZE], *token = NULL;
    struct mt_err err;
    time_t expires, now;
    long retry;

    for (size_t i = 0; i < w->cfg->cfg.naccounts; i++)
        if (strcmp(w->cfg->cfg.accounts[i].name, w->account) == 0)
            a = &w->cfg->cfg.accounts[i];
    if (a == NULL) {
        accounts_job_done(d, w->account, 1, token_clock());
        daemon_wake(d);
        return;
    }
    err_clear(&err);
    if (token_get(&w->cfg->cfg, a, 1, &token, &expires, &err) == 0) {
        now = token_clock();
        mt_fingerprint_str(token, fp);
        mt_strfree(token);
        daemon_log(d, LOG_INFO, "%s: refreshed the access token (%s): %s, valid for %lld s",
                   a->name, w->reason, fp, (long long)(expires - now));
        accounts_job_done(d, a->name, 1, now);
        daemon_wake(d);
        return;
    }
    now = token_clock();
    retry = accounts_job_done(d, a->name, 0, now);
    if (err.code == EX_NOPERM)
        daemon_log(d, LOG_ERR, "%s: automatic refresh (%s) failed: %s", a->name, w->reason,
                   daemon_strip_account(err.msg, a->name));
    else
        daemon_log(d, LOG_WARNING, "%s: automatic refresh (%s) failed: %s; next attempt in "
                   "%ld s", a->name, w->reason, daemon_strip_account(err.msg, a->name), retry);
    /* The scan that follows logs the new state, after the line above. */
    daemon_wake(d);
}

void
work_discard(struct daemon *d, struct work *w)
{
    if (w->type == WORK_REFRESH)
        accounts_job_done(d, w->account, 1, token_clock());
    if (w->fd >= 0)
        close(w->fd);
    if (w->cfg != NULL)
        cfg_release(d, w->cfg);
    free(w);
}

static void *
worker_main(void *arg)
{
    struct worker *self = arg;
    struct daemon *d = self->d;
    struct work *w;

    pthread_mutex_lock(&d->lock);
    while ((w = take_eligible(d, 1)) != NULL) {
        unsigned *n = inflight_count(d, w->account, 1);

        (*n)++;
        pthread_mutex_unlock(&d->lock);

        if (w->type == WORK_REQUEST)
            run_request(d, w);
        else
            run_refresh(d, w);
        if (w->fd >= 0)
            close(w->fd);
        cfg_release(d, w->cfg);

        pthread_mutex_lock(&d->lock);
        n = inflight_count(d, w->account, 0);
        if (n != NULL)
            (*n)--;
        free(w);
    }
    d->nworkers--;
    self->state = WORKER_FINISHED;
    pthread_mutex_unlock(&d->lock);
    daemon_wake(d);
    return NULL;
}

/*
 * Starts a worker when eligible work waits and the cap allows. Workers
 * take further items themselves before they exit, so one start per
 * submitted item is enough. Under lock.
 */
static void
spawn_worker(struct daemon *d)
{
    struct worker *slot = NULL;
    int r;

    if (take_eligible(d, 0) == NULL)
        return;
    /* A finished worker's slot is free again once the main thread has joined it. */
    for (size_t i = 0; i < DAEMON_MAX_WORKERS && slot == NULL; i++)
        if (d->workers[i].state == WORKER_FREE)
            slot = &d->workers[i];
    if (slot == NULL)
        return;
    slot->d = d;
    r = pthread_create(&slot->thread, NULL, worker_main, slot);
    if (r != 0) {
        daemon_log_limited(d, &d->failure_limit, LOG_ERR, "cannot start a worker thread: %s",
                           strerror(r));
        return;
    }
    slot->state = WORKER_RUNNING;
    d->nworkers++;
}

void
pool_kick(struct daemon *d)
{
    pthread_mutex_lock(&d->lock);
    spawn_worker(d);
    pthread_mutex_unlock(&d->lock);
}

int
pool_submit(struct daemon *d, struct work *w)
{
    pthread_mutex_lock(&d->lock);
    if (w->type == WORK_REQUEST && d->nqueued >= DAEMON_MAX_QUEUED) {
        pthread_mutex_unlock(&d->lock);
        return -1;
    }
    w->next = NULL;
    if (d->queue_tail != NULL)
        d->queue_tail->next = w;
    else
        d->queue_head = w;
    d->queue_tail = w;
    d->nqueued++;
    spawn_worker(d);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

void
pool_drop_queue(struct daemon *d)
{
    struct work *w;

    pthread_mutex_lock(&d->lock);
    w = d->queue_head;
    d->queue_head = d->queue_tail = NULL;
    d->nqueued = 0;
    pthread_mutex_unlock(&d->lock);
    while (w != NULL) {
        struct work *next = w->next;

        work_discard(d, w);
        w = next;
    }
}

void
pool_reap(struct daemon *d)
{
    pthread_t finished[DAEMON_MAX_WORKERS];
    struct worker *slots[DAEMON_MAX_WORKERS];
    size_t n = 0;

    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < DAEMON_MAX_WORKERS; i++) {
        if (d->workers[i].state != WORKER_FINISHED)
            continue;
        d->workers[i].state = WORKER_JOINING;
        slots[n] = &d->workers[i];
        finished[n++] = d->workers[i].thread;
    }
    pthread_mutex_unlock(&d->lock);
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        pthread_join(finished[i], NULL);
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < n; i++)
        slots[i]->state = WORKER_FREE;
    /* Freed slots may let queued work start. */
    spawn_worker(d);
    pthread_mutex_unlock(&d->lock);
}

size_t
pool_workers(struct daemon *d)
{
    size_t n;

    pthread_mutex_lock(&d->lock);
    n = d->nworkers;
    pthread_mutex_unlock(&d->lock);
    return n;
}
