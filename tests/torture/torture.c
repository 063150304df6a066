/*
 * Allocation-failure tests in the manner of curl's torture tests. Each
 * scenario runs once to count its allocation calls, then once more for
 * every call, with that call failing. Every run happens in a child
 * process, so that a crash is seen and reported rather than ending the
 * test. A run passes on three conditions. It ends in a clean error (the
 * function fails and sets an exit code and a message) or succeeds with
 * the right result. Every block it allocated is freed again. In the
 * scenarios that write the token store, the store contains either the
 * old tokens or the new ones, with no temporary file left behind. Out
 * of memory must also not be reported as a cause the user would chase:
 * a configuration error, a sign-in to repeat, a broken server, or (from
 * the plugin) a verdict on the credentials.
 *
 * Some libraries mishandle their own allocation failures, and that is
 * not ours to fix. json-c 0.16, the version in Debian 12, crashes inside
 * json_tokener_parse_ex when the copy of an object key fails, and leaks
 * the value when adding a member fails (json-c 0.17 checks the key and
 * the string buffer, 0.18 the member insertion as well). libsasl2 2.1.28
 * crashes and leaks in sasl_client_init and sasl_client_new. When the
 * failing allocation is such a library's own, its crash, and blocks it
 * allocated and left behind, are counted and printed instead of failing
 * the test. The rest stays strict in those runs too: no wrong result,
 * no block of ours left, and the store as described above.
 *
 * Usage: torture GROUP [SCENARIO]. GROUP is config, reply, store or
 * plugin; SCENARIO runs a single one. TORTURE_VERBOSE=1 prints the error
 * of every run. TORTURE_AT=N runs only the run where allocation N fails,
 * in this process, for a debugger.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sasl/sasl.h>

#include "alloc.h"
#include "core/config.h"
#include "core/err.h"
#include "core/net.h"
#include "core/oauth.h"
#include "core/request.h"
#include "core/store.h"
#include "core/token.h"
#include "mt_buf.h"
#include "mt_sha256.h"
#include "mt_wire.h"

#ifndef PLUGIN_PATH
#error "PLUGIN_PATH must name build/plugin/libmailtoken.so"
#endif
#ifndef FAKE_HELPER_PATH
#error "FAKE_HELPER_PATH must name the plugin tests' fake helper"
#endif

/* ---- what a run reports ---- */

enum outcome {
    OUTCOME_OK,       /* succeeded with the expected result */
    OUTCOME_ERROR,    /* failed cleanly: an exit code and a message */
    OUTCOME_WRONG     /* anything else: see detail */
};

struct result {
    enum outcome outcome;
    int code;
    char detail[ERR_MSG_SIZE];
};

/* What the child sends back to the parent through a pipe. */
struct report {
    struct result result;
    struct torture_alloc_stats stats;
};

struct scenario {
    const char *group;
    const char *name;
    void (*prepare)(void);                                     /* in the parent, before each run */
    void (*run)(struct result *r);                             /* in the child, counted */
    int (*check_after)(char *why, size_t size, int run_ok);    /* in the parent; 0 when fine */
};

static char tmpdir[PATH_MAX];
static char store_dir[PATH_MAX + 16];
static char config_path[PATH_MAX + 16];
static char token_file[PATH_MAX + 16];
static int verbose;

static void
result_ok(struct result *r)
{
    r->outcome = OUTCOME_OK;
}

