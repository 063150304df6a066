/*
 * Unit tests for the mail protocol parsing behind mailtoken check and
 * tunnel: server arguments, SASL messages, error challenges, IMAP
 * replies and capabilities, SMTP replies and EHLO, POP3 CAPA and
 * response codes, and the causes shown for a rejected login.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/check.h"
#include "core/cloud.h"
#include "core/config.h"
#include "core/mailproto.h"
#include "mt_base64.h"

/* ---- server arguments ---- */

struct target_case {
    const char *arg;
    int protocol_given;
    enum mail_protocol protocol;
    int ok;
    enum mail_protocol want_protocol;
    enum mail_tls want_tls;
    const char *want_host;
    long want_port;
    const char *want_url;
    const char *error_part;
};

static const struct target_case target_cases[] = {
    {.arg = "imap.example.com:993", .ok = 1, .want_protocol = MAIL_IMAP,
     .want_tls = MAIL_TLS_IMPLICIT, .want_host = "imap.example.com", .want_port = 993,
     .want_url = "imaps://imap.example.com:993/"},
    {.arg = "mail.example.com:143", .ok = 1, .want_protocol = MAIL_IMAP,
     .want_tls = MAIL_TLS_STARTTLS, .want_host = "mail.example.com", .want_port = 143,
     .want_url = "imap://mail.example.com:143/"},
    {.arg = "smtp.office365.com:587", .ok = 1, .want_protocol = MAIL_SMTP,
     .want_tls = MAIL_TLS_STARTTLS, .want_port = 587,
     .want_url = "smtp://smtp.office365.com:587/"},
    {.arg = "mx.example.com:25", .ok = 1, .want_protocol = MAIL_SMTP,
     .want_tls = MAIL_TLS_STARTTLS, .want_port = 25},
    {.arg = "smtp.gmail.com:465", .ok = 1, .want_protocol = MAIL_SMTP,
     .want_tls = MAIL_TLS_IMPLICIT, .want_port = 465, .want_url = "smtps://smtp.gmail.com:465/"},
    {.arg = "pop.gmail.com:995", .ok = 1, .want_protocol = MAIL_POP3,
     .want_tls = MAIL_TLS_IMPLICIT, .want_port = 995, .want_url = "pop3s://pop.gmail.com:995/"},
    {.arg = "pop.example.com:110", .ok = 1, .want_protocol = MAIL_POP3,
     .want_tls = MAIL_TLS_STARTTLS, .want_port = 110},
    {.arg = "imap.example.com", .ok = 1, .want_protocol = MAIL_IMAP,
     .want_tls = MAIL_TLS_IMPLICIT, .want_port = 993},
    {.arg = "smtp.example.com", .protocol_given = 1, .protocol = MAIL_SMTP, .ok = 1,
     .want_protocol = MAIL_SMTP, .want_tls = MAIL_TLS_STARTTLS, .want_port = 587},
    {.arg = "[::1]:993", .ok = 1, .want_protocol = MAIL_IMAP, .want_tls = MAIL_TLS_IMPLICIT,
     .want_host = "::1", .want_port = 993, .want_url = "imaps://[::1]:993/"},
    {.arg = "imaps://localhost:14393", .ok = 1, .want_protocol = MAIL_IMAP,
     .want_tls = MAIL_TLS_IMPLICIT, .want_host = "localhost", .want_port = 14393,
     .want_url = "imaps://localhost:14393/"},
    {.arg = "imap://localhost:14343/", .ok = 1, .want_protocol = MAIL_IMAP,
     .want_tls = MAIL_TLS_STARTTLS, .want_port = 14343},
    {.arg = "SMTP://localhost:14387", .protocol_given = 1, .protocol = MAIL_SMTP, .ok = 1,
     .want_protocol = MAIL_SMTP, .want_tls = MAIL_TLS_STARTTLS, .want_port = 14387},
    {.arg = "smtps://localhost:14365", .ok = 1, .want_protocol = MAIL_SMTP,
     .want_tls = MAIL_TLS_IMPLICIT, .want_port = 14365},
    {.arg = "pop3s://localhost:14395", .ok = 1, .want_protocol = MAIL_POP3,
     .want_tls = MAIL_TLS_IMPLICIT, .want_port = 14395},
    {.arg = "pop3s://localhost", .ok = 1, .want_protocol = MAIL_POP3,
     .want_tls = MAIL_TLS_IMPLICIT, .want_port = 995},
    {.arg = "localhost:14393", .error_part = "imaps://localhost:14393 for implicit TLS"},
    {.arg = "localhost:14387", .protocol_given = 1, .protocol = MAIL_SMTP,
     .error_part = "smtp://localhost:14387 for STARTTLS"},
    {.arg = "imap.example.com:587", .protocol_given = 1, .protocol = MAIL_IMAP,
     .error_part = "port 587 is a SMTP port, not IMAP"},
    {.arg = "smtps://x:465", .protocol_given = 1, .protocol = MAIL_POP3,
     .error_part = "is a SMTP server, not POP3"},
    {.arg = "http://localhost:80", .error_part = "the scheme must be"},
    {.arg = "host:0", .error_part = "from 1 to 65535"},
    {.arg = "host:70000", .error_part = "from 1 to 65535"},
    {.arg = "host:99x", .error_part = "from 1 to 65535"},
    {.arg = ":993", .error_part = "the host is missing"},
    {.arg = "imaps://user@host:993", .error_part = "only letters"},
    {.arg = "host/path:993", .error_part = "only letters"},
    {.arg = "[::1:993", .error_part = "']' missing"},
    {.arg = "[fe80::1%eth0]:993", .error_part = "not an IPv6 address"},
};

