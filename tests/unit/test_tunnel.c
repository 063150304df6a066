/*
 * Unit tests for mailtoken tunnel against a scripted IMAP server. They
 * cover the PREAUTH greeting, relaying both ways, and the replies that
 * follow the mail program's last command. They also cover the single
 * retry with a refreshed token after a rejection, and silence on
 * standard output when the login fails.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/store.h"
#include "core/tunnel.h"
#include "mt_base64.h"
#include "test_check_fakenet.h"

struct fixture {
    char dir[64];
    char store[96];
    struct config cfg;
    int in[2];       /* the mail program writes into in[1]; the tunnel reads in[0] */
    int out[2];      /* the tunnel writes out[1]; the mail program reads out[0] */
};

static void
store_access_token(struct fixture *f, const char *token)
{
    static char copy[256];
    struct tokens t = {.refresh_token = "rt-1", .access_token = copy, .token_type = "Bearer",
                       .obtained_at = time(NULL), .expires_in = 3600};
    struct store st;
    struct mt_err err;

    snprintf(copy, sizeof(copy), "%s", token);
    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 1, &err), 0);
    assert_int_equal(store_write(&st, "alice", &t, &err), 0);
    store_close(&st);
}

static char *
stored_access_token(struct fixture *f)
{
    static char copy[256];
    struct tokens t;
    struct store st;
    struct mt_err err;

    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 0, &err), 0);
    assert_int_equal(store_read(&st, "alice", &t, &err), 1);
    snprintf(copy, sizeof(copy), "%s", t.access_token != NULL ? t.access_token : "");
    tokens_free(&t);
    store_close(&st);
    return copy;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char text[2048];
    struct mt_err err;

    strcpy(f->dir, "/tmp/mailtoken-tunnel-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
    snprintf(text, sizeof(text),
             "[defaults]\nstore = %s\n"
             "[alice]\nprovider = generic\nclient_id = cid\nuser = alice\nscope = mail\n"
             "authorization_endpoint = http://127.0.0.1:9/auth\n"
             "token_endpoint = http://127.0.0.1:9/token\ntimeout = 1\n",
             f->store);
    err_clear(&err);
    if (config_load_string(&f->cfg, "unit.conf", text, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (pipe(f->in) != 0 || pipe(f->out) != 0)
        return -1;
    store_access_token(f, "at-old");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[160];

    fake_finish();
    config_free(&f->cfg);
    for (int i = 0; i < 2; i++) {
        if (f->in[i] >= 0)
            close(f->in[i]);
        if (f->out[i] >= 0)
            close(f->out[i]);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Writes the mail program's whole input, then closes its end. */
static void
program_sends(struct fixture *f, const char *text)
{
    size_t n = strlen(text);

    assert_int_equal(write(f->in[1], text, n), (ssize_t)n);
    close(f->in[1]);
    f->in[1] = -1;
}

/* Reads everything the tunnel wrote (after it returned). */
static const char *
program_received(struct fixture *f)
{
    static char buf[65536];
    size_t used = 0;
    ssize_t n;

    close(f->out[1]);
    f->out[1] = -1;
    while ((n = read(f->out[0], buf + used, sizeof(buf) - 1 - used)) > 0)
        used += (size_t)n;
    buf[used] = '\0';
    return buf;
}

static int
run_tunnel(struct fixture *f, struct mt_err *err)
{
    struct tunnel_options o = {
        .server = "imaps://imap.example.test:10993",
        .mech = MAIL_MECH_AUTO,
        .in_fd = f->in[0],
        .out_fd = f->out[1],
    };

    err_clear(err);
    return tunnel_run(&f->cfg, &f->cfg.accounts[0], &o, NULL, NULL, err);
}

static const char *
xoauth2_b64(const char *token)
{
    static char out[4096];
    struct mt_buf raw, b64;

    mt_buf_init(&raw, 4096);
    mt_buf_init(&b64, 4096);
    mt_buf_printf(&raw, "user=alice\001auth=Bearer %s\001\001", token);
    mt_base64_encode(&b64, raw.data, raw.len, MT_BASE64_STD);
    snprintf(out, sizeof(out), "%s", b64.data);
    mt_buf_free(&raw);
    mt_buf_free(&b64);
    return out;
}

#define IMAP_SETUP                                                                  \
    {NET_MAIL_SERVER_LINE, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready"}, \
    {NET_MAIL_CLIENT_LINE, "A001 CAPABILITY"},                                      \
    {NET_MAIL_SERVER_LINE, "* CAPABILITY IMAP4rev1 SASL-IR STARTTLS AUTH=XOAUTH2"}, \
    {NET_MAIL_SERVER_LINE, "A001 OK done"}

static void
greeting_lists_usable_capabilities(void **state)
{
    struct mt_buf out;

    (void)state;
    mt_buf_init(&out, 4096);
    assert_int_equal(tunnel_greeting("IMAP4rev1 SASL-IR IDLE AUTH=XOAUTH2 STARTTLS MOVE", &out),
                     0);
    assert_string_equal(out.data,
                        "* PREAUTH [CAPABILITY IMAP4rev1 IDLE MOVE] mailtoken tunnel ready\r\n");
    mt_buf_free(&out);
}

static void
relays_session_after_preauth(void **state)
{
    struct fixture *f = *state;
    static char expect_auth[1024];
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = expect_auth,
             .reply = "M1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in\r\n"},
            {.expect = "a1 EXAMINE INBOX", .reply = "* 2 EXISTS\r\na1 OK [READ-ONLY] done\r\n"},
            {.expect = "a2 LOGOUT", .reply = "* BYE Logging out\r\na2 OK done\r\n",
             .close_after = 1},
        }};
    struct mt_err err;

    snprintf(expect_auth, sizeof(expect_auth), "M1 AUTHENTICATE XOAUTH2 %s",
             xoauth2_b64("at-old"));
    fake_start(&script);
    program_sends(f, "a1 EXAMINE INBOX\r\na2 LOGOUT\r\n");
    if (run_tunnel(f, &err) != 0)
        fail_msg("%s", err.msg);
    if (fake.unexpected)
        fail_msg("unexpected client line: %s", fake.unexpected_line);
    assert_null(fake.script->steps[fake.step].expect);
    assert_string_equal(program_received(f),
                        "* PREAUTH [CAPABILITY IMAP4rev1 IDLE MOVE] mailtoken tunnel ready\r\n"
                        "* 2 EXISTS\r\na1 OK [READ-ONLY] done\r\n"
                        "* BYE Logging out\r\na2 OK done\r\n");
    assert_int_equal(fake.opened, 1);
    assert_int_equal(fake.closed, 1);
    assert_int_equal(fake.http_calls, 0);
}

static void
asks_capabilities_when_login_reply_has_none(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "M1 OK Logged in\r\n"},
            {.expect = "M2 CAPABILITY",
             .reply = "* CAPABILITY IMAP4rev1 LITERAL+ IDLE\r\nM2 OK done\r\n"},
            {.expect = "a1 LOGOUT", .reply = "* BYE\r\na1 OK\r\n", .close_after = 1},
        }};
    struct mt_err err;

    fake_start(&script);
    program_sends(f, "a1 LOGOUT\r\n");
    if (run_tunnel(f, &err) != 0)
        fail_msg("%s", err.msg);
    assert_false(fake.unexpected);
    assert_string_equal(program_received(f),
                        "* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ IDLE] mailtoken tunnel ready\r\n"
                        "* BYE\r\na1 OK\r\n");
}

