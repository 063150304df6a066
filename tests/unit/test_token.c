/*
 * Unit tests for the token store, expiry decisions, token reply parsing,
 * the provider error table and the refresh flow, with a scripted network
 * module in place of libcurl.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/net.h"
#include "core/oauth.h"
#include "core/status.h"
#include "core/store.h"
#include "core/token.h"
#include "mt_sha256.h"
#include "mt_wipe.h"

/* ---- a scripted network module ---- */

struct scripted_reply {
    long status;
    const char *content_type;
    const char *body;
};

static struct scripted_reply next_reply;
static char last_body[4096];
static char last_url[512];
static int http_calls;

static int
scripted_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    (void)err;
    http_calls++;
    snprintf(last_url, sizeof(last_url), "%s", req->url);
    snprintf(last_body, sizeof(last_body), "%.*s", (int)req->body_len,
             req->body != NULL ? req->body : "");
    mt_buf_init(&resp->body, NET_MAX_BODY);
    resp->status = next_reply.status;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", next_reply.content_type);
    resp->retry_after = -1;
    resp->location[0] = '\0';
    mt_buf_append_str(&resp->body, next_reply.body);
    return 0;
}

static const struct net_ops scripted_ops = {
    .abi_version = NET_ABI_VERSION,
    .http = scripted_http,
};

static time_t fake_now = 1000000;

static time_t
fake_clock(void)
{
    return fake_now;
}

/* ---- fixtures ---- */

struct fixture {
    char dir[64];
    char store[96];
    struct config cfg;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char text[1024];
    struct mt_err err;

    strcpy(f->dir, "/tmp/mailtoken-unit-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
    snprintf(text, sizeof(text),
             "[defaults]\nstore = %s\n"
             "[ms]\nprovider = microsoft\ntenant = contoso.com\nclient_id = cid\n"
             "client_secret = s3cret\nuser = alice@contoso.com\n"
             "token_endpoint = http://127.0.0.1:9/token\n"
             "[google]\nprovider = google\nclient_id = gid\nuser = bob@gmail.com\n"
             "token_endpoint = http://127.0.0.1:9/token\n",
             f->store);
    err_clear(&err);
    if (config_load_string(&f->cfg, "unit.conf", text, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    net_override(&scripted_ops);
    token_clock = fake_clock;
    fake_now = 1000000;
    http_calls = 0;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[160];

    config_free(&f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static const struct account *
account(struct fixture *f, const char *name)
{
    for (size_t i = 0; i < f->cfg.naccounts; i++)
        if (strcmp(f->cfg.accounts[i].name, name) == 0)
            return &f->cfg.accounts[i];
    return NULL;
}

static void
store_tokens(struct fixture *f, const char *name, const struct tokens *t)
{
    struct store st;
    struct mt_err err;

    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 1, &err), 0);
    assert_int_equal(store_write(&st, name, t, &err), 0);
    store_close(&st);
}

static void
load_tokens(struct fixture *f, const char *name, struct tokens *t)
{
    struct store st;
    struct mt_err err;

    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 0, &err), 0);
    assert_int_equal(store_read(&st, name, t, &err), 1);
    store_close(&st);
}

static char *
path_in(struct fixture *f, const char *leaf)
{
    static char path[256];

    snprintf(path, sizeof(path), "%s/%s", f->store, leaf);
    return path;
}

/* ---- store ---- */

static void
store_round_trip_with_modes(void **state)
{
    struct fixture *f = *state;
    struct tokens t = {0}, back;
    struct stat sb;

    t.refresh_token = "rt-1";
    t.access_token = "at-\"quoted\"\\";
    t.obtained_at = 12345;
    t.expires_in = 3599;
    t.last_error_code = 77;
    t.last_error = "line one\nline two";
    t.last_error_at = 5;
    store_tokens(f, "ms", &t);

    assert_int_equal(stat(f->store, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(path_in(f, "ms.json"), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(access(path_in(f, ".ms.json.tmp"), F_OK), -1);

    load_tokens(f, "ms", &back);
    assert_string_equal(back.refresh_token, "rt-1");
    assert_string_equal(back.access_token, "at-\"quoted\"\\");
    assert_int_equal(back.obtained_at, 12345);
    assert_int_equal(back.expires_in, 3599);
    assert_int_equal(back.last_error_code, 77);
    assert_string_equal(back.last_error, "line one\nline two");
    tokens_free(&back);
}

static void
store_refuses_open_permissions(void **state)
{
    struct fixture *f = *state;
    struct tokens t = {.refresh_token = "rt"}, back;
    struct store st;
    struct mt_err err;

    store_tokens(f, "ms", &t);
    chmod(path_in(f, "ms.json"), 0644);
    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 0, &err), 0);
    assert_int_equal(store_read(&st, "ms", &back, &err), -1);
    assert_int_equal(err.code, 74);
    assert_non_null(strstr(err.msg, "run chmod 600"));
    store_close(&st);
    tokens_free(&back);

    chmod(f->store, 0755);
    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 0, &err), -1);
    assert_non_null(strstr(err.msg, "run chmod 700"));
    chmod(f->store, 0700);
}