static void
target_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(target_cases) / sizeof(target_cases[0]); i++) {
        const struct target_case *c = &target_cases[i];
        struct mail_target t;
        struct mt_err err;
        char url[300];
        int r;

        err_clear(&err);
        r = mail_target_parse(c->arg, c->protocol_given, c->protocol, &t, &err);
        if (!c->ok) {
            if (r != -1 || strstr(err.msg, c->error_part) == NULL)
                fail_msg("%s: expected an error containing \"%s\", got %d \"%s\"", c->arg,
                         c->error_part, r, err.msg);
            assert_int_equal(err.code, 64);
            continue;
        }
        if (r != 0)
            fail_msg("%s: %s", c->arg, err.msg);
        assert_int_equal(t.protocol, c->want_protocol);
        assert_int_equal(t.tls, c->want_tls);
        assert_int_equal(t.port, c->want_port);
        if (c->want_host != NULL)
            assert_string_equal(t.host, c->want_host);
        assert_int_equal(mail_target_url(&t, url, sizeof(url)), 0);
        if (c->want_url != NULL)
            assert_string_equal(url, c->want_url);
    }
}

static void
provider_default_servers(void **state)
{
    struct mail_target t;
    struct mt_err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(mail_target_default(PROVIDER_MICROSOFT, MAIL_IMAP, &t, &err), 0);
    assert_string_equal(t.host, "outlook.office365.com");
    assert_int_equal(t.port, 993);
    assert_int_equal(t.tls, MAIL_TLS_IMPLICIT);
    assert_int_equal(mail_target_default(PROVIDER_MICROSOFT, MAIL_POP3, &t, &err), 0);
    assert_string_equal(t.host, "outlook.office365.com");
    assert_int_equal(t.port, 995);
    assert_int_equal(mail_target_default(PROVIDER_MICROSOFT, MAIL_SMTP, &t, &err), 0);
    assert_string_equal(t.host, "smtp.office365.com");
    assert_int_equal(t.port, 587);
    assert_int_equal(t.tls, MAIL_TLS_STARTTLS);
    assert_int_equal(mail_target_default(PROVIDER_GOOGLE, MAIL_IMAP, &t, &err), 0);
    assert_string_equal(t.host, "imap.gmail.com");
    assert_int_equal(mail_target_default(PROVIDER_GOOGLE, MAIL_POP3, &t, &err), 0);
    assert_string_equal(t.host, "pop.gmail.com");
    assert_int_equal(mail_target_default(PROVIDER_GOOGLE, MAIL_SMTP, &t, &err), 0);
    assert_string_equal(t.host, "smtp.gmail.com");
    assert_int_equal(t.port, 587);
    assert_int_equal(mail_target_default(PROVIDER_GENERIC, MAIL_IMAP, &t, &err), -1);
    assert_int_equal(err.code, 64);
    assert_non_null(strstr(err.msg, "HOST:PORT"));
}

