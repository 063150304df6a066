/*
 * Unit tests for mailtoken authorize: PKCE, the authorization URL, the
 * checks on the redirect's query, pasted addresses, the loopback
 * listener driven by a client in this process, and the device grant
 * with a scripted network module and a fake clock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/authorize.h"
#include "core/config.h"
#include "core/device.h"
#include "core/form.h"
#include "core/listener.h"
#include "core/net.h"
#include "core/oauth.h"

/* ---- configuration ---- */

static const char accounts_text[] =
    "[defaults]\n"
    "store = /tmp/mailtoken-unit-authorize-unused\n"
    "[ms]\n"
    "provider = microsoft\n"
    "tenant = common\n"
    "client_id = 11111111-2222-3333-4444-555555555555\n"
    "user = alice@contoso.com\n"
    "[msconf]\n"
    "provider = microsoft\n"
    "tenant = common\n"
    "client_id = conf-app\n"
    "client_secret = s3cret\n"
    "[google]\n"
    "provider = google\n"
    "client_id = 123.apps.googleusercontent.com\n"
    "client_secret = not-so-secret\n"
    "user = bob@gmail.com\n"
    "[gen]\n"
    "provider = generic\n"
    "client_id = mailconf\n"
    "client_secret = confsecret\n"
    "client_auth = basic\n"
    "authorization_endpoint = http://127.0.0.1:9/auth?tenant=x\n"
    "token_endpoint = http://127.0.0.1:9/token\n"
    "device_authorization_endpoint = http://127.0.0.1:9/device\n"
    "scope = mail\n"
    "[nodevice]\n"
    "provider = generic\n"
    "client_id = pub\n"
    "authorization_endpoint = http://127.0.0.1:9/auth\n"
    "token_endpoint = http://127.0.0.1:9/token\n"
    "scope = mail\n";

static struct config cfg;

static const struct account *
account(const char *name)
{
    for (size_t i = 0; i < cfg.naccounts; i++)
        if (strcmp(cfg.accounts[i].name, name) == 0)
            return &cfg.accounts[i];
    fail_msg("no account %s in the test configuration", name);
    return NULL;
}

/* ---- a scripted network module ---- */

#define SCRIPT_MAX 16

struct scripted {
    long status;            /* 0: fail with EX_TEMPFAIL as a lost connection would */
    const char *content_type;
    const char *body;
};

static struct scripted script[SCRIPT_MAX];
static size_t script_len, script_pos;
static char request_url[SCRIPT_MAX][256];
static char request_body[SCRIPT_MAX][2048];
static char request_basic_user[SCRIPT_MAX][128];
static int http_calls;

static int
scripted_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    const struct scripted *s;
    size_t i = (size_t)http_calls;

    mt_buf_init(&resp->body, NET_MAX_BODY);
    resp->retry_after = -1;
    resp->location[0] = '\0';
    if (i < SCRIPT_MAX) {
        snprintf(request_url[i], sizeof(request_url[i]), "%s", req->url);
        snprintf(request_body[i], sizeof(request_body[i]), "%.*s", (int)req->body_len,
                 req->body != NULL ? req->body : "");
        snprintf(request_basic_user[i], sizeof(request_basic_user[i]), "%s",
                 req->basic_user != NULL ? req->basic_user : "");
    }
    http_calls++;
    if (script_pos >= script_len)
        return err_set(err, EX_SOFTWARE, "the test scripted no reply for request %d", http_calls);
    s = &script[script_pos++];
    if (s->status == 0)
        return err_set(err, EX_TEMPFAIL, "cannot connect to %s: try again later", req->url);
    resp->status = s->status;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s",
             s->content_type != NULL ? s->content_type : "application/json");
    mt_buf_append_str(&resp->body, s->body);
    return 0;
}

static const struct net_ops scripted_ops = {
    .abi_version = NET_ABI_VERSION,
    .http = scripted_http,
};

static void
script_reset(void)
{
    script_len = script_pos = 0;
    http_calls = 0;
    memset(request_url, 0, sizeof(request_url));
    memset(request_body, 0, sizeof(request_body));
    memset(request_basic_user, 0, sizeof(request_basic_user));
}

static void
script_add(long status, const char *body)
{
    assert_true(script_len < SCRIPT_MAX);
    script[script_len++] = (struct scripted){.status = status, .body = body};
}

/* Decodes parameter key of a form or query string; "" when absent. */
static const char *
param(const char *query, const char *key)
{
    static char value[4096];
    struct mt_buf out;

    mt_buf_init(&out, sizeof(value) - 1);
    value[0] = '\0';
    if (form_lookup(query, key, &out) == 1)
        snprintf(value, sizeof(value), "%s", mt_buf_str(&out));
    mt_buf_free(&out);
    return value;
}

static int
has_param(const char *query, const char *key)
{
    struct mt_buf out;
    int found;

    mt_buf_init(&out, 4096);
    found = form_lookup(query, key, &out);
    mt_buf_free(&out);
    return found == 1;
}