static void
store_refuses_symlink_and_fifo(void **state)
{
    struct fixture *f = *state;
    struct tokens t = {.refresh_token = "rt"}, back;
    struct store st;
    struct mt_err err;

    store_tokens(f, "google", &t);
    assert_int_equal(symlink("google.json", path_in(f, "ms.json")), 0);
    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 0, &err), 0);
    assert_int_equal(store_read(&st, "ms", &back, &err), -1);
    assert_non_null(strstr(err.msg, "symbolic link"));
    tokens_free(&back);
    unlink(path_in(f, "ms.json"));

    assert_int_equal(mkfifo(path_in(f, "ms.json"), 0600), 0);
    assert_int_equal(store_read(&st, "ms", &back, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    tokens_free(&back);
    store_close(&st);
}

static void
corrupt_file_is_reported_not_replaced(void **state)
{
    struct fixture *f = *state;
    struct tokens t = {.refresh_token = "rt"};
    struct mt_err err;
    char *token = NULL, buf[64];
    time_t expires;
    int fd;

    store_tokens(f, "ms", &t);
    fd = open(path_in(f, "ms.json"), O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"version\": 1, \"refresh_tok", 27), 27);
    close(fd);

    err_clear(&err);
    assert_int_equal(token_get(&f->cfg, account(f, "ms"), 0, &token, &expires, &err), -1);
    assert_int_equal(err.code, 74);
    assert_non_null(strstr(err.msg, "ms.json is corrupt"));
    assert_int_equal(http_calls, 0);
    fd = open(path_in(f, "ms.json"), O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf)), 27);
    close(fd);
}

static void
store_decode_optional_members(void **state)
{
    static const char minimal[] = "{\"version\": 1, \"refresh_token\": \"rt\", \"expires_in\": 3599}";
    static const char *const bad[] = {
        "{\"version\": 2}",
        "{\"version\": 1, \"last_error_code\": 300}",
        "{\"version\": 1, \"access_rejected\": 2}",
        "{\"version\": 1, \"expires_in\": \"soon\"}",
        "{\"version\": 1, \"refresh_token\": 5}",
        "[1]",
    };
    struct tokens t;
    const char *problem = NULL;

    (void)state;
    assert_int_equal(store_decode(minimal, strlen(minimal), &t, &problem), 0);
    assert_string_equal(t.refresh_token, "rt");
    assert_int_equal(t.expires_in, 3599);
    assert_int_equal(t.last_error_code, 0);
    assert_int_equal(t.access_rejected, 0);
    tokens_free(&t);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        problem = NULL;
        assert_int_equal(store_decode(bad[i], strlen(bad[i]), &t, &problem), -1);
        assert_non_null(problem);
        assert_null(t.refresh_token);
    }
}

/* ---- expiry ---- */

