/*
 * Unit tests for mailtoken check against a scripted server. They cover
 * the login exchange of each protocol: SASL-IR and the continuation
 * form, the SMTP and POP3 line limits, error challenges for both
 * mechanisms and a second challenge. They also cover the outcome and
 * exit code of each kind of reply, marking the rejected token,
 * capabilities after STARTTLS, and tokens kept out of the transcript.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/check.h"
#include "core/config.h"
#include "core/store.h"
#include "mt_base64.h"
#include "test_check_fakenet.h"

#define GOOD_TOKEN "at-good-token.abc"

struct fixture {
    char dir[64];
    char store[96];
    struct config cfg;
    char transcript[65536];
};

static void
record(void *ctx, enum mail_event event, const char *text)
{
    struct fixture *f = ctx;
    size_t used = strlen(f->transcript);
    const char *prefix = "";

    if (event == MAIL_EVENT_SERVER)
        prefix = "S: ";
    else if (event == MAIL_EVENT_CLIENT)
        prefix = "C: ";
    snprintf(f->transcript + used, sizeof(f->transcript) - used, "%s%s\n", prefix, text);
}

static void
store_access_token(struct fixture *f, const char *account, const char *token)
{
    static char copy[4096];
    struct tokens t = {.refresh_token = "rt-1", .access_token = copy, .token_type = "Bearer",
                       .obtained_at = time(NULL), .expires_in = 3600};
    struct store st;
    struct mt_err err;

    snprintf(copy, sizeof(copy), "%s", token);
    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 1, &err), 0);
    assert_int_equal(store_write(&st, account, &t, &err), 0);
    store_close(&st);
}

static int
stored_rejected(struct fixture *f, const char *account)
{
    struct tokens t;
    struct store st;
    struct mt_err err;
    int rejected;

    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 0, &err), 0);
    assert_int_equal(store_read(&st, account, &t, &err), 1);
    rejected = t.access_rejected;
    tokens_free(&t);
    store_close(&st);
    return rejected;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char text[2048];
    struct mt_err err;

    strcpy(f->dir, "/tmp/mailtoken-check-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
    snprintf(text, sizeof(text),
             "[defaults]\nstore = %s\n"
             "[alice]\nprovider = generic\nclient_id = cid\nuser = alice\nscope = mail\n"
             "authorization_endpoint = http://127.0.0.1:9/auth\n"
             "token_endpoint = http://127.0.0.1:9/token\ntimeout = 1\n"
             "[ms]\nprovider = microsoft\ntenant = contoso.com\nclient_id = cid\n"
             "user = alice@contoso.com\ntoken_endpoint = http://127.0.0.1:9/token\n",
             f->store);
    err_clear(&err);
    if (config_load_string(&f->cfg, "unit.conf", text, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    store_access_token(f, "alice", GOOD_TOKEN);
    store_access_token(f, "ms", GOOD_TOKEN);
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

/* The base64 XOAUTH2 initial response for user and token, in a static buffer. */
static const char *
xoauth2_b64(const char *user, const char *token)
{
    static char out[16384];
    struct mt_buf raw, b64;

    mt_buf_init(&raw, 16384);
    mt_buf_init(&b64, 16384);
    mt_buf_printf(&raw, "user=%s\001auth=Bearer %s\001\001", user, token);
    mt_base64_encode(&b64, raw.data, raw.len, MT_BASE64_STD);
    snprintf(out, sizeof(out), "%s", b64.data);
    mt_buf_free(&raw);
    mt_buf_free(&b64);
    return out;
}

static int
run_check(struct fixture *f, const char *account_name, const struct check_options *o,
          struct check_outcome *out, struct mt_err *err)
{
    err_clear(err);
    f->transcript[0] = '\0';
    return check_run(&f->cfg, account(f, account_name), o, record, f, out, err);
}

static void
assert_script_done(void)
{
    if (fake.unexpected)
        fail_msg("unexpected client line: %s", fake.unexpected_line);
    assert_null(fake.script->steps[fake.step].expect);
    assert_int_equal(fake.opened, 1);
    assert_int_equal(fake.closed, 1);
}

