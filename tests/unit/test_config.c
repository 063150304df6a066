/* Unit tests for the configuration file and the provider presets. */
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
#include "core/provider.h"

static const char full_config[] =
    "; a comment\n"
    "# another comment\n"
    "[defaults]\n"
    "store = /var/tmp/mailtoken-test-store\n"
    "socket = /run/mailtoken/socket /var/spool/postfix/private/mailtoken\n"
    "socket_mode = 0660\n"
    "keepalive = 3d\n"
    "refresh_margin = 2m\n"
    "\n"
    "[work]\n"
    "provider = microsoft\n"
    "tenant = contoso.onmicrosoft.com ; inline comment\n"
    "client_id = 11111111-2222-3333-4444-555555555555\n"
    "client_secret_file = /etc/mailtoken/work.secret\n"
    "client_secret_expires = 2027-06-30\n"
    "user = alice@contoso.com\n"
    "mailbox = shared@contoso.com\n"
    "scope = imap smtp\n"
    "allow = postfix, nobody\n"
    "\n"
    "[gmail]\n"
    "provider = google\n"
    "client_id = 123.apps.googleusercontent.com\n"
    "client_secret_command = pass show gmail\n"
    "user = bob@gmail.com\n"
    "\n"
    "[local]\n"
    "provider = generic\n"
    "client_id = mailpub\n"
    "authorization_endpoint = http://127.0.0.1:14310/api/oidc/auth\n"
    "token_endpoint = http://127.0.0.1:14310/api/oidc/token\n"
    "scope = mail\n"
    "redirect_uri = http://127.0.0.1:14350/callback\n"
    "user = alice@example.test\n";

static const struct account *
account_named(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->naccounts; i++)
        if (strcmp(cfg->accounts[i].name, name) == 0)
            return &cfg->accounts[i];
    return NULL;
}

static void
config_full_file_parses(void **state)
{
    struct config cfg;
    struct mt_err err;
    const struct account *a;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "test.conf", full_config, &err), 0);
    assert_int_equal(cfg.naccounts, 3);
    assert_string_equal(cfg.store, "/var/tmp/mailtoken-test-store");
    assert_int_equal(cfg.nsockets, 2);
    assert_string_equal(cfg.sockets[1], "/var/spool/postfix/private/mailtoken");
    assert_int_equal(cfg.socket_mode, 0660);
    assert_int_equal(cfg.keepalive, 3 * 86400);

    a = account_named(&cfg, "work");
    assert_non_null(a);
    assert_int_equal(a->provider, PROVIDER_MICROSOFT);
    assert_string_equal(a->tenant, "contoso.onmicrosoft.com");
    assert_string_equal(a->token_endpoint,
                        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    assert_string_equal(a->authorization_endpoint,
                        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"
                        "authorize");
    assert_string_equal(a->device_authorization_endpoint,
                        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"
                        "devicecode");
    assert_string_equal(a->scope,
                        "https://outlook.office.com/IMAP.AccessAsUser.All "
                        "https://outlook.office.com/SMTP.Send offline_access");
    assert_int_equal(a->refresh_margin, 120);
    assert_int_equal(a->client_secret_expires, 1814313600);
    assert_int_equal(a->nallow, 2);
    assert_string_equal(a->allow[0], "postfix");
    assert_string_equal(a->allow[1], "nobody");
    assert_int_equal(a->send_scope_on_refresh, 1);

    a = account_named(&cfg, "gmail");
    assert_non_null(a);
    assert_string_equal(a->token_endpoint, "https://oauth2.googleapis.com/token");
    assert_string_equal(a->scope, "https://mail.google.com/");
    assert_int_equal(a->client_auth, CLIENT_AUTH_POST);
    assert_string_equal(a->issuer, "https://accounts.google.com");
    assert_int_equal(a->refresh_margin, 120);

    a = account_named(&cfg, "local");
    assert_non_null(a);
    assert_string_equal(a->scope, "mail");
    assert_string_equal(a->redirect_uri, "http://127.0.0.1:14350/callback");
    config_free(&cfg);
}

struct bad_case {
    const char *text;
    const char *expected;   /* a piece of the message */
    int code;
};

#define ACCOUNT_HEAD "[a]\nclient_id = x\n"