static void
protocol_and_mech_names(void **state)
{
    enum mail_protocol p;
    enum mail_mech m;

    (void)state;
    assert_int_equal(mail_protocol_parse("IMAP", &p), 0);
    assert_int_equal(p, MAIL_IMAP);
    assert_int_equal(mail_protocol_parse("pop", &p), 0);
    assert_int_equal(p, MAIL_POP3);
    assert_int_equal(mail_protocol_parse("smtp", &p), 0);
    assert_int_equal(p, MAIL_SMTP);
    assert_int_equal(mail_protocol_parse("imaps", &p), -1);
    assert_int_equal(mail_mech_parse("XOAUTH2", &m), 0);
    assert_int_equal(m, MAIL_MECH_XOAUTH2);
    assert_int_equal(mail_mech_parse("oauthbearer", &m), 0);
    assert_int_equal(m, MAIL_MECH_OAUTHBEARER);
    assert_int_equal(mail_mech_parse("plain", &m), -1);
}

/* ---- SASL messages ---- */

static void
b64_of(struct mt_buf *raw, struct mt_buf *b64)
{
    mt_buf_init(b64, 65536);
    assert_int_equal(mt_base64_encode(b64, raw->data, raw->len, MT_BASE64_STD), 0);
}

static void
xoauth2_google_vector(void **state)
{
    struct mt_buf raw, b64;
    struct mt_err err;

    (void)state;
    mt_buf_init(&raw, 4096);
    err_clear(&err);
    assert_int_equal(mail_sasl_xoauth2(&raw, "someuser@example.com",
                                       "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", &err),
                     0);
    assert_int_equal(raw.len, 85);
    b64_of(&raw, &b64);
    assert_string_equal(b64.data, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOW"
                                  "RmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
    mt_buf_free(&raw);
    mt_buf_free(&b64);
}

static void
xoauth2_microsoft_vector(void **state)
{
    struct mt_buf raw, b64;
    struct mt_err err;

    (void)state;
    mt_buf_init(&raw, 4096);
    err_clear(&err);
    assert_int_equal(mail_sasl_xoauth2(&raw, "test@contoso.onmicrosoft.com",
                                       "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA", &err),
                     0);
    assert_int_equal(raw.len, 88);
    b64_of(&raw, &b64);
    assert_string_equal(b64.data, "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVy"
                                  "IEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==");
    mt_buf_free(&raw);
    mt_buf_free(&b64);
}

static void
oauthbearer_rfc7628_vector(void **state)
{
    struct mt_buf raw, b64;
    struct mt_err err;

    (void)state;
    mt_buf_init(&raw, 4096);
    err_clear(&err);
    assert_int_equal(mail_sasl_oauthbearer(&raw, "user@example.com", "server.example.com", 143,
                                           "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", &err),
                     0);
    assert_int_equal(raw.len, 111);
    b64_of(&raw, &b64);
    assert_string_equal(b64.data,
                        "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQz"
                        "AWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9"
                        "PQEB");
    mt_buf_free(&raw);
    mt_buf_free(&b64);
}

static void
oauthbearer_escapes_authzid(void **state)
{
    struct mt_buf raw, b64;
    struct mt_err err;

    (void)state;
    mt_buf_init(&raw, 4096);
    err_clear(&err);
    assert_int_equal(mail_sasl_oauthbearer(&raw, "a,b=c@example.com", NULL, 0, "TOKEN", &err),
                     0);
    b64_of(&raw, &b64);
    assert_string_equal(b64.data, "bixhPWE9MkNiPTNEY0BleGFtcGxlLmNvbSwBYXV0aD1CZWFyZXIgVE9LRU4BAQ==");
    mt_buf_free(&raw);
    mt_buf_free(&b64);
}

struct bad_input_case {
    const char *user;
    const char *token;
    int code;
};

static const struct bad_input_case bad_inputs[] = {
    {.user = "alice", .token = "", .code = 78},
    {.user = "alice", .token = "to\001ken", .code = 76},
    {.user = "alice", .token = "to ken", .code = 76},
    {.user = "alice", .token = "tok\r\nen", .code = 76},
    {.user = "alice", .token = "t\xc3\xa9", .code = 76},
    {.user = "", .token = "token", .code = 78},
    {.user = "al\001ice", .token = "token", .code = 78},
    {.user = "al\nice", .token = "token", .code = 78},
};

static void
sasl_rejects_bad_input(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
        struct mt_buf raw;
        struct mt_err err;

        mt_buf_init(&raw, 4096);
        err_clear(&err);
        assert_int_equal(mail_sasl_xoauth2(&raw, bad_inputs[i].user, bad_inputs[i].token, &err),
                         -1);
        assert_int_equal(err.code, bad_inputs[i].code);
        assert_int_equal(raw.len, 0);
        err_clear(&err);
        assert_int_equal(mail_sasl_oauthbearer(&raw, bad_inputs[i].user, "h", 1,
                                               bad_inputs[i].token, &err),
                         -1);
        assert_int_equal(err.code, bad_inputs[i].code);
        assert_int_equal(raw.len, 0);
        mt_buf_free(&raw);
    }
}