static int
group_setup(void **state)
{
    struct mt_err err;

    (void)state;
    err_clear(&err);
    if (config_load_string(&cfg, "unit.conf", accounts_text, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    net_override(&scripted_ops);
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    config_free(&cfg);
    return 0;
}

/* ---- PKCE ---- */

static void
pkce_rfc7636_vector(void **state)
{
    char challenge[PKCE_CHALLENGE_SIZE];

    (void)state;
    assert_int_equal(pkce_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", challenge),
                     0);
    assert_string_equal(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void
pkce_rejects_bad_verifiers(void **state)
{
    char challenge[PKCE_CHALLENGE_SIZE], long_one[130];

    (void)state;
    /* 42 characters: one short. */
    assert_int_equal(pkce_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX", challenge),
                     -1);
    assert_int_equal(pkce_challenge_s256("dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk", challenge),
                     -1);
    assert_int_equal(pkce_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX=", challenge),
                     -1);
    memset(long_one, 'a', 129);
    long_one[129] = '\0';
    assert_int_equal(pkce_challenge_s256(long_one, challenge), -1);
    long_one[128] = '\0';
    assert_int_equal(pkce_challenge_s256(long_one, challenge), 0);
}

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
pkce_generated_verifiers_valid(void **state)
{
    enum { COUNT = 1000 };
    static struct pkce pairs[COUNT];
    char *verifiers[COUNT];
    regex_t grammar, challenge_form;

    (void)state;
    assert_int_equal(regcomp(&grammar, "^[A-Za-z0-9._~-]{43,128}$", REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regcomp(&challenge_form, "^[A-Za-z0-9_-]{43}$", REG_EXTENDED | REG_NOSUB),
                     0);
    for (size_t i = 0; i < COUNT; i++) {
        char expected[PKCE_CHALLENGE_SIZE];

        assert_int_equal(pkce_generate(&pairs[i]), 0);
        assert_int_equal(regexec(&grammar, pairs[i].verifier, 0, NULL, 0), 0);
        assert_null(strchr(pairs[i].verifier, '='));
        assert_int_equal(regexec(&challenge_form, pairs[i].challenge, 0, NULL, 0), 0);
        assert_int_equal(pkce_challenge_s256(pairs[i].verifier, expected), 0);
        assert_string_equal(pairs[i].challenge, expected);
        verifiers[i] = pairs[i].verifier;
    }
    qsort(verifiers, COUNT, sizeof(verifiers[0]), compare_strings);
    for (size_t i = 1; i < COUNT; i++)
        assert_string_not_equal(verifiers[i - 1], verifiers[i]);
    regfree(&grammar);
    regfree(&challenge_form);
}

/* ---- the authorization URL ---- */

static void
request_new(struct authorize_request *r, const char *name, const char *redirect_uri)
{
    struct mt_err err;

    err_clear(&err);
    assert_int_equal(authorize_request_init(r, account(name), redirect_uri, &err), 0);
}

static void
state_has_256_random_bits(void **state)
{
    struct authorize_request a, b;
    regex_t form;

    (void)state;
    request_new(&a, "ms", "http://localhost:50123/");
    request_new(&b, "ms", "http://localhost:50123/");
    assert_int_equal(regcomp(&form, "^[A-Za-z0-9_-]{43}$", REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regexec(&form, a.state, 0, NULL, 0), 0);
    assert_string_not_equal(a.state, b.state);
    assert_string_not_equal(a.pkce.verifier, b.pkce.verifier);
    regfree(&form);
    authorize_request_wipe(&a);
    assert_int_equal(a.state[0], '\0');
    assert_int_equal(a.pkce.verifier[0], '\0');
}

static void
url_microsoft_common_tenant(void **state)
{
    struct authorize_request r;
    struct mt_buf url;
    struct mt_err err;
    const char *prefix = "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?";
    const char *query, *scope;
    char expected[PKCE_CHALLENGE_SIZE];

    (void)state;
    request_new(&r, "ms", "http://localhost:50123/");
    mt_buf_init(&url, 16384);
    err_clear(&err);
    assert_int_equal(authorize_build_url(&r, &url, &err), 0);
    assert_memory_equal(mt_buf_str(&url), prefix, strlen(prefix));
    query = mt_buf_str(&url) + strlen(prefix);

    assert_string_equal(param(query, "response_type"), "code");
    assert_string_equal(param(query, "client_id"), "11111111-2222-3333-4444-555555555555");
    assert_non_null(strstr(query, "redirect_uri=http%3A%2F%2Flocalhost%3A50123%2F&"));
    assert_string_equal(param(query, "redirect_uri"), "http://localhost:50123/");
    scope = param(query, "scope");
    assert_non_null(strstr(scope, "offline_access"));
    assert_non_null(strstr(scope, "https://outlook.office.com/IMAP.AccessAsUser.All"));
    assert_non_null(strstr(scope, "https://outlook.office.com/SMTP.Send"));
    assert_null(strchr(query, ' '));
    assert_true(strlen(param(query, "state")) >= 22);
    assert_string_equal(param(query, "state"), r.state);
    assert_string_equal(param(query, "code_challenge_method"), "S256");
    assert_int_equal(pkce_challenge_s256(r.pkce.verifier, expected), 0);
    assert_string_equal(param(query, "code_challenge"), expected);
    assert_string_equal(param(query, "login_hint"), "alice@contoso.com");
    assert_false(has_param(query, "code_verifier"));
    assert_false(has_param(query, "nonce"));
    assert_null(strstr(query, r.pkce.verifier));
    mt_buf_free(&url);
    authorize_request_wipe(&r);
}

static void
url_google_offline_params(void **state)
{
    struct authorize_request r;
    struct mt_buf url;
    struct mt_err err;
    const char *query;

    (void)state;
    request_new(&r, "google", "http://127.0.0.1:50124/");
    mt_buf_init(&url, 16384);
    err_clear(&err);
    assert_int_equal(authorize_build_url(&r, &url, &err), 0);
    query = strchr(mt_buf_str(&url), '?') + 1;
    assert_memory_equal(mt_buf_str(&url), "https://accounts.google.com/o/oauth2/v2/auth?", 45);
    assert_string_equal(param(query, "access_type"), "offline");
    assert_string_equal(param(query, "prompt"), "consent");
    assert_string_equal(param(query, "scope"), "https://mail.google.com/");
    assert_string_equal(param(query, "login_hint"), "bob@gmail.com");
    mt_buf_free(&url);
    authorize_request_wipe(&r);
}

static void
url_endpoint_with_query(void **state)
{
    struct authorize_request r;
    struct mt_buf url;
    struct mt_err err;

    (void)state;
    request_new(&r, "gen", "http://127.0.0.1:14350/callback");
    mt_buf_init(&url, 16384);
    err_clear(&err);
    assert_int_equal(authorize_build_url(&r, &url, &err), 0);
    assert_memory_equal(mt_buf_str(&url), "http://127.0.0.1:9/auth?tenant=x&response_type=code&",
                        51);
    assert_false(has_param(strchr(mt_buf_str(&url), '?') + 1, "login_hint"));
    mt_buf_free(&url);
    authorize_request_wipe(&r);
}

static void
url_openid_sends_nonce(void **state)
{
    struct authorize_request r;
    struct account a = *account("gen");
    struct mt_buf url;
    struct mt_err err;
    const char *query;

    (void)state;
    a.scope = "mail openid";
    err_clear(&err);
    assert_int_equal(authorize_request_init(&r, &a, "http://127.0.0.1:14350/callback", &err), 0);
    mt_buf_init(&url, 16384);
    assert_int_equal(authorize_build_url(&r, &url, &err), 0);
    query = strchr(mt_buf_str(&url), '?') + 1;
    assert_int_equal(strlen(param(query, "nonce")), 43);
    assert_string_equal(param(query, "nonce"), r.nonce);
    assert_string_not_equal(r.nonce, r.state);
    mt_buf_free(&url);
    authorize_request_wipe(&r);

    a.scope = "openidx mail";
    assert_int_equal(authorize_request_init(&r, &a, "http://127.0.0.1:14350/callback", &err), 0);
    mt_buf_init(&url, 16384);
    assert_int_equal(authorize_build_url(&r, &url, &err), 0);
    assert_false(has_param(strchr(mt_buf_str(&url), '?') + 1, "nonce"));
    mt_buf_free(&url);
    authorize_request_wipe(&r);
}

static void
request_needs_endpoints(void **state)
{
    struct authorize_request r;
    struct account a = *account("gen");
    struct mt_err err;

    (void)state;
    a.authorization_endpoint = NULL;
    err_clear(&err);
    assert_int_equal(authorize_request_init(&r, &a, "http://localhost:1/", &err), -1);
    assert_int_equal(err.code, EX_CONFIG);
    assert_non_null(strstr(err.msg, "authorization_endpoint"));
}

/* ---- the token request ---- */

static const char token_reply_body[] =
    "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"AT-1\","
    "\"refresh_token\":\"RT-1\",\"scope\":\"https://outlook.office.com/IMAP.AccessAsUser.All\"}";

static void
redeem_public_client(void **state)
{
    struct authorize_request r;
    struct token_reply reply;
    struct mt_err err;

    (void)state;
    script_reset();
    script_add(200, token_reply_body);
    request_new(&r, "ms", "http://localhost:50123/");
    err_clear(&err);
    assert_int_equal(authorize_redeem(&r, "4/code with space", NULL, &reply, &err), 0);
    assert_string_equal(reply.access_token, "AT-1");
    assert_string_equal(reply.refresh_token, "RT-1");
    assert_int_equal(http_calls, 1);
    assert_string_equal(request_url[0],
                        "https://login.microsoftonline.com/common/oauth2/v2.0/token");
    assert_string_equal(param(request_body[0], "grant_type"), "authorization_code");
    assert_string_equal(param(request_body[0], "code"), "4/code with space");
    assert_string_equal(param(request_body[0], "redirect_uri"), "http://localhost:50123/");
    assert_string_equal(param(request_body[0], "code_verifier"), r.pkce.verifier);
    assert_string_equal(param(request_body[0], "client_id"),
                        "11111111-2222-3333-4444-555555555555");
    assert_false(has_param(request_body[0], "client_secret"));
    assert_string_equal(request_basic_user[0], "");
    token_reply_free(&reply);
    authorize_request_wipe(&r);
}

static void
redeem_confidential_clients(void **state)
{
    struct authorize_request r;
    struct token_reply reply;
    struct mt_err err;

    (void)state;
    script_reset();
    script_add(200, token_reply_body);
    script_add(200, token_reply_body);

    /* Secret in the body (Microsoft's preset). */
    request_new(&r, "msconf", "http://localhost:50123/");
    err_clear(&err);
    assert_int_equal(authorize_redeem(&r, "C1", "s3cret", &reply, &err), 0);
    assert_string_equal(param(request_body[0], "client_secret"), "s3cret");
    assert_string_equal(param(request_body[0], "client_id"), "conf-app");
    token_reply_free(&reply);
    authorize_request_wipe(&r);

    /* Secret in HTTP Basic (client_auth = basic). */
    request_new(&r, "gen", "http://127.0.0.1:14350/callback");
    assert_int_equal(authorize_redeem(&r, "C2", "confsecret", &reply, &err), 0);
    assert_string_equal(request_url[1], "http://127.0.0.1:9/token");
    assert_string_equal(request_basic_user[1], "mailconf");
    assert_false(has_param(request_body[1], "client_secret"));
    assert_string_equal(param(request_body[1], "redirect_uri"), "http://127.0.0.1:14350/callback");
    token_reply_free(&reply);
    authorize_request_wipe(&r);
}

static void
redeem_error_translated(void **state)
{
    struct authorize_request r;
    struct token_reply reply;
    struct mt_err err;

    (void)state;
    script_reset();
    script_add(400, "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000218: The "
                    "request body must contain client_assertion or client_secret.\","
                    "\"error_codes\":[7000218],\"trace_id\":\"t\",\"correlation_id\":\"c\"}");
    request_new(&r, "ms", "http://localhost:50123/");
    err_clear(&err);
    assert_int_equal(authorize_redeem(&r, "C1", NULL, &reply, &err), -1);
    assert_int_equal(err.code, EX_CONFIG);
    assert_non_null(strstr(err.msg, "AADSTS7000218"));
    assert_non_null(strstr(err.msg, "Allow public client flows"));
    authorize_request_wipe(&r);
}

/* ---- the redirect's query ---- */

struct callback_case {
    const char *name;
    const char *account;
    const char *query;        /* "state=OK" gets the request's state */
    int result;
    int code;                 /* expected err.code when result is -1 */
    const char *message;      /* expected in err.msg */
    const char *decoded_code; /* expected code when result is 1 */
};

static const struct callback_case callback_cases[] = {
    {.name = "wrong state", .account = "ms", .query = "code=X&state=WRONG", .result = -1,
     .code = EX_PROTOCOL, .message = "state mismatch"},
    {.name = "state one character off", .account = "ms", .query = "code=X&state=OK-", .result = -1,
     .code = EX_PROTOCOL, .message = "state mismatch"},
    {.name = "no state", .account = "ms", .query = "code=X", .result = -1, .code = EX_PROTOCOL,
     .message = "no state"},
    {.name = "error before state check", .account = "ms", .query = "error=access_denied",
     .result = -1, .code = EX_PROTOCOL, .message = "no state"},
    {.name = "access denied with description", .account = "ms",
     .query = "error=access_denied&error_description=the+user+canceled&state=OK", .result = -1,
     .code = EX_NOPERM, .message = "declined access, or the server denied it (access_denied: "
                                   "the user canceled)"},
    {.name = "no code", .account = "ms", .query = "state=OK", .result = -1, .code = EX_PROTOCOL,
     .message = "no authorization code"},
    {.name = "empty code", .account = "ms", .query = "state=OK&code=", .result = -1,
     .code = EX_PROTOCOL, .message = "empty"},
    {.name = "repeated code", .account = "ms", .query = "state=OK&code=A&code=B", .result = -1,
     .code = EX_PROTOCOL, .message = "repeated"},
    {.name = "bad escape in code", .account = "ms", .query = "state=OK&code=A%2", .result = -1,
     .code = EX_PROTOCOL, .message = "malformed"},
    {.name = "Microsoft redirect URI error", .account = "ms",
     .query = "error=invalid_request&error_description=AADSTS50011%3A+The+redirect+URI+does+"
              "not+match.&state=OK",
     .result = -1, .code = EX_CONFIG, .message = "AADSTS50011"},
    {.name = "Microsoft consent error", .account = "ms",
     .query = "error=consent_required&error_description=AADSTS65001%3A+no+consent&state=OK",
     .result = -1, .code = EX_NOPERM, .message = "has not consented"},
    {.name = "Google reply with iss and extras", .account = "google",
     .query = "state=OK&iss=https%3A%2F%2Faccounts.google.com&code=4%2F0AbCd&scope=https%3A%2F%2F"
              "mail.google.com%2F&authuser=0&prompt=consent",
     .result = 1, .decoded_code = "4/0AbCd"},
    {.name = "Google reply with wrong iss", .account = "google",
     .query = "state=OK&iss=https%3A%2F%2Fevil.example&code=4%2F0AbCd&scope=https%3A%2F%2F"
              "mail.google.com%2F&authuser=0&prompt=consent",
     .result = -1, .code = EX_PROTOCOL, .message = "\"https://evil.example\""},
    {.name = "wrong iss on an error reply", .account = "google",
     .query = "state=OK&iss=https%3A%2F%2Fevil.example&error=access_denied", .result = -1,
     .code = EX_PROTOCOL, .message = "issuer"},
    {.name = "iss without a configured issuer", .account = "gen",
     .query = "code=abc&state=OK&iss=http%3A%2F%2F127.0.0.1%3A9", .result = 1,
     .decoded_code = "abc"},
    {.name = "plus is a space in code", .account = "ms", .query = "state=OK&code=a+b",
     .result = -1, .code = EX_PROTOCOL, .message = "characters"},
    {.name = "no reply parameters", .account = "ms", .query = "foo=bar", .result = 0},
    {.name = "empty query", .account = "ms", .query = "", .result = 0},
};

/* Replaces "OK" (a whole value of state) in query with the request's state. */
static void
with_state(char *out, size_t size, const char *query, const char *state_value)
{
    const char *mark = strstr(query, "state=OK");

    if (mark == NULL) {
        snprintf(out, size, "%s", query);
        return;
    }
    snprintf(out, size, "%.*sstate=%s%s", (int)(mark - query), query, state_value, mark + 8);
}

static void
callback_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(callback_cases) / sizeof(callback_cases[0]); i++) {
        const struct callback_case *c = &callback_cases[i];
        struct authorize_request r;
        struct mt_buf code;
        struct mt_err err;
        char query[1024];
        int result;

        request_new(&r, c->account, "http://localhost:50123/");
        with_state(query, sizeof(query), c->query, r.state);
        mt_buf_init(&code, AUTHORIZE_CODE_MAX);
        err_clear(&err);
        result = authorize_parse_callback(&r, query, &code, &err);
        if (result != c->result)
            fail_msg("%s: returned %d, expected %d (%s)", c->name, result, c->result, err.msg);
        if (c->result == -1) {
            if (err.code != c->code)
                fail_msg("%s: exit code %d, expected %d", c->name, err.code, c->code);
            if (strstr(err.msg, c->message) == NULL)
                fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, err.msg, c->message);
            assert_int_equal(code.len, 0);
            assert_null(strstr(err.msg, r.state));
        }
        if (c->result == 1)
            assert_string_equal(mt_buf_str(&code), c->decoded_code);
        mt_buf_free(&code);
        authorize_request_wipe(&r);
    }
}

/* ---- pasted addresses ---- */

struct pasted_case {
    const char *name;
    const char *text;        /* "state=OK" gets the request's state */
    int code;                /* 0: accepted with code "abc" */
    const char *message;
};

static const struct pasted_case pasted_cases[] = {
    {.name = "whole address", .text = "http://localhost:50123/?code=abc&state=OK"},
    {.name = "white space around", .text = "  http://localhost:50123/?code=abc&state=OK \r\n"},
    {.name = "fragment ignored", .text = "http://localhost:50123/?code=abc&state=OK#frag=1"},
    {.name = "query only", .text = "?code=abc&state=OK"},
    {.name = "query without question mark", .text = "state=OK&code=abc"},
    {.name = "other port", .text = "http://localhost:50124/?code=abc&state=OK",
     .code = EX_DATAERR, .message = "does not start with the redirect URI"},
    {.name = "other host", .text = "http://evil.example:50123/?code=abc&state=OK",
     .code = EX_DATAERR, .message = "does not start with the redirect URI"},
    {.name = "other path", .text = "http://localhost:50123/x?code=abc&state=OK",
     .code = EX_DATAERR, .message = "does not start with the redirect URI"},
    {.name = "no reply", .text = "http://localhost:50123/", .code = EX_DATAERR,
     .message = "no reply"},
    {.name = "wrong state", .text = "http://localhost:50123/?code=abc&state=WRONG",
     .code = EX_PROTOCOL, .message = "state mismatch"},
    {.name = "empty line", .text = "", .code = EX_DATAERR, .message = "no reply"},
};

static void
pasted_addresses(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(pasted_cases) / sizeof(pasted_cases[0]); i++) {
        const struct pasted_case *c = &pasted_cases[i];
        struct authorize_request r;
        struct mt_buf code;
        struct mt_err err;
        char text[1024];
        int rc;

        request_new(&r, "ms", "http://localhost:50123/");
        with_state(text, sizeof(text), c->text, r.state);
        mt_buf_init(&code, AUTHORIZE_CODE_MAX);
        err_clear(&err);
        rc = authorize_parse_pasted(&r, text, &code, &err);
        if (c->code == 0) {
            if (rc != 0)
                fail_msg("%s: rejected: %s", c->name, err.msg);
            assert_string_equal(mt_buf_str(&code), "abc");
        } else {
            if (rc != -1 || err.code != c->code)
                fail_msg("%s: returned %d with code %d, expected -1 and %d (%s)", c->name, rc,
                         err.code, c->code, err.msg);
            if (strstr(err.msg, c->message) == NULL)
                fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, err.msg, c->message);
        }
        mt_buf_free(&code);
        authorize_request_wipe(&r);
    }
}

static void
pasted_address_without_path(void **state)
{
    struct authorize_request r;
    struct mt_buf code;
    struct mt_err err;
    char text[256];

    (void)state;
    /* Microsoft sends http://localhost:P back as http://localhost:P/. */
    request_new(&r, "ms", "http://localhost:50123");
    snprintf(text, sizeof(text), "http://localhost:50123/?code=abc&state=%s", r.state);
    mt_buf_init(&code, AUTHORIZE_CODE_MAX);
    err_clear(&err);
    assert_int_equal(authorize_parse_pasted(&r, text, &code, &err), 0);
    assert_string_equal(mt_buf_str(&code), "abc");
    mt_buf_free(&code);
    authorize_request_wipe(&r);
}

/* ---- the loopback listener ---- */

static unsigned
test_port(unsigned offset)
{
    const char *base = getenv("MAILTOKEN_TEST_PORT_BASE");
    unsigned long n = base != NULL ? strtoul(base, NULL, 10) : 14300;

    return (unsigned)n + offset;
}

/* Connects to port on 127.0.0.1 (v6 0) or ::1 (v6 1). Returns the socket, or -1 (errno). */
static int
connect_to(unsigned port, int v6)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, saved;

    memset(&ss, 0, sizeof(ss));
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sin6->sin6_addr = in6addr_loopback;
        len = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*sin);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Returns 1 once reply holds the whole response, judged by its Content-Length. */