static void
expiry_with_margin_and_clock_skew(void **state)
{
    struct tokens t = {.access_token = "at", .obtained_at = 1000, .expires_in = 3599};

    (void)state;
    assert_true(token_access_valid(&t, 300, 4298));
    assert_false(token_access_valid(&t, 300, 4299));
    assert_true(token_access_valid(&t, 300, 1000));
    assert_true(token_access_valid(&t, 300, 940));
    assert_false(token_access_valid(&t, 300, 900));
    t.access_rejected = 1;
    assert_false(token_access_valid(&t, 300, 2000));
    t.access_rejected = 0;
    t.expires_in = 0;
    assert_false(token_access_valid(&t, 300, 1001));
}

/* ---- reply parsing ---- */

struct reply_case {
    const char *name;
    long status;
    const char *content_type;
    const char *body;
    int ok;
    long expires_in;
    int code;
};

static const struct reply_case reply_cases[] = {
    {"expires_in as string", 200, "application/json",
     "{\"access_token\":\"AT\",\"token_type\":\"Bearer\",\"expires_in\":\"3599\","
     "\"ext_expires_in\":\"3599\"}", 1, 3599, 0},
    {"expires_in as number", 200, "application/json",
     "{\"access_token\":\"AT\",\"token_type\":\"Bearer\",\"expires_in\":3599}", 1, 3599, 0},
    {"lowercase bearer", 200, "application/json; charset=utf-8",
     "{\"access_token\":\"AT\",\"token_type\":\"bearer\",\"expires_in\":60}", 1, 60, 0},
    {"expires_in missing", 200, "application/json", "{\"access_token\":\"AT\"}", 1, 0, 0},
    {"expires_in negative", 200, "application/json",
     "{\"access_token\":\"AT\",\"expires_in\":-5}", 1, 0, 0},
    {"expires_in absurd", 200, "application/json",
     "{\"access_token\":\"AT\",\"expires_in\":1000000000}", 1, 0, 0},
    {"error with 200", 200, "application/json", "{\"error\":\"invalid_grant\"}", 0, 0, 77},
    {"no access_token", 200, "application/json", "{\"token_type\":\"Bearer\"}", 0, 0, 76},
    {"form encoded", 200, "application/x-www-form-urlencoded",
     "access_token=AT&expires_in=3599&token_type=bearer", 1, 3599, 0},
    {"text plain form", 200, "text/plain", "access_token=AT&expires_in=10\n", 1, 10, 0},
    {"mac token type", 200, "application/json",
     "{\"access_token\":\"AT\",\"token_type\":\"mac\"}", 0, 0, 76},
    {"truncated json", 200, "application/json", "{\"access_token\":\"AT\"", 0, 0, 76},
    {"html page", 502, "text/html", "<html><body>Bad gateway</body></html>", 0, 0, 75},
    {"html 200", 200, "text/html", "<html>login</html>", 0, 0, 76},
    {"token with space", 200, "application/json", "{\"access_token\":\"A T\"}", 0, 0, 76},
    {"json array", 200, "application/json", "[1,2]", 0, 0, 76},
    {"trailing garbage", 200, "application/json", "{\"access_token\":\"AT\"} x", 0, 0, 76},
    {"empty 400", 400, "", "", 0, 0, 77},
    {"empty 401", 401, "", "", 0, 0, 78},
    {"redirect", 302, "text/html", "", 0, 0, 76},
    {"rate limited", 429, "application/json", "", 0, 0, 75},
};

static void
reply_parsing_quirks(void **state)
{
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const struct reply_case *c = &reply_cases[i];
        struct token_reply r;
        struct mt_err err;
        int rc;

        err_clear(&err);
        rc = oauth_parse_token_reply(account(f, "ms"), "refreshing", c->status, c->content_type,
                                     c->body, strlen(c->body), &r, &err);
        if (c->ok) {
            if (rc != 0)
                fail_msg("%s: rejected: %s", c->name, err.msg);
            assert_string_equal(r.access_token, "AT");
            assert_int_equal(r.expires_in, c->expires_in);
        } else {
            if (rc == 0)
                fail_msg("%s: accepted", c->name);
            if (err.code != c->code)
                fail_msg("%s: exit code %d, expected %d (%s)", c->name, err.code, c->code,
                         err.msg);
        }
        token_reply_free(&r);
    }
}