/* ---- error challenges ---- */

static void
challenge_google_400(void **state)
{
    static const char b64[] = "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczov"
                              "L21haWwuZ29vZ2xlLmNvbS8ifQ==";
    struct mail_challenge c;

    (void)state;
    mail_challenge_parse(b64, strlen(b64), &c);
    assert_true(c.is_json);
    assert_string_equal(c.status, "400");
    assert_string_equal(c.scope, "https://mail.google.com/");
    assert_string_equal(c.text,
                        "{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":\"https://mail.google.com/\"}");
}

static void
challenge_dovecot_401(void **state)
{
    static const char b64[] = "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=";
    struct mail_challenge c;

    (void)state;
    mail_challenge_parse(b64, strlen(b64), &c);
    assert_true(c.is_json);
    assert_string_equal(c.status, "401");
    assert_string_equal(c.scope, "mail");
}

static void
challenge_oauthbearer_invalid_token(void **state)
{
    struct mt_buf b64;
    static const char json[] = "{\"status\":\"invalid_token\",\"scope\":\"example_scope\","
                               "\"openid-configuration\":\"https://example.com/.well-known/openid-config\"}";
    struct mail_challenge c;

    (void)state;
    mt_buf_init(&b64, 4096);
    assert_int_equal(mt_base64_encode(&b64, json, strlen(json), MT_BASE64_STD), 0);
    mail_challenge_parse(b64.data, b64.len, &c);
    assert_true(c.is_json);
    assert_string_equal(c.status, "invalid_token");
    assert_string_equal(c.scope, "example_scope");
    mt_buf_free(&b64);
}

static void
challenge_hostile_bytes_sanitized(void **state)
{
    static const char raw[] = "garbage\x1b[31m\x01";
    struct mt_buf b64;
    struct mail_challenge c;

    (void)state;
    mt_buf_init(&b64, 4096);
    assert_int_equal(mt_base64_encode(&b64, raw, sizeof(raw), MT_BASE64_STD), 0);
    mail_challenge_parse(b64.data, b64.len, &c);
    assert_false(c.is_json);
    assert_string_equal(c.text, "garbage?[31m??");
    assert_string_equal(c.status, "");
    mt_buf_free(&b64);

    mail_challenge_parse("not base64!", 11, &c);
    assert_false(c.is_json);
    assert_string_equal(c.text, "not base64!");
    mail_challenge_parse("WyJhIl0=", 8, &c);   /* ["a"]: JSON, but not an object */
    assert_false(c.is_json);
    assert_string_equal(c.text, "[\"a\"]");
}

/* ---- IMAP ---- */

struct imap_case {
    const char *line;
    enum imap_kind kind;
    const char *tag;
    enum imap_cond cond;
    const char *code;
    const char *text;
};