static void
result_wrong(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
result_wrong(struct result *r, const char *fmt, ...)
{
    va_list ap;

    r->outcome = OUTCOME_WRONG;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

/*
 * Records a failure: clean when err has an exit code and a message. Out
 * of memory must not pass for a problem the user would then chase: a
 * configuration error, a sign-in to repeat, a usage error or a broken
 * server.
 */
static void
result_error(struct result *r, const struct mt_err *err)
{
    if (err->code == 0 || err->msg[0] == '\0') {
        result_wrong(r, "failed without an exit code or message (code %d)", err->code);
        return;
    }
    if (err->code == EX_CONFIG || err->code == EX_NOPERM || err->code == EX_USAGE ||
        err->code == EX_DATAERR || err->code == EX_PROTOCOL) {
        result_wrong(r, "failed with exit code %d, which blames something else: %s", err->code,
                     err->msg);
        return;
    }
    if (strchr(err->msg, '\n') != NULL) {
        result_wrong(r, "the message has more than one line: %s", err->msg);
        return;
    }
    r->outcome = OUTCOME_ERROR;
    r->code = err->code;
    snprintf(r->detail, sizeof(r->detail), "%s", err->msg);
}

/* ---- files ---- */

static void
write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t n = strlen(text);

    if (fd < 0 || write(fd, text, n) != (ssize_t)n) {
        fprintf(stderr, "torture: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fchmod(fd, mode);
    close(fd);
}

/* Reads a whole file into a new string; NULL when it does not exist. */
static char *
read_text(const char *path)
{
    struct mt_buf b;
    char chunk[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    mt_buf_init(&b, 1 << 22);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        mt_buf_append(&b, chunk, (size_t)n);
    close(fd);
    return mt_buf_detach(&b);
}

/* Removes everything in the store folder. */
static void
empty_store(void)
{
    DIR *d = opendir(store_dir);
    struct dirent *e;
    char path[PATH_MAX + 300];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", store_dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
}

/*
 * Checks that the store folder contains nothing but the account's file and
 * lock. Returns 0, or -1 with why set.
 */
static int
store_has_no_strays(char *why, size_t size)
{
    DIR *d = opendir(store_dir);
    struct dirent *e;
    int rc = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "work.json") == 0 || strcmp(e->d_name, "work.lock") == 0)
            continue;
        snprintf(why, size, "the store folder contains a stray file %s", e->d_name);
        rc = -1;
        break;
    }
    if (d != NULL)
        closedir(d);
    return rc;
}

/* ---- the configuration ---- */

static const char config_template[] =
    "; an account of each provider, every kind of value\n"
    "[defaults]\n"
    "store = %s\n"
    "timeout = 7\n"
    "keepalive = 7d\n"
    "socket = /run/mailtoken/socket /var/spool/postfix/private/mailtoken\n"
    "\n"
    "[work]\n"
    "provider = microsoft\n"
    "tenant = contoso.onmicrosoft.com\n"
    "client_id = 11111111-2222-3333-4444-555555555555\n"
    "client_secret = torture-secret\n"
    "client_secret_expires = 2027-06-30\n"
    "user = alice@contoso.com\n"
    "mailbox = shared@contoso.com\n"
    "scope = imap smtp\n"
    "  pop\n"
    "token_file = %s\n"
    "token_endpoint = http://127.0.0.1:9/token\n"
    "allow = postfix mail\n"
    "\n"
    "[gmail]\n"
    "provider = google\n"
    "client_id = 1.apps.googleusercontent.com\n"
    "client_secret_command = echo secret\n"
    "user = bob@gmail.com\n"
    "\n"
    "[local]\n"
    "provider = generic\n"
    "client_id = mailpub\n"
    "authorization_endpoint = http://127.0.0.1:9/auth\n"
    "token_endpoint = http://127.0.0.1:9/token\n"
    "scope = mail\n"
    "redirect_uri = http://127.0.0.1:9999/callback\n";

static char config_text[8192];

/* Checks what a successful load produced. */
static void
check_config(struct config *cfg, struct result *r)
{
    const struct account *a;
    struct mt_err err;
    int as_mailbox = 0;

    if (cfg->naccounts != 3 || strcmp(cfg->store, store_dir) != 0 || cfg->nsockets != 2 ||
        cfg->keepalive != 7 * 86400) {
        result_wrong(r, "loaded, but the defaults differ (%zu accounts, store %s)",
                     cfg->naccounts, cfg->store != NULL ? cfg->store : "(none)");
        return;
    }
    a = &cfg->accounts[0];
    if (strcmp(a->name, "work") != 0 || strcmp(a->client_secret, "torture-secret") != 0 ||
        strcmp(a->mailbox, "shared@contoso.com") != 0 || a->nallow != 2 ||
        strcmp(a->allow[1], "mail") != 0 || a->timeout != 7 || a->scope == NULL ||
        strstr(a->scope, "POP.AccessAsUser.All") == NULL ||
        strstr(a->scope, "offline_access") == NULL) {
        result_wrong(r, "loaded, but account work differs");
        return;
    }
    err_clear(&err);
    if (config_find_account(cfg, "shared@contoso.com", &as_mailbox, &err) != a ||
        !as_mailbox) {
        if (err.code != 0)
            result_error(r, &err);
        else
            result_wrong(r, "the account was not found by its mailbox");
        return;
    }
    result_ok(r);
}

static void
run_config_string(struct result *r)
{
    struct config cfg;
    struct mt_err err;

    err_clear(&err);
    if (config_load_string(&cfg, "torture.conf", config_text, &err) != 0)
        result_error(r, &err);
    else
        check_config(&cfg, r);
    config_free(&cfg);
}

static void
run_config_file(struct result *r)
{
    struct config cfg;
    struct mt_err err;

    err_clear(&err);
    if (config_load(&cfg, config_path, &err) != 0)
        result_error(r, &err);
    else
        check_config(&cfg, r);
    config_free(&cfg);
}

/* ---- token endpoint replies ---- */

static char account_name[] = "work";
static char token_endpoint[] = "https://login.microsoftonline.com/common/oauth2/v2.0/token";

static void
reply_account(struct account *a)
{
    memset(a, 0, sizeof(*a));
    a->name = account_name;
    a->provider = PROVIDER_MICROSOFT;
    a->token_endpoint = token_endpoint;
}

#define NEW_ACCESS "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA-new"
#define NEW_REFRESH "M.R3_BAY.new-refresh-token"
#define OLD_ACCESS "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA-old"
#define OLD_REFRESH "M.R3_BAY.old-refresh-token"

static const char json_success[] =
    "{\"token_type\":\"Bearer\",\"scope\":\"https://outlook.office.com/IMAP.AccessAsUser.All "
    "offline_access\",\"expires_in\":\"3599\",\"ext_expires_in\":3599,"
    "\"access_token\":\"" NEW_ACCESS "\",\"refresh_token\":\"" NEW_REFRESH "\","
    "\"id_token\":\"eyJhbGciOiJub25lIn0.eyJwcmVmZXJyZWRfdXNlcm5hbWUiOiJhbGljZUBjb250b3NvLmNvbSJ9."
    "\"}";

static const char form_success[] =
    "access_token=" NEW_ACCESS "&token_type=bearer&expires_in=3599&refresh_token=" NEW_REFRESH
    "&scope=mail+offline_access\r\n";

static const char aadsts_error[] =
    "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000222: The provided client "
    "secret keys for app '11111111-2222-3333-4444-555555555555' are expired.\\r\\nTrace ID: "
    "0b7e\\r\\nCorrelation ID: 9f1c\",\"error_codes\":[7000222],\"timestamp\":\"2026-12-04 "
    "20:39:40Z\",\"trace_id\":\"0b7e\",\"correlation_id\":\"9f1c\"}";

static void
check_reply(const struct token_reply *reply, int with_id_token, struct result *r)
{
    if (reply->access_token == NULL || strcmp(reply->access_token, NEW_ACCESS) != 0 ||
        reply->refresh_token == NULL || strcmp(reply->refresh_token, NEW_REFRESH) != 0 ||
        reply->expires_in != 3599 || reply->scope == NULL ||
        (with_id_token && reply->id_token == NULL)) {
        result_wrong(r, "parsed, but the fields differ");
        return;
    }
    result_ok(r);
}

static void
run_reply_json(struct result *r)
{
    struct token_reply reply;
    struct account a;
    struct mt_err err;
    char *user;

    reply_account(&a);
    err_clear(&err);
    if (oauth_parse_token_reply(&a, "torturing", 200, "application/json; charset=utf-8",
                                json_success, sizeof(json_success) - 1, &reply, &err) != 0) {
        result_error(r, &err);
        return;
    }
    check_reply(&reply, 1, r);
    /* Only shown to the user, so NULL is an acceptable result under memory pressure. */
    user = oauth_id_token_user(reply.id_token);
    if (user != NULL && strcmp(user, "alice@contoso.com") != 0)
        result_wrong(r, "the id_token's user is %s", user);
    free(user);
    token_reply_free(&reply);
}

static void
run_reply_form(struct result *r)
{
    struct token_reply reply;
    struct account a;
    struct mt_err err;

    reply_account(&a);
    err_clear(&err);
    if (oauth_parse_token_reply(&a, "torturing", 200, "application/x-www-form-urlencoded",
                                form_success, sizeof(form_success) - 1, &reply, &err) != 0) {
        result_error(r, &err);
        return;
    }
    check_reply(&reply, 0, r);
    token_reply_free(&reply);
}

static void
run_reply_error(struct result *r)
{
    struct account a;
    struct mt_err err;

    reply_account(&a);
    err_clear(&err);
    if (oauth_reply_error(&a, "torturing", 401, "application/json", aadsts_error,
                          sizeof(aadsts_error) - 1, -1, &err) != -1) {
        result_wrong(r, "oauth_reply_error did not return -1");
        return;
    }
    /* The translation is the expected result; a clean error of its own is also acceptable. */
    if (err.code == EX_CONFIG && strstr(err.msg, "AADSTS7000222") != NULL)
        result_ok(r);
    else
        result_error(r, &err);
}

/* ---- the token store ---- */

static char store_path_old[PATH_MAX + 32];
static char *old_file;        /* bytes of the store file before each run */
static struct config store_cfg;

static void
old_tokens(struct tokens *t)
{
    memset(t, 0, sizeof(*t));
    tokens_set(&t->refresh_token, OLD_REFRESH);
    tokens_set(&t->access_token, OLD_ACCESS);
    tokens_set(&t->token_type, "Bearer");
    tokens_set(&t->scope, "https://outlook.office.com/IMAP.AccessAsUser.All offline_access");
    tokens_set(&t->authorized_user, "alice@contoso.com");
    tokens_set(&t->last_error, "work: refreshing the access token failed: HTTP 503");
    t->authorized_at = 1700000000;
    t->refresh_obtained_at = 1700000001;
    t->refresh_used_at = 1700000002;
    t->obtained_at = token_clock() - 60;
    t->expires_in = 3599;
    t->last_error_code = 75;
    t->last_error_at = 1700000003;
}

/* Puts the old tokens into the store (in the parent, before a run). */
static void
prepare_store(void)
{
    struct store st;
    struct tokens t;
    struct mt_err err;

    empty_store();
    unlink(token_file);
    err_clear(&err);
    old_tokens(&t);
    if (store_open(&st, store_dir, 1, &err) != 0 || store_write(&st, "work", &t, &err) != 0) {
        fprintf(stderr, "torture: cannot prepare the store: %s\n", err.msg);
        exit(2);
    }
    store_close(&st);
    tokens_free(&t);
    free(old_file);
    old_file = read_text(store_path_old);
}

static void
run_store_read(struct result *r)
{
    struct store st;
    struct tokens t;
    struct mt_err err;
    int found;

    err_clear(&err);
    if (store_open(&st, store_dir, 0, &err) != 0) {
        result_error(r, &err);
        return;
    }
    found = store_read(&st, "work", &t, &err);
    if (found < 0) {
        result_error(r, &err);
    } else if (found == 0 || t.refresh_token == NULL || strcmp(t.refresh_token, OLD_REFRESH) != 0 ||
               t.access_token == NULL || strcmp(t.access_token, OLD_ACCESS) != 0 ||
               t.last_error == NULL || t.last_error_code != 75 || t.expires_in != 3599 ||
               t.refresh_used_at != 1700000002) {
        result_wrong(r, "read, but the tokens differ");
    } else {
        result_ok(r);
    }
    tokens_free(&t);
    store_close(&st);
}

/* The tokens run_store_write writes, made in the parent. */
static struct tokens new_tokens;

static void
prepare_store_write(void)
{
    prepare_store();
    tokens_free(&new_tokens);
    old_tokens(&new_tokens);
    tokens_set(&new_tokens.refresh_token, NEW_REFRESH);
    tokens_set(&new_tokens.access_token, NEW_ACCESS);
}

static void
run_store_write(struct result *r)
{
    struct store st;
    struct mt_err err;

    err_clear(&err);
    if (store_open(&st, store_dir, 0, &err) != 0) {
        result_error(r, &err);
        return;
    }
    if (store_write(&st, "work", &new_tokens, &err) != 0)
        result_error(r, &err);
    else
        result_ok(r);
    store_close(&st);
}

/* A network module whose token endpoint rotates the refresh token. */
static int
rotating_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    (void)req;
    mt_buf_init(&resp->body, NET_MAX_BODY);
    resp->status = 200;
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
    resp->retry_after = -1;
    resp->location[0] = '\0';
    if (mt_buf_append(&resp->body, json_success, sizeof(json_success) - 1) != 0)
        return err_set(err, EX_OSERR, "out of memory while receiving the reply");
    return 0;
}