static int
reply_complete(const char *reply, size_t got)
{
    const char *end = strstr(reply, "\r\n\r\n"), *length;

    if (end == NULL)
        return 0;
    length = strstr(reply, "\r\nContent-Length: ");
    if (length == NULL || length > end)
        return 0;
    return got >= (size_t)(end + 4 - reply) + strtoul(length + 18, NULL, 10);
}

/*
 * Sends request on a new connection and returns the whole reply (static
 * buffer). Like a browser, it closes as soon as the body is complete.
 */
static const char *
exchange_on(unsigned port, int v6, const char *request, size_t len)
{
    static char reply[16384];
    size_t got = 0;
    int fd = connect_to(port, v6);

    reply[0] = '\0';
    if (fd < 0)
        fail_msg("cannot connect to the listener on port %u: %s", port, strerror(errno));
    assert_int_equal(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
    while (!reply_complete(reply, got)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&pfd, 1, 5000) != 1)
            fail_msg("the listener did not reply within 5 s");
        n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        reply[got] = '\0';
    }
    reply[got] = '\0';
    close(fd);
    return reply;
}

static const char *
exchange(unsigned port, const char *request)
{
    return exchange_on(port, 0, request, strlen(request));
}

/* Formats a GET with a correct Host header. */
static const char *
get_request(unsigned port, const char *target)
{
    static char request[2048];

    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\nHost: localhost:%u\r\nUser-Agent: unit\r\n\r\n", target, port);
    return request;
}

