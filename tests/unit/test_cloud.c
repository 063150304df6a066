/*
 * Unit tests for Microsoft's cloud instances: the host table, the `cloud`
 * key, and the endpoints and scopes each cloud gives an account.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cloud.h"
#include "core/config.h"
#include "core/provider.h"

struct cloud_case {
    enum cloud cloud;
    const char *name;
    const char *login;
    const char *user_resource;
    const char *app_resource;
    const char *imap, *pop3, *smtp;
};

static const struct cloud_case cases[] = {
    {.cloud = CLOUD_GLOBAL, .name = "global", .login = "https://login.microsoftonline.com",
     .user_resource = "https://outlook.office.com", .app_resource = "https://outlook.office365.com",
     .imap = "outlook.office365.com", .pop3 = "outlook.office365.com",
     .smtp = "smtp.office365.com"},
    {.cloud = CLOUD_USGOV, .name = "usgov", .login = "https://login.microsoftonline.us",
     .user_resource = "https://outlook.office365.us", .app_resource = "https://outlook.office365.us",
     .imap = "outlook.office365.us", .pop3 = "outlook.office365.us",
     .smtp = "smtp.office365.us"},
    {.cloud = CLOUD_USGOV_DOD, .name = "usgov-dod", .login = "https://login.microsoftonline.us",
     .user_resource = "https://outlook-dod.office365.us",
     .app_resource = "https://outlook-dod.office365.us", .imap = "outlook-dod.office365.us",
     .pop3 = "outlook-dod.office365.us", .smtp = "outlook-dod.office365.us"},
    {.cloud = CLOUD_CHINA, .name = "china", .login = "https://login.partner.microsoftonline.cn",
     .user_resource = "https://partner.outlook.cn", .app_resource = "https://partner.outlook.cn",
     .imap = "partner.outlook.cn", .pop3 = "partner.outlook.cn",
     .smtp = "smtp.partner.outlook.cn"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void
host_table_per_cloud(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        const struct cloud_hosts *h = cloud_get(cases[i].cloud);

        assert_string_equal(h->name, cases[i].name);
        assert_string_equal(h->login, cases[i].login);
        assert_string_equal(h->user_resource, cases[i].user_resource);
        assert_string_equal(h->app_resource, cases[i].app_resource);
        assert_string_equal(h->imap.host, cases[i].imap);
        assert_string_equal(h->pop3.host, cases[i].pop3);
        assert_string_equal(h->smtp.host, cases[i].smtp);
        assert_int_equal(h->imap.port, 993);
        assert_int_equal(h->pop3.port, 995);
        assert_int_equal(h->smtp.port, 587);
        assert_true(config_endpoint_allowed(h->login));
    }
}

static void
names_parse_and_print(void **state)
{
    enum cloud c;

    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        c = CLOUD_GLOBAL;
        assert_int_equal(cloud_parse(cases[i].name, &c), 0);
        assert_int_equal(c, cases[i].cloud);
        assert_string_equal(cloud_name(c), cases[i].name);
    }
    assert_int_equal(cloud_parse("gcc-high", &c), -1);
    assert_int_equal(cloud_parse("Global", &c), -1);
    assert_int_equal(cloud_parse("", &c), -1);
    /* A value outside the enum falls back to the global cloud. */
    assert_string_equal(cloud_get((enum cloud)42)->name, "global");
}

/* Loads one Microsoft account with the given extra lines. */
static const struct account *
load(struct config *cfg, const char *lines)
{
    struct mt_err err;
    char text[1024];

    snprintf(text, sizeof(text),
             "[defaults]\nstore = /tmp/none\n[a]\nprovider = microsoft\ntenant = contoso.com\n"
             "client_id = x\n%s", lines);
    err_clear(&err);
    if (config_load_string(cfg, "unit.conf", text, &err) != 0)
        fail_msg("%s", err.msg);
    return &cfg->accounts[0];
}