static const struct imap_case imap_cases[] = {
    {"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] Dovecot ready.", IMAP_UNTAGGED, "",
     IMAP_OK, "CAPABILITY", "Dovecot ready."},
    {"* OK The Microsoft Exchange IMAP4 service is ready.", IMAP_UNTAGGED, "", IMAP_OK, "",
     "The Microsoft Exchange IMAP4 service is ready."},
    {"* PREAUTH [CAPABILITY IMAP4rev1] ready", IMAP_UNTAGGED, "", IMAP_PREAUTH, "CAPABILITY",
     "ready"},
    {"* BYE Logging out", IMAP_UNTAGGED, "", IMAP_BYE, "", "Logging out"},
    {"* 3 EXISTS", IMAP_UNTAGGED, "", IMAP_OTHER, "", "3 EXISTS"},
    {"+ ", IMAP_CONTINUATION, "", IMAP_OK, "", ""},
    {"+", IMAP_CONTINUATION, "", IMAP_OK, "", ""},
    {"+ eyJzdGF0dXMiOiI0MDEifQ==", IMAP_CONTINUATION, "", IMAP_OK, "",
     "eyJzdGF0dXMiOiI0MDEifQ=="},
    {"A01 OK AUTHENTICATE completed.", IMAP_TAGGED, "A01", IMAP_OK, "",
     "AUTHENTICATE completed."},
    {"A01 NO AUTHENTICATE failed.", IMAP_TAGGED, "A01", IMAP_NO, "", "AUTHENTICATE failed."},
    {"M2 NO [AUTHENTICATIONFAILED] Authentication failed.", IMAP_TAGGED, "M2", IMAP_NO,
     "AUTHENTICATIONFAILED", "Authentication failed."},
    {"M2 NO [UNAVAILABLE] Temporary authentication failure.", IMAP_TAGGED, "M2", IMAP_NO,
     "UNAVAILABLE", "Temporary authentication failure."},
    {"M3 BAD User is authenticated but not connected.", IMAP_TAGGED, "M3", IMAP_BAD, "",
     "User is authenticated but not connected."},
    {"m4 ok [READ-ONLY] done", IMAP_TAGGED, "m4", IMAP_OK, "READ-ONLY", "done"},
    {"M5 OK", IMAP_TAGGED, "M5", IMAP_OK, "", ""},
    {"M5 FETCH done", IMAP_MALFORMED, "M5", IMAP_OTHER, "", "FETCH done"},
    {"", IMAP_MALFORMED, "", IMAP_OK, "", ""},
    {"+OK", IMAP_MALFORMED, "", IMAP_OK, "", "+OK"},
};

static void
imap_reply_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(imap_cases) / sizeof(imap_cases[0]); i++) {
        const struct imap_case *c = &imap_cases[i];
        struct imap_reply r;

        imap_reply_parse(c->line, &r);
        if (r.kind != c->kind)
            fail_msg("\"%s\": kind %d, expected %d", c->line, r.kind, c->kind);
        if (c->kind == IMAP_MALFORMED)
            continue;
        if (c->kind == IMAP_TAGGED)
            assert_string_equal(r.tag, c->tag);
        if (c->kind != IMAP_CONTINUATION)
            assert_int_equal(r.cond, c->cond);
        assert_string_equal(r.code, c->code);
        assert_string_equal(r.text, c->text);
    }
}

static void
imap_capability_forms(void **state)
{
    struct mt_buf caps;

    (void)state;
    mt_buf_init(&caps, 4096);
    assert_int_equal(imap_capability_parse("* CAPABILITY IMAP4rev1  SASL-IR AUTH=XOAUTH2 ",
                                           &caps),
                     1);
    assert_string_equal(caps.data, "IMAP4rev1 SASL-IR AUTH=XOAUTH2");
    assert_int_equal(imap_capability_parse("M1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in",
                                           &caps),
                     1);
    assert_string_equal(caps.data, "IMAP4rev1 IDLE MOVE");
    assert_int_equal(imap_capability_parse("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready",
                                           &caps),
                     1);
    assert_string_equal(caps.data, "IMAP4rev1 AUTH=PLAIN");
    assert_int_equal(imap_capability_parse("* OK [UIDNEXT 4] Predicted", &caps), 0);
    assert_int_equal(imap_capability_parse("* OK [CAPABILITY IMAP4rev1", &caps), 0);
    assert_string_equal(caps.data, "IMAP4rev1 AUTH=PLAIN");

    assert_true(mail_caps_has("IMAP4rev1 SASL-IR AUTH=XOAUTH2", "auth=xoauth2"));
    assert_true(mail_caps_has("IMAP4rev1 SASL-IR AUTH=XOAUTH2", "SASL-IR"));
    assert_false(mail_caps_has("IMAP4rev1 SASL-IRX AUTH=XOAUTH2", "SASL-IR"));
    assert_false(mail_caps_has("IMAP4rev1 AUTH=XOAUTH", "AUTH=XOAUTH2"));
    assert_false(mail_caps_has("", "AUTH=XOAUTH2"));
    mt_buf_free(&caps);
}