static const struct net_ops rotating_ops = {
    .abi_version = NET_ABI_VERSION,
    .http = rotating_http,
};

static const struct account *
store_account(void)
{
    return &store_cfg.accounts[0];
}

static void
run_refresh(struct result *r)
{
    struct mt_err err;
    char *token = NULL;
    time_t expires;

    err_clear(&err);
    if (token_get(&store_cfg, store_account(), 1, &token, &expires, &err) != 0)
        result_error(r, &err);
    else if (strcmp(token, NEW_ACCESS) != 0)
        result_wrong(r, "refreshed, but handed out another token");
    else
        result_ok(r);
    free(token);
}

static void
run_cached_token(struct result *r)
{
    struct mt_err err;
    char *token = NULL;
    time_t expires;

    err_clear(&err);
    if (token_get(&store_cfg, store_account(), 0, &token, &expires, &err) != 0)
        result_error(r, &err);
    else if (strcmp(token, OLD_ACCESS) != 0)
        result_wrong(r, "handed out another token than the stored one");
    else
        result_ok(r);
    free(token);
}

static void
run_import(struct result *r)
{
    struct mt_err err;
    int moved = 0;

    err_clear(&err);
    if (token_import(&store_cfg, store_account(), NEW_REFRESH, &moved, &err) != 0)
        result_error(r, &err);
    else if (moved)
        result_wrong(r, "the intact store file was moved aside as corrupt");
    else
        result_ok(r);
}