static const struct bad_case bad_cases[] = {
    {"[a]\nclient_id = x\nscopes = imap\n", "t.conf:3: unknown key \"scopes\" in [a]: did "
                                            "you mean \"scope\"?", 78},
    {"[a]\nclient_id = x\nfrobnicate = 1\n", "t.conf:3: unknown key", 78},
    {"client_id = x\n", "t.conf:1: \"client_id\" is outside any section", 78},
    {"[a]\nclient_id = x\nstore = /tmp\n", "t.conf:3: store is valid only in [defaults]", 78},
    {"[a]\nprovider = yahoo\nclient_id = x\n", "t.conf:2: invalid provider \"yahoo\"", 78},
    {"[a]\nuser = alice\n", "t.conf:1: [a]: client_id is missing", 78},
    {ACCOUNT_HEAD "client_id = y\n", "t.conf:3: client_id is set twice in [a] (first on line 2)", 78},
    {ACCOUNT_HEAD "token_endpoint = http://example.com/token\n", "must use https", 78},
    {ACCOUNT_HEAD "token_endpoint = ftp://example.com/token\n", "must use https", 78},
    {ACCOUNT_HEAD "scope = imap nonsense\n", "t.conf:3: [a]: unknown scope \"nonsense\"", 78},
    {ACCOUNT_HEAD "refresh_margin = 5 minutes\n", "invalid refresh_margin \"5 minutes\"", 78},
    {ACCOUNT_HEAD "client_secret_expires = 2027-02-30\n", "expected a date as YYYY-MM-DD", 78},
    {ACCOUNT_HEAD "client_secret_file = relative/path\n", "must be an absolute path", 78},
    {ACCOUNT_HEAD "client_secret = s\nclient_secret_command = echo s\n", "set only one of", 78},
    {ACCOUNT_HEAD "tenant = contoso onmicrosoft\n", "t.conf:3: invalid tenant", 78},
    {ACCOUNT_HEAD "redirect_uri = https://example.com/cb\n", "not a loopback address", 78},
    {"[a]\nprovider = generic\nclient_id = x\nscope = s\n", "provider generic needs token_endpoint",
     78},
    {"[a]\nclient_id = x\n[a]\nuser = u\n", "t.conf:3: section [a] appears twice (first on line 1)",
     78},
    {"[bad/name]\nclient_id = x\n", "t.conf:1: invalid section name [bad/name]", 78},
    {"[a]\nclient_id = x\nthis line has no separator\n", "t.conf:3: syntax error", 78},
    {"[defaults]\nsocket_mode = 999\n", "invalid socket_mode", 78},
    {"[defaults]\nlog = journal\n", "invalid log \"journal\"", 78},
    {"[a]\nclient_id = x\ngrant = password\n", "invalid grant \"password\"", 78},
    {"[a]\nclient_id = x\ngrant = client_credentials\n", "needs a client secret", 78},
    {"[a]\nclient_id = x\nuser = alice smith@example.com\n", "invalid user", 78},
};

static void
config_errors_name_line_and_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct config cfg;
        struct mt_err err;

        err_clear(&err);
        if (config_load_string(&cfg, "t.conf", bad_cases[i].text, &err) == 0) {
            fail_msg("case %zu was accepted: %s", i, bad_cases[i].text);
        }
        if (strstr(err.msg, bad_cases[i].expected) == NULL)
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, bad_cases[i].expected);
        assert_int_equal(err.code, bad_cases[i].code);
        config_free(&cfg);
    }
}

static void
config_long_line_is_reported(void **state)
{
    char text[512];
    struct config cfg;
    struct mt_err err;

    (void)state;
    snprintf(text, sizeof(text), "[a]\nclient_id = x\nuser = %0300d@example.com\n", 1);
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "t.conf", text, &err), -1);
    assert_non_null(strstr(err.msg, "t.conf:3: line is too long"));
    config_free(&cfg);
}

static void
config_continuation_joins_values(void **state)
{
    struct config cfg;
    struct mt_err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "t.conf",
                                        "[a]\nclient_id = x\nscope = imap\n  pop\n  smtp\n", &err),
                     0);
    assert_string_equal(cfg.accounts[0].scope,
                        "https://outlook.office.com/IMAP.AccessAsUser.All "
                        "https://outlook.office.com/POP.AccessAsUser.All "
                        "https://outlook.office.com/SMTP.Send offline_access");
    config_free(&cfg);
}

