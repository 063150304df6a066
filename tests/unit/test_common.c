/* Unit tests for common/: buffers, base64, SHA-256, the wire format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mt_base64.h"
#include "mt_buf.h"
#include "mt_confpath.h"
#include "mt_sha256.h"
#include "mt_wipe.h"
#include "mt_wire.h"

static void
buf_grows_until_limit(void **state)
{
    struct mt_buf b;

    (void)state;
    mt_buf_init(&b, 10);
    assert_string_equal(mt_buf_str(&b), "");
    assert_int_equal(mt_buf_append_str(&b, "12345"), 0);
    assert_int_equal(mt_buf_printf(&b, "%d", 6789), 0);
    assert_string_equal(mt_buf_str(&b), "123456789");
    assert_int_equal(mt_buf_append_str(&b, "ab"), -1);
    assert_int_equal(errno, ENOSPC);
    assert_string_equal(mt_buf_str(&b), "123456789");
    assert_int_equal(mt_buf_append_byte(&b, 'x'), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(mt_buf_append_byte(&b, 'y'), -1);
    mt_buf_free(&b);
    assert_null(b.data);
}

static void
buf_detach_hands_over(void **state)
{
    struct mt_buf b;
    char *s;

    (void)state;
    mt_buf_init(&b, 100);
    s = mt_buf_detach(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    mt_strfree(s);
    assert_int_equal(mt_buf_printf(&b, "%s-%s", "a", "b"), 0);
    s = mt_buf_detach(&b);
    assert_string_equal(s, "a-b");
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    mt_strfree(s);
}

struct base64_case {
    const char *raw;
    size_t raw_len;
    const char *std;
    const char *url;
};

/* RFC 4648 section 10, plus vectors with bytes that differ between alphabets. */
static const struct base64_case base64_cases[] = {
    {"", 0, "", ""},
    {"f", 1, "Zg==", "Zg"},
    {"fo", 2, "Zm8=", "Zm8"},
    {"foo", 3, "Zm9v", "Zm9v"},
    {"foob", 4, "Zm9vYg==", "Zm9vYg"},
    {"fooba", 5, "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", 6, "Zm9vYmFy", "Zm9vYmFy"},
    {"\xfb\xff\xbf", 3, "+/+/", "-_-_"},
    {"\x00\x01\x02", 3, "AAEC", "AAEC"},
};

static void
base64_known_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(base64_cases) / sizeof(base64_cases[0]); i++) {
        const struct base64_case *c = &base64_cases[i];
        struct mt_buf b;

        mt_buf_init(&b, 1000);
        assert_int_equal(mt_base64_encode(&b, c->raw, c->raw_len, MT_BASE64_STD), 0);
        assert_string_equal(mt_buf_str(&b), c->std);
        assert_int_equal(mt_base64_encoded_len(c->raw_len, MT_BASE64_STD), strlen(c->std));
        mt_buf_reset(&b);
        assert_int_equal(mt_base64_encode(&b, c->raw, c->raw_len, MT_BASE64_URL_NOPAD), 0);
        assert_string_equal(mt_buf_str(&b), c->url);
        assert_int_equal(mt_base64_encoded_len(c->raw_len, MT_BASE64_URL_NOPAD),
                         strlen(c->url));
        mt_buf_reset(&b);
        assert_int_equal(mt_base64_decode(&b, c->std, strlen(c->std), MT_BASE64_STD), 0);
        assert_int_equal(b.len, c->raw_len);
        assert_memory_equal(b.data == NULL ? "" : b.data, c->raw, c->raw_len);
        mt_buf_reset(&b);
        assert_int_equal(mt_base64_decode(&b, c->url, strlen(c->url), MT_BASE64_URL_NOPAD), 0);
        assert_int_equal(b.len, c->raw_len);
        mt_buf_free(&b);
    }
}