struct waiter {
    struct listener *listener;
    struct authorize_callback cb;
    long timeout;
    int rc;
    struct mt_err err;
    pthread_t thread;
};

static void *
wait_thread(void *arg)
{
    struct waiter *w = arg;

    w->rc = listener_wait(w->listener, w->timeout, authorize_listener_handler, &w->cb, NULL,
                          NULL, &w->err);
    return NULL;
}

static void
waiter_start(struct waiter *w, struct listener *l, const struct authorize_request *r,
             long timeout)
{
    memset(w, 0, sizeof(*w));
    w->listener = l;
    w->cb.request = r;
    mt_buf_init(&w->cb.code, AUTHORIZE_CODE_MAX);
    w->timeout = timeout;
    w->rc = 99;
    err_clear(&w->err);
    assert_int_equal(pthread_create(&w->thread, NULL, wait_thread, w), 0);
}

static void
waiter_join(struct waiter *w)
{
    assert_int_equal(pthread_join(w->thread, NULL), 0);
}

static void
open_listener(struct listener *l, const char *configured)
{
    struct mt_err err;

    err_clear(&err);
    if (listener_open(l, configured, LISTENER_LISTEN, &err) != 0)
        fail_msg("listener_open(%s) failed: %s", configured != NULL ? configured : "NULL",
                 err.msg);
}

