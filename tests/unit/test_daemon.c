/*
 * Unit tests for the token daemon: the refresh schedule as a table, the
 * log limiter, and a daemon running in a thread of this process (with a
 * scripted network module) that serves requests, reloads and stops. Run
 * under the sanitizer build, the in-process daemon also checks the
 * threads' memory handling.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/daemon.h"
#include "core/daemon_internal.h"
#include "core/net.h"
#include "core/status.h"
#include "core/store.h"
#include "core/token.h"
#include "mt_wire.h"

/* ---- the refresh schedule ---- */

struct due_case {
    const char *name;
    struct sched_facts facts;
    time_t due;
    const char *reason;
};

#define T0 1800000000

static const struct due_case due_cases[] = {
    {
        .name = "unauthorized account is never refreshed",
        .facts = {.state = STATE_UNAUTHORIZED, .keepalive = 3600},
        .due = 0,
    },
    {
        .name = "account that needs authorize is never refreshed",
        .facts = {.state = STATE_NEEDS_REAUTH, .keepalive = 3600, .in_use = 1,
                  .has_access = 1, .obtained_at = T0, .expires_in = 3600},
        .due = 0,
    },
    {
        .name = "idle account waits for keepalive",
        .facts = {.state = STATE_AUTHORIZED, .keepalive = 7 * 86400, .last_refresh = T0,
                  .has_access = 1, .obtained_at = T0, .expires_in = 3600},
        .due = T0 + 7 * 86400,
        .reason = "keepalive",
    },
    {
        .name = "keepalive off and idle means no refresh",
        .facts = {.state = STATE_AUTHORIZED, .keepalive = 0, .last_refresh = T0,
                  .has_access = 1, .obtained_at = T0, .expires_in = 3600},
        .due = 0,
    },
    {
        .name = "token in use is refreshed 300 s before its margin",
        .facts = {.state = STATE_AUTHORIZED, .keepalive = 7 * 86400, .last_refresh = T0,
                  .in_use = 1, .has_access = 1, .obtained_at = T0, .expires_in = 3599,
                  .margin = 300},
        .due = T0 + 3599 - 300 - 300,
        .reason = "expiry",
    },
    {
        .name = "short token is refreshed a quarter early",
        .facts = {.state = STATE_AUTHORIZED, .in_use = 1, .has_access = 1, .obtained_at = T0,
                  .expires_in = 40, .margin = 0},
        .due = T0 + 30,
        .reason = "expiry",
    },
    {
        .name = "tiny lifetime keeps the minimum spacing",
        .facts = {.state = STATE_AUTHORIZED, .in_use = 1, .has_access = 1, .obtained_at = T0,
                  .expires_in = 2, .margin = 0},
        .due = T0 + DAEMON_REFRESH_MIN_SPACING,
        .reason = "expiry",
    },
    {
        .name = "margin longer than lifetime keeps the minimum spacing",
        .facts = {.state = STATE_AUTHORIZED, .in_use = 1, .has_access = 1, .obtained_at = T0,
                  .expires_in = 60, .margin = 300},
        .due = T0 + DAEMON_REFRESH_MIN_SPACING,
        .reason = "expiry",
    },
    {
        .name = "rejected token is replaced after the spacing",
        .facts = {.state = STATE_AUTHORIZED, .keepalive = 86400, .last_refresh = T0,
                  .in_use = 1, .has_access = 1, .access_rejected = 1, .obtained_at = T0,
                  .expires_in = 3600},
        .due = T0 + DAEMON_REFRESH_MIN_SPACING,
        .reason = "rejected",
    },
    {
        .name = "token without expires_in waits for keepalive",
        .facts = {.state = STATE_AUTHORIZED, .keepalive = 86400, .last_refresh = T0,
                  .in_use = 1, .has_access = 1, .obtained_at = T0, .expires_in = 0},
        .due = T0 + 86400,
        .reason = "keepalive",
    },
    {
        .name = "keepalive shorter than the spacing is raised to it",
        .facts = {.state = STATE_AUTHORIZED, .keepalive = 1, .last_refresh = T0},
        .due = T0 + DAEMON_REFRESH_MIN_SPACING,
        .reason = "keepalive",
    },
    {
        .name = "failed refresh waits for its retry time",
        .facts = {.state = STATE_ERROR, .keepalive = 60, .last_refresh = T0,
                  .retry_at = T0 + 600},
        .due = T0 + 600,
        .reason = "keepalive",
    },
    {
        .name = "lapsed refresh token is still tried",
        .facts = {.state = STATE_EXPIRED, .keepalive = 86400, .last_refresh = T0 - 100 * 86400},
        .due = T0 - 99 * 86400,
        .reason = "keepalive",
    },
    {
        .name = "client credentials have no keepalive",
        .facts = {.state = STATE_AUTHORIZED, .client_credentials = 1, .keepalive = 60},
        .due = 0,
    },
    {
        .name = "client credentials in use are refreshed ahead",
        .facts = {.state = STATE_AUTHORIZED, .client_credentials = 1, .keepalive = 60,
                  .in_use = 1, .has_access = 1, .obtained_at = T0, .expires_in = 3600,
                  .margin = 300},
        .due = T0 + 3600 - 300 - 300,
        .reason = "expiry",
    },
};