static void
config_defaults_are_inherited_and_overridden(void **state)
{
    struct config cfg;
    struct mt_err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "t.conf",
                                        "[defaults]\nprovider = google\nclient_id = shared\n"
                                        "[one]\nuser = a@gmail.com\n"
                                        "[two]\nclient_id = own\nprovider = microsoft\n",
                                        &err),
                     0);
    assert_int_equal(cfg.naccounts, 2);
    assert_int_equal(cfg.accounts[0].provider, PROVIDER_GOOGLE);
    assert_string_equal(cfg.accounts[0].client_id, "shared");
    assert_int_equal(cfg.accounts[1].provider, PROVIDER_MICROSOFT);
    assert_string_equal(cfg.accounts[1].client_id, "own");
    assert_string_equal(cfg.accounts[1].tenant, "common");
    config_free(&cfg);
}

static void
config_empty_section_is_an_account(void **state)
{
    struct config cfg;
    struct mt_err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "t.conf", "[defaults]\n[empty]\n", &err), -1);
    assert_non_null(strstr(err.msg, "[empty]: client_id is missing"));
    config_free(&cfg);
}

static void
config_find_by_name_user_and_mailbox(void **state)
{
    struct config cfg;
    struct mt_err err;
    const struct account *a;
    int as_mailbox;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "t.conf", full_config, &err), 0);
    a = config_find_account(&cfg, "work", &as_mailbox, &err);
    assert_non_null(a);
    assert_int_equal(as_mailbox, 0);
    a = config_find_account(&cfg, "Shared@Contoso.com", &as_mailbox, &err);
    assert_non_null(a);
    assert_string_equal(a->name, "work");
    assert_int_equal(as_mailbox, 1);
    a = config_find_account(&cfg, "bob@gmail.com", &as_mailbox, &err);
    assert_non_null(a);
    assert_string_equal(a->name, "gmail");
    a = config_find_account(&cfg, "nobody@example.com", &as_mailbox, &err);
    assert_null(a);
    assert_string_equal(err.kind, "unknown-account");
    assert_int_equal(err.code, 78);
    config_free(&cfg);
}

static void
config_find_reports_ambiguity(void **state)
{
    struct config cfg;
    struct mt_err err;
    int as_mailbox;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "t.conf",
                                        "[a]\nclient_id = x\nuser = u@x.com\n"
                                        "[b]\nclient_id = x\nuser = u@x.com\n",
                                        &err),
                     0);
    assert_null(config_find_account(&cfg, "u@x.com", &as_mailbox, &err));
    assert_non_null(strstr(err.msg, "matches several accounts (a, b)"));
    config_free(&cfg);
}

static void
scope_expansion_per_provider(void **state)
{
    struct mt_err err;
    char *s;

    (void)state;
    err_clear(&err);
    s = provider_expand_scope(PROVIDER_MICROSOFT, GRANT_AUTHORIZATION_CODE,
                              "IMAP pop3 https://outlook.office365.com/SMTP.Send imap", &err);
    assert_non_null(s);
    assert_string_equal(s, "https://outlook.office.com/IMAP.AccessAsUser.All "
                           "https://outlook.office.com/POP.AccessAsUser.All "
                           "https://outlook.office365.com/SMTP.Send offline_access");
    free(s);
    s = provider_expand_scope(PROVIDER_MICROSOFT, GRANT_AUTHORIZATION_CODE,
                              "offline_access smtp", &err);
    assert_string_equal(s, "offline_access https://outlook.office.com/SMTP.Send");
    free(s);
    s = provider_expand_scope(PROVIDER_MICROSOFT, GRANT_CLIENT_CREDENTIALS,
                              "https://outlook.office365.com/.default", &err);
    assert_string_equal(s, "https://outlook.office365.com/.default");
    free(s);
    s = provider_expand_scope(PROVIDER_GOOGLE, GRANT_AUTHORIZATION_CODE, "imap smtp", &err);
    assert_string_equal(s, "https://mail.google.com/");
    free(s);
    s = provider_expand_scope(PROVIDER_GENERIC, GRANT_AUTHORIZATION_CODE, "mail imap", &err);
    assert_string_equal(s, "mail imap");
    free(s);
    assert_null(provider_expand_scope(PROVIDER_GOOGLE, GRANT_AUTHORIZATION_CODE, "gmail", &err));
    assert_non_null(strstr(err.msg, "unknown scope \"gmail\""));
}