/* Returns 1 when the system has a usable IPv6 loopback. */
static int
ipv6_loopback(void)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;

    if (fd < 0)
        return 0;
    ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    close(fd);
    return ok;
}

static void
listener_default_binds_loopback(void **state)
{
    struct listener l;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char expected[64], text[INET6_ADDRSTRLEN];

    (void)state;
    open_listener(&l, NULL);
    assert_true(l.port > 0);
    snprintf(expected, sizeof(expected), "http://localhost:%u/", l.port);
    assert_string_equal(l.redirect_uri, expected);
    assert_string_equal(l.path, "/");

    assert_true(l.fds[0] >= 0);
    assert_int_equal(getsockname(l.fds[0], (struct sockaddr *)&ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof(text));
    assert_string_equal(text, "127.0.0.1");
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), l.port);

    if (ipv6_loopback()) {
        assert_true(l.fds[1] >= 0);
        len = sizeof(ss);
        assert_int_equal(getsockname(l.fds[1], (struct sockaddr *)&ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET6);
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof(text));
        assert_string_equal(text, "::1");
        assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), l.port);
    } else {
        print_message("no IPv6 loopback here: only 127.0.0.1 was checked\n");
    }
    listener_close(&l);
    listener_close(&l);
    assert_int_equal(l.fds[0], -1);
}

static void
listener_lifecycle(void **state)
{
    struct authorize_request r;
    struct listener l;
    struct waiter w;
    char target[256], big[LISTENER_REQUEST_MAX + 512], page[4096];
    struct pollfd pfd = {.events = POLLIN};
    const char *reply, *request;
    ssize_t n;
    int browser;

    (void)state;
    open_listener(&l, NULL);
    request_new(&r, "ms", l.redirect_uri);
    waiter_start(&w, &l, &r, 30);

    /* Browsers ask for the icon first: 404, and the wait goes on. */
    reply = exchange(l.port, get_request(l.port, "/favicon.ico"));
    assert_memory_equal(reply, "HTTP/1.1 404 ", 13);

    snprintf(target, sizeof(target),
             "POST / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: 0\r\n\r\n", l.port);
    reply = exchange(l.port, target);
    assert_memory_equal(reply, "HTTP/1.1 405 ", 13);
    assert_non_null(strstr(reply, "\r\nAllow: GET\r\n"));

    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /?x=", 8);
    reply = exchange_on(l.port, 0, big, sizeof(big));
    assert_memory_equal(reply, "HTTP/1.1 431 ", 13);

    /* DNS rebinding: a page of another site reaches the port with its own name. */
    reply = exchange(l.port, "GET /favicon.ico HTTP/1.1\r\nHost: attacker.example\r\n\r\n");
    assert_memory_equal(reply, "HTTP/1.1 400 ", 13);
    assert_non_null(strstr(reply, "localhost only"));

    reply = exchange(l.port, "garbage\r\n\r\n");
    assert_memory_equal(reply, "HTTP/1.1 400 ", 13);

    /* The redirect path without a reply does not end the wait either. */
    reply = exchange(l.port, get_request(l.port, "/"));
    assert_memory_equal(reply, "HTTP/1.1 400 ", 13);
    assert_non_null(strstr(reply, "still waiting"));

    /*
     * The reply may come over IPv6 when the browser resolves localhost to
     * ::1. The port must be closed by the time the page arrives, while
     * this connection is still open.
     */
    snprintf(target, sizeof(target), "/?code=the%%2Fcode&state=%s&session_state=x", r.state);
    browser = connect_to(l.port, l.fds[1] >= 0);
    assert_true(browser >= 0);
    request = get_request(l.port, target);
    assert_int_equal(send(browser, request, strlen(request), MSG_NOSIGNAL),
                     (ssize_t)strlen(request));
    pfd.fd = browser;
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(connect_to(l.port, 0), -1);
    assert_int_equal(errno, ECONNREFUSED);
    n = recv(browser, page, sizeof(page) - 1, 0);
    assert_true(n > 0);
    page[n] = '\0';
    close(browser);
    reply = page;
    assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
    assert_non_null(strstr(reply, "return to the terminal"));
    assert_null(strstr(reply, "the/code"));
    assert_null(strstr(reply, "the%2Fcode"));
    assert_null(strstr(reply, r.state));

    waiter_join(&w);
    assert_int_equal(w.rc, 0);
    assert_string_equal(mt_buf_str(&w.cb.code), "the/code");

    /* Processed once: the port is closed now. */
    assert_int_equal(connect_to(l.port, 0), -1);
    assert_int_equal(errno, ECONNREFUSED);
    if (ipv6_loopback()) {
        assert_int_equal(connect_to(l.port, 1), -1);
        assert_int_equal(errno, ECONNREFUSED);
    }
    mt_buf_free(&w.cb.code);
    authorize_request_wipe(&r);
    listener_close(&l);
}

static void
listener_rejected_reply_ends_wait(void **state)
{
    struct authorize_request r;
    struct listener l;
    struct waiter w;
    const char *reply;

    (void)state;
    open_listener(&l, NULL);
    request_new(&r, "ms", l.redirect_uri);
    waiter_start(&w, &l, &r, 30);

    reply = exchange(l.port, get_request(l.port, "/?code=X&state=WRONG"));
    assert_memory_equal(reply, "HTTP/1.1 400 ", 13);
    assert_non_null(strstr(reply, "state mismatch"));
    waiter_join(&w);
    assert_int_equal(w.rc, -1);
    assert_int_equal(w.err.code, EX_PROTOCOL);
    assert_non_null(strstr(w.err.msg, "state mismatch"));
    assert_int_equal(w.cb.code.len, 0);
    assert_int_equal(connect_to(l.port, 0), -1);
    mt_buf_free(&w.cb.code);
    authorize_request_wipe(&r);
}