static void
schedule_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(due_cases) / sizeof(due_cases[0]); i++) {
        const struct due_case *c = &due_cases[i];
        const char *reason = "unset";
        time_t due = sched_next_due(&c->facts, &reason);

        if (due != c->due)
            fail_msg("%s: due %lld, expected %lld", c->name, (long long)due,
                     (long long)c->due);
        if (c->due != 0 && (reason == NULL || strcmp(reason, c->reason) != 0))
            fail_msg("%s: reason %s, expected %s", c->name, reason ? reason : "(none)",
                     c->reason);
    }
}

/* ---- log lines ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[65536];
static size_t log_lines;

static void
capture_log(void *context, int priority, const char *message)
{
    size_t n;

    (void)context;
    (void)priority;
    pthread_mutex_lock(&log_lock);
    n = strlen(log_text);
    snprintf(log_text + n, sizeof(log_text) - n, "%s\n", message);
    log_lines++;
    pthread_mutex_unlock(&log_lock);
}

static void
ignore_target(void *context, const char *target)
{
    (void)context;
    (void)target;
}

static int
log_contains(const char *text)
{
    int found;

    pthread_mutex_lock(&log_lock);
    found = strstr(log_text, text) != NULL;
    pthread_mutex_unlock(&log_lock);
    return found;
}

static void
log_clear(void)
{
    pthread_mutex_lock(&log_lock);
    log_text[0] = '\0';
    log_lines = 0;
    pthread_mutex_unlock(&log_lock);
}

static void
log_limit_passes_burst_only(void **state)
{
    struct daemon d;

    (void)state;
    memset(&d, 0, sizeof(d));
    d.hooks.log = capture_log;
    d.client_limit.topic = "misbehaving clients";
    pthread_mutex_init(&d.limit_lock, NULL);
    log_clear();
    for (int i = 0; i < DAEMON_LOG_BURST + 5; i++)
        daemon_log_limited(&d, &d.client_limit, LOG_WARNING, "client %d misbehaved", i);
    assert_int_equal(log_lines, DAEMON_LOG_BURST);
    assert_int_equal(d.client_limit.suppressed, 5);
    /* The summary waits for the end of the minute. */
    daemon_log_flush_limits(&d);
    assert_false(log_contains("were suppressed"));
    d.client_limit.window -= 61;
    daemon_log_flush_limits(&d);
    assert_true(log_contains("5 log lines about misbehaving clients were suppressed"));
    assert_int_equal(d.client_limit.suppressed, 0);
    assert_true(log_contains("client 0 misbehaved"));
    assert_false(log_contains("client 20 misbehaved"));
    /* Another limit has its own budget. */
    daemon_log_limited(&d, &d.refusal_limit, LOG_WARNING, "a refusal");
    assert_true(log_contains("a refusal"));
    pthread_mutex_destroy(&d.limit_lock);
}

static void
strip_account_prefix(void **state)
{
    (void)state;
    assert_string_equal(daemon_strip_account("work: refresh failed", "work"), "refresh failed");
    assert_string_equal(daemon_strip_account("workshop: x", "work"), "workshop: x");
    assert_string_equal(daemon_strip_account("work:x", "work"), "work:x");
    assert_string_equal(daemon_strip_account("other: x", "work"), "other: x");
}

/* ---- a daemon in a thread ---- */

static atomic_int http_calls;

static int
scripted_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    int call = atomic_fetch_add(&http_calls, 1) + 1;

    (void)req;
    (void)err;
    mt_buf_init(&resp->body, NET_MAX_BODY);
    resp->status = 200;
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
    resp->retry_after = -1;
    resp->location[0] = '\0';
    mt_buf_printf(&resp->body,
                  "{\"access_token\":\"AT-%d\",\"token_type\":\"Bearer\",\"expires_in\":3600}",
                  call);
    return 0;
}