struct aadsts_case {
    long code;
    const char *error;
    int exit_code;
    const char *expected;
};

static const struct aadsts_case aadsts_cases[] = {
    {700082, "invalid_grant", 77, "not used for 90 days"},
    {70008, "invalid_grant", 77, "expired or was revoked"},
    {50173, "invalid_grant", 77, "revoked"},
    {70043, "invalid_grant", 77, "sign-in frequency"},
    {50076, "invalid_grant", 77, "multi-factor"},
    {65001, "invalid_grant", 77, "consented"},
    {90094, "invalid_grant", 77, "administrator must grant consent"},
    {7000222, "invalid_client", 78, "client secret has expired"},
    {7000215, "invalid_client", 78, "Value, not its Secret ID"},
    {700025, "invalid_client", 78, "public client"},
    {7000218, "invalid_client", 78, "Allow public client flows"},
    {700016, "unauthorized_client", 78, "client_id is not known"},
    {90002, "invalid_request", 78, "tenant does not exist"},
    {70011, "invalid_scope", 78, "scope was rejected"},
    {123456, "invalid_grant", 77, "Run mailtoken authorize ms"},
    {123457, "invalid_scope", 78, "check scope"},
    {123458, "temporarily_unavailable", 75, "try again later"},
};

static void
aadsts_error_table(void **state)
{
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(aadsts_cases) / sizeof(aadsts_cases[0]); i++) {
        const struct aadsts_case *c = &aadsts_cases[i];
        char body[512], code[32];
        struct mt_err err;

        snprintf(body, sizeof(body),
                 "{\"error\":\"%s\",\"error_description\":\"AADSTS%ld: Something.\\r\\nTrace ID: "
                 "t\",\"error_codes\":[%ld],\"timestamp\":\"2026-12-04 10:00:00Z\","
                 "\"trace_id\":\"trace-1\",\"correlation_id\":\"corr-2\"}",
                 c->error, c->code, c->code);
        err_clear(&err);
        oauth_reply_error(account(f, "ms"), "refreshing the access token", 400, "application/json",
                          body, strlen(body), -1, &err);
        if (err.code != c->exit_code)
            fail_msg("AADSTS%ld: exit code %d, expected %d", c->code, err.code, c->exit_code);
        if (strstr(err.msg, c->expected) == NULL)
            fail_msg("AADSTS%ld: \"%s\" lacks \"%s\"", c->code, err.msg, c->expected);
        assert_non_null(strstr(err.msg, "trace ID trace-1, correlation ID corr-2"));
        assert_non_null(strstr(err.msg, c->error));
        snprintf(code, sizeof(code), "AADSTS%ld", c->code);
        if (c->code < 123456)
            assert_non_null(strstr(err.msg, code));
        assert_null(strchr(err.msg, '\n'));
    }
}

/* ---- refresh flow ---- */

static void
refresh_stores_rotated_token_first(void **state)
{
    struct fixture *f = *state;
    struct tokens t = {.refresh_token = "rt-old", .refresh_used_at = 1}, back;
    struct mt_err err;
    char *token;
    time_t expires;

    store_tokens(f, "ms", &t);
    next_reply = (struct scripted_reply){200, "application/json",
                                         "{\"access_token\":\"at-new\",\"token_type\":\"Bearer\","
                                         "\"expires_in\":3599,\"refresh_token\":\"rt-new\"}"};
    err_clear(&err);
    assert_int_equal(token_get(&f->cfg, account(f, "ms"), 0, &token, &expires, &err), 0);
    assert_string_equal(token, "at-new");
    assert_int_equal(expires, fake_now + 3599);
    mt_strfree(token);
    assert_int_equal(http_calls, 1);
    assert_string_equal(last_url, "http://127.0.0.1:9/token");
    assert_non_null(strstr(last_body, "grant_type=refresh_token"));
    assert_non_null(strstr(last_body, "refresh_token=rt-old"));
    assert_non_null(strstr(last_body, "client_secret=s3cret"));
    assert_non_null(strstr(last_body, "scope=https%3A%2F%2Foutlook.office.com%2FIMAP"));

    load_tokens(f, "ms", &back);
    assert_string_equal(back.refresh_token, "rt-new");
    assert_string_equal(back.access_token, "at-new");
    assert_int_equal(back.refresh_used_at, fake_now);
    tokens_free(&back);

    /* Cached: no second request. */
    fake_now += 100;
    assert_int_equal(token_get(&f->cfg, account(f, "ms"), 0, &token, &expires, &err), 0);
    assert_string_equal(token, "at-new");
    mt_strfree(token);
    assert_int_equal(http_calls, 1);
}