static void
listener_error_page_escaped(void **state)
{
    struct authorize_request r;
    struct listener l;
    struct waiter w;
    char target[512];
    const char *reply;

    (void)state;
    open_listener(&l, NULL);
    request_new(&r, "ms", l.redirect_uri);
    waiter_start(&w, &l, &r, 30);
    snprintf(target, sizeof(target),
             "/?error=access_denied&error_description=%%3Cscript%%3Ex%%3C%%2Fscript%%3E&state=%s",
             r.state);
    reply = exchange(l.port, get_request(l.port, target));
    assert_memory_equal(reply, "HTTP/1.1 400 ", 13);
    assert_null(strstr(reply, "<script>"));
    assert_non_null(strstr(reply, "&lt;script&gt;"));
    waiter_join(&w);
    assert_int_equal(w.err.code, EX_NOPERM);
    mt_buf_free(&w.cb.code);
    authorize_request_wipe(&r);
}

static void
listener_idle_connection_not_blocking(void **state)
{
    struct authorize_request r;
    struct listener l;
    struct waiter w;
    struct timespec t0, t1;
    char target[256];
    const char *reply;
    int idle, partial;

    (void)state;
    open_listener(&l, NULL);
    request_new(&r, "ms", l.redirect_uri);
    waiter_start(&w, &l, &r, 30);

    /* A preconnection that sends nothing, and one that stalls mid-request. */
    idle = connect_to(l.port, 0);
    assert_true(idle >= 0);
    partial = connect_to(l.port, 0);
    assert_true(partial >= 0);
    assert_int_equal(send(partial, "GET /?code=", 11, MSG_NOSIGNAL), 11);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(target, sizeof(target), "/?code=abc&state=%s", r.state);
    reply = exchange(l.port, get_request(l.port, target));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    waiter_join(&w);
    assert_int_equal(w.rc, 0);
    close(idle);
    close(partial);
    mt_buf_free(&w.cb.code);
    authorize_request_wipe(&r);
}

static void
listener_timeout(void **state)
{
    struct authorize_request r;
    struct listener l;
    struct waiter w;
    struct timespec t0, t1;

    (void)state;
    open_listener(&l, NULL);
    request_new(&r, "ms", l.redirect_uri);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    waiter_start(&w, &l, &r, 1);
    waiter_join(&w);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(w.rc, -1);
    assert_int_equal(w.err.code, EX_TEMPFAIL);
    assert_non_null(strstr(w.err.msg, "timed out after 1 s waiting for the browser"));
    assert_true(t1.tv_sec - t0.tv_sec >= 1 && t1.tv_sec - t0.tv_sec <= 3);
    assert_int_equal(connect_to(l.port, 0), -1);
    mt_buf_free(&w.cb.code);
    authorize_request_wipe(&r);
}

static void
listener_fixed_port_and_path(void **state)
{
    struct authorize_request r;
    struct listener l;
    struct waiter w;
    char uri[128], target[256];
    const char *reply;
    unsigned port = test_port(1);

    (void)state;
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/callback", port);
    open_listener(&l, uri);
    assert_string_equal(l.redirect_uri, uri);
    assert_int_equal(l.port, port);
    assert_int_equal(l.fds[1], -1);
    request_new(&r, "gen", l.redirect_uri);
    waiter_start(&w, &l, &r, 30);

    reply = exchange(port, get_request(port, "/"));
    assert_memory_equal(reply, "HTTP/1.1 404 ", 13);
    snprintf(target, sizeof(target), "/callback?state=%s&code=xyz", r.state);
    reply = exchange(port, get_request(port, target));
    assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
    waiter_join(&w);
    assert_int_equal(w.rc, 0);
    assert_string_equal(mt_buf_str(&w.cb.code), "xyz");
    mt_buf_free(&w.cb.code);
    authorize_request_wipe(&r);
}

static void
listener_leaves_port_reusable(void **state)
{
    struct authorize_request r;
    struct listener l;
    struct waiter w;
    char uri[128], target[256];
    const char *reply;
    unsigned port = test_port(3);
    int idle, lingering;

    (void)state;
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/", port);
    open_listener(&l, uri);
    request_new(&r, "ms", l.redirect_uri);
    waiter_start(&w, &l, &r, 30);

    /* An idle preconnection, and a browser that keeps the connection after a reply. */
    idle = connect_to(port, 0);
    assert_true(idle >= 0);
    lingering = connect_to(port, 0);
    assert_true(lingering >= 0);
    snprintf(target, sizeof(target),
             "GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n", port);
    assert_int_equal(send(lingering, target, strlen(target), MSG_NOSIGNAL),
                     (ssize_t)strlen(target));

    snprintf(target, sizeof(target), "/?code=abc&state=%s", r.state);
    reply = exchange(port, get_request(port, target));
    assert_memory_equal(reply, "HTTP/1.1 200 ", 13);
    waiter_join(&w);
    assert_int_equal(w.rc, 0);

    /* Nothing the listener closed first may keep the port in TIME_WAIT. */
    open_listener(&l, uri);
    listener_close(&l);
    close(idle);
    close(lingering);
    mt_buf_free(&w.cb.code);
    authorize_request_wipe(&r);
}

static void
listener_time_wait_reported(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct listener l;
    struct mt_err err;
    char uri[128];
    unsigned port = test_port(4);
    int server, client, accepted, on = 1;

    (void)state;
    /* A server that closes first leaves its port in TIME_WAIT. */
    server = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(server, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(server, 1), 0);
    client = connect_to(port, 0);
    assert_true(client >= 0);
    accepted = accept(server, NULL, NULL);
    assert_true(accepted >= 0);
    close(accepted);
    close(server);
    usleep(100000);
    close(client);

    snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/callback", port);
    err_clear(&err);
    assert_int_equal(listener_open(&l, uri, LISTENER_LISTEN, &err), -1);
    assert_int_equal(err.code, EX_TEMPFAIL);
    assert_int_equal(l.port_closing, 1);
    assert_non_null(strstr(err.msg, "TIME_WAIT"));
    listener_close(&l);
}

static void
listener_port_chosen_for_path(void **state)
{
    struct listener l;
    char expected[128];

    (void)state;
    open_listener(&l, "http://localhost/app");
    snprintf(expected, sizeof(expected), "http://localhost:%u/app", l.port);
    assert_string_equal(l.redirect_uri, expected);
    assert_string_equal(l.path, "/app");
    listener_close(&l);

    open_listener(&l, "http://127.0.0.1");
    snprintf(expected, sizeof(expected), "http://127.0.0.1:%u", l.port);
    assert_string_equal(l.redirect_uri, expected);
    assert_string_equal(l.path, "/");
    listener_close(&l);
}