static const struct net_ops scripted_ops = {
    .abi_version = NET_ABI_VERSION,
    .http = scripted_http,
};

struct fixture {
    char dir[64];
    char conf[128];
    char sock[128];
    pthread_t thread;
    struct config cfg;
    struct mt_err err;
    int rc;
};

static void
write_config(struct fixture *f, const char *extra)
{
    FILE *fp = fopen(f->conf, "w");

    assert_non_null(fp);
    fprintf(fp,
            "[defaults]\nstore = %s/store\nsocket = %s\nkeepalive = 0\n"
            "[work]\nprovider = generic\nclient_id = cid\nuser = alice@example.test\n"
            "token_endpoint = http://127.0.0.1:9/token\n"
            "authorization_endpoint = http://127.0.0.1:9/auth\nscope = mail\n%s",
            f->dir, f->sock, extra);
    fclose(fp);
}

static void *
daemon_thread(void *arg)
{
    struct fixture *f = arg;
    struct daemon_hooks hooks = {.log = capture_log, .log_target = ignore_target};

    f->rc = daemon_run(&f->cfg, f->conf, 1, &hooks, &f->err);
    return NULL;
}

static int
connect_socket(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends data and returns the reply in a static buffer. */
static const char *
ask(const char *path, const char *data, size_t len)
{
    static char reply[MT_WIRE_MAX_REPLY + 1];
    size_t got = 0;
    ssize_t n;
    int fd = connect_socket(path);

    assert_true(fd >= 0);
    assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
    while (got < sizeof(reply) - 1 && (n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0)
        got += (size_t)n;
    reply[got] = '\0';
    close(fd);
    return reply;
}

static void
wait_for(int (*ready)(const char *), const char *arg)
{
    for (int i = 0; i < 500; i++) {
        if (ready(arg))
            return;
        usleep(10000);
    }
    fail_msg("timed out waiting for \"%s\"; log:\n%s", arg, log_text);
}

static int
socket_answers(const char *path)
{
    int fd = connect_socket(path);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

static int
setup_daemon(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct mt_err err;
    int moved;

    snprintf(f->dir, sizeof(f->dir), "/tmp/mailtoken-daemon-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->conf, sizeof(f->conf), "%s/mailtoken.conf", f->dir);
    snprintf(f->sock, sizeof(f->sock), "%s/sock", f->dir);
    write_config(f, "");
    net_override(&scripted_ops);
    atomic_store(&http_calls, 0);
    log_clear();

    /* A refresh token in the store, as mailtoken import leaves it. */
    err_clear(&err);
    if (config_load(&f->cfg, f->conf, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (token_import(&f->cfg, &f->cfg.accounts[0], "RT-1", &moved, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static void
start_daemon(struct fixture *f)
{
    err_clear(&f->err);
    assert_int_equal(pthread_create(&f->thread, NULL, daemon_thread, f), 0);
    wait_for(socket_answers, f->sock);
}

static void
stop_daemon(struct fixture *f)
{
    daemon_request_stop();
    assert_int_equal(pthread_join(f->thread, NULL), 0);
    if (f->rc != 0)
        fail_msg("daemon_run failed: %s", f->err.msg);
}

static int
teardown_daemon(void **state)
{
    struct fixture *f = *state;
    char cmd[160];

    config_free(&f->cfg);
    net_override(NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void
daemon_serves_and_stops(void **state)
{
    struct fixture *f = *state;
    const char *reply;
    struct stat st;

    start_daemon(f);
    assert_true(log_contains("started: mailtoken"));
    assert_int_equal(lstat(f->sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);

    reply = ask(f->sock, "MAILTOKEN/1 TOKEN work\n", 23);
    assert_non_null(strstr(reply, "MAILTOKEN/1 OK\n"));
    assert_non_null(strstr(reply, "\ntoken AT-1\n"));
    assert_int_equal(atomic_load(&http_calls), 1);
    /* The daemon logs the first token it hands out, by fingerprint only. */
    wait_for(log_contains, "work: handed out a new access token sha256:");
    assert_false(log_contains("AT-1"));

    reply = ask(f->sock, "MAILTOKEN/1 TOKEN alice@example.test\n", 37);
    assert_non_null(strstr(reply, "\ntoken AT-1\n"));
    assert_int_equal(atomic_load(&http_calls), 1);

    reply = ask(f->sock, "MAILTOKEN/1 STATUS\n", 19);
    assert_non_null(strstr(reply, "\nstatus work authorized "));

    stop_daemon(f);
    assert_int_equal(lstat(f->sock, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_true(log_contains("stopped"));
}

static void
daemon_rejects_bad_requests(void **state)
{
    struct fixture *f = *state;
    char big[MT_WIRE_MAX_REQUEST + 10];
    const char *reply;

    start_daemon(f);
    reply = ask(f->sock, "HELO\n", 5);
    assert_non_null(strstr(reply, "MAILTOKEN/1 ERR 64 bad-request\n"));
    reply = ask(f->sock, "MAILTOKEN/1 TOKEN nobody-here\n", 30);
    assert_non_null(strstr(reply, "ERR 78 unknown-account\n"));

    memset(big, 'x', sizeof(big));
    reply = ask(f->sock, big, sizeof(big));
    assert_non_null(strstr(reply, "message request line too long"));
    wait_for(log_contains, "request line longer than 1023 bytes");
    assert_true(log_contains("invalid request: request does not start with MAILTOKEN/1"));

    /* After all that, a good request still works. */
    reply = ask(f->sock, "MAILTOKEN/1 TOKEN work\n", 23);
    assert_non_null(strstr(reply, "\ntoken AT-1\n"));
    stop_daemon(f);
}

static void
daemon_reload_keeps_old_on_error(void **state)
{
    struct fixture *f = *state;
    const char *reply;

    start_daemon(f);
    write_config(f, "[second]\nprovider = generic\nclient_id = c2\n"
                    "token_endpoint = http://127.0.0.1:9/token\n"
                    "authorization_endpoint = http://127.0.0.1:9/auth\nscope = mail\n");
    daemon_request_reload();
    wait_for(log_contains, "reloaded the configuration");
    reply = ask(f->sock, "MAILTOKEN/1 STATUS second\n", 26);
    assert_non_null(strstr(reply, "\nstatus second unauthorized "));

    write_config(f, "bogus line without equals\n");
    daemon_request_reload();
    wait_for(log_contains, "keeping the previous one");
    reply = ask(f->sock, "MAILTOKEN/1 STATUS second\n", 26);
    assert_non_null(strstr(reply, "\nstatus second unauthorized "));
    stop_daemon(f);
}

static void
daemon_needs_a_socket(void **state)
{
    struct fixture *f = *state;
    struct daemon_hooks hooks = {.log = capture_log, .log_target = ignore_target};
    struct config cfg;
    struct mt_err err;
    FILE *fp = fopen(f->conf, "w");

    assert_non_null(fp);
    fprintf(fp, "[defaults]\nstore = %s/store\n", f->dir);
    fclose(fp);
    err_clear(&err);
    assert_int_equal(config_load(&cfg, f->conf, &err), 0);
    err_clear(&err);
    assert_int_equal(daemon_run(&cfg, f->conf, 0, &hooks, &err), -1);
    assert_int_equal(err.code, EX_CONFIG);
    assert_non_null(strstr(err.msg, "no socket to listen on"));
    config_free(&cfg);
}

static void
daemon_refuses_socket_folder_missing(void **state)
{
    struct fixture *f = *state;
    struct daemon_hooks hooks = {.log = capture_log, .log_target = ignore_target};
    struct config cfg;
    struct mt_err err;
    char missing[160];
    FILE *fp = fopen(f->conf, "w");

    snprintf(missing, sizeof(missing), "%s/nowhere", f->dir);
    assert_non_null(fp);
    fprintf(fp, "[defaults]\nstore = %s/store\nsocket = %s/sock\n", f->dir, missing);
    fclose(fp);
    err_clear(&err);
    assert_int_equal(config_load(&cfg, f->conf, &err), 0);
    err_clear(&err);
    assert_int_equal(daemon_run(&cfg, f->conf, 0, &hooks, &err), -1);
    assert_int_equal(err.code, EX_CANTCREAT);
    assert_non_null(strstr(err.msg, "does not exist"));
    assert_int_equal(access(missing, F_OK), -1);
    config_free(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedule_table),
        cmocka_unit_test(log_limit_passes_burst_only),
        cmocka_unit_test(strip_account_prefix),
        cmocka_unit_test_setup_teardown(daemon_serves_and_stops, setup_daemon, teardown_daemon),
        cmocka_unit_test_setup_teardown(daemon_rejects_bad_requests, setup_daemon,
                                        teardown_daemon),
        cmocka_unit_test_setup_teardown(daemon_reload_keeps_old_on_error, setup_daemon,
                                        teardown_daemon),
        cmocka_unit_test_setup_teardown(daemon_needs_a_socket, setup_daemon, teardown_daemon),
        cmocka_unit_test_setup_teardown(daemon_refuses_socket_folder_missing, setup_daemon,
                                        teardown_daemon),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