static void
base64_xoauth2_vector(void **state)
{
    static const char raw[] =
        "user=someuser@example.com\001auth=Bearer "
        "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001";
    struct mt_buf b;

    (void)state;
    mt_buf_init(&b, 1000);
    assert_int_equal(mt_base64_encode(&b, raw, sizeof(raw) - 1, MT_BASE64_STD), 0);
    assert_string_equal(mt_buf_str(&b),
                        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRx"
                        "bVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
    mt_buf_free(&b);
}

static void
base64_rejects_malformed(void **state)
{
    static const char *const bad_std[] = {
        "Zg=", "Zg", "Z===", "Zh==", "Zm9v=", "Zm 9v", "Zm9\n", "Zm-v", "=Zm9", "Zg=a",
    };
    static const char *const bad_url[] = {"Zg==", "Z", "Zh", "Zm+v", "Zm9v="};
    struct mt_buf b;

    (void)state;
    mt_buf_init(&b, 1000);
    for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
        errno = 0;
        assert_int_equal(mt_base64_decode(&b, bad_std[i], strlen(bad_std[i]), MT_BASE64_STD), -1);
        assert_int_equal(errno, EINVAL);
        mt_buf_reset(&b);
    }
    for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++) {
        assert_int_equal(
            mt_base64_decode(&b, bad_url[i], strlen(bad_url[i]), MT_BASE64_URL_NOPAD), -1);
        mt_buf_reset(&b);
    }
    mt_buf_free(&b);
}