static int
has_cause_text(const struct check_outcome *out, const char *part)
{
    for (size_t i = 0; i < out->ncauses; i++)
        if (strstr(out->causes[i], part) != NULL)
            return 1;
    return 0;
}

static void
assert_no_token_in(const char *text, const char *token)
{
    if (strstr(text, token) != NULL)
        fail_msg("the token appears in: %s", text);
    if (strstr(text, xoauth2_b64("alice", token)) != NULL)
        fail_msg("the XOAUTH2 response appears in: %s", text);
}

#define IMAP_SETUP                                                                          \
    {NET_MAIL_SERVER_LINE, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] " \
                           "ready"},                                                         \
    {NET_MAIL_CLIENT_LINE, "A001 CAPABILITY"},                                              \
    {NET_MAIL_SERVER_LINE, "* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER"},  \
    {NET_MAIL_SERVER_LINE, "A001 OK done"}

static const struct check_options imap_options = {
    .protocol = MAIL_IMAP, .protocol_given = 1, .server = "imaps://imap.example.test:10993",
    .mech = MAIL_MECH_AUTO};

/* ---- IMAP ---- */

static void
imap_sasl_ir_login_then_examine(void **state)
{
    struct fixture *f = *state;
    static char expect_auth[4096];
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .tls = "TLSv1.3 / TLS_AES_256_GCM_SHA384",
        .steps = {
            {.expect = expect_auth, .reply = "* CAPABILITY IMAP4rev1 IDLE\r\nM1 OK Logged in\r\n"},
            {.expect = "M2 EXAMINE INBOX",
             .reply = "* 0 EXISTS\r\n* OK [UIDNEXT 1] next\r\nM2 OK [READ-ONLY] done\r\n"},
            {.expect = "M3 LOGOUT", .reply = "* BYE bye\r\nM3 OK done\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    snprintf(expect_auth, sizeof(expect_auth), "M1 AUTHENTICATE XOAUTH2 %s",
             xoauth2_b64("alice", GOOD_TOKEN));
    fake_start(&script);
    if (run_check(f, "alice", &imap_options, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_script_done();
    assert_string_equal(fake.url, "imaps://imap.example.test:10993/");
    assert_int_equal(fake.nlines, 3);
    assert_non_null(strstr(f->transcript, "S: * OK [CAPABILITY"));
    assert_non_null(strstr(f->transcript, "C: A001 CAPABILITY"));
    assert_non_null(strstr(f->transcript, "TLS handshake done: TLSv1.3"));
    assert_non_null(strstr(f->transcript, "C: M1 AUTHENTICATE XOAUTH2 [XOAUTH2 response: "));
    assert_non_null(strstr(f->transcript, "authenticated as alice with XOAUTH2"));
    assert_non_null(strstr(f->transcript, "ok: alice logs in to imap.example.test"));
    assert_no_token_in(f->transcript, GOOD_TOKEN);
    assert_false(stored_rejected(f, "alice"));
}

static void
imap_without_sasl_ir_uses_continuation(void **state)
{
    struct fixture *f = *state;
    static char expect_ir[4096];
    struct fake_script script = {
        .setup = {{NET_MAIL_SERVER_LINE, "* OK ready"},
                  {NET_MAIL_SERVER_LINE, "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2"},
                  {NET_MAIL_SERVER_LINE, "A001 OK done"}},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2", .reply = "+ \r\n"},
            {.expect = expect_ir, .reply = "M1 OK AUTHENTICATE completed.\r\n"},
            {.expect = "M2 EXAMINE INBOX", .reply = "M2 OK done\r\n"},
            {.expect = "M3 LOGOUT", .reply = "* BYE\r\nM3 OK\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    snprintf(expect_ir, sizeof(expect_ir), "%s", xoauth2_b64("alice", GOOD_TOKEN));
    fake_start(&script);
    if (run_check(f, "alice", &imap_options, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_script_done();
    assert_string_equal(fake_line(0), "M1 AUTHENTICATE XOAUTH2");
    assert_non_null(strstr(f->transcript, "response sent after the server's continuation"));
    assert_no_token_in(f->transcript, GOOD_TOKEN);
}

static void
imap_xoauth2_error_challenge_rejects_and_marks(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *",
             .reply = "+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=\r\n"},
            {.expect = "", .reply = "M1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"},
            {.expect = "M2 LOGOUT", .reply = "* BYE\r\nM2 OK\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &imap_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "rejected the token with XOAUTH2"));
    assert_non_null(strstr(err.msg, "M1 NO [AUTHENTICATIONFAILED] Authentication failed."));
    assert_non_null(strstr(err.msg, "\"status\":\"401\""));
    assert_true(out.token_rejected);
    assert_true(stored_rejected(f, "alice"));
    assert_true(out.ncauses >= 2);
    assert_non_null(strstr(out.causes[0], "expired or was revoked"));
    assert_non_null(strstr(f->transcript, "error challenge from the server: {\"status\":\"401\""));
    assert_non_null(strstr(f->transcript, "C: (empty line: acknowledges the error challenge)"));
    assert_no_token_in(err.msg, GOOD_TOKEN);
}

static void
imap_oauthbearer_challenge_answered_with_0x01(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE OAUTHBEARER *",
             .reply = "+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n"},
            {.expect = "AQ==", .reply = "M1 NO [AUTHENTICATIONFAILED] failed\r\n"},
            {.expect = "M2 LOGOUT", .reply = "M2 OK\r\n", .close_after = 1},
        }};
    struct check_options o = imap_options;
    struct check_outcome out;
    struct mt_err err;

    o.mech = MAIL_MECH_OAUTHBEARER;
    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &o, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "invalid_token"));
    assert_true(stored_rejected(f, "alice"));
}

static void
imap_oauthbearer_message_carries_host_and_port(void **state)
{
    struct fixture *f = *state;
    static char expect_auth[4096];
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = expect_auth, .reply = "M1 OK [CAPABILITY IMAP4rev1] in\r\n"},
            {.expect = "M2 EXAMINE INBOX", .reply = "M2 OK done\r\n"},
            {.expect = "M3 LOGOUT", .reply = "M3 OK\r\n", .close_after = 1},
        }};
    struct check_options o = imap_options;
    struct mt_buf raw, b64;
    struct check_outcome out;
    struct mt_err err;

    mt_buf_init(&raw, 4096);
    mt_buf_init(&b64, 8192);
    mt_buf_printf(&raw, "n,a=alice,\001host=imap.example.test\001port=10993\001auth=Bearer "
                        "%s\001\001", GOOD_TOKEN);
    mt_base64_encode(&b64, raw.data, raw.len, MT_BASE64_STD);
    snprintf(expect_auth, sizeof(expect_auth), "M1 AUTHENTICATE OAUTHBEARER %s", b64.data);
    mt_buf_free(&raw);
    mt_buf_free(&b64);
    o.mech = MAIL_MECH_OAUTHBEARER;
    fake_start(&script);
    if (run_check(f, "alice", &o, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_script_done();
}

static void
imap_second_challenge_cancels(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "+ e30=\r\n"},
            {.expect = "", .reply = "+ e30=\r\n"},
            {.expect = "\\*", .reply = "M1 BAD canceled\r\n"},
            {.expect = "M2 LOGOUT", .reply = "M2 OK\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &imap_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 76);
    assert_non_null(strstr(err.msg, "second challenge"));
    assert_false(stored_rejected(f, "alice"));
}

static void
imap_unavailable_is_temporary(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *",
             .reply = "M1 NO [UNAVAILABLE] Temporary authentication failure.\r\n"},
            {.expect = "M2 LOGOUT", .reply = "M2 OK\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &imap_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 75);
    assert_non_null(strstr(err.msg, "could not check the token now"));
    assert_false(out.token_rejected);
    assert_false(stored_rejected(f, "alice"));
}

static void
microsoft_not_connected_after_login(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {{NET_MAIL_SERVER_LINE, "* OK The Microsoft Exchange IMAP4 service is ready."},
                  {NET_MAIL_SERVER_LINE,
                   "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS"},
                  {NET_MAIL_SERVER_LINE, "A001 OK CAPABILITY completed."}},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "M1 OK AUTHENTICATE completed.\r\n"},
            {.expect = "M2 EXAMINE INBOX",
             .reply = "M2 BAD User is authenticated but not connected.\r\n"},
            {.expect = "M3 LOGOUT", .reply = "* BYE\r\nM3 OK LOGOUT completed.\r\n",
             .close_after = 1},
        }};
    struct check_options o = {.protocol = MAIL_IMAP, .mech = MAIL_MECH_AUTO};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "ms", &o, &out, &err), -1);
    assert_script_done();
    assert_string_equal(fake.url, "imaps://outlook.office365.com:993/");
    assert_int_equal(err.code, 78);
    assert_non_null(strstr(err.msg, "User is authenticated but not connected"));
    assert_non_null(strstr(out.causes[0], "user=alice@contoso.com"));
    assert_non_null(strstr(out.causes[1], "too many connections"));
    assert_false(stored_rejected(f, "ms"));
}