static void
google_refresh_keeps_refresh_token(void **state)
{
    struct fixture *f = *state;
    struct tokens t = {.refresh_token = "rt-google"}, back;
    struct mt_err err;
    char *token;
    time_t expires;

    store_tokens(f, "google", &t);
    next_reply = (struct scripted_reply){200, "application/json",
                                         "{\"access_token\":\"ya29.x\",\"expires_in\":3599,"
                                         "\"scope\":\"https://mail.google.com/\","
                                         "\"token_type\":\"Bearer\"}"};
    err_clear(&err);
    assert_int_equal(token_get(&f->cfg, account(f, "google"), 0, &token, &expires, &err), 0);
    mt_strfree(token);
    assert_non_null(strstr(last_body, "client_id=gid"));
    assert_null(strstr(last_body, "client_secret"));
    assert_null(strstr(last_body, "scope="));
    load_tokens(f, "google", &back);
    assert_string_equal(back.refresh_token, "rt-google");
    assert_string_equal(back.access_token, "ya29.x");
    tokens_free(&back);
}

static void
invalid_grant_needs_authorize(void **state)
{
    struct fixture *f = *state;
    struct tokens t = {.refresh_token = "rt-dead"}, back;
    struct account_status s;
    struct store st;
    struct mt_err err;
    char *token;
    time_t expires;

    store_tokens(f, "ms", &t);
    next_reply = (struct scripted_reply){
        400, "application/json",
        "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS700082: The refresh token has "
        "expired due to inactivity.\",\"error_codes\":[700082],\"trace_id\":\"t\","
        "\"correlation_id\":\"c\"}"};
    err_clear(&err);
    assert_int_equal(token_get(&f->cfg, account(f, "ms"), 0, &token, &expires, &err), -1);
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "ms: refreshing the access token failed: AADSTS700082"));
    assert_non_null(strstr(err.msg, "run mailtoken authorize ms"));

    load_tokens(f, "ms", &back);
    assert_string_equal(back.refresh_token, "rt-dead");
    assert_int_equal(back.last_error_code, 77);
    tokens_free(&back);

    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 0, &err), 0);
    status_get(account(f, "ms"), &st, fake_now, &s);
    assert_int_equal(s.state, STATE_NEEDS_REAUTH);
    assert_non_null(strstr(s.error, "AADSTS700082"));
    store_close(&st);
}