static void
run_store_authorized(struct result *r)
{
    struct token_reply reply;
    struct mt_err err;

    memset(&reply, 0, sizeof(reply));
    reply.access_token = strdup(NEW_ACCESS);
    reply.refresh_token = strdup(NEW_REFRESH);
    reply.scope = strdup("mail offline_access");
    reply.expires_in = 3599;
    err_clear(&err);
    if (reply.access_token == NULL || reply.refresh_token == NULL || reply.scope == NULL) {
        /* The reply itself could not be built: nothing was attempted. */
        err_set(&err, EX_OSERR, "out of memory");
        result_error(r, &err);
    } else if (token_store_authorized(&store_cfg, store_account(), &reply, token_clock(),
                                      &err) != 0) {
        result_error(r, &err);
    } else {
        result_ok(r);
    }
    token_reply_free(&reply);
}

static void
run_mark_rejected(struct result *r)
{
    char fp[MT_FINGERPRINT_SIZE];
    struct mt_err err;

    mt_fingerprint_str(OLD_ACCESS, fp);
    err_clear(&err);
    if (token_mark_rejected(&store_cfg, store_account(), fp, &err) != 0)
        result_error(r, &err);
    else
        result_ok(r);
}

/*
 * The helper's (and the daemon's) reply to the plugin's TOKEN request: a
 * reply that parses, with the stored token or an error that does not
 * blame something else.
 */
static void
run_request_token(struct result *r)
{
    struct mt_wire_request req = {.verb = MT_WIRE_TOKEN};
    struct mt_wire_reply reply;
    struct mt_buf out;
    const char *problem = NULL, *token;
    struct mt_err err;

    snprintf(req.account, sizeof(req.account), "work");
    mt_buf_init(&out, MT_WIRE_MAX_REPLY);
    request_handle(&store_cfg, &req, NULL, &out);
    memset(&reply, 0, sizeof(reply));
    /* The plugin parses the reply in another process: not part of what is tested here. */
    torture_alloc_pause(1);
    if (out.len == 0) {
        /* Nothing could be formatted at all: the plugin reports an empty reply. */
        err_clear(&err);
        err_set(&err, EX_OSERR, "no reply could be formatted");
        result_error(r, &err);
    } else if (mt_wire_parse_reply(out.data, out.len, &reply, &problem) != 0) {
        result_wrong(r, "the reply does not parse: %s", problem);
    } else if (reply.ok) {
        token = mt_wire_reply_get(&reply, "token");
        if (token != NULL && strcmp(token, OLD_ACCESS) == 0)
            result_ok(r);
        else
            result_wrong(r, "the reply carries another token");
    } else {
        err_clear(&err);
        err_set(&err, reply.code, "%s", mt_wire_reply_get(&reply, "message") != NULL
                                             ? mt_wire_reply_get(&reply, "message")
                                             : reply.kind);
        result_error(r, &err);
    }
    mt_wire_reply_clear(&reply);
    torture_alloc_pause(0);
    mt_buf_free(&out);
}

/*
 * After a run that writes the store: the file must be the old one, or
 * decode and hold the new refresh token (or, after a failed refresh, the
 * old refresh token with the failure recorded). When the run succeeded,
 * the new tokens must be there. No temporary file may stay behind.
 */