static void
capabilities_before_starttls_are_forgotten(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {{NET_MAIL_SERVER_LINE,
                   "* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS AUTH=XOAUTH2] ready"},
                  {NET_MAIL_CLIENT_LINE, "A001 STARTTLS"},
                  {NET_MAIL_SERVER_LINE, "A001 OK Begin TLS negotiation now."}},
        .steps = {
            {.expect = "M1 CAPABILITY",
             .reply = "* CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER\r\nM1 OK done\r\n"},
            {.expect = "M2 AUTHENTICATE OAUTHBEARER", .reply = "+ \r\n"},
            {.expect = "*", .reply = "M2 OK in\r\n"},
            {.expect = "M3 EXAMINE INBOX", .reply = "M3 OK done\r\n"},
            {.expect = "M4 LOGOUT", .reply = "M4 OK\r\n", .close_after = 1},
        }};
    struct check_options o = {.protocol = MAIL_IMAP, .protocol_given = 1,
                              .server = "imap://localhost:143", .mech = MAIL_MECH_AUTO};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    if (run_check(f, "alice", &o, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_script_done();
    assert_string_equal(fake.url, "imap://localhost:143/");
}

static void
no_oauth_mechanism_offered(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {{NET_MAIL_SERVER_LINE, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready"}},
        .steps = {
            {.expect = "M1 LOGOUT", .reply = "M1 OK\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &imap_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 76);
    assert_non_null(strstr(err.msg, "does not offer XOAUTH2 or OAUTHBEARER"));
    assert_non_null(strstr(err.msg, "IMAP4rev1 AUTH=PLAIN"));
}

static void
requested_mechanism_not_offered(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {{NET_MAIL_SERVER_LINE, "* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] ready"}},
        .steps = {
            {.expect = "M1 LOGOUT", .reply = "M1 OK\r\n", .close_after = 1},
        }};
    struct check_options o = imap_options;
    struct check_outcome out;
    struct mt_err err;

    o.mech = MAIL_MECH_OAUTHBEARER;
    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &o, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 76);
    assert_non_null(strstr(err.msg, "choose the other mechanism"));
}

static void
connection_failure_marks_nothing(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {.open_fails = 75};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &imap_options, &out, &err), -1);
    assert_int_equal(err.code, 75);
    assert_non_null(strstr(err.msg, "alice: scripted connection failure"));
    assert_int_equal(fake.opened, 0);
    assert_int_equal(fake.nlines, 0);
    assert_false(stored_rejected(f, "alice"));
}

static void
server_line_over_the_cap(void **state)
{
    struct fixture *f = *state;
    static char huge[70000];
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = huge},
        }};
    struct check_outcome out;
    struct mt_err err;

    memset(huge, 'x', sizeof(huge) - 1);
    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &imap_options, &out, &err), -1);
    assert_int_equal(err.code, 76);
    assert_non_null(strstr(err.msg, "line longer than"));
    assert_int_equal(fake.closed, 1);
}