static void
hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void
sha256_known_vectors(void **state)
{
    unsigned char digest[MT_SHA256_LEN];
    char text[2 * MT_SHA256_LEN + 1];
    struct mt_sha256 ctx;

    (void)state;
    mt_sha256("", 0, digest);
    hex(digest, sizeof(digest), text);
    assert_string_equal(text, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    mt_sha256("abc", 3, digest);
    hex(digest, sizeof(digest), text);
    assert_string_equal(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    mt_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, digest);
    hex(digest, sizeof(digest), text);
    assert_string_equal(text, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    /* One million 'a', fed in uneven pieces to exercise the block joins. */
    mt_sha256_init(&ctx);
    for (size_t done = 0, step = 1; done < 1000000; done += step, step = step % 97 + 1) {
        char chunk[100];

        if (step > 1000000 - done)
            step = 1000000 - done;
        memset(chunk, 'a', step);
        mt_sha256_update(&ctx, chunk, step);
    }
    mt_sha256_final(&ctx, digest);
    hex(digest, sizeof(digest), text);
    assert_string_equal(text, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void
pkce_challenge_vector(void **state)
{
    static const char verifier[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    unsigned char digest[MT_SHA256_LEN];
    struct mt_buf b;

    (void)state;
    mt_sha256(verifier, strlen(verifier), digest);
    mt_buf_init(&b, 100);
    assert_int_equal(mt_base64_encode(&b, digest, sizeof(digest), MT_BASE64_URL_NOPAD), 0);
    assert_string_equal(mt_buf_str(&b), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    mt_buf_free(&b);
}

static void
fingerprint_shows_prefix_only(void **state)
{
    char fp[MT_FINGERPRINT_SIZE];

    (void)state;
    mt_fingerprint_str("abc", fp);
    assert_string_equal(fp, "sha256:ba7816bf8f01");
    assert_int_equal(strlen(fp), MT_FINGERPRINT_SIZE - 1);
}

static void
wipe_and_compare(void **state)
{
    char secret[] = "hunter2";

    (void)state;
    assert_int_equal(mt_consttime_memcmp("abc", "abc", 3), 0);
    assert_int_not_equal(mt_consttime_memcmp("abc", "abd", 3), 0);
    mt_wipe(secret, sizeof(secret));
    for (size_t i = 0; i < sizeof(secret); i++)
        assert_int_equal(secret[i], 0);
}

struct request_case {
    const char *line;
    int ok;
    enum mt_wire_verb verb;
    const char *account;
};

static const struct request_case request_cases[] = {
    {"MAILTOKEN/1 TOKEN work", 1, MT_WIRE_TOKEN, "work"},
    {"MAILTOKEN/1 TOKEN alice@contoso.com", 1, MT_WIRE_TOKEN, "alice@contoso.com"},
    {"MAILTOKEN/1 REJECTED work sha256:0123456789ab", 1, MT_WIRE_REJECTED, "work"},
    {"MAILTOKEN/1 STATUS", 1, MT_WIRE_STATUS, ""},
    {"MAILTOKEN/1 STATUS work", 1, MT_WIRE_STATUS, "work"},
    {"MAILTOKEN/2 TOKEN work", 0, 0, NULL},
    {"MAILTOKEN/1 token work", 0, 0, NULL},
    {"MAILTOKEN/1 TOKEN", 0, 0, NULL},
    {"MAILTOKEN/1 TOKEN ", 0, 0, NULL},
    {"MAILTOKEN/1 TOKEN work extra", 0, 0, NULL},
    {"MAILTOKEN/1 TOKEN work ", 0, 0, NULL},
    {"MAILTOKEN/1 TOKEN  work", 0, 0, NULL},
    {"MAILTOKEN/1 TOKEN wo\001rk", 0, 0, NULL},
    {"MAILTOKEN/1 REJECTED work", 0, 0, NULL},
    {"MAILTOKEN/1 REJECTED work sha256:0123456789AB", 0, 0, NULL},
    {"MAILTOKEN/1 REJECTED work sha256:0123", 0, 0, NULL},
    {"MAILTOKEN/1 TOKEN work\r", 0, 0, NULL},
    {"", 0, 0, NULL},
};

static void
wire_request_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(request_cases) / sizeof(request_cases[0]); i++) {
        const struct request_case *c = &request_cases[i];
        struct mt_wire_request req;
        const char *error = NULL;
        int r = mt_wire_parse_request(c->line, strlen(c->line), &req, &error);

        if (c->ok) {
            assert_int_equal(r, 0);
            assert_int_equal(req.verb, c->verb);
            assert_string_equal(req.account, c->account);
        } else {
            assert_int_equal(r, -1);
            assert_non_null(error);
        }
    }
}

static void
wire_request_round_trip(void **state)
{
    struct mt_wire_request req = {.verb = MT_WIRE_REJECTED}, back;
    struct mt_buf b;
    const char *error;

    (void)state;
    strcpy(req.account, "alice@example.com");
    strcpy(req.fingerprint, "sha256:00ff00ff00ff");
    mt_buf_init(&b, MT_WIRE_MAX_REQUEST);
    assert_int_equal(mt_wire_format_request(&req, &b), 0);
    assert_string_equal(mt_buf_str(&b),
                        "MAILTOKEN/1 REJECTED alice@example.com sha256:00ff00ff00ff\n");
    assert_int_equal(mt_wire_parse_request(b.data, b.len - 1, &back, &error), 0);
    assert_int_equal(back.verb, MT_WIRE_REJECTED);
    assert_string_equal(back.account, req.account);
    assert_string_equal(back.fingerprint, req.fingerprint);
    mt_buf_free(&b);
}

static void
wire_reply_round_trip(void **state)
{
    struct mt_wire_reply r;
    struct mt_buf b;
    const char *error = NULL;

    (void)state;
    mt_buf_init(&b, MT_WIRE_MAX_REPLY);
    assert_int_equal(mt_wire_begin_ok(&b), 0);
    assert_int_equal(mt_wire_add_field(&b, "user", "alice@example.com"), 0);
    assert_int_equal(mt_wire_add_field(&b, "token", "eyJ.abc"), 0);
    assert_int_equal(mt_wire_add_field(&b, "bad", "x\ny"), -1);
    assert_int_equal(mt_wire_end(&b), 0);
    assert_int_equal(mt_wire_reply_complete(b.data, b.len), 1);
    assert_int_equal(mt_wire_reply_complete(b.data, b.len - 1), 0);
    assert_int_equal(mt_wire_parse_reply(b.data, b.len, &r, &error), 0);
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.nfields, 2);
    assert_string_equal(mt_wire_reply_get(&r, "user"), "alice@example.com");
    assert_string_equal(mt_wire_reply_get(&r, "token"), "eyJ.abc");
    assert_null(mt_wire_reply_get(&r, "mailbox"));
    mt_wire_reply_clear(&r);

    mt_buf_reset(&b);
    b.len = 0;
    assert_int_equal(mt_wire_begin_err(&b, 77, MT_WIRE_UNAUTHORIZED), 0);
    assert_int_equal(mt_wire_add_text(&b, "message", "run\x1b[31m authorize"), 0);
    assert_int_equal(mt_wire_end(&b), 0);
    assert_int_equal(mt_wire_parse_reply(b.data, b.len, &r, &error), 0);
    assert_int_equal(r.ok, 0);
    assert_int_equal(r.code, 77);
    assert_string_equal(r.kind, "unauthorized");
    assert_string_equal(mt_wire_reply_get(&r, "message"), "run?[31m authorize");
    mt_wire_reply_clear(&r);
    mt_buf_free(&b);
}

static void
wire_reply_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "MAILTOKEN/1 OK\n",
        "MAILTOKEN/1 OK\nuser a\n",
        "MAILTOKEN/1 OK extra\n\n",
        "MAILTOKEN/1 ERR\n\n",
        "MAILTOKEN/1 ERR 0 internal\n\n",
        "MAILTOKEN/1 ERR 077 internal\n\n",
        "MAILTOKEN/1 ERR 77\n\n",
        "MAILTOKEN/1 ERR 77 Bad_Kind\n\n",
        "MAILTOKEN/1 OK\nnovalue\n\n",
        "MAILTOKEN/1 OK\nUser a\n\n",
        "MAILTOKEN/1 OK\n\nuser a\n\n",
        "MAILTOKEN/0 OK\n\n",
        "HTTP/1.1 200 OK\n\n",
    };
    struct mt_wire_reply r;
    const char *error;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        error = NULL;
        assert_int_equal(mt_wire_parse_reply(bad[i], strlen(bad[i]), &r, &error), -1);
        assert_non_null(error);
        mt_wire_reply_clear(&r);
    }
    assert_int_equal(mt_wire_parse_reply("MAILTOKEN/1 OK\n\0\n", 17, &r, &error), -1);
    mt_wire_reply_clear(&r);
}