static int
check_store_after(char *why, size_t size, int run_ok, const char *new_refresh,
                  int access_rejected)
{
    char *now = read_text(store_path_old);
    const char *problem;
    struct tokens t;
    int rc = -1;

    memset(&t, 0, sizeof(t));
    if (now == NULL) {
        snprintf(why, size, "the store file is gone");
        goto done;
    }
    if (strcmp(now, old_file) == 0) {
        if (run_ok) {
            snprintf(why, size, "the run succeeded, but the store file is unchanged");
            goto done;
        }
        rc = store_has_no_strays(why, size);
        goto done;
    }
    if (store_decode(now, strlen(now), &t, &problem) != 0) {
        snprintf(why, size, "the store file is corrupt (%s)", problem);
        goto done;
    }
    if (t.refresh_token == NULL ||
        (strcmp(t.refresh_token, new_refresh) != 0 && strcmp(t.refresh_token, OLD_REFRESH) != 0)) {
        snprintf(why, size, "the store contains neither the old nor the new refresh token");
        goto done;
    }
    if (run_ok && (strcmp(t.refresh_token, new_refresh) != 0 ||
                   t.access_rejected != access_rejected)) {
        snprintf(why, size, "the run succeeded, but the store does not hold its result");
        goto done;
    }
    rc = store_has_no_strays(why, size);
done:
    tokens_free(&t);
    free(now);
    return rc;
}

/* Checks that no file named token.* (a temporary token_file) is left in the scratch folder. */
static int
no_token_file_strays(char *why, size_t size)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int rc = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "token.", 6) == 0) {
            snprintf(why, size, "a temporary token_file %s stayed behind", e->d_name);
            rc = -1;
        }
    }
    if (d != NULL)
        closedir(d);
    return rc;
}

/* Checks that token_file is absent or contains exactly the given token and a newline. */
static int
token_file_contains(const char *token, int required, char *why, size_t size)
{
    char *text = read_text(token_file);
    char expected[256];
    int rc = 0;

    snprintf(expected, sizeof(expected), "%s\n", token);
    if (text != NULL && strcmp(text, expected) != 0) {
        snprintf(why, size, "token_file contains something else than %s", token);
        rc = -1;
    } else if (required && text == NULL) {
        snprintf(why, size, "the run succeeded, but token_file was not written");
        rc = -1;
    }
    free(text);
    return rc != 0 ? rc : no_token_file_strays(why, size);
}

/* After a run that only reads: the store file is unchanged and nothing else was added. */
static int
check_unchanged(char *why, size_t size, int run_ok)
{
    char *now = read_text(store_path_old);
    int same = now != NULL && strcmp(now, old_file) == 0;

    (void)run_ok;
    free(now);
    if (!same) {
        snprintf(why, size, "the store file changed");
        return -1;
    }
    if (store_has_no_strays(why, size) != 0)
        return -1;
    return token_file_contains(OLD_ACCESS, 0, why, size);
}

static int
check_new_refresh(char *why, size_t size, int run_ok)
{
    return check_store_after(why, size, run_ok, NEW_REFRESH, 0);
}

static int
check_rejected(char *why, size_t size, int run_ok)
{
    return check_store_after(why, size, run_ok, OLD_REFRESH, 1);
}

/* After a refresh, token_file contains the new access token or does not exist. */
static int
check_refresh_after(char *why, size_t size, int run_ok)
{
    if (check_store_after(why, size, run_ok, NEW_REFRESH, 0) != 0)
        return -1;
    return token_file_contains(NEW_ACCESS, run_ok, why, size);
}

/* ---- the plugin through libsasl2 ---- */

static char plugin_dir[PATH_MAX + 16];

static int
sasl_log(void *context, int level, const char *message)
{
    (void)context;
    (void)level;
    (void)message;
    return SASL_OK;
}

static int
sasl_getpath(void *context, const char **path)
{
    (void)context;
    *path = plugin_dir;
    return SASL_OK;
}

typedef int (*sasl_callback_fn)(void);