static void
rejected_token_is_refreshed_once(void **state)
{
    struct fixture *f = *state;
    static char expect_old[1024], expect_new[1024];
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = expect_old,
             .reply = "+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=\r\n"},
            {.expect = "", .reply = "M1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"},
            {.expect = expect_new, .reply = "M2 OK [CAPABILITY IMAP4rev1] Logged in\r\n"},
            {.expect = "a1 NOOP", .reply = "a1 OK done\r\n", .close_after = 1},
        }};
    struct mt_err err;

    snprintf(expect_old, sizeof(expect_old), "M1 AUTHENTICATE XOAUTH2 %s", xoauth2_b64("at-old"));
    snprintf(expect_new, sizeof(expect_new), "M2 AUTHENTICATE XOAUTH2 %s", xoauth2_b64("at-new"));
    fake_start(&script);
    fake.http_body = "{\"access_token\":\"at-new\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    program_sends(f, "a1 NOOP\r\n");
    if (run_tunnel(f, &err) != 0)
        fail_msg("%s", err.msg);
    if (fake.unexpected)
        fail_msg("unexpected client line: %s", fake.unexpected_line);
    assert_int_equal(fake.http_calls, 1);
    assert_string_equal(stored_access_token(f), "at-new");
    assert_string_equal(program_received(f),
                        "* PREAUTH [CAPABILITY IMAP4rev1] mailtoken tunnel ready\r\na1 OK done\r\n");
}

static void
rejected_twice_gives_up_silently(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "M1 NO AUTHENTICATE failed.\r\n"},
            {.expect = "M2 AUTHENTICATE XOAUTH2 *", .reply = "M2 NO AUTHENTICATE failed.\r\n"},
            {.expect = "M3 LOGOUT", .reply = "* BYE\r\nM3 OK\r\n", .close_after = 1},
        }};
    struct mt_err err;

    fake_start(&script);
    fake.http_body = "{\"access_token\":\"at-new\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    program_sends(f, "a1 NOOP\r\n");
    assert_int_equal(run_tunnel(f, &err), -1);
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "rejected the refreshed token too"));
    assert_non_null(strstr(err.msg, "M2 NO AUTHENTICATE failed."));
    assert_false(fake.unexpected);
    assert_null(fake.script->steps[fake.step].expect);
    assert_int_equal(fake.http_calls, 1);
    assert_string_equal(program_received(f), "");
}