static void
listener_port_in_use(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct listener l;
    struct mt_err err;
    char uri[128];
    unsigned port = test_port(2);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    (void)state;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 1), 0);
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%u/callback", port);
    err_clear(&err);
    assert_int_equal(listener_open(&l, uri, LISTENER_LISTEN, &err), -1);
    assert_int_equal(err.code, EX_TEMPFAIL);
    assert_non_null(strstr(err.msg, "in use"));
    assert_int_equal(l.port_closing, 0);
    listener_close(&l);
    close(fd);
}

static void
listener_invalid_redirect_uris(void **state)
{
    static const char *const bad[] = {
        "http://example.com/", "https://localhost/", "http://localhost:0/",
        "http://localhost:70000/", "http://localhost/a?b=1", "http://localhost/a#b",
        "http://localhostx/", "http://localhost:12a/", "ftp://127.0.0.1/",
        "http://localhost/a b",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct listener l;
        struct mt_err err;

        err_clear(&err);
        if (listener_open(&l, bad[i], LISTENER_LISTEN, &err) != -1)
            fail_msg("%s was accepted", bad[i]);
        assert_int_equal(err.code, EX_CONFIG);
        listener_close(&l);
    }
}

static void
listener_reserve_refuses(void **state)
{
    struct listener l;
    struct mt_err err;

    (void)state;
    err_clear(&err);
    assert_int_equal(listener_open(&l, NULL, LISTENER_RESERVE, &err), 0);
    assert_true(l.port > 0);
    assert_int_equal(connect_to(l.port, 0), -1);
    assert_int_equal(errno, ECONNREFUSED);
    listener_close(&l);
}

/* ---- the device grant ---- */

static time_t fake_now;
static long waits[SCRIPT_MAX];
static size_t nwaits;

static time_t
fake_clock(void)
{
    return fake_now;
}

static int
fake_wait(void *ctx, long seconds, long seconds_left, struct mt_err *err)
{
    (void)ctx;
    (void)err;
    assert_true(seconds_left > seconds);
    if (nwaits < SCRIPT_MAX)
        waits[nwaits++] = seconds;
    fake_now += seconds;
    return 0;
}

static const struct device_clock test_clock = {.wait = fake_wait, .now = fake_clock};

static void
device_reset(void)
{
    script_reset();
    fake_now = 100000;
    nwaits = 0;
}

static const char google_style_device[] =
    "{\"device_code\":\"D\",\"user_code\":\"U\","
    "\"verification_url\":\"https://www.google.com/device\",\"expires_in\":1800}";
static const char pending_body[] = "{\"error\":\"authorization_pending\"}";
static const char slow_down_body[] = "{\"error\":\"slow_down\"}";

static void
device_google_style_polling(void **state)
{
    struct device_authorization d;
    struct token_reply reply;
    struct mt_err err;

    (void)state;
    device_reset();
    script_add(200, google_style_device);
    script_add(428, pending_body);
    script_add(403, slow_down_body);
    script_add(428, pending_body);
    script_add(200, token_reply_body);
    err_clear(&err);
    assert_int_equal(device_start(account("gen"), "confsecret", &d, &err), 0);
    assert_string_equal(d.user_code, "U");
    assert_string_equal(d.verification_uri, "https://www.google.com/device");
    assert_null(d.verification_uri_complete);
    assert_null(d.message);
    assert_int_equal(d.expires_in, 1800);
    assert_int_equal(d.interval, 5);
    assert_string_equal(request_url[0], "http://127.0.0.1:9/device");
    assert_string_equal(param(request_body[0], "scope"), "mail");

    assert_int_equal(device_poll(account("gen"), "confsecret", &d, fake_now, 0, &test_clock,
                                 &reply, &err),
                     0);
    assert_string_equal(reply.access_token, "AT-1");
    assert_int_equal(http_calls, 5);
    assert_int_equal(nwaits, 4);
    assert_int_equal(waits[0], 5);
    assert_int_equal(waits[1], 5);
    assert_int_equal(waits[2], 10);
    assert_int_equal(waits[3], 10);
    for (int i = 1; i < 5; i++) {
        assert_string_equal(request_url[i], "http://127.0.0.1:9/token");
        assert_string_equal(param(request_body[i], "grant_type"),
                            "urn:ietf:params:oauth:grant-type:device_code");
        assert_string_equal(param(request_body[i], "device_code"), "D");
        assert_string_equal(request_basic_user[i], "mailconf");
    }
    token_reply_free(&reply);
    device_authorization_free(&d);
}

static void
device_microsoft_message(void **state)
{
    struct device_authorization d;
    struct mt_err err;

    (void)state;
    device_reset();
    script_add(200, "{\"user_code\":\"FQK5HW3UF\",\"device_code\":\"DAQABAAEAAAD\","
                    "\"verification_uri\":\"https://microsoft.com/devicelogin\","
                    "\"expires_in\":\"900\",\"interval\":5,\"message\":\"To sign in, use a web "
                    "browser to open the page https://microsoft.com/devicelogin and enter the "
                    "code FQK5HW3UF to authenticate.\\u001b[31m\"}");
    err_clear(&err);
    assert_int_equal(device_start(account("ms"), NULL, &d, &err), 0);
    assert_string_equal(request_url[0],
                        "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode");
    assert_string_equal(param(request_body[0], "client_id"),
                        "11111111-2222-3333-4444-555555555555");
    assert_non_null(strstr(param(request_body[0], "scope"), "offline_access"));
    assert_int_equal(d.expires_in, 900);
    assert_non_null(strstr(d.message, "enter the code FQK5HW3UF"));
    assert_null(strchr(d.message, '\033'));
    device_authorization_free(&d);
}

struct stop_case {
    const char *body;
    long status;
    int code;
    const char *message;
};

static const struct stop_case stop_cases[] = {
    {"{\"error\":\"expired_token\"}", 400, EX_TEMPFAIL, "expired"},
    {"{\"error\":\"access_denied\"}", 403, EX_NOPERM, "declined (access_denied)"},
    {"{\"error\":\"authorization_declined\",\"error_description\":\"AADSTS70000\"}", 400,
     EX_NOPERM, "declined (authorization_declined)"},
    {"{\"error\":\"bad_verification_code\"}", 400, EX_PROTOCOL, "bad_verification_code"},
    {"{\"error\":\"invalid_client\",\"error_codes\":[7000218]}", 401, EX_CONFIG,
     "AADSTS7000218"},
};