static void
confpath_prefers_environment(void **state)
{
    char path[256];

    (void)state;
    setenv("MAILTOKEN_CONFIG", "/nonexistent/mailtoken.conf", 1);
    assert_int_equal(mt_confpath_locate(path, sizeof(path), "/etc/none"), MT_CONFPATH_ENV);
    assert_string_equal(path, "/nonexistent/mailtoken.conf");
    assert_int_equal(mt_confpath_locate(path, 10, "/etc/none"), -1);
    unsetenv("MAILTOKEN_CONFIG");
    setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
    assert_int_equal(mt_confpath_locate(path, sizeof(path), "/nonexistent/system.conf"),
                     MT_CONFPATH_NONE);
    assert_int_equal(mt_confpath_locate(path, sizeof(path), "/dev/null"), MT_CONFPATH_SYSTEM);
    assert_string_equal(path, "/dev/null");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_grows_until_limit),
        cmocka_unit_test(buf_detach_hands_over),
        cmocka_unit_test(base64_known_vectors),
        cmocka_unit_test(base64_xoauth2_vector),
        cmocka_unit_test(base64_rejects_malformed),
        cmocka_unit_test(sha256_known_vectors),
        cmocka_unit_test(pkce_challenge_vector),
        cmocka_unit_test(fingerprint_shows_prefix_only),
        cmocka_unit_test(wipe_and_compare),
        cmocka_unit_test(wire_request_cases),
        cmocka_unit_test(wire_request_round_trip),
        cmocka_unit_test(wire_reply_round_trip),
        cmocka_unit_test(wire_reply_rejects_malformed),
        cmocka_unit_test(confpath_prefers_environment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
