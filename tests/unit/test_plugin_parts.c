/*
 * Unit tests of the plugin's parts that need no SASL library: the
 * messages, the error-challenge reader, the configuration reader and the
 * exec transport's argument checks. test_plugin covers the whole plugin
 * through libsasl2.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "message.h"
#include "mt_base64.h"
#include "mt_buf.h"
#include "transport.h"

#define BYTES(s) s, sizeof(s) - 1

static void
assert_built(const struct message_params *p, const char *expected, size_t expected_len,
             const char *b64)
{
    struct mt_buf out, enc;
    const char *error = NULL;

    mt_buf_init(&out, MESSAGE_MAX);
    mt_buf_init(&enc, 4 * MESSAGE_MAX);
    assert_int_equal(message_build(p, &out, &error), 0);
    assert_null(error);
    assert_int_equal(out.len, expected_len);
    assert_memory_equal(out.data, expected, expected_len);
    if (b64 != NULL) {
        assert_int_equal(mt_base64_encode(&enc, out.data, out.len, MT_BASE64_STD), 0);
        assert_string_equal(enc.data, b64);
    }
    mt_buf_free(&out);
    mt_buf_free(&enc);
}

static void
message_xoauth2_vectors(void **state)
{
    struct message_params google = {
        .mech = MESSAGE_XOAUTH2,
        .address = "someuser@example.com",
        .host = "imap.gmail.com",   /* XOAUTH2 has no host field */
        .port = 993,
        .token = BYTES("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
    };
    struct message_params microsoft = {
        .mech = MESSAGE_XOAUTH2,
        .address = "test@contoso.onmicrosoft.com",
        .token = BYTES("EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA"),
    };

    (void)state;
    assert_built(&google,
                 BYTES("user=someuser@example.com\x01" "auth=Bearer "
                       "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"),
                 "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52"
                 "YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
    assert_built(&microsoft,
                 BYTES("user=test@contoso.onmicrosoft.com\x01" "auth=Bearer "
                       "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA\x01\x01"),
                 "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFV"
                 "RkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==");
}