static void
preauth_capabilities_drop_login_words(void **state)
{
    struct mt_buf out;

    (void)state;
    mt_buf_init(&out, 4096);
    assert_int_equal(imap_caps_for_preauth("IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED "
                                           "AUTH=PLAIN AUTH=XOAUTH2 IDLE auth=oauthbearer MOVE",
                                           &out),
                     0);
    assert_string_equal(out.data, "IMAP4rev1 IDLE MOVE");
    mt_buf_free(&out);
}

/* ---- SMTP ---- */

struct smtp_case {
    const char *line;
    int ok;
    int code;
    int last;
    const char *text;
};

static const struct smtp_case smtp_cases[] = {
    {"250-AUTH XOAUTH2 OAUTHBEARER", 1, 250, 0, "AUTH XOAUTH2 OAUTHBEARER"},
    {"250 PIPELINING", 1, 250, 1, "PIPELINING"},
    {"334 ", 1, 334, 1, ""},
    {"334", 1, 334, 1, ""},
    {"535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]", 1, 535,
     1, "5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]"},
    {"535-5.7.8 Username and Password not accepted.", 1, 535, 0,
     "5.7.8 Username and Password not accepted."},
    {"25", 0, 0, 0, NULL},
    {"250x", 0, 0, 0, NULL},
    {"650 nope", 0, 0, 0, NULL},
    {"abc hello", 0, 0, 0, NULL},
};

static void
smtp_reply_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(smtp_cases) / sizeof(smtp_cases[0]); i++) {
        const struct smtp_case *c = &smtp_cases[i];
        int code = -1, last = -1, off = smtp_reply_line(c->line, &code, &last);

        if (!c->ok) {
            if (off != -1)
                fail_msg("\"%s\" should be malformed", c->line);
            continue;
        }
        if (off < 0)
            fail_msg("\"%s\" should parse", c->line);
        assert_int_equal(code, c->code);
        assert_int_equal(last, c->last);
        assert_string_equal(c->line + off, c->text);
    }
}

static void
smtp_ehlo_auth_forms(void **state)
{
    struct mt_buf mechs;

    (void)state;
    mt_buf_init(&mechs, 4096);
    assert_int_equal(smtp_ehlo_auth("localhost\n8BITMIME\nAUTH XOAUTH2 OAUTHBEARER\nPIPELINING\n",
                                    &mechs),
                     1);
    assert_string_equal(mechs.data, "XOAUTH2 OAUTHBEARER");
    assert_int_equal(smtp_ehlo_auth("mx\nAUTH=LOGIN PLAIN XOAUTH2\n", &mechs), 1);
    assert_string_equal(mechs.data, "LOGIN PLAIN XOAUTH2");
    assert_int_equal(smtp_ehlo_auth("mx\nAUTHX FOO\nSIZE 100\n", &mechs), 0);
    mt_buf_free(&mechs);
}

static void
smtp_enhanced_codes(void **state)
{
    char code[16];

    (void)state;
    smtp_enhanced_code("5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
                       "disabled for the Tenant.", code, sizeof(code));
    assert_string_equal(code, "5.7.139");
    smtp_enhanced_code("5.7.8 Authentication failed.", code, sizeof(code));
    assert_string_equal(code, "5.7.8");
    smtp_enhanced_code("Authentication failed", code, sizeof(code));
    assert_string_equal(code, "");
    smtp_enhanced_code("2.0.0", code, sizeof(code));
    assert_string_equal(code, "2.0.0");
    smtp_enhanced_code("12.0.0 x", code, sizeof(code));
    assert_string_equal(code, "");
    smtp_enhanced_code("1.2 x", code, sizeof(code));
    assert_string_equal(code, "");
}