static void
device_stop_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(stop_cases) / sizeof(stop_cases[0]); i++) {
        const struct stop_case *c = &stop_cases[i];
        struct device_authorization d;
        struct token_reply reply;
        struct mt_err err;

        device_reset();
        script_add(200, google_style_device);
        script_add(428, pending_body);
        script_add(c->status, c->body);
        script_add(200, token_reply_body);
        err_clear(&err);
        assert_int_equal(device_start(account("ms"), NULL, &d, &err), 0);
        assert_int_equal(device_poll(account("ms"), NULL, &d, fake_now, 0, &test_clock, &reply,
                                     &err),
                         -1);
        if (err.code != c->code || strstr(err.msg, c->message) == NULL)
            fail_msg("%s: code %d, message \"%s\"; expected %d and \"%s\"", c->body, err.code,
                     err.msg, c->code, c->message);
        /* It stopped at once: the scripted token was never fetched. */
        assert_int_equal(http_calls, 3);
        device_authorization_free(&d);
    }
}

static void
device_no_poll_after_expiry(void **state)
{
    struct device_authorization d;
    struct token_reply reply;
    struct mt_err err;

    (void)state;
    device_reset();
    script_add(200, "{\"device_code\":\"D\",\"user_code\":\"U\",\"verification_uri\":"
                    "\"https://example.test/device\",\"expires_in\":12,\"interval\":5}");
    for (int i = 0; i < 6; i++)
        script_add(400, pending_body);
    err_clear(&err);
    assert_int_equal(device_start(account("gen"), NULL, &d, &err), 0);
    assert_int_equal(device_poll(account("gen"), NULL, &d, fake_now, 0, &test_clock, &reply,
                                 &err),
                     -1);
    assert_int_equal(err.code, EX_TEMPFAIL);
    assert_non_null(strstr(err.msg, "expired (after 12 s)"));
    /* Polls at 5 and 10 s; a third at 15 s would be after expires_in. */
    assert_int_equal(http_calls, 3);
    assert_true(fake_now - 100000 <= 12);
    device_authorization_free(&d);
}

static void
device_max_wait(void **state)
{
    struct device_authorization d;
    struct token_reply reply;
    struct mt_err err;

    (void)state;
    device_reset();
    script_add(200, google_style_device);
    for (int i = 0; i < 6; i++)
        script_add(400, pending_body);
    err_clear(&err);
    assert_int_equal(device_start(account("gen"), NULL, &d, &err), 0);
    assert_int_equal(device_poll(account("gen"), NULL, &d, fake_now, 11, &test_clock, &reply,
                                 &err),
                     -1);
    assert_int_equal(err.code, EX_TEMPFAIL);
    assert_non_null(strstr(err.msg, "timed out after 11 s"));
    assert_int_equal(http_calls, 3);
    device_authorization_free(&d);
}

static void
device_network_failure_backs_off(void **state)
{
    struct device_authorization d;
    struct token_reply reply;
    struct mt_err err;

    (void)state;
    device_reset();
    script_add(200, google_style_device);
    script_add(0, NULL);
    script_add(503, "<html>busy</html>");
    script_add(200, token_reply_body);
    err_clear(&err);
    assert_int_equal(device_start(account("gen"), NULL, &d, &err), 0);
    assert_int_equal(device_poll(account("gen"), NULL, &d, fake_now, 0, &test_clock, &reply,
                                 &err),
                     0);
    assert_int_equal(nwaits, 3);
    assert_int_equal(waits[0], 5);
    assert_int_equal(waits[1], 10);
    assert_int_equal(waits[2], 20);
    token_reply_free(&reply);
    device_authorization_free(&d);
}

static void
device_gmail_refused_before_request(void **state)
{
    struct device_authorization d;
    struct mt_err err;

    (void)state;
    device_reset();
    script_add(200, google_style_device);
    err_clear(&err);
    assert_int_equal(device_check_account(account("google"), &err), -1);
    assert_int_equal(err.code, EX_USAGE);
    assert_non_null(strstr(err.msg, "Google does not allow Gmail scopes in the device flow"));
    assert_non_null(strstr(err.msg, "ssh -L"));
    err_clear(&err);
    assert_int_equal(device_start(account("google"), "x", &d, &err), -1);
    assert_int_equal(http_calls, 0);

    err_clear(&err);
    assert_int_equal(device_check_account(account("nodevice"), &err), -1);
    assert_int_equal(err.code, EX_CONFIG);
    assert_int_equal(device_check_account(account("gen"), &err), 0);
}

static void
device_invalid_replies(void **state)
{
    static const char *const bodies[] = {
        "{\"user_code\":\"U\",\"verification_uri\":\"https://x.test/\",\"expires_in\":600}",
        "{\"device_code\":\"D\",\"verification_uri\":\"https://x.test/\",\"expires_in\":600}",
        "{\"device_code\":\"D\",\"user_code\":\"U\",\"expires_in\":600}",
        "{\"device_code\":\"D\",\"user_code\":\"U\",\"verification_uri\":\"javascript:x\"}",
        "{\"device_code\":\"D\",\"user_code\":\"U\\u001b[2J\",\"verification_uri\":\"https://x/\"}",
        "[1,2]",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct device_authorization d;
        struct mt_err err;

        device_reset();
        script_add(200, bodies[i]);
        err_clear(&err);
        if (device_start(account("gen"), NULL, &d, &err) != -1)
            fail_msg("accepted %s", bodies[i]);
        assert_int_equal(err.code, EX_PROTOCOL);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pkce_rfc7636_vector),
        cmocka_unit_test(pkce_rejects_bad_verifiers),
        cmocka_unit_test(pkce_generated_verifiers_valid),
        cmocka_unit_test(state_has_256_random_bits),
        cmocka_unit_test(url_microsoft_common_tenant),
        cmocka_unit_test(url_google_offline_params),
        cmocka_unit_test(url_endpoint_with_query),
        cmocka_unit_test(url_openid_sends_nonce),
        cmocka_unit_test(request_needs_endpoints),
        cmocka_unit_test(redeem_public_client),
        cmocka_unit_test(redeem_confidential_clients),
        cmocka_unit_test(redeem_error_translated),
        cmocka_unit_test(callback_vectors),
        cmocka_unit_test(pasted_addresses),
        cmocka_unit_test(pasted_address_without_path),
        cmocka_unit_test(listener_default_binds_loopback),
        cmocka_unit_test(listener_lifecycle),
        cmocka_unit_test(listener_rejected_reply_ends_wait),
        cmocka_unit_test(listener_error_page_escaped),
        cmocka_unit_test(listener_idle_connection_not_blocking),
        cmocka_unit_test(listener_timeout),
        cmocka_unit_test(listener_fixed_port_and_path),
        cmocka_unit_test(listener_leaves_port_reusable),
        cmocka_unit_test(listener_time_wait_reported),
        cmocka_unit_test(listener_port_chosen_for_path),
        cmocka_unit_test(listener_port_in_use),
        cmocka_unit_test(listener_invalid_redirect_uris),
        cmocka_unit_test(listener_reserve_refuses),
        cmocka_unit_test(device_google_style_polling),
        cmocka_unit_test(device_microsoft_message),
        cmocka_unit_test(device_stop_errors),
        cmocka_unit_test(device_no_poll_after_expiry),
        cmocka_unit_test(device_max_wait),
        cmocka_unit_test(device_network_failure_backs_off),
        cmocka_unit_test(device_gmail_refused_before_request),
        cmocka_unit_test(device_invalid_replies),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