static void
message_oauthbearer_vectors(void **state)
{
    struct message_params rfc = {
        .mech = MESSAGE_OAUTHBEARER,
        .address = "user@example.com",
        .host = "server.example.com",
        .port = 143,
        .token = BYTES("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
    };
    struct message_params minimal = {
        .mech = MESSAGE_OAUTHBEARER,
        .token = BYTES("TOKEN"),
    };
    struct message_params escaped = {
        .mech = MESSAGE_OAUTHBEARER,
        .address = "a,b=c@example.com",
        .token = BYTES("TOKEN"),
    };

    (void)state;
    assert_built(&rfc,
                 BYTES("n,a=user@example.com,\x01" "host=server.example.com\x01" "port=143\x01"
                       "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"),
                 "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1"
                 "dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
    /* Vector 4: the plugin itself always has an address, so only this test produces it. */
    assert_built(&minimal, BYTES("n,,\x01" "auth=Bearer TOKEN\x01\x01"),
                 "biwsAWF1dGg9QmVhcmVyIFRPS0VOAQE=");
    minimal.address = "";
    assert_built(&minimal, BYTES("n,,\x01" "auth=Bearer TOKEN\x01\x01"), NULL);
    assert_built(&escaped, BYTES("n,a=a=2Cb=3Dc@example.com,\x01" "auth=Bearer TOKEN\x01\x01"),
                 "bixhPWE9MkNiPTNEY0BleGFtcGxlLmNvbSwBYXV0aD1CZWFyZXIgVE9LRU4BAQ==");
}

static void
message_host_with_framing_bytes_left_out(void **state)
{
    struct message_params p = {
        .mech = MESSAGE_OAUTHBEARER,
        .address = "u@example.com",
        .host = "evil\x01" "auth=Bearer x",
        .port = 993,
        .token = BYTES("TOKEN"),
    };

    (void)state;
    assert_built(&p, BYTES("n,a=u@example.com,\x01" "port=993\x01" "auth=Bearer TOKEN\x01\x01"),
                 NULL);
    p.host = "";
    assert_built(&p, BYTES("n,a=u@example.com,\x01" "port=993\x01" "auth=Bearer TOKEN\x01\x01"),
                 NULL);
}

static void
message_rejects_bad_tokens(void **state)
{
    static const struct {
        const char *p;
        size_t n;
    } tokens[] = {
        {BYTES("")}, {BYTES("TO\x01KEN")}, {BYTES("TO\rKEN")}, {BYTES("TO\nKEN")},
        {BYTES("TO\0KEN")}, {BYTES("TO KEN")}, {BYTES("TOKEN\x7f")}, {BYTES("TO\xc3\xa9KEN")},
        {BYTES("TOKEN\t")},
    };
    struct mt_buf out;

    (void)state;
    mt_buf_init(&out, MESSAGE_MAX);
    mt_buf_append_str(&out, "kept");
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
        for (int mech = MESSAGE_XOAUTH2; mech <= MESSAGE_OAUTHBEARER; mech++) {
            struct message_params p = {
                .mech = (enum message_mech)mech,
                .address = "u@example.com",
                .token = tokens[i].p,
                .token_len = tokens[i].n,
            };
            const char *error = NULL;

            assert_int_equal(message_build(&p, &out, &error), -1);
            assert_int_equal(errno, EINVAL);
            assert_non_null(error);
            assert_string_equal(mt_buf_str(&out), "kept");
        }
    }
    mt_buf_free(&out);
}

static void
message_rejects_bad_addresses(void **state)
{
    static const char *const addresses[] = {
        "u\x01@example.com", "u@example.com\r\n", "u v@example.com", "u@example.com\x7f",
    };
    struct mt_buf out;

    (void)state;
    mt_buf_init(&out, MESSAGE_MAX);
    for (size_t i = 0; i < sizeof(addresses) / sizeof(addresses[0]); i++) {
        for (int mech = MESSAGE_XOAUTH2; mech <= MESSAGE_OAUTHBEARER; mech++) {
            struct message_params p = {
                .mech = (enum message_mech)mech,
                .address = addresses[i],
                .token = BYTES("TOKEN"),
            };
            const char *error = NULL;

            assert_int_equal(message_build(&p, &out, &error), -1);
            assert_non_null(error);
            assert_int_equal(out.len, 0);
        }
    }
    /* XOAUTH2 needs an address; OAUTHBEARER may go without. */
    {
        struct message_params p = {.mech = MESSAGE_XOAUTH2, .address = "", .token = BYTES("T")};
        const char *error = NULL;

        assert_int_equal(message_build(&p, &out, &error), -1);
        assert_string_equal(error, "the address is empty");
        p.address = NULL;
        assert_int_equal(message_build(&p, &out, &error), -1);
    }
    /* UTF-8 addresses pass. */
    {
        struct message_params p = {
            .mech = MESSAGE_XOAUTH2, .address = "j\xc3\xb6rg@example.com", .token = BYTES("T"),
        };
        const char *error = NULL;

        assert_int_equal(message_build(&p, &out, &error), 0);
    }
    mt_buf_free(&out);
}

static void
message_too_long_is_rejected_whole(void **state)
{
    struct message_params p = {.mech = MESSAGE_XOAUTH2, .address = "u@example.com"};
    struct mt_buf out, token;
    const char *error = NULL;

    (void)state;
    mt_buf_init(&token, 1 << 20);
    for (int i = 0; i < 200; i++)
        mt_buf_append_str(&token, "abcdefghij");
    p.token = token.data;
    p.token_len = token.len;
    mt_buf_init(&out, 1000);
    assert_int_equal(message_build(&p, &out, &error), -1);
    assert_int_equal(errno, ENOSPC);
    assert_string_equal(error, "the message would be too long");
    assert_int_equal(out.len, 0);
    mt_buf_free(&out);
    mt_buf_free(&token);
}

static void
message_token_like_passwords(void **state)
{
    static const struct {
        const char *s;
        int expected;
    } cases[] = {
        {"ya29.a0AfH6SMBxLongTokenValue", 1},
        {"EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA", 1},
        {"eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", 1},
        {"vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", 1},
        {"abc-._~+/ABCDEFGHIJKLMN", 1},
        {"abcdefghijklmnop", 0},               /* an app password: 16 letters */
        {"abcdefghijklmnopqrs", 0},            /* 19 */
        {"abcdefghijklmnopqrst", 1},           /* 20 */
        {"abcdefghij=klmnopqrstuvwxyz", 0},    /* '=' only at the end */
        {"====================", 0},
        {"correct horse battery staple", 0},
        {"abcdefghijklmnopqrst!", 0},
        {"abcdefghijklmnopqrst\n", 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (message_is_token_like(cases[i].s, strlen(cases[i].s)) != cases[i].expected)
            fail_msg("message_is_token_like(\"%s\") != %d", cases[i].s, cases[i].expected);
    }
}

static void
message_port_from_address(void **state)
{
    static const struct {
        const char *ipport;
        unsigned port;
    } cases[] = {
        {"127.0.0.1;143", 143}, {"::1;587", 587}, {"192.0.2.1;00993", 993}, {"x;65535", 65535},
        {"x;65536", 0}, {"x;0", 0}, {"x;", 0}, {"127.0.0.1", 0}, {"x;1a", 0}, {"x;-1", 0},
        {"x;99999999999999999999", 0},
    };

    (void)state;
    assert_int_equal(message_port_from_ipport(NULL), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (message_port_from_ipport(cases[i].ipport) != cases[i].port)
            fail_msg("port of \"%s\" is not %u", cases[i].ipport, cases[i].port);
    }
}

static void
message_smtp_line_length(void **state)
{
    (void)state;
    assert_int_equal(message_smtp_auth_line_len("XOAUTH2", 372), 511);
    assert_int_equal(message_smtp_auth_line_len("XOAUTH2", 373), 515);
    assert_int_equal(message_smtp_auth_line_len("OAUTHBEARER", 369), 511);
    assert_int_equal(message_smtp_auth_line_len("OAUTHBEARER", 370), 515);
    assert_int_equal(message_smtp_auth_line_len("XOAUTH2", 0), 15);
}

/* Reads a challenge from a buffer of exactly len bytes, so that ASan catches any read past it. */
static void
read_challenge(const char *text, size_t len, struct message_challenge *c)
{
    char *copy = malloc(len > 0 ? len : 1);

    assert_non_null(copy);
    memcpy(copy, text, len);
    message_read_challenge(copy, len, c);
    free(copy);
}

static void
challenge_json_fields(void **state)
{
    static const struct {
        const char *json;
        const char *status;
        const char *scope;
    } cases[] = {
        {"{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":\"https://mail.google.com/\"}", "400",
         "https://mail.google.com/"},
        {"{\"status\":\"invalid_token\",\"scope\":\"example_scope\",\"openid-configuration\":"
         "\"https://example.com/.well-known/openid-config\"}", "invalid_token", "example_scope"},
        {" {\n \"status\" : 401 , \"scope\" : null }\r\n", "401", "null"},
        {"{\"scope\":\"s\"}", "", "s"},
        {"{}", "", ""},
        {"{\"status\":\"a\\/b\\\\c\\u0041\"}", "a/b\\x5ccA", ""},
        {"{\"status\":true}", "true", ""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct message_challenge c;

        read_challenge(cases[i].json, strlen(cases[i].json), &c);
        assert_int_equal(c.is_json, 1);
        assert_string_equal(c.status, cases[i].status);
        assert_string_equal(c.scope, cases[i].scope);
    }
}

static void
challenge_not_json(void **state)
{
    static const struct {
        const char *p;
        size_t n;
        const char *text;
    } cases[] = {
        {BYTES("garbage\x1b[31m\x00\x01"), "garbage\\x1b[31m\\x00\\x01"},
        {BYTES("{\"status\":\"400\""), "{\\x22status\\x22:\\x22400\\x22"},
        {BYTES("{\"status\":{\"nested\":1}}"), "{\\x22status\\x22:{\\x22nested\\x22:1}}"},
        {BYTES("{\"status\":\"400\"} trailing"), "{\\x22status\\x22:\\x22400\\x22} trailing"},
        {BYTES("{\"status\":\"bad\\q\"}"), "{\\x22status\\x22:\\x22bad\\x5cq\\x22}"},
        {BYTES("{\"status\":\"\\u12\"}"), "{\\x22status\\x22:\\x22\\x5cu12\\x22}"},
        {BYTES("{\"st\natus\":1}"), "{\\x22st\\x0aatus\\x22:1}"},
        {BYTES("[1,2]"), "[1,2]"},
        {BYTES("\xff\xfe"), "\\xff\\xfe"},
        {BYTES(""), ""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct message_challenge c;

        read_challenge(cases[i].p, cases[i].n, &c);
        assert_int_equal(c.is_json, 0);
        assert_string_equal(c.status, "");
        assert_string_equal(c.text, cases[i].text);
    }
}

static void
challenge_long_values_are_cut(void **state)
{
    struct message_challenge c;
    struct mt_buf b;

    (void)state;
    mt_buf_init(&b, 1 << 20);
    mt_buf_append_str(&b, "{\"status\":\"");
    for (int i = 0; i < 10000; i++)
        mt_buf_append_str(&b, "\\u001b");
    mt_buf_append_str(&b, "\",\"scope\":\"");
    for (int i = 0; i < 10000; i++)
        mt_buf_append_byte(&b, 's');
    mt_buf_append_str(&b, "\"}");
    read_challenge(b.data, b.len, &c);
    assert_int_equal(c.is_json, 1);
    assert_true(strlen(c.status) < sizeof(c.status));
    assert_non_null(strstr(c.status, "\\x1b\\x1b"));
    assert_non_null(strstr(c.status, "..."));
    assert_true(strlen(c.scope) < sizeof(c.scope));
    assert_string_equal(c.scope + strlen(c.scope) - 3, "...");

    mt_buf_reset(&b);
    for (int i = 0; i < 10000; i++)
        mt_buf_append_byte(&b, '\x01');
    read_challenge(b.data, b.len, &c);
    assert_int_equal(c.is_json, 0);
    assert_true(strlen(c.text) < sizeof(c.text));
    assert_string_equal(c.text + strlen(c.text) - 3, "...");
    mt_buf_free(&b);
}

static void
escape_writes_printable_ascii(void **state)
{
    char out[16];

    (void)state;
    message_escape(BYTES("a\"b\\c\x7f"), out, sizeof(out));
    assert_string_equal(out, "a\\x22b\\x5cc...");
    message_escape(BYTES("abc"), out, sizeof(out));
    assert_string_equal(out, "abc");
    message_escape(BYTES("0123456789abcdefghij"), out, sizeof(out));
    assert_string_equal(out, "0123456789ab...");
}

/* ---- configuration ---- */

static char config_dir[256];
static char warnings[4096];

static void
collect_warning(const void *context, const char *message)
{
    (void)context;
    strncat(warnings, message, sizeof(warnings) - strlen(warnings) - 2);
    strcat(warnings, "\n");
}

static char *
config_file(const char *name, const char *text)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", config_dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int
config_setup(void **state)
{
    (void)state;
    snprintf(config_dir, sizeof(config_dir), "/tmp/mtplugin-config.XXXXXX");
    if (mkdtemp(config_dir) == NULL)
        return -1;
    warnings[0] = '\0';
    unsetenv("MAILTOKEN_HELPER");
    unsetenv("MAILTOKEN_SOCKET");
    return 0;
}

static int
config_teardown(void **state)
{
    char command[300];

    (void)state;
    snprintf(command, sizeof(command), "rm -rf -- '%s'", config_dir);
    return system(command) == 0 ? 0 : -1;
}

static void
config_reads_defaults_section(void **state)
{
    struct plugin_config cfg = {.timeout_ms = 20000};
    const char *path = config_file("a.conf",
        "# mailtoken\n"
        "; comment\n"
        "[defaults]\n"
        "store = /var/lib/mailtoken    ; not the plugin's\n"
        "  helper   =   /opt/mailtoken/bin/mailtoken   ; inline comment\n"
        "helper_timeout=7\n"
        "plugin_socket = private/mailtoken\n"
        "this line is malformed\n"
        "=no key\n"
        "[work]\n"
        "helper = /wrong/section\n"
        "helper_timeout = 99\n"
        "plugin_socket = /wrong/section.sock\n");

    (void)state;
    assert_int_equal(config_read_file(&cfg, path, collect_warning, NULL), 0);
    assert_string_equal(cfg.helper, "/opt/mailtoken/bin/mailtoken");
    assert_int_equal(cfg.timeout_ms, 7000);
    assert_string_equal(cfg.socket_path, "private/mailtoken");
    assert_string_equal(warnings, "");
}

static void
config_semicolon_without_space_is_value(void **state)
{
    struct plugin_config cfg = {.timeout_ms = 20000};
    const char *path = config_file("b.conf",
        "[ defaults ]\n"
        "helper = /opt/a;b\n"
        "plugin_socket = /run/x.sock\t; tab before the comment\n"
        "[other]\n"
        "[defaults]\n"
        "helper_timeout = 3\n");

    (void)state;
    assert_int_equal(config_read_file(&cfg, path, collect_warning, NULL), 0);
    assert_string_equal(cfg.helper, "/opt/a;b");
    assert_string_equal(cfg.socket_path, "/run/x.sock");
    assert_int_equal(cfg.timeout_ms, 3000);
}

static void
config_timeout_units(void **state)
{
    static const struct {
        const char *text;
        int ms;
    } cases[] = {
        {"45", 45000}, {"45s", 45000}, {"2m", 120000}, {"1h", 3600000}, {"61m", 20000},
        {"0s", 20000}, {"5 s", 20000}, {"m", 20000},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct plugin_config cfg = {.helper = "/usr/bin/mailtoken", .timeout_ms = 20000};
        char text[64];
        const char *path;

        snprintf(text, sizeof(text), "[defaults]\nhelper_timeout = %s\n", cases[i].text);
        path = config_file("t.conf", text);
        assert_int_equal(config_read_file(&cfg, path, collect_warning, NULL), 0);
        if (cfg.timeout_ms != cases[i].ms)
            fail_msg("helper_timeout = %s gave %d ms, expected %d", cases[i].text, cfg.timeout_ms,
                     cases[i].ms);
    }
}

static void
config_invalid_values_warn(void **state)
{
    struct plugin_config cfg = {.helper = "/usr/bin/mailtoken", .timeout_ms = 20000};
    const char *path = config_file("c.conf",
        "[defaults]\n"
        "helper = mailtoken\n"
        "helper_timeout = 0\n"
        "helper_timeout = 3601\n"
        "helper_timeout = 5x\n"
        "helper_timeout = -1\n"
        "plugin_socket = /an/extremely/long/path/that/does/not/fit/into/sun_path/of/a/unix/"
        "domain/socket/address/structure/because/that/holds/only/108/bytes/"
        "domain/socket/address/structure.sock\n");

    (void)state;
    assert_int_equal(config_read_file(&cfg, path, collect_warning, NULL), 0);
    assert_string_equal(cfg.helper, "/usr/bin/mailtoken");
    assert_int_equal(cfg.timeout_ms, 20000);
    assert_string_equal(cfg.socket_path, "");
    assert_non_null(strstr(warnings, ":2: helper path \"mailtoken\" is not absolute"));
    assert_non_null(strstr(warnings, ":3: helper_timeout \"0\""));
    assert_non_null(strstr(warnings, ":4: helper_timeout \"3601\""));
    assert_non_null(strstr(warnings, ":5: helper_timeout \"5x\""));
    assert_non_null(strstr(warnings, ":6: helper_timeout \"-1\""));
    assert_non_null(strstr(warnings, ":7: socket path"));
}

static void
config_long_line_is_skipped(void **state)
{
    struct plugin_config cfg = {.timeout_ms = 20000};
    struct mt_buf text;
    const char *path;

    (void)state;
    mt_buf_init(&text, 1 << 20);
    mt_buf_append_str(&text, "[defaults]\nhelper = /");
    for (int i = 0; i < 10000; i++)
        mt_buf_append_byte(&text, 'x');
    mt_buf_append_str(&text, "\nhelper_timeout = 4\n");
    path = config_file("d.conf", text.data);
    assert_int_equal(config_read_file(&cfg, path, collect_warning, NULL), 0);
    assert_string_equal(cfg.helper, "");
    assert_int_equal(cfg.timeout_ms, 4000);
    assert_non_null(strstr(warnings, ":2: line longer than"));
    mt_buf_free(&text);
}

static void
config_load_precedence(void **state)
{
    struct plugin_config cfg;
    const char *path = config_file("e.conf",
        "[defaults]\nhelper = /from/file\nplugin_socket = /from/file.sock\nhelper_timeout = 9\n");

    (void)state;
    setenv("MAILTOKEN_CONFIG", path, 1);
    config_load(&cfg, "/built/in", "/nonexistent/system.conf", collect_warning, NULL);
    assert_string_equal(cfg.helper, "/from/file");
    assert_string_equal(cfg.socket_path, "/from/file.sock");
    assert_int_equal(cfg.timeout_ms, 9000);
    assert_string_equal(cfg.file, path);
    assert_string_equal(cfg.file_source, "MAILTOKEN_CONFIG");

    setenv("MAILTOKEN_HELPER", "/from/env", 1);
    setenv("MAILTOKEN_SOCKET", "", 1);
    config_load(&cfg, "/built/in", "/nonexistent/system.conf", collect_warning, NULL);
    assert_string_equal(cfg.helper, "/from/env");
    assert_string_equal(cfg.socket_path, "");
    assert_string_equal(warnings, "");

    setenv("MAILTOKEN_CONFIG", "/nonexistent/mailtoken.conf", 1);
    unsetenv("MAILTOKEN_HELPER");
    unsetenv("MAILTOKEN_SOCKET");
    config_load(&cfg, "/built/in", "/nonexistent/system.conf", collect_warning, NULL);
    assert_string_equal(cfg.helper, "/built/in");
    assert_int_equal(cfg.timeout_ms, CONFIG_TIMEOUT_DEFAULT * 1000);
    assert_non_null(strstr(warnings, "does not exist; using defaults"));
    unsetenv("MAILTOKEN_CONFIG");
}

static void
config_load_without_any_file(void **state)
{
    struct plugin_config cfg;
    char home[300];

    (void)state;
    unsetenv("MAILTOKEN_CONFIG");
    unsetenv("XDG_CONFIG_HOME");
    snprintf(home, sizeof(home), "%s", config_dir);
    setenv("HOME", home, 1);
    config_load(&cfg, "/built/in", "/nonexistent/system.conf", collect_warning, NULL);
    assert_string_equal(cfg.helper, "/built/in");
    assert_string_equal(cfg.file, "");
    assert_string_equal(cfg.file_source, "none");
    assert_string_equal(warnings, "");
}

/* ---- transports ---- */

static void
exec_refuses_relative_helper(void **state)
{
    char *argv[] = {(char[]){"mailtoken"}, NULL};
    struct mt_buf reply;
    char err[256];

    (void)state;
    mt_buf_init(&reply, 1024);
    assert_int_equal(transport_exec("mailtoken", argv, 1000, &reply, err, sizeof(err)), -1);
    assert_string_equal(err, "helper path \"mailtoken\" is not absolute");
    mt_buf_free(&reply);
}

static void
socket_path_too_long(void **state)
{
    char path[200];
    struct mt_buf reply;
    char err[256];
    int unreachable = 0;

    (void)state;
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    mt_buf_init(&reply, 1024);
    assert_int_equal(transport_socket(path, "x\n", 2, 1000, &reply, &unreachable, err,
                                      sizeof(err)), -1);
    assert_int_equal(unreachable, 1);
    assert_int_equal(transport_socket("/nonexistent/socket", "x\n", 2, 1000, &reply,
                                      &unreachable, err, sizeof(err)), -1);
    assert_int_equal(unreachable, 1);
    assert_non_null(strstr(err, "No such file or directory"));
    mt_buf_free(&reply);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_xoauth2_vectors),
        cmocka_unit_test(message_oauthbearer_vectors),
        cmocka_unit_test(message_host_with_framing_bytes_left_out),
        cmocka_unit_test(message_rejects_bad_tokens),
        cmocka_unit_test(message_rejects_bad_addresses),
        cmocka_unit_test(message_too_long_is_rejected_whole),
        cmocka_unit_test(message_token_like_passwords),
        cmocka_unit_test(message_port_from_address),
        cmocka_unit_test(message_smtp_line_length),
        cmocka_unit_test(challenge_json_fields),
        cmocka_unit_test(challenge_not_json),
        cmocka_unit_test(challenge_long_values_are_cut),
        cmocka_unit_test(escape_writes_printable_ascii),
        cmocka_unit_test_setup_teardown(config_reads_defaults_section, config_setup,
                                        config_teardown),
        cmocka_unit_test_setup_teardown(config_semicolon_without_space_is_value, config_setup,
                                        config_teardown),
        cmocka_unit_test_setup_teardown(config_timeout_units, config_setup, config_teardown),
        cmocka_unit_test_setup_teardown(config_invalid_values_warn, config_setup,
                                        config_teardown),
        cmocka_unit_test_setup_teardown(config_long_line_is_skipped, config_setup,
                                        config_teardown),
        cmocka_unit_test_setup_teardown(config_load_precedence, config_setup, config_teardown),
        cmocka_unit_test_setup_teardown(config_load_without_any_file, config_setup,
                                        config_teardown),
        cmocka_unit_test(exec_refuses_relative_helper),
        cmocka_unit_test(socket_path_too_long),
    };

    return cmocka_run_group_tests_name("plugin_parts", tests, NULL, NULL);
}