static void
same_token_after_refresh_is_not_retried(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "M1 NO AUTHENTICATE failed.\r\n"},
            {.expect = "M2 LOGOUT", .reply = "M2 OK\r\n", .close_after = 1},
        }};
    struct mt_err err;

    fake_start(&script);
    fake.http_body = "{\"access_token\":\"at-old\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    program_sends(f, "a1 NOOP\r\n");
    assert_int_equal(run_tunnel(f, &err), -1);
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "returned the same one"));
    assert_false(fake.unexpected);
    assert_string_equal(program_received(f), "");
}

static void
refresh_failure_is_reported(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "M1 NO AUTHENTICATE failed.\r\n"},
            {.expect = "M2 LOGOUT", .reply = "M2 OK\r\n", .close_after = 1},
        }};
    struct mt_err err;

    fake_start(&script);
    fake.http_status = 400;
    fake.http_body = "{\"error\":\"invalid_grant\"}";
    program_sends(f, "a1 NOOP\r\n");
    assert_int_equal(run_tunnel(f, &err), -1);
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "invalid_grant"));
    assert_string_equal(program_received(f), "");
}

static void
program_closing_early_waits_for_server(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "M1 OK [CAPABILITY IMAP4rev1] in\r\n"},
            {.expect = "a1 NOOP", .reply = "a1 OK done\r\n"},
            {.expect = "MTLOGOUT LOGOUT", .reply = ""},
        }};
    struct timespec t0, t1;
    struct mt_err err;
    long ms;

    fake_start(&script);
    program_sends(f, "a1 NOOP\r\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (run_tunnel(f, &err) != 0)
        fail_msg("%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_false(fake.unexpected);
    /* The server ignores the LOGOUT: the tunnel gives up after the account's timeout (1 s). */
    assert_true(ms >= 900);
    assert_true(ms < 5000);
    assert_string_equal(program_received(f),
                        "* PREAUTH [CAPABILITY IMAP4rev1] mailtoken tunnel ready\r\na1 OK done\r\n");
}

static void
program_closing_early_logs_out(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "M1 OK [CAPABILITY IMAP4rev1] in\r\n"},
            {.expect = "a1 CLOSE", .reply = "a1 OK closed\r\n"},
            {.expect = "MTLOGOUT LOGOUT", .reply = "* BYE\r\nMTLOGOUT OK\r\n", .close_after = 1},
        }};
    struct timespec t0, t1;
    struct mt_err err;
    long ms;

    fake_start(&script);
    program_sends(f, "a1 CLOSE\r\n");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (run_tunnel(f, &err) != 0)
        fail_msg("%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_false(fake.unexpected);
    /* The server ends the session at once: no wait for the 1 s timeout. */
    assert_true(ms < 900);
    assert_string_equal(program_received(f),
                        "* PREAUTH [CAPABILITY IMAP4rev1] mailtoken tunnel ready\r\n"
                        "a1 OK closed\r\n* BYE\r\nMTLOGOUT OK\r\n");
}

static void
connection_failure_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {.open_fails = 75};
    struct mt_err err;

    fake_start(&script);
    program_sends(f, "a1 NOOP\r\n");
    assert_int_equal(run_tunnel(f, &err), -1);
    assert_int_equal(err.code, 75);
    assert_string_equal(program_received(f), "");
}

static void
tunnel_is_imap_only(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {0};
    struct tunnel_options o = {.server = "smtp.example.test:587", .in_fd = f->in[0],
                               .out_fd = f->out[1]};
    struct mt_err err;

    fake_start(&script);
    err_clear(&err);
    assert_int_equal(tunnel_run(&f->cfg, &f->cfg.accounts[0], &o, NULL, NULL, &err), -1);
    assert_int_equal(err.code, 64);
    assert_non_null(strstr(err.msg, "SMTP port, not IMAP"));
    assert_int_equal(fake.opened, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(greeting_lists_usable_capabilities),
        cmocka_unit_test_setup_teardown(relays_session_after_preauth, setup, teardown),
        cmocka_unit_test_setup_teardown(asks_capabilities_when_login_reply_has_none, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rejected_token_is_refreshed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(rejected_twice_gives_up_silently, setup, teardown),
        cmocka_unit_test_setup_teardown(same_token_after_refresh_is_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_failure_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(program_closing_early_logs_out, setup, teardown),
        cmocka_unit_test_setup_teardown(program_closing_early_waits_for_server, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_failure_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(tunnel_is_imap_only, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