/* ---- POP3 ---- */

static void
pop3_capa_and_codes(void **state)
{
    struct mt_buf mechs;
    char code[32];

    (void)state;
    mt_buf_init(&mechs, 4096);
    assert_int_equal(pop3_capa_sasl("+OK\nCAPA\nTOP\nUIDL\nSASL XOAUTH2 OAUTHBEARER\nUSER\n",
                                    &mechs),
                     1);
    assert_string_equal(mechs.data, "XOAUTH2 OAUTHBEARER");
    assert_int_equal(pop3_capa_sasl("+OK\nTOP\nSASLX FOO\n", &mechs), 0);

    pop3_resp_code("-ERR [SYS/TEMP] Temporary authentication failure.", code, sizeof(code));
    assert_string_equal(code, "SYS/TEMP");
    pop3_resp_code("-ERR [AUTH] Authentication failed.", code, sizeof(code));
    assert_string_equal(code, "AUTH");
    pop3_resp_code("-ERR Authentication failure: unknown user name or bad password.", code,
                   sizeof(code));
    assert_string_equal(code, "");
    pop3_resp_code("-ERR [IN-USE", code, sizeof(code));
    assert_string_equal(code, "");
    mt_buf_free(&mechs);
    pop3_resp_code("-ERR", code, sizeof(code));
    assert_string_equal(code, "");
}

/* ---- causes of a rejected login ---- */

static int
has_cause(const struct check_outcome *out, const char *part)
{
    for (size_t i = 0; i < out->ncauses; i++)
        if (strstr(out->causes[i], part) != NULL)
            return 1;
    return 0;
}

static void
causes_microsoft_smtp_auth_disabled(void **state)
{
    struct account a = {.name = "work", .provider = PROVIDER_MICROSOFT,
                        .user = "alice@contoso.com",
                        .scope = "offline_access https://outlook.office.com/IMAP.AccessAsUser.All "
                                 "https://outlook.office.com/SMTP.Send"};
    struct mail_auth_result res = {.outcome = MAIL_AUTH_REJECTED, .enhanced = "5.7.139"};
    struct check_outcome out = {0};

    (void)state;
    check_explain_rejection(&a, MAIL_SMTP, &res, &out);
    assert_true(out.ncauses >= 2);
    assert_non_null(strstr(out.causes[0], "SMTP AUTH is disabled"));
    assert_non_null(strstr(out.causes[0], "5.7.139"));
    assert_false(has_cause(&out, "does not request"));
    assert_true(has_cause(&out, "user=alice@contoso.com"));
}

static void
causes_missing_scope(void **state)
{
    struct account a = {.name = "work", .provider = PROVIDER_MICROSOFT,
                        .user = "alice@contoso.com",
                        .scope = "offline_access https://outlook.office.com/SMTP.Send"};
    struct mail_auth_result res = {.outcome = MAIL_AUTH_REJECTED};
    struct check_outcome out = {0};

    (void)state;
    check_explain_rejection(&a, MAIL_IMAP, &res, &out);
    assert_non_null(strstr(out.causes[0], "does not request the IMAP.AccessAsUser.All scope"));
    assert_non_null(strstr(out.causes[0], "add imap to scope"));
    assert_true(has_cause(&out, "Set-CASMailbox -ImapEnabled"));

    memset(&out, 0, sizeof(out));
    check_explain_rejection(&a, MAIL_POP3, &res, &out);
    assert_non_null(strstr(out.causes[0], "POP.AccessAsUser.All"));
    assert_true(has_cause(&out, "-PopEnabled"));
}

static void
causes_shared_mailbox(void **state)
{
    struct account a = {.name = "shared", .provider = PROVIDER_MICROSOFT,
                        .user = "alice@contoso.com", .mailbox = "info@contoso.com",
                        .scope = "https://outlook.office.com/IMAP.AccessAsUser.All"};
    struct mail_auth_result res = {.outcome = MAIL_AUTH_REJECTED};
    struct check_outcome out = {0};

    (void)state;
    check_explain_rejection(&a, MAIL_IMAP, &res, &out);
    assert_true(has_cause(&out, "no full access to the mailbox info@contoso.com"));
}