static void
rejected_token_is_refreshed(void **state)
{
    struct fixture *f = *state;
    struct tokens t = {.refresh_token = "rt", .access_token = "at-old", .obtained_at = 1000000,
                       .expires_in = 3599};
    char fp[MT_FINGERPRINT_SIZE];
    struct mt_err err;
    char *token;
    time_t expires;

    store_tokens(f, "ms", &t);
    err_clear(&err);
    assert_int_equal(token_get(&f->cfg, account(f, "ms"), 0, &token, &expires, &err), 0);
    assert_string_equal(token, "at-old");
    mt_strfree(token);
    assert_int_equal(http_calls, 0);

    /* A fingerprint of another token changes nothing. */
    mt_fingerprint_str("some-other-token", fp);
    assert_int_equal(token_mark_rejected(&f->cfg, account(f, "ms"), fp, &err), 0);
    assert_int_equal(token_get(&f->cfg, account(f, "ms"), 0, &token, &expires, &err), 0);
    assert_string_equal(token, "at-old");
    mt_strfree(token);

    mt_fingerprint_str("at-old", fp);
    assert_int_equal(token_mark_rejected(&f->cfg, account(f, "ms"), fp, &err), 0);
    next_reply = (struct scripted_reply){200, "application/json",
                                         "{\"access_token\":\"at-fresh\",\"expires_in\":3599}"};
    assert_int_equal(token_get(&f->cfg, account(f, "ms"), 0, &token, &expires, &err), 0);
    assert_string_equal(token, "at-fresh");
    mt_strfree(token);
    assert_int_equal(http_calls, 1);
}

static void
status_warns_before_lapse_and_expiry(void **state)
{
    struct fixture *f = *state;
    struct account *a = &f->cfg.accounts[0];
    struct tokens t = {.refresh_token = "rt"};
    struct account_status s;
    struct store st;
    struct mt_err err;
    time_t day = 86400;

    assert_string_equal(a->name, "ms");
    fake_now = 1800000000;
    /* Used 74 days ago: no warning yet. */
    t.refresh_used_at = fake_now - 74 * day;
    store_tokens(f, "ms", &t);
    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 0, &err), 0);
    status_get(a, &st, fake_now, &s);
    assert_int_equal(s.state, STATE_AUTHORIZED);
    assert_string_equal(s.warning, "");

    /* Used 76 days ago: 14 days before Microsoft's 90-day lapse. */
    t.refresh_used_at = fake_now - 76 * day;
    store_tokens(f, "ms", &t);
    status_get(a, &st, fake_now, &s);
    assert_int_equal(s.state, STATE_AUTHORIZED);
    assert_non_null(strstr(s.warning, "has not been used for 76 days and lapses in 14 days"));

    /* Used 91 days ago: most likely lapsed. */
    t.refresh_used_at = fake_now - 91 * day;
    store_tokens(f, "ms", &t);
    status_get(a, &st, fake_now, &s);
    assert_int_equal(s.state, STATE_EXPIRED);

    /* A client secret that ends in 10 days, then one that has ended. */
    t.refresh_used_at = fake_now;
    store_tokens(f, "ms", &t);
    a->client_secret_expires = fake_now + 10 * day;
    status_get(a, &st, fake_now, &s);
    assert_non_null(strstr(s.warning, "client secret expires in 10 days"));
    a->client_secret_expires = fake_now - day;
    status_get(a, &st, fake_now, &s);
    assert_non_null(strstr(s.warning, "client secret has expired"));
    a->client_secret_expires = 0;
    store_close(&st);
}

static void
unauthorized_account_makes_no_request(void **state)
{
    struct fixture *f = *state;
    struct mt_err err;
    char *token;
    time_t expires;

    err_clear(&err);
    assert_int_equal(token_get(&f->cfg, account(f, "ms"), 0, &token, &expires, &err), -1);
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "not authorized yet: run mailtoken authorize ms"));
    assert_int_equal(http_calls, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(store_round_trip_with_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(store_refuses_open_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(store_refuses_symlink_and_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_file_is_reported_not_replaced, setup, teardown),
        cmocka_unit_test(store_decode_optional_members),
        cmocka_unit_test(expiry_with_margin_and_clock_skew),
        cmocka_unit_test_setup_teardown(reply_parsing_quirks, setup, teardown),
        cmocka_unit_test_setup_teardown(aadsts_error_table, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_stores_rotated_token_first, setup, teardown),
        cmocka_unit_test_setup_teardown(google_refresh_keeps_refresh_token, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_grant_needs_authorize, setup, teardown),
        cmocka_unit_test_setup_teardown(rejected_token_is_refreshed, setup, teardown),
        cmocka_unit_test_setup_teardown(status_warns_before_lapse_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(unauthorized_account_makes_no_request, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