static void
silent_server_times_out(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = ""},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &imap_options, &out, &err), -1);
    assert_int_equal(err.code, 75);
    assert_non_null(strstr(err.msg, "no reply within 1 s"));
    /* No LOGOUT on a connection that already failed. */
    assert_int_equal(fake.nlines, 1);
}

static void
long_token_goes_on_one_imap_line(void **state)
{
    struct fixture *f = *state;
    static char token[3001];
    struct fake_script script = {
        .setup = {IMAP_SETUP},
        .steps = {
            {.expect = "M1 AUTHENTICATE XOAUTH2 *", .reply = "M1 OK in\r\n"},
            {.expect = "M2 EXAMINE INBOX", .reply = "M2 OK done\r\n"},
            {.expect = "M3 LOGOUT", .reply = "M3 OK\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    memset(token, 'T', sizeof(token) - 1);
    store_access_token(f, "alice", token);
    fake_start(&script);
    if (run_check(f, "alice", &imap_options, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_script_done();
    /* 3000-character token, user "alice": 3025 raw bytes, 4036 base64 characters. */
    assert_int_equal(strlen(fake_line(0)), strlen("M1 AUTHENTICATE XOAUTH2 ") + 4036);
    assert_no_token_in(f->transcript, token);
}

/* ---- SMTP ---- */

#define SMTP_SETUP                                                    \
    {NET_MAIL_SERVER_LINE, "220 mx ESMTP"},                           \
    {NET_MAIL_CLIENT_LINE, "EHLO client"},                            \
    {NET_MAIL_SERVER_LINE, "250-mx"},                                 \
    {NET_MAIL_SERVER_LINE, "250-STARTTLS"},                           \
    {NET_MAIL_SERVER_LINE, "250 AUTH PLAIN"},                         \
    {NET_MAIL_CLIENT_LINE, "STARTTLS"},                               \
    {NET_MAIL_SERVER_LINE, "220 2.0.0 go ahead"},                     \
    {NET_MAIL_CLIENT_LINE, "EHLO client"},                            \
    {NET_MAIL_SERVER_LINE, "250-mx"},                                 \
    {NET_MAIL_SERVER_LINE, "250-AUTH XOAUTH2 OAUTHBEARER"},           \
    {NET_MAIL_SERVER_LINE, "250 PIPELINING"}

static const struct check_options smtp_options = {
    .protocol = MAIL_SMTP, .protocol_given = 1, .server = "smtp.example.test:587",
    .mech = MAIL_MECH_AUTO};

/* Runs an SMTP check with a token of n characters, expecting the IR on the AUTH line or not. */
static void
smtp_with_token_length(struct fixture *f, size_t n, int expect_ir)
{
    static char token[600], expect_ir_line[1024], expect_response[1024];
    struct fake_script script_ir = {
        .setup = {SMTP_SETUP},
        .steps = {
            {.expect = expect_ir_line, .reply = "235 2.7.0 Accepted\r\n"},
            {.expect = "QUIT", .reply = "221 2.0.0 Bye\r\n", .close_after = 1},
        }};
    struct fake_script script_two_step = {
        .setup = {SMTP_SETUP},
        .steps = {
            {.expect = "AUTH XOAUTH2", .reply = "334 \r\n"},
            {.expect = expect_response, .reply = "235 2.7.0 Accepted\r\n"},
            {.expect = "QUIT", .reply = "221 2.0.0 Bye\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    memset(token, 0, sizeof(token));
    memset(token, 'k', n);
    store_access_token(f, "alice", token);
    snprintf(expect_ir_line, sizeof(expect_ir_line), "AUTH XOAUTH2 %s",
             xoauth2_b64("alice", token));
    snprintf(expect_response, sizeof(expect_response), "%s", xoauth2_b64("alice", token));
    fake_start(expect_ir ? &script_ir : &script_two_step);
    if (run_check(f, "alice", &smtp_options, &out, &err) != 0)
        fail_msg("token length %zu: %s", n, err.msg);
    assert_script_done();
    assert_string_equal(fake.url, "smtp://smtp.example.test:587/");
    if (expect_ir)
        assert_true(strlen(fake_line(0)) + 2 <= 512);
}

static void
smtp_initial_response_only_within_512(void **state)
{
    struct fixture *f = *state;

    /* user "alice" + 347-character token = 372 raw bytes = 496 base64: 511 octets with CRLF. */
    smtp_with_token_length(f, 347, 1);
    smtp_with_token_length(f, 348, 0);
    smtp_with_token_length(f, 500, 0);
}

static void
smtp_auth_disabled_for_mailbox(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {SMTP_SETUP},
        .steps = {
            {.expect = "AUTH XOAUTH2 *",
             .reply = "535-5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                      "disabled for the Tenant.\r\n535 5.7.139 Visit https://aka.ms/smtp_auth_disabled\r\n"},
            {.expect = "QUIT", .reply = "221 2.0.0 Bye\r\n", .close_after = 1},
        }};
    struct check_options o = {.protocol = MAIL_SMTP, .mech = MAIL_MECH_AUTO};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "ms", &o, &out, &err), -1);
    assert_script_done();
    assert_string_equal(fake.url, "smtp://smtp.office365.com:587/");
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "535 5.7.139"));
    assert_non_null(strstr(out.causes[0], "SMTP AUTH is disabled"));
    assert_true(stored_rejected(f, "ms"));
}

static void
smtp_error_challenge_then_535(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {SMTP_SETUP},
        .steps = {
            {.expect = "AUTH XOAUTH2 *",
             .reply = "334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczov"
                      "L21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n"},
            {.expect = "", .reply = "535 5.7.8 Username and Password not accepted.\r\n"},
            {.expect = "QUIT", .reply = "221 2.0.0 Bye\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &smtp_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(err.msg, "\"status\":\"400\""));
    assert_true(has_cause_text(&out, "https://mail.google.com/"));
}

static void
smtp_unknown_mechanism_is_protocol_error(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {SMTP_SETUP},
        .steps = {
            {.expect = "AUTH XOAUTH2 *", .reply = "504 5.5.4 Unrecognized authentication type\r\n"},
            {.expect = "QUIT", .reply = "221 2.0.0 Bye\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &smtp_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 76);
    assert_non_null(strstr(err.msg, "504 5.5.4"));
    assert_false(stored_rejected(f, "alice"));
}

static void
smtp_temporary_4xx(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {SMTP_SETUP},
        .steps = {
            {.expect = "AUTH XOAUTH2 *", .reply = "454 4.7.0 Temporary authentication failure\r\n"},
            {.expect = "QUIT", .reply = "221 2.0.0 Bye\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &smtp_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 75);
    assert_false(stored_rejected(f, "alice"));
}

static void
smtp_mismatched_multiline_reply(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {SMTP_SETUP},
        .steps = {
            {.expect = "AUTH XOAUTH2 *", .reply = "235-2.7.0 half\r\n535 5.7.8 other\r\n"},
            {.expect = "QUIT", .reply = "221 2.0.0 Bye\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &smtp_options, &out, &err), -1);
    assert_int_equal(err.code, 76);
    assert_non_null(strstr(err.msg, "not an SMTP reply"));
}

/* ---- POP3 ---- */

#define POP3_SETUP(sasl)                                   \
    {NET_MAIL_SERVER_LINE, "+OK ready"},                   \
    {NET_MAIL_CLIENT_LINE, "CAPA"},                        \
    {NET_MAIL_SERVER_LINE, "+OK"},                         \
    {NET_MAIL_SERVER_LINE, "TOP"},                         \
    {NET_MAIL_SERVER_LINE, sasl},                          \
    {NET_MAIL_SERVER_LINE, "."}

static const struct check_options pop3_options = {
    .protocol = MAIL_POP3, .protocol_given = 1, .server = "pop3s://pop.example.test:10995",
    .mech = MAIL_MECH_AUTO};

static void
pop3_two_step_login_then_stat(void **state)
{
    struct fixture *f = *state;
    static char expect_response[4096];
    struct fake_script script = {
        .setup = {POP3_SETUP("SASL XOAUTH2 OAUTHBEARER")},
        .steps = {
            {.expect = "AUTH XOAUTH2", .reply = "+ \r\n"},
            {.expect = expect_response, .reply = "+OK User successfully authenticated.\r\n"},
            {.expect = "STAT", .reply = "+OK 2 320\r\n"},
            {.expect = "QUIT", .reply = "+OK bye\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    snprintf(expect_response, sizeof(expect_response), "%s", xoauth2_b64("alice", GOOD_TOKEN));
    fake_start(&script);
    if (run_check(f, "alice", &pop3_options, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_script_done();
    assert_string_equal(fake.url, "pop3s://pop.example.test:10995/");
}

static void
pop3_without_sasl_line_tries_xoauth2(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {POP3_SETUP("USER")},
        .steps = {
            {.expect = "AUTH XOAUTH2", .reply = "+\r\n"},
            {.expect = "*",
             .reply = "-ERR Authentication failure: unknown user name or bad password.\r\n"},
            {.expect = "QUIT", .reply = "+OK bye\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &pop3_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 77);
    assert_non_null(strstr(f->transcript, "did not list its mechanisms; trying XOAUTH2"));
    assert_true(stored_rejected(f, "alice"));
}

static void
pop3_sys_temp_is_temporary(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {
        .setup = {POP3_SETUP("SASL XOAUTH2")},
        .steps = {
            {.expect = "AUTH XOAUTH2", .reply = "+ \r\n"},
            {.expect = "*", .reply = "-ERR [SYS/TEMP] Temporary authentication failure.\r\n"},
            {.expect = "QUIT", .reply = "+OK bye\r\n", .close_after = 1},
        }};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &pop3_options, &out, &err), -1);
    assert_script_done();
    assert_int_equal(err.code, 75);
    assert_false(stored_rejected(f, "alice"));
}

/* ---- arguments and configuration ---- */

static void
generic_provider_needs_a_server(void **state)
{
    struct fixture *f = *state;
    struct fake_script script = {0};
    struct check_options o = {.protocol = MAIL_IMAP, .mech = MAIL_MECH_AUTO};
    struct check_outcome out;
    struct mt_err err;

    fake_start(&script);
    assert_int_equal(run_check(f, "alice", &o, &out, &err), -1);
    assert_int_equal(err.code, 64);
    assert_non_null(strstr(err.msg, "alice: the account's provider has no standard IMAP server"));
    assert_int_equal(fake.opened, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(imap_sasl_ir_login_then_examine, setup, teardown),
        cmocka_unit_test_setup_teardown(imap_without_sasl_ir_uses_continuation, setup, teardown),
        cmocka_unit_test_setup_teardown(imap_xoauth2_error_challenge_rejects_and_marks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(imap_oauthbearer_challenge_answered_with_0x01, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(imap_oauthbearer_message_carries_host_and_port, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(imap_second_challenge_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(imap_unavailable_is_temporary, setup, teardown),
        cmocka_unit_test_setup_teardown(microsoft_not_connected_after_login, setup, teardown),
        cmocka_unit_test_setup_teardown(capabilities_before_starttls_are_forgotten, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(no_oauth_mechanism_offered, setup, teardown),
        cmocka_unit_test_setup_teardown(requested_mechanism_not_offered, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_failure_marks_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(server_line_over_the_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(silent_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(long_token_goes_on_one_imap_line, setup, teardown),
        cmocka_unit_test_setup_teardown(smtp_initial_response_only_within_512, setup, teardown),
        cmocka_unit_test_setup_teardown(smtp_auth_disabled_for_mailbox, setup, teardown),
        cmocka_unit_test_setup_teardown(smtp_error_challenge_then_535, setup, teardown),
        cmocka_unit_test_setup_teardown(smtp_unknown_mechanism_is_protocol_error, setup, teardown),
        cmocka_unit_test_setup_teardown(smtp_temporary_4xx, setup, teardown),
        cmocka_unit_test_setup_teardown(smtp_mismatched_multiline_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(pop3_two_step_login_then_stat, setup, teardown),
        cmocka_unit_test_setup_teardown(pop3_without_sasl_line_tries_xoauth2, setup, teardown),
        cmocka_unit_test_setup_teardown(pop3_sys_temp_is_temporary, setup, teardown),
        cmocka_unit_test_setup_teardown(generic_provider_needs_a_server, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
