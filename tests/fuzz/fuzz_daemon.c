/*
 * Fuzz target: what a client sends to the token daemon's socket. The
 * daemon's connection handler (helper/core/daemon_conn.c) reads it, and
 * request_handle replies as a worker would, to a client of a chosen uid.
 *
 * The first byte picks the client's uid: the daemon's own, the one in
 * account work's allow list, or one in no list. The rest goes through a
 * socket pair to conn_readable. daemon_conn.c is included here, and the
 * functions it needs from the rest of the daemon are replaced: pool_submit
 * replies at once instead of queuing the work for a thread.
 *
 * A client may get an account's token only when its uid may ask for it,
 * and no log line may show a token: a run that breaks either aborts.
 * A request that contains a token itself is exempt, because replies and
 * log lines may quote what the client sent.
 */
#include "core/daemon_conn.c"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/config.h"
#include "core/net.h"
#include "core/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALLOWED_UID 12345
#define STRANGER_UID 4242
#define WORK_TOKEN "ya29.WorkTokenOnlyForAllowedUid-7d1f"
#define MINE_TOKEN "ya29.MineTokenOnlyForTheDaemon-3c9a"

static struct daemon daemon_state;
static struct cfg_ref config_ref;
static char store_dir[256];
static char *store_text[2];
static int log_leaked;

/* ---- what daemon_conn.c needs from the rest of the daemon ---- */

long long
daemon_now_ms(void)
{
    return 0;
}

static void check_log(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static void
check_log(const char *fmt, va_list ap)
{
    char line[2048];

    vsnprintf(line, sizeof(line), fmt, ap);
    if (strstr(line, WORK_TOKEN) != NULL || strstr(line, MINE_TOKEN) != NULL)
        log_leaked = 1;
}

void
daemon_log_limited(struct daemon *d, struct log_limit *limit, int priority, const char *fmt, ...)
{
    va_list ap;

    (void)d;
    (void)limit;
    (void)priority;
    va_start(ap, fmt);
    check_log(fmt, ap);
    va_end(ap);
}

struct cfg_ref *
cfg_acquire(struct daemon *d)
{
    return d->cfg;
}

void
work_discard(struct daemon *d, struct work *w)
{
    (void)d;
    if (w->fd >= 0)
        close(w->fd);
    free(w);
}

/* Replies to the request at once, as a worker's run_request would. */
int
pool_submit(struct daemon *d, struct work *w)
{
    struct peer peer = {.checked = 1, .uid = w->uid};
    struct mt_buf reply;

    (void)d;
    snprintf(peer.name, sizeof(peer.name), "%u", (unsigned)w->uid);
    mt_buf_init(&reply, MT_WIRE_MAX_REPLY);
    request_handle(&w->cfg->cfg, &w->req, &peer, &reply);
    if (reply.len > 0 && send(w->fd, reply.data, reply.len, MSG_NOSIGNAL) < 0) {
        /* The client end is ours and reads everything; nothing to do. */
    }
    mt_buf_free(&reply);
    close(w->fd);
    free(w);
    return 0;
}

/* ---- setup ---- */

/* No network: a refresh fails as a lost connection would. */
static int
no_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    (void)req;
    mt_buf_init(&resp->body, NET_MAX_BODY);
    return err_set(err, EX_TEMPFAIL, "no network while fuzzing");
}

static const struct net_ops no_network = {
    .abi_version = NET_ABI_VERSION,
    .http = no_http,
};

static char *
store_file_text(const char *token)
{
    char *text = NULL;

    if (asprintf(&text,
                 "{\"version\": 1, \"refresh_token\": \"RT\", \"access_token\": \"%s\", "
                 "\"token_type\": \"Bearer\", \"obtained_at\": %lld, \"expires_in\": 3600}\n",
                 token, (long long)time(NULL)) < 0)
        abort();
    return text;
}

/* Puts both accounts' files back, in case a request marked a token rejected. */
static void
restore_store(void)
{
    static const char *const names[] = {"work.json", "mine.json"};

    for (int i = 0; i < 2; i++) {
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", store_dir, names[i]);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, store_text[i], strlen(store_text[i])) < 0)
            abort();
        close(fd);
    }
}

static void
remove_store(void)
{
    static const char *const names[] = {
        "work.json", "mine.json", "work.lock", "mine.lock", ".work.json.tmp", ".mine.json.tmp",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", store_dir, names[i]);
        unlink(path);
    }
    rmdir(store_dir);
}

static void
setup(void)
{
    char text[2048];
    struct mt_err err;

    snprintf(store_dir, sizeof(store_dir), "/tmp/mailtoken-fuzz-daemon-XXXXXX");
    if (mkdtemp(store_dir) == NULL)
        abort();
    atexit(remove_store);
    snprintf(text, sizeof(text),
             "[defaults]\nstore = %s\n\n"
             "[work]\nprovider = generic\nclient_id = c\nscope = mail\n"
             "token_endpoint = http://127.0.0.1:9/token\nuser = alice@example.test\n"
             "allow = %u\n\n"
             "[mine]\nprovider = generic\nclient_id = c\nscope = mail\n"
             "token_endpoint = http://127.0.0.1:9/token\nuser = bob@example.test\n",
             store_dir, ALLOWED_UID);
    err_clear(&err);
    if (config_load_string(&config_ref.cfg, "fuzz.conf", text, &err) != 0)
        abort();
    store_text[0] = store_file_text(WORK_TOKEN);
    store_text[1] = store_file_text(MINE_TOKEN);
    daemon_state.cfg = &config_ref;
    net_override(&no_network);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uid_t uids[] = {0, ALLOWED_UID, STRANGER_UID, ALLOWED_UID};
    struct conn c;
    struct mt_buf reply;
    char chunk[4096];
    size_t sent = 0;
    int pair[2];
    ssize_t n;
    uid_t uid;

    if (size < 1)
        return 0;
    if (daemon_state.cfg == NULL)
        setup();
    restore_store();
    uid = (data[0] & 3) == 0 ? geteuid() : uids[data[0] & 3];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair) != 0)
        return 0;
    while (sent < size - 1) {
        n = send(pair[0], data + 1 + sent, size - 1 - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    shutdown(pair[0], SHUT_WR);

    memset(&c, 0, sizeof(c));
    c.fd = pair[1];
    c.uid = uid;
    c.pid = 1;
    log_leaked = 0;
    /* Everything is in the socket already, so the handler finishes in one or two reads. */
    for (int i = 0; i < 4 && conn_readable(&daemon_state, &c) == 0; i++)
        ;
    if (c.fd >= 0)
        close(c.fd);

    mt_buf_init(&reply, 1 << 20);
    while ((n = recv(pair[0], chunk, sizeof(chunk), 0)) > 0)
        mt_buf_append(&reply, chunk, (size_t)n);
    if (memmem(data, size, WORK_TOKEN, strlen(WORK_TOKEN)) != NULL ||
        memmem(data, size, MINE_TOKEN, strlen(MINE_TOKEN)) != NULL) {
        /* The client sent a token: it may come back quoted. */
    } else if (log_leaked) {
        abort();
    } else if (reply.data != NULL) {
        int may_work = uid == ALLOWED_UID || uid == geteuid();
        int may_mine = uid == geteuid();

        if ((!may_work && strstr(reply.data, WORK_TOKEN) != NULL) ||
            (!may_mine && strstr(reply.data, MINE_TOKEN) != NULL))
            abort();
    }
    mt_buf_free(&reply);
    close(pair[0]);
    return 0;
}