static sasl_callback_t global_callbacks[] = {
    {SASL_CB_LOG, (sasl_callback_fn)(void (*)(void))sasl_log, NULL},
    {SASL_CB_GETPATH, (sasl_callback_fn)(void (*)(void))sasl_getpath, NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

struct login {
    const char *authname;
    const char *mech;
    const char *fqdn;
    const char *remote;
};

static int
simple_callback(void *context, int id, const char **result, unsigned *len)
{
    const struct login *l = context;

    (void)id;
    *result = l->authname;
    if (len != NULL)
        *len = (unsigned)strlen(l->authname);
    return SASL_OK;
}

/* Sends the first message, then the server's reply (NULL: success; else a challenge). */
static void
plugin_exchange(struct login *l, const char *expected, size_t expected_len,
                const char *challenge, struct result *r)
{
    sasl_callback_t callbacks[] = {
        {SASL_CB_AUTHNAME, (sasl_callback_fn)(void (*)(void))simple_callback, l},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    sasl_conn_t *conn = NULL;
    const char *out = NULL, *mech = NULL, *detail;
    unsigned outlen = 0;
    int x;

    x = sasl_client_new("imap", l->fqdn, NULL, l->remote, callbacks, 0, &conn);
    if (x != SASL_OK) {
        /* The library failed before our plugin ran; under memory pressure not always with SASL_NOMEM. */
        snprintf(r->detail, sizeof(r->detail), "sasl_client_new: %s", sasl_errstring(x, NULL, NULL));
        r->outcome = OUTCOME_ERROR;
        r->code = x;
        return;
    }
    x = sasl_client_start(conn, l->mech, NULL, &out, &outlen, &mech);
    if (x == SASL_CONTINUE && (outlen != expected_len || memcmp(out, expected, outlen) != 0)) {
        result_wrong(r, "the first message differs from the expected one");
        goto done;
    }
    if (x == SASL_CONTINUE) {
        x = sasl_client_step(conn, challenge, challenge != NULL ? (unsigned)strlen(challenge) : 0,
                             NULL, &out, &outlen);
        if (challenge == NULL && x == SASL_OK) {
            result_ok(r);
            goto done;
        }
        if (challenge != NULL && x == SASL_CONTINUE) {
            if ((strcmp(l->mech, "OAUTHBEARER") == 0 && (outlen != 1 || out[0] != '\x01')) ||
                (strcmp(l->mech, "XOAUTH2") == 0 && outlen != 0))
                result_wrong(r, "the response to the error challenge is wrong");
            else
                result_ok(r);
            goto done;
        }
    }
    if (x == SASL_OK || x == SASL_CONTINUE) {
        result_wrong(r, "the exchange went on in an unexpected way (%d)", x);
        goto done;
    }
    /* Out of memory must not tell the application that the credentials are bad. */
    if (x == SASL_BADAUTH || x == SASL_NOUSER || x == SASL_NOAUTHZ || x == SASL_EXPIRED) {
        result_wrong(r, "the plugin failed with %d, a verdict on the credentials: %s", x,
                     sasl_errdetail(conn));
        goto done;
    }
    detail = sasl_errdetail(conn);
    if (detail == NULL || detail[0] == '\0') {
        result_wrong(r, "the plugin failed (%d) without an error detail", x);
        goto done;
    }
    r->outcome = OUTCOME_ERROR;
    r->code = x;
    snprintf(r->detail, sizeof(r->detail), "%s", detail);
done:
    sasl_dispose(&conn);
}

static const char google_raw[] = "user=someuser@example.com\x01"
                                 "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
                                 "\x01\x01";
static const char rfc7628_raw[] = "n,a=user@example.com,\x01host=server.example.com\x01"
                                  "port=143\x01"
                                  "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
                                  "\x01\x01";

static void
run_plugin_xoauth2(struct result *r)
{
    static struct login l = {.authname = "google", .mech = "XOAUTH2"};

    plugin_exchange(&l, google_raw, sizeof(google_raw) - 1, NULL, r);
}

static void
run_plugin_xoauth2_challenge(struct result *r)
{
    static struct login l = {.authname = "google", .mech = "XOAUTH2"};

    plugin_exchange(&l, google_raw, sizeof(google_raw) - 1,
                    "{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":"
                    "\"https://mail.google.com/\"}", r);
}

static void
run_plugin_oauthbearer_challenge(struct result *r)
{
    static struct login l = {
        .authname = "rfc7628",
        .mech = "OAUTHBEARER",
        .fqdn = "server.example.com",
        .remote = "127.0.0.1;143",
    };

    plugin_exchange(&l, rfc7628_raw, sizeof(rfc7628_raw) - 1,
                    "{\"status\":\"invalid_token\",\"scope\":\"example_scope\"}", r);
}

/* Loading and unloading the library and the plugin, counted as well. */
static void
run_plugin_load(struct result *r)
{
    int x = sasl_client_init(global_callbacks);

    if (x == SASL_OK) {
        result_ok(r);
    } else if (x == SASL_NOMEM || x == SASL_FAIL || x == SASL_NOMECH) {
        r->outcome = OUTCOME_ERROR;
        r->code = x;
        snprintf(r->detail, sizeof(r->detail), "sasl_client_init: %s",
                 sasl_errstring(x, NULL, NULL));
    } else {
        result_wrong(r, "sasl_client_init returned %d", x);
    }
    sasl_client_done();
}

/* ---- the scenarios ---- */

static const struct scenario scenarios[] = {
    {.group = "config", .name = "string", .run = run_config_string},
    {.group = "config", .name = "file", .run = run_config_file},
    {.group = "reply", .name = "json", .run = run_reply_json},
    {.group = "reply", .name = "form", .run = run_reply_form},
    {.group = "reply", .name = "aadsts-error", .run = run_reply_error},
    {.group = "store", .name = "read", .prepare = prepare_store, .run = run_store_read,
     .check_after = check_unchanged},
    {.group = "store", .name = "write", .prepare = prepare_store_write, .run = run_store_write,
     .check_after = check_new_refresh},
    {.group = "store", .name = "cached-token", .prepare = prepare_store, .run = run_cached_token,
     .check_after = check_unchanged},
    {.group = "store", .name = "request-token", .prepare = prepare_store,
     .run = run_request_token, .check_after = check_unchanged},
    {.group = "store", .name = "refresh", .prepare = prepare_store, .run = run_refresh,
     .check_after = check_refresh_after},
    {.group = "store", .name = "import", .prepare = prepare_store, .run = run_import,
     .check_after = check_new_refresh},
    {.group = "store", .name = "authorized", .prepare = prepare_store,
     .run = run_store_authorized, .check_after = check_new_refresh},
    {.group = "store", .name = "mark-rejected", .prepare = prepare_store,
     .run = run_mark_rejected, .check_after = check_rejected},
    {.group = "plugin", .name = "load", .run = run_plugin_load},
    {.group = "plugin", .name = "xoauth2", .run = run_plugin_xoauth2},
    {.group = "plugin", .name = "xoauth2-challenge", .run = run_plugin_xoauth2_challenge},
    {.group = "plugin", .name = "oauthbearer-challenge", .run = run_plugin_oauthbearer_challenge},
};

/* What one run ended in, as run_scenario counts it. */
enum verdict {
    VERDICT_FAILED,          /* the test fails */
    VERDICT_CLEAN_ERROR,
    VERDICT_SUCCEEDED,       /* the right result despite the failing allocation */
    VERDICT_LIBRARY_CRASH,   /* a library crashed on its own failing allocation */
    VERDICT_LIBRARY_LEAK     /* a clean end, but a library leaked after its own failure */
};
#define VERDICT_COUNT 5

/* Runs the scenario once in a child, failing allocation fail_at; *owner_r is who made that call. */
static enum verdict
run_once(const struct scenario *s, long fail_at, long *calls_r, enum torture_owner *owner_r)
{
    struct report rep;
    char buf[sizeof(struct report) + 1], why[ERR_MSG_SIZE + 64];
    enum torture_owner owner = OWNER_OURS;
    size_t got = 0;
    int fds[2], status, ok, noted = 0;
    long ours, theirs;
    pid_t pid;

    if (s->prepare != NULL)
        s->prepare();
    if (pipe(fds) != 0) {
        perror("torture: pipe");
        exit(2);
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("torture: fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(30);
        memset(&rep, 0, sizeof(rep));
        torture_alloc_notify(fds[1]);
        torture_alloc_start(fail_at);
        s->run(&rep.result);
        rep.stats = torture_alloc_stop();
        if (write(fds[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    for (;;) {
        ssize_t n = read(fds[0], buf + got, sizeof(buf) - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;

    /* The failing call's note comes first, then the report. */
    if (got == 1 || got == sizeof(rep) + 1) {
        owner = (enum torture_owner)(buf[0] - '0');
        noted = 1;
        memmove(buf, buf + 1, got - 1);
        got--;
    }
    memset(&rep, 0, sizeof(rep));
    if (got == sizeof(rep))
        memcpy(&rep, buf, sizeof(rep));
    *calls_r = rep.stats.calls;
    *owner_r = owner;
    if (WIFSIGNALED(status) && noted && owner != OWNER_OURS) {
        if (verbose)
            printf("  %s/%s #%ld: %s crashed on its own failing allocation (%s)\n", s->group,
                   s->name, fail_at, torture_owner_name(owner), strsignal(WTERMSIG(status)));
        return VERDICT_LIBRARY_CRASH;
    }
    if (WIFSIGNALED(status) || got != sizeof(rep)) {
        printf("FAIL: %s/%s, allocation %ld (%s) failing: the run %s\n", s->group, s->name,
               fail_at, torture_owner_name(owner),
               WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "reported nothing");
        return VERDICT_FAILED;
    }
    if (verbose && fail_at > 0)
        printf("  %s/%s #%ld (%s): %s %d %s\n", s->group, s->name, fail_at,
               torture_owner_name(owner), rep.result.outcome == OUTCOME_OK ? "ok" : "error",
               rep.result.code, rep.result.detail);
    if (fail_at > 0 && !rep.stats.injected) {
        printf("FAIL: %s/%s, allocation %ld failing: only %ld allocations this time\n",
               s->group, s->name, fail_at, rep.stats.calls);
        return VERDICT_FAILED;
    }
    if (rep.result.outcome == OUTCOME_WRONG) {
        printf("FAIL: %s/%s, allocation %ld (%s) failing: %s\n", s->group, s->name, fail_at,
               torture_owner_name(owner), rep.result.detail);
        return VERDICT_FAILED;
    }
    if (fail_at == 0 && rep.result.outcome != OUTCOME_OK) {
        printf("FAIL: %s/%s without a failing allocation: %s\n", s->group, s->name,
               rep.result.detail);
        return VERDICT_FAILED;
    }
    /* A library may leak its own blocks after its own failure; nothing else may leak. */
    ours = 0;
    theirs = 0;
    for (int o = 0; o < OWNER_COUNT; o++) {
        if (fail_at > 0 && o != OWNER_OURS && o == (int)owner)
            theirs += rep.stats.live[o];
        else
            ours += rep.stats.live[o];
    }
    if (ours != 0 || rep.stats.overflow) {
        printf("FAIL: %s/%s, allocation %ld (%s) failing: %ld blocks leaked; TORTURE_AT=%ld "
               "lists them\n", s->group, s->name, fail_at, torture_owner_name(owner), ours,
               fail_at);
        return VERDICT_FAILED;
    }
    ok = rep.result.outcome == OUTCOME_OK;
    if (s->check_after != NULL && s->check_after(why, sizeof(why), ok) != 0) {
        printf("FAIL: %s/%s, allocation %ld (%s) failing: %s\n", s->group, s->name, fail_at,
               torture_owner_name(owner), why);
        return VERDICT_FAILED;
    }
    if (theirs != 0)
        return VERDICT_LIBRARY_LEAK;
    return ok ? VERDICT_SUCCEEDED : VERDICT_CLEAN_ERROR;
}

/* Runs one failing allocation in this process, for a debugger (TORTURE_AT=N). */
static int
debug_scenario(const struct scenario *s, long fail_at)
{
    struct result r;
    struct torture_alloc_stats stats;

    if (s->prepare != NULL)
        s->prepare();
    memset(&r, 0, sizeof(r));
    torture_alloc_start(fail_at);
    s->run(&r);
    stats = torture_alloc_stop();
    torture_alloc_report(stdout);
    printf("%s/%s #%ld (%s): outcome %d, code %d, %s; %ld allocations\n", s->group, s->name,
           fail_at, torture_owner_name(stats.injected_owner), (int)r.outcome, r.code, r.detail,
           stats.calls);
    return r.outcome == OUTCOME_WRONG;
}

static int
run_scenario(const struct scenario *s)
{
    int counts[VERDICT_COUNT] = {0};
    int crashes[OWNER_COUNT] = {0}, leaks[OWNER_COUNT] = {0};
    enum torture_owner owner;
    struct result warm;
    long calls, ignored;

    /*
     * A run in this process first, uncounted: libc and the dynamic loader
     * keep what they allocate on first use (NSS modules, dlopen state),
     * and every child inherits that instead of showing it as a leak.
     */
    if (s->prepare != NULL)
        s->prepare();
    memset(&warm, 0, sizeof(warm));
    s->run(&warm);
    if (getenv("TORTURE_AT") != NULL)
        return debug_scenario(s, strtol(getenv("TORTURE_AT"), NULL, 10));
    if (run_once(s, 0, &calls, &owner) != VERDICT_SUCCEEDED)
        return 1;
    for (long i = 1; i <= calls; i++) {
        enum verdict v = run_once(s, i, &ignored, &owner);

        counts[v]++;
        if (v == VERDICT_LIBRARY_CRASH)
            crashes[owner]++;
        else if (v == VERDICT_LIBRARY_LEAK)
            leaks[owner]++;
    }
    printf("%s %s/%s: %ld allocations, each failed once: %d clean errors, %d successes "
           "despite the failure, %d failures", counts[VERDICT_FAILED] == 0 ? "ok" : "FAIL",
           s->group, s->name, calls, counts[VERDICT_CLEAN_ERROR], counts[VERDICT_SUCCEEDED],
           counts[VERDICT_FAILED]);
    for (int o = 0; o < OWNER_COUNT; o++)
        if (crashes[o] > 0 || leaks[o] > 0)
            printf("; %s crashed %d times and leaked %d times on its own failures",
                   torture_owner_name((enum torture_owner)o), crashes[o], leaks[o]);
    printf("\n");
    return counts[VERDICT_FAILED] > 0;
}

/* ---- setup ---- */

static void
setup_files(void)
{
    char link_path[PATH_MAX + 32];
    struct mt_err err;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mailtoken-torture-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("torture: mkdtemp");
        exit(2);
    }
    snprintf(store_dir, sizeof(store_dir), "%s/store", tmpdir);
    snprintf(store_path_old, sizeof(store_path_old), "%s/work.json", store_dir);
    snprintf(token_file, sizeof(token_file), "%s/token", tmpdir);
    snprintf(config_path, sizeof(config_path), "%s/config", tmpdir);
    if (mkdir(store_dir, 0700) != 0) {
        perror("torture: mkdir");
        exit(2);
    }
    snprintf(config_text, sizeof(config_text), config_template, store_dir, token_file);
    write_text(config_path, config_text, 0600);

    err_clear(&err);
    if (config_load(&store_cfg, config_path, &err) != 0) {
        fprintf(stderr, "torture: the test configuration does not load: %s\n", err.msg);
        exit(2);
    }
    net_override(&rotating_ops);

    /* The plugin: a folder holding only it, and the fake helper as the token source. */
    snprintf(plugin_dir, sizeof(plugin_dir), "%s/plugins", tmpdir);
    snprintf(link_path, sizeof(link_path), "%s/libmailtoken.so", plugin_dir);
    if (mkdir(plugin_dir, 0700) != 0 || symlink(PLUGIN_PATH, link_path) != 0) {
        perror("torture: the plugin folder");
        exit(2);
    }
    setenv("MAILTOKEN_HELPER", FAKE_HELPER_PATH, 1);
    setenv("MAILTOKEN_CONFIG", config_path, 1);
    unsetenv("MAILTOKEN_SOCKET");
}

static void
remove_files(void)
{
    char command[PATH_MAX + 32];

    /* The name comes from mkdtemp and needs no quoting beyond this. */
    snprintf(command, sizeof(command), "rm -rf -- '%s'", tmpdir);
    if (system(command) != 0)
        fprintf(stderr, "torture: cannot remove %s\n", tmpdir);
}

int
main(int argc, char **argv)
{
    const char *group = argc > 1 ? argv[1] : NULL;
    const char *only = argc > 2 ? argv[2] : NULL;
    int failed = 0, ran = 0, plugin_up = 0;

    if (group == NULL || argc > 3) {
        fprintf(stderr, "usage: torture config|reply|store|plugin [SCENARIO]\n");
        return 2;
    }
    verbose = getenv("TORTURE_VERBOSE") != NULL;
    setup_files();
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        const struct scenario *s = &scenarios[i];

        if (strcmp(s->group, group) != 0 || (only != NULL && strcmp(s->name, only) != 0))
            continue;
        /* The exchanges run in a library that the parent loaded once; "load" runs first. */
        if (strcmp(s->group, "plugin") == 0 && strcmp(s->name, "load") != 0 && !plugin_up) {
            if (sasl_client_init(global_callbacks) != SASL_OK) {
                fprintf(stderr, "torture: sasl_client_init failed\n");
                return 2;
            }
            plugin_up = 1;
        }
        failed |= run_scenario(s);
        ran++;
    }
    if (plugin_up)
        sasl_client_done();
    config_free(&store_cfg);
    tokens_free(&new_tokens);
    free(old_file);
    remove_files();
    if (ran == 0) {
        fprintf(stderr, "torture: no scenario matches %s %s\n", group, only != NULL ? only : "");
        return 2;
    }
    return failed;
}