static void
endpoints_and_scopes_follow_cloud(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES; i++) {
        struct config cfg;
        const struct account *a;
        char lines[128], want[512];

        snprintf(lines, sizeof(lines), "cloud = %s\nscope = imap pop smtp\n", cases[i].name);
        a = load(&cfg, lines);
        assert_int_equal(a->cloud, cases[i].cloud);
        snprintf(want, sizeof(want), "%s/contoso.com/oauth2/v2.0/token", cases[i].login);
        assert_string_equal(a->token_endpoint, want);
        snprintf(want, sizeof(want), "%s/contoso.com/oauth2/v2.0/authorize", cases[i].login);
        assert_string_equal(a->authorization_endpoint, want);
        snprintf(want, sizeof(want), "%s/contoso.com/oauth2/v2.0/devicecode", cases[i].login);
        assert_string_equal(a->device_authorization_endpoint, want);
        snprintf(want, sizeof(want),
                 "%s/IMAP.AccessAsUser.All %s/POP.AccessAsUser.All %s/SMTP.Send offline_access",
                 cases[i].user_resource, cases[i].user_resource, cases[i].user_resource);
        assert_string_equal(a->scope, want);
        config_free(&cfg);

        snprintf(lines, sizeof(lines), "cloud = %s\ngrant = client_credentials\n"
                 "client_secret_file = /s\n", cases[i].name);
        a = load(&cfg, lines);
        snprintf(want, sizeof(want), "%s/.default", cases[i].app_resource);
        assert_string_equal(a->scope, want);
        config_free(&cfg);

        /* With the client credentials grant every short name is the one .default scope. */
        snprintf(lines, sizeof(lines), "cloud = %s\ngrant = client_credentials\n"
                 "client_secret_file = /s\nscope = imap smtp\n", cases[i].name);
        a = load(&cfg, lines);
        assert_string_equal(a->scope, want);
        config_free(&cfg);
    }
}

static void
global_is_the_default_cloud(void **state)
{
    struct config cfg;
    const struct account *a;

    (void)state;
    a = load(&cfg, "");
    assert_int_equal(a->cloud, CLOUD_GLOBAL);
    assert_string_equal(a->token_endpoint,
                        "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token");
    assert_string_equal(a->scope, "https://outlook.office.com/IMAP.AccessAsUser.All "
                                  "https://outlook.office.com/SMTP.Send offline_access");
    config_free(&cfg);
}

static void
explicit_endpoint_and_scope_win(void **state)
{
    struct config cfg;
    const struct account *a;

    (void)state;
    a = load(&cfg, "cloud = china\ntoken_endpoint = https://login.chinacloudapi.cn/t/oauth2/v2.0/token\n"
                   "scope = https://partner.outlook.cn/IMAP.AccessAsUser.All\n");
    assert_string_equal(a->token_endpoint, "https://login.chinacloudapi.cn/t/oauth2/v2.0/token");
    assert_string_equal(a->authorization_endpoint,
                        "https://login.partner.microsoftonline.cn/contoso.com/oauth2/v2.0/authorize");
    assert_string_equal(a->scope, "https://partner.outlook.cn/IMAP.AccessAsUser.All offline_access");
    config_free(&cfg);
}

static void
cloud_from_defaults_is_inherited(void **state)
{
    struct config cfg;
    struct mt_err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "unit.conf",
                                        "[defaults]\nstore = /tmp/none\ncloud = usgov\n"
                                        "[a]\nclient_id = x\n[b]\nclient_id = y\ncloud = global\n",
                                        &err), 0);
    assert_int_equal(cfg.accounts[0].cloud, CLOUD_USGOV);
    assert_string_equal(cfg.accounts[0].token_endpoint,
                        "https://login.microsoftonline.us/common/oauth2/v2.0/token");
    assert_int_equal(cfg.accounts[1].cloud, CLOUD_GLOBAL);
    config_free(&cfg);
}

static void
invalid_cloud_is_an_error(void **state)
{
    struct config cfg;
    struct mt_err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "unit.conf",
                                        "[defaults]\nstore = /tmp/none\n[a]\nclient_id = x\n"
                                        "cloud = gcc-high\n", &err), -1);
    assert_int_equal(err.code, EX_CONFIG);
    assert_non_null(strstr(err.msg, "invalid cloud \"gcc-high\""));
    assert_non_null(strstr(err.msg, "usgov-dod"));
    assert_non_null(strstr(err.msg, "unit.conf:5"));
    config_free(&cfg);
}

static void
expand_scope_wrapper_uses_global(void **state)
{
    struct mt_err err;
    char *s;

    (void)state;
    err_clear(&err);
    s = provider_expand_scope(PROVIDER_MICROSOFT, GRANT_CLIENT_CREDENTIALS, "imap pop smtp", &err);
    assert_non_null(s);
    assert_string_equal(s, "https://outlook.office365.com/.default");
    free(s);
    s = provider_expand_scope_cloud(PROVIDER_GOOGLE, GRANT_AUTHORIZATION_CODE, CLOUD_CHINA, "imap",
                                    &err);
    assert_non_null(s);
    assert_string_equal(s, "https://mail.google.com/");
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(host_table_per_cloud),
        cmocka_unit_test(names_parse_and_print),
        cmocka_unit_test(endpoints_and_scopes_follow_cloud),
        cmocka_unit_test(global_is_the_default_cloud),
        cmocka_unit_test(explicit_endpoint_and_scope_win),
        cmocka_unit_test(cloud_from_defaults_is_inherited),
        cmocka_unit_test(invalid_cloud_is_an_error),
        cmocka_unit_test(expand_scope_wrapper_uses_global),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