static void
durations_and_dates(void **state)
{
    long v;
    time_t t;

    (void)state;
    assert_int_equal(config_parse_duration("90", &v), 0);
    assert_int_equal(v, 90);
    assert_int_equal(config_parse_duration("5m", &v), 0);
    assert_int_equal(v, 300);
    assert_int_equal(config_parse_duration("2h", &v), 0);
    assert_int_equal(v, 7200);
    assert_int_equal(config_parse_duration("90d", &v), 0);
    assert_int_equal(v, 90 * 86400);
    assert_int_equal(config_parse_duration("-5", &v), -1);
    assert_int_equal(config_parse_duration("5x", &v), -1);
    assert_int_equal(config_parse_duration("5mm", &v), -1);
    assert_int_equal(config_parse_duration("", &v), -1);
    assert_int_equal(config_parse_duration("99999999999d", &v), -1);
    assert_int_equal(config_parse_date("2027-06-30", &t), 0);
    assert_int_equal(t, 1814313600);
    assert_int_equal(config_parse_date("2024-02-29", &t), 0);
    assert_int_equal(config_parse_date("2023-02-29", &t), -1);
    assert_int_equal(config_parse_date("2027-6-30", &t), -1);
    assert_int_equal(config_parse_date("2027-06-30x", &t), -1);
}

static void
endpoints_must_be_https_or_loopback(void **state)
{
    (void)state;
    assert_true(config_endpoint_allowed("https://login.microsoftonline.com/x"));
    assert_true(config_endpoint_allowed("http://127.0.0.1:14310/token"));
    assert_true(config_endpoint_allowed("http://[::1]:80/token"));
    assert_true(config_endpoint_allowed("http://localhost/token"));
    assert_false(config_endpoint_allowed("http://localhost.example.com/token"));
    assert_false(config_endpoint_allowed("http://127.0.0.1.example.com/token"));
    assert_false(config_endpoint_allowed("http://example.com/token"));
    assert_false(config_endpoint_allowed("https:///token"));
    assert_false(config_endpoint_allowed("file:///etc/passwd"));
}

static void
inline_secret_needs_private_file(void **state)
{
    char path[] = "/tmp/mailtoken-config-XXXXXX";
    struct config cfg;
    struct mt_err err;
    int fd;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(write(fd, "[a]\nclient_id = x\nclient_secret = hush\n", 39) == 39);
    close(fd);
    chmod(path, 0644);
    err_clear(&err);
    assert_int_equal(config_load(&cfg, path, &err), -1);
    assert_non_null(strstr(err.msg, "contains a client_secret and others can read it"));
    config_free(&cfg);
    chmod(path, 0600);
    err_clear(&err);
    assert_int_equal(config_load(&cfg, path, &err), 0);
    config_free(&cfg);
    unlink(path);
}

static void
missing_named_file_is_an_error(void **state)
{
    struct config cfg;
    struct mt_err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load(&cfg, "/nonexistent/mailtoken.conf", &err), -1);
    assert_non_null(strstr(err.msg, "the configuration file /nonexistent/mailtoken.conf, named by --config, does not exist"));
    assert_int_equal(err.code, 78);
    config_free(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_full_file_parses),
        cmocka_unit_test(config_errors_name_line_and_key),
        cmocka_unit_test(config_long_line_is_reported),
        cmocka_unit_test(config_continuation_joins_values),
        cmocka_unit_test(config_defaults_are_inherited_and_overridden),
        cmocka_unit_test(config_empty_section_is_an_account),
        cmocka_unit_test(config_find_by_name_user_and_mailbox),
        cmocka_unit_test(config_find_reports_ambiguity),
        cmocka_unit_test(scope_expansion_per_provider),
        cmocka_unit_test(durations_and_dates),
        cmocka_unit_test(endpoints_must_be_https_or_loopback),
        cmocka_unit_test(inline_secret_needs_private_file),
        cmocka_unit_test(missing_named_file_is_an_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