static void
causes_challenge_scope_and_expiry_first(void **state)
{
    struct account a = {.name = "gmail", .provider = PROVIDER_GOOGLE, .user = "bob@gmail.com",
                        .scope = "https://mail.google.com/"};
    struct mail_auth_result res = {.outcome = MAIL_AUTH_REJECTED, .had_challenge = 1};
    struct check_outcome out = {0};

    (void)state;
    snprintf(res.challenge.status, sizeof(res.challenge.status), "400");
    snprintf(res.challenge.scope, sizeof(res.challenge.scope), "https://mail.google.com/");
    check_explain_rejection(&a, MAIL_IMAP, &res, &out);
    /* The server called the token invalid: expiry or revocation comes first. */
    assert_non_null(strstr(out.causes[0], "expired or was revoked"));
    assert_false(has_cause(&out, "asks for the scope"));
    assert_false(has_cause(&out, "Set-CASMailbox"));

    memset(&out, 0, sizeof(out));
    snprintf(res.challenge.scope, sizeof(res.challenge.scope), "https://other.example/");
    check_explain_rejection(&a, MAIL_IMAP, &res, &out);
    assert_true(has_cause(&out, "asks for the scope \"https://other.example/\""));
}

static void
cloud_default_servers(void **state)
{
    struct account a;
    struct mail_target t;
    struct mt_err err;

    (void)state;
    memset(&a, 0, sizeof(a));
    a.provider = PROVIDER_MICROSOFT;
    a.cloud = CLOUD_GLOBAL;
    err_clear(&err);
    assert_int_equal(mail_target_for_account(&a, MAIL_SMTP, &t, &err), 0);
    assert_string_equal(t.host, "smtp.office365.com");
    assert_int_equal(t.port, 587);
    assert_int_equal(t.tls, MAIL_TLS_STARTTLS);
    a.cloud = CLOUD_USGOV;
    assert_int_equal(mail_target_for_account(&a, MAIL_IMAP, &t, &err), 0);
    assert_string_equal(t.host, "outlook.office365.us");
    assert_int_equal(t.port, 993);
    assert_int_equal(t.tls, MAIL_TLS_IMPLICIT);
    a.provider = PROVIDER_GOOGLE;
    assert_int_equal(mail_target_for_account(&a, MAIL_IMAP, &t, &err), 0);
    assert_string_equal(t.host, "imap.gmail.com");
    a.provider = PROVIDER_GENERIC;
    assert_int_equal(mail_target_for_account(&a, MAIL_IMAP, &t, &err), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(target_parse_table),
        cmocka_unit_test(provider_default_servers),
        cmocka_unit_test(cloud_default_servers),
        cmocka_unit_test(protocol_and_mech_names),
        cmocka_unit_test(xoauth2_google_vector),
        cmocka_unit_test(xoauth2_microsoft_vector),
        cmocka_unit_test(oauthbearer_rfc7628_vector),
        cmocka_unit_test(oauthbearer_escapes_authzid),
        cmocka_unit_test(sasl_rejects_bad_input),
        cmocka_unit_test(challenge_google_400),
        cmocka_unit_test(challenge_dovecot_401),
        cmocka_unit_test(challenge_oauthbearer_invalid_token),
        cmocka_unit_test(challenge_hostile_bytes_sanitized),
        cmocka_unit_test(imap_reply_table),
        cmocka_unit_test(imap_capability_forms),
        cmocka_unit_test(preauth_capabilities_drop_login_words),
        cmocka_unit_test(smtp_reply_table),
        cmocka_unit_test(smtp_ehlo_auth_forms),
        cmocka_unit_test(smtp_enhanced_codes),
        cmocka_unit_test(pop3_capa_and_codes),
        cmocka_unit_test(causes_microsoft_smtp_auth_disabled),
        cmocka_unit_test(causes_missing_scope),
        cmocka_unit_test(causes_shared_mailbox),
        cmocka_unit_test(causes_challenge_scope_and_expiry_first),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
