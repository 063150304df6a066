/*
 * Tests of libmailtoken.so through the real libsasl2: sasl_client_init
 * loads the plugin from a temporary folder that holds only it (or it and
 * the system's PLAIN and LOGIN plugins, for the selection tests), and
 * sasl_client_start and sasl_client_step drive it. The token source is
 * tests/unit/plugin/fake_helper (and a fake daemon socket served by a
 * child of this program); the account name picks its reply.
 *
 * An optional argument is a cmocka test filter, e.g. "vector*".
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "fake_replies.h"
#include "mt_base64.h"
#include "mt_buf.h"
#include "mt_sha256.h"
#include "mt_wire.h"

#ifndef PLUGIN_PATH
#error "PLUGIN_PATH must name build/plugin/libmailtoken.so"
#endif
#ifndef FAKE_HELPER_PATH
#error "FAKE_HELPER_PATH must name the fake helper"
#endif
#ifndef SYSTEM_SASL_PLUGINDIR
#error "SYSTEM_SASL_PLUGINDIR must name libsasl2's plugin folder"
#endif

/* sasl_callback_t stores every callback as int (*)(void); the id gives the real type. */
#define CB(f) ((int (*)(void))(void (*)(void))(f))

#define PASSWORD_TOKEN "ya29.a0PasswordToken_only-for~tests+/=="
#define LEN_TOKEN_PREFIX "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"

static char tmpdir[256];
static char ours_dir[320];      /* only libmailtoken.so */
static char mixed_dir[320];     /* libmailtoken.so, libplain.so, liblogin.so */
static char config_path[320];
static char socket_path[320];
static const char *plugin_dir;  /* what the GETPATH callback returns */
static struct mt_buf captured_log;
static pid_t server_pid = -1;

/* ---- global SASL callbacks ---- */

static int
log_callback(void *context, int level, const char *message)
{
    (void)context;
    mt_buf_printf(&captured_log, "%d %s\n", level, message);
    return SASL_OK;
}

static int
getpath_callback(void *context, const char **path)
{
    (void)context;
    *path = plugin_dir;
    return SASL_OK;
}

static sasl_callback_t global_callbacks[] = {
    {SASL_CB_LOG, CB(log_callback), NULL},
    {SASL_CB_GETPATH, CB(getpath_callback), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

/* ---- files ---- */

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Returns the file's contents (allocated), or "" when it does not exist. */
static char *
read_file(const char *name)
{
    char path[512];
    struct mt_buf b;
    char chunk[4096];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    mt_buf_init(&b, 1 << 22);
    f = fopen(path, "r");
    if (f != NULL) {
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            mt_buf_append(&b, chunk, n);
        fclose(f);
    }
    return mt_buf_detach(&b);
}

static int
count_lines(const char *name, const char *line)
{
    char *text = read_file(name);
    size_t n = strlen(line);
    int count = 0;

    for (char *p = text; *p != '\0';) {
        char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        if (len == n && memcmp(p, line, n) == 0)
            count++;
        p += len + (end != NULL ? 1 : 0);
    }
    free(text);
    return count;
}

static void
remove_record(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    unlink(path);
}

static int
log_contains(const char *text)
{
    return strstr(mt_buf_str(&captured_log), text) != NULL;
}

/* ---- library setup per test ---- */

struct library_setup {
    const char *config;       /* text of the file MAILTOKEN_CONFIG names; NULL: no such file */
    const char *helper_env;   /* MAILTOKEN_HELPER; NULL: unset */
    const char *socket_env;   /* MAILTOKEN_SOCKET; NULL: unset */
    const char *dir;          /* plugin folder; NULL: ours_dir */
};

static void
library_up(const struct library_setup *s)
{
    int r;

    remove_record("helper.log");
    remove_record("helper-env.txt");
    remove_record("socket.log");
    unlink(config_path);
    if (s->config != NULL)
        write_file(config_path, s->config);
    setenv("MAILTOKEN_CONFIG", config_path, 1);
    if (s->helper_env != NULL)
        setenv("MAILTOKEN_HELPER", s->helper_env, 1);
    else
        unsetenv("MAILTOKEN_HELPER");
    if (s->socket_env != NULL)
        setenv("MAILTOKEN_SOCKET", s->socket_env, 1);
    else
        unsetenv("MAILTOKEN_SOCKET");
    plugin_dir = s->dir != NULL ? s->dir : ours_dir;
    mt_buf_reset(&captured_log);
    r = sasl_client_init(global_callbacks);
    assert_int_equal(r, SASL_OK);
}

static const char default_config[] =
    "; the plugin reads only [defaults]\n"
    "[defaults]\n"
    "helper = /nonexistent/overridden-by-MAILTOKEN_HELPER\n"
    "helper_timeout = 2   ; seconds\n"
    "\n"
    "[plain]\n"
    "helper_timeout = 99\n";

static int
setup_default(void **state)
{
    static const struct library_setup s = {
        .config = default_config,
        .helper_env = FAKE_HELPER_PATH,
    };

    (void)state;
    library_up(&s);
    return 0;
}

/* Fails the test when a token of the fake source shows up in the log. */
static int
teardown_library(void **state)
{
    static const char *const secrets[] = {
        FAKE_GOOGLE_TOKEN, FAKE_MICROSOFT_TOKEN, FAKE_RFC7628_TOKEN, PASSWORD_TOKEN,
        LEN_TOKEN_PREFIX,
    };
    int leaked = 0;

    (void)state;
    sasl_client_done();
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = -1;
    }
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (log_contains(secrets[i])) {
            print_error("a token appears in the SASL log: %s\n", secrets[i]);
            leaked = 1;
        }
    }
    return leaked ? -1 : 0;
}

/* ---- the client side ---- */

struct client {
    const char *service;          /* "imap" when NULL */
    const char *server_fqdn;
    const char *remote;           /* "address;port" or NULL */
    const char *authname;         /* NULL: no AUTHNAME callback */
    const char *authzid;          /* NULL: no USER callback */
    const char *password;         /* NULL: no PASS callback */
    size_t password_len;          /* 0: strlen(password) */
    int interact_authname;        /* list the callback without a function: prompts */
    int interact_authzid;
    int interact_password;
    const char *client_mech_list; /* answered through a GETOPT callback */
    unsigned security_flags;
    unsigned external_ssf;

    sasl_callback_t callbacks[8];
    sasl_secret_t *secret;
    unsigned long prompted[8];
    int nprompted;
    sasl_conn_t *conn;
};

struct result {
    int r;
    const char *out;
    unsigned len;
    const char *mech;
};

static int
simple_callback(void *context, int id, const char **result, unsigned *len)
{
    struct client *c = context;
    const char *value = id == SASL_CB_AUTHNAME ? c->authname : c->authzid;

    *result = value;
    if (len != NULL)
        *len = (unsigned)strlen(value);
    return SASL_OK;
}

static int
secret_callback(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
    struct client *c = context;

    (void)conn;
    (void)id;
    *psecret = c->secret;
    return SASL_OK;
}

static int
getopt_callback(void *context, const char *plugin_name, const char *option,
                const char **result, unsigned *len)
{
    struct client *c = context;

    (void)plugin_name;
    if (strcmp(option, "client_mech_list") != 0 || c->client_mech_list == NULL)
        return SASL_FAIL;
    *result = c->client_mech_list;
    if (len != NULL)
        *len = (unsigned)strlen(c->client_mech_list);
    return SASL_OK;
}

static size_t
password_length(const struct client *c)
{
    return c->password_len > 0 ? c->password_len : strlen(c->password);
}

static void
client_connect(struct client *c)
{
    int n = 0, r;

    if (c->authname != NULL || c->interact_authname)
        c->callbacks[n++] = (sasl_callback_t){SASL_CB_AUTHNAME,
                                              c->interact_authname ? NULL : CB(simple_callback), c};
    if (c->authzid != NULL || c->interact_authzid)
        c->callbacks[n++] = (sasl_callback_t){SASL_CB_USER,
                                              c->interact_authzid ? NULL : CB(simple_callback), c};
    if (c->password != NULL || c->interact_password)
        c->callbacks[n++] = (sasl_callback_t){SASL_CB_PASS,
                                              c->interact_password ? NULL : CB(secret_callback), c};
    if (c->client_mech_list != NULL)
        c->callbacks[n++] = (sasl_callback_t){SASL_CB_GETOPT, CB(getopt_callback), c};
    c->callbacks[n] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};

    if (c->password != NULL) {
        size_t len = password_length(c);

        c->secret = calloc(1, sizeof(sasl_secret_t) + len + 1);
        assert_non_null(c->secret);
        c->secret->len = len;
        memcpy(c->secret->data, c->password, len);
    }
    r = sasl_client_new(c->service != NULL ? c->service : "imap", c->server_fqdn, NULL,
                        c->remote, c->callbacks, 0, &c->conn);
    assert_int_equal(r, SASL_OK);
    if (c->security_flags != 0) {
        sasl_security_properties_t props = {
            .min_ssf = 0,
            .max_ssf = 0,
            .maxbufsize = 0,
            .security_flags = c->security_flags,
        };

        assert_int_equal(sasl_setprop(c->conn, SASL_SEC_PROPS, &props), SASL_OK);
    }
    if (c->external_ssf != 0) {
        sasl_ssf_t ssf = c->external_ssf;

        assert_int_equal(sasl_setprop(c->conn, SASL_SSF_EXTERNAL, &ssf), SASL_OK);
    }
}

static void
client_close(struct client *c)
{
    sasl_dispose(&c->conn);
    free(c->secret);
    c->secret = NULL;
}

static void
fill_prompts(struct client *c, sasl_interact_t *list)
{
    for (; list->id != SASL_CB_LIST_END; list++) {
        const char *value = "";
        size_t len;

        assert_non_null(list->prompt);
        if (c->nprompted < 8)
            c->prompted[c->nprompted++] = list->id;
        if (list->id == SASL_CB_AUTHNAME && c->authname != NULL)
            value = c->authname;
        else if (list->id == SASL_CB_USER && c->authzid != NULL)
            value = c->authzid;
        else if (list->id == SASL_CB_PASS && c->password != NULL)
            value = c->password;
        len = list->id == SASL_CB_PASS && c->password != NULL ? password_length(c) : strlen(value);
        list->result = value;
        list->len = (unsigned)len;
    }
}

/* sasl_client_start, answering prompts; with_ir 0 passes no clientout (no initial response). */
static struct result
client_start(struct client *c, const char *mechlist, int with_ir)
{
    sasl_interact_t *prompts = NULL;
    struct result x = {.r = SASL_FAIL};
    int rounds = 0;

    do {
        x.out = NULL;
        x.len = 0;
        x.r = sasl_client_start(c->conn, mechlist, &prompts, with_ir ? &x.out : NULL, &x.len,
                                &x.mech);
        if (x.r == SASL_INTERACT)
            fill_prompts(c, prompts);
    } while (x.r == SASL_INTERACT && ++rounds < 5);
    return x;
}

/* sasl_client_step with a copy of in that ends in a NUL, as the library requires. */
static struct result
client_step(struct client *c, const char *in, size_t inlen)
{
    sasl_interact_t *prompts = NULL;
    struct result x = {.r = SASL_FAIL};
    char *copy = malloc(inlen + 1);
    int rounds = 0;

    assert_non_null(copy);
    memcpy(copy, in, inlen);
    copy[inlen] = '\0';
    do {
        x.out = NULL;
        x.len = 0;
        x.r = sasl_client_step(c->conn, copy, (unsigned)inlen, &prompts, &x.out, &x.len);
        if (x.r == SASL_INTERACT)
            fill_prompts(c, prompts);
    } while (x.r == SASL_INTERACT && ++rounds < 5);
    free(copy);
    return x;
}

static void
assert_bytes(const struct result *x, const char *expected, size_t expected_len)
{
    assert_non_null(x->out);
    assert_int_equal(x->len, expected_len);
    assert_memory_equal(x->out, expected, expected_len);
}

static void
assert_base64(const struct result *x, const char *b64)
{
    struct mt_buf b;

    mt_buf_init(&b, 1 << 20);
    assert_int_equal(mt_base64_encode(&b, x->out, x->len, MT_BASE64_STD), 0);
    assert_string_equal(mt_buf_str(&b), b64);
    mt_buf_free(&b);
}

static void
assert_nothing_produced(const struct result *x)
{
    assert_true(x->out == NULL || x->len == 0);
}

static void
assert_errdetail_has(struct client *c, const char *text)
{
    const char *detail = sasl_errdetail(c->conn);

    if (strstr(detail, text) == NULL)
        fail_msg("errdetail \"%s\" lacks \"%s\"", detail, text);
}

static void
assert_rejected_recorded(const char *account, const char *token, int expected)
{
    char fp[MT_FINGERPRINT_SIZE], line[256];

    mt_fingerprint_str(token, fp);
    snprintf(line, sizeof(line), "exec REJECTED %s %s", account, fp);
    assert_int_equal(count_lines("helper.log", line), expected);
}

static int
helper_calls(void)
{
    char *text = read_file("helper.log");
    int n = 0;

    for (char *p = text; (p = strstr(p, "exec ")) != NULL; p += 5)
        n++;
    free(text);
    return n;
}

/* Runs vector 1 (Google's XOAUTH2 sample) up to its initial response. */
static struct result
start_google(struct client *c)
{
    struct result x;

    c->authname = "google";
    client_connect(c);
    x = client_start(c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_string_equal(x.mech, "XOAUTH2");
    return x;
}

static const char vector1_raw[] =
    "user=" FAKE_GOOGLE_USER "\x01" "auth=Bearer " FAKE_GOOGLE_TOKEN "\x01\x01";
static const char vector1_b64[] =
    "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhk"
    "SFJoZG1semRHRXVZMjl0Q2cBAQ==";
static const char vector3_raw[] =
    "n,a=" FAKE_RFC7628_USER ",\x01" "host=server.example.com\x01" "port=143\x01"
    "auth=Bearer " FAKE_RFC7628_TOKEN "\x01\x01";
static const char vector3_b64[] =
    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVy"
    "IHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
static const char google_error[] =
    "{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":\"https://mail.google.com/\"}";
static const char rfc7628_error[] =
    "{\"status\":\"invalid_token\",\"scope\":\"example_scope\","
    "\"openid-configuration\":\"https://example.com/.well-known/openid-config\"}";

/* ---- loading ---- */

static void
plugin_loads_alone(void **state)
{
    const char **mechs = sasl_global_listmech();
    int xoauth2 = 0, oauthbearer = 0, other = 0;
    char *maps;
    FILE *f;

    (void)state;
    assert_non_null(mechs);
    for (; *mechs != NULL; mechs++) {
        if (strcmp(*mechs, "XOAUTH2") == 0)
            xoauth2++;
        else if (strcmp(*mechs, "OAUTHBEARER") == 0)
            oauthbearer++;
        else if (strcmp(*mechs, "EXTERNAL") != 0)   /* built into libsasl2 */
            other++;
    }
    assert_int_equal(xoauth2, 1);
    assert_int_equal(oauthbearer, 1);
    assert_int_equal(other, 0);

    /* Debian's KDE XOAUTH2 plugin must never be loaded. */
    f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    maps = calloc(1, 1 << 22);
    assert_non_null(maps);
    (void)!fread(maps, 1, (1 << 22) - 1, f);
    fclose(f);
    assert_null(strstr(maps, "kdexoauth2"));
    assert_non_null(strstr(maps, "libmailtoken.so"));
    free(maps);
}

struct flags_seen {
    int count;
    int ok;
    char problem[200];
};

static void
check_plugin_info(client_sasl_mechanism_t *m, sasl_info_callback_stage_t stage, void *rock)
{
    struct flags_seen *seen = rock;
    const sasl_client_plug_t *plug;

    if (stage != SASL_INFO_LIST_MECH || m == NULL || m->plug == NULL)
        return;
    plug = m->plug;
    if (strcmp(plug->mech_name, "XOAUTH2") != 0 && strcmp(plug->mech_name, "OAUTHBEARER") != 0)
        return;
    seen->count++;
    if (plug->security_flags !=
        (SASL_SEC_NOANONYMOUS | SASL_SEC_NODICTIONARY | SASL_SEC_PASS_CREDENTIALS))
        snprintf(seen->problem, sizeof(seen->problem), "%s: security flags 0x%x",
                 plug->mech_name, plug->security_flags);
    else if (plug->features != (SASL_FEAT_WANT_CLIENT_FIRST | SASL_FEAT_ALLOWS_PROXY))
        snprintf(seen->problem, sizeof(seen->problem), "%s: features 0x%x", plug->mech_name,
                 plug->features);
    else if (plug->max_ssf != 0)
        snprintf(seen->problem, sizeof(seen->problem), "%s: max_ssf %u", plug->mech_name,
                 plug->max_ssf);
    else if (plug->required_prompts == NULL || plug->required_prompts[0] != SASL_CB_AUTHNAME ||
             plug->required_prompts[1] != SASL_CB_LIST_END)
        snprintf(seen->problem, sizeof(seen->problem),
                 "%s: required prompts are not just SASL_CB_AUTHNAME", plug->mech_name);
    else
        seen->ok++;
}

/* The flags the documentation states: no NOPLAINTEXT, NODICTIONARY to rank above PLAIN and LOGIN. */
static void
mechanism_flags_as_documented(void **state)
{
    struct flags_seen seen = {0};

    (void)state;
    assert_int_equal(sasl_client_plugin_info("XOAUTH2 OAUTHBEARER", check_plugin_info, &seen),
                     SASL_OK);
    if (seen.problem[0] != '\0')
        fail_msg("%s", seen.problem);
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.ok, 2);
}

/* ---- test vectors ---- */

static void
vector1_xoauth2_google(void **state)
{
    struct client c = {0};
    struct result x;

    (void)state;
    x = start_google(&c);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    assert_int_equal(x.len, 85);
    assert_base64(&x, vector1_b64);
    assert_int_equal(count_lines("helper.log", "exec TOKEN google "), 1);
    client_close(&c);
}

static void
vector2_xoauth2_microsoft(void **state)
{
    static const char raw[] =
        "user=" FAKE_MICROSOFT_USER "\x01" "auth=Bearer " FAKE_MICROSOFT_TOKEN "\x01\x01";
    struct client c = {.authname = "microsoft"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "PLAIN XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_string_equal(x.mech, "XOAUTH2");
    assert_bytes(&x, raw, sizeof(raw) - 1);
    assert_int_equal(x.len, 88);
    assert_base64(&x, "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNC"
                      "QUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==");
    client_close(&c);
}

static void
vector3_oauthbearer_rfc7628(void **state)
{
    struct client c = {
        .authname = "rfc7628",
        .server_fqdn = "server.example.com",
        .remote = "127.0.0.1;143",
    };
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_string_equal(x.mech, "OAUTHBEARER");
    assert_bytes(&x, vector3_raw, sizeof(vector3_raw) - 1);
    assert_int_equal(x.len, 111);
    assert_base64(&x, vector3_b64);
    client_close(&c);
}

static void
vector3_oauthbearer_smtp_port(void **state)
{
    struct client c = {
        .service = "smtp",
        .authname = "rfc7628",
        .server_fqdn = "server.example.com",
        .remote = "192.0.2.1;587",
    };
    struct mt_buf b;
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_int_equal(x.len, 111);
    mt_buf_init(&b, 4096);
    assert_int_equal(mt_base64_encode(&b, x.out, x.len, MT_BASE64_STD), 0);
    /* The same as vector 3 but for the port, RFC 7628 section 4.1 (SMTP). */
    assert_non_null(strstr(b.data, "AXBvcnQ9NTg3AWF1"));
    assert_memory_equal(b.data, vector3_b64, 56);
    mt_buf_free(&b);
    client_close(&c);
}

static void
vector5_gs2_escaping(void **state)
{
    static const char raw[] = "n,a=a=2Cb=3Dc@example.com,\x01" "auth=Bearer TOKEN\x01\x01";
    struct client c = {.authname = "plain", .authzid = "a,b=c@example.com"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_bytes(&x, raw, sizeof(raw) - 1);
    assert_base64(&x, "bixhPWE9MkNiPTNEY0BleGFtcGxlLmNvbSwBYXV0aD1CZWFyZXIgVE9LRU4BAQ==");
    client_close(&c);
}

static void
vector6_xoauth2_error_challenge(void **state)
{
    struct client c = {0};
    struct result x;

    (void)state;
    start_google(&c);
    x = client_step(&c, google_error, sizeof(google_error) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_non_null(x.out);
    assert_int_equal(x.len, 0);
    assert_errdetail_has(&c, "400");
    assert_errdetail_has(&c, "https://mail.google.com/");
    assert_rejected_recorded("google", FAKE_GOOGLE_TOKEN, 1);
    assert_true(log_contains("status 400, scope https://mail.google.com/"));
    client_close(&c);
}

static void
vector6_xoauth2_error_challenge_401(void **state)
{
    static const char challenge[] =
        "{\"status\":\"401\",\"schemes\":\"bearer mac\",\"scope\":\"https://mail.google.com/\"}";
    struct client c = {0};
    struct result x;

    (void)state;
    start_google(&c);
    x = client_step(&c, challenge, sizeof(challenge) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_non_null(x.out);
    assert_int_equal(x.len, 0);
    assert_errdetail_has(&c, "status 401");
    assert_rejected_recorded("google", FAKE_GOOGLE_TOKEN, 1);
    client_close(&c);
}

static void
vector7_oauthbearer_error_challenge(void **state)
{
    struct client c = {
        .authname = "rfc7628",
        .server_fqdn = "server.example.com",
        .remote = "127.0.0.1;143",
    };
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    x = client_step(&c, rfc7628_error, sizeof(rfc7628_error) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_bytes(&x, "\x01", 1);
    assert_base64(&x, "AQ==");
    assert_errdetail_has(&c, "invalid_token");
    assert_errdetail_has(&c, "example_scope");
    assert_rejected_recorded("rfc7628", FAKE_RFC7628_TOKEN, 1);
    client_close(&c);
}

static void
vector8_no_third_round(void **state)
{
    struct client c = {0};
    struct result x;

    (void)state;
    start_google(&c);
    x = client_step(&c, google_error, sizeof(google_error) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    x = client_step(&c, "{}", 2);
    assert_int_equal(x.r, SASL_BADPROT);
    assert_nothing_produced(&x);
    x = client_step(&c, "", 0);
    assert_int_equal(x.r, SASL_BADPROT);
    assert_nothing_produced(&x);
    assert_rejected_recorded("google", FAKE_GOOGLE_TOKEN, 1);
    client_close(&c);
}

static void
vector8_no_third_round_oauthbearer(void **state)
{
    struct client c = {.authname = "rfc7628"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    x = client_step(&c, rfc7628_error, sizeof(rfc7628_error) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    x = client_step(&c, rfc7628_error, sizeof(rfc7628_error) - 1);
    assert_int_equal(x.r, SASL_BADPROT);
    assert_nothing_produced(&x);
    client_close(&c);
}

static void
vector9_client_without_initial_response(void **state)
{
    struct client c = {.authname = "google"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 0);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_null(x.out);
    assert_int_equal(x.len, 0);
    assert_int_equal(helper_calls(), 0);   /* the plugin was not stepped yet */
    x = client_step(&c, "", 0);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    assert_int_equal(helper_calls(), 1);
    client_close(&c);
}

static void
vector10_hostile_challenge(void **state)
{
    static const char hostile[] = "garbage\x1b[31m\x00\x01";
    struct client c = {0};
    const char *detail;
    struct result x;

    (void)state;
    start_google(&c);
    x = client_step(&c, hostile, sizeof(hostile) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_non_null(x.out);
    assert_int_equal(x.len, 0);
    detail = sasl_errdetail(c.conn);
    assert_non_null(strstr(detail, "not JSON"));
    assert_non_null(strstr(detail, "garbage\\x1b[31m\\x00\\x01"));
    assert_null(strchr(detail, '\x1b'));
    assert_null(strchr(detail, '\x01'));
    assert_true(log_contains("garbage\\x1b[31m\\x00\\x01"));
    assert_null(strchr(mt_buf_str(&captured_log), '\x1b'));
    assert_rejected_recorded("google", FAKE_GOOGLE_TOKEN, 1);
    client_close(&c);
}

static void
vector10_hostile_json_values(void **state)
{
    static const char challenge[] =
        "{\"status\":\"4\\u001b[0m00\\n\",\"scope\":\"a\\\"b\\u00e9\",\"nested\":\"x\"}";
    struct client c = {.authname = "rfc7628"};
    const char *detail;
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    x = client_step(&c, challenge, sizeof(challenge) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_bytes(&x, "\x01", 1);
    detail = sasl_errdetail(c.conn);
    assert_non_null(strstr(detail, "status 4\\x1b[0m00\\x0a"));
    assert_non_null(strstr(detail, "scope a\\x22b?"));
    assert_null(strchr(detail, '\x1b'));
    assert_null(strchr(detail, '\n'));
    client_close(&c);
}

static void
vector10_huge_challenge(void **state)
{
    struct client c = {0};
    size_t n = 200000;
    char *huge = malloc(n);
    const char *detail;
    struct result x;

    (void)state;
    assert_non_null(huge);
    memcpy(huge, "{\"status\":\"", 11);
    memset(huge + 11, 'A', n - 11 - 2);
    memcpy(huge + n - 2, "\"}", 2);
    start_google(&c);
    x = client_step(&c, huge, n);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_non_null(x.out);
    assert_int_equal(x.len, 0);
    detail = sasl_errdetail(c.conn);
    assert_true(strlen(detail) < 2048);
    assert_non_null(strstr(detail, "AAA..."));
    client_close(&c);
    free(huge);
}

static void
expect_invalid_input(const char *account, const char *authzid, const char *mech,
                     const char *detail_text)
{
    struct client c = {.authname = account, .authzid = authzid};
    struct result x;

    client_connect(&c);
    x = client_start(&c, mech, 1);
    assert_int_equal(x.r, SASL_BADPARAM);
    assert_nothing_produced(&x);
    assert_errdetail_has(&c, detail_text);
    client_close(&c);
}

static void
vector11_input_validation(void **state)
{
    (void)state;
    expect_invalid_input("ctl-token", NULL, "XOAUTH2", "control character");
    expect_invalid_input("ctl-token", NULL, "OAUTHBEARER", "control character");
    expect_invalid_input("space-token", NULL, "XOAUTH2", "space");
    expect_invalid_input("esc-token", NULL, "XOAUTH2", "control character");
    expect_invalid_input("empty-token", NULL, "XOAUTH2", "empty");
    expect_invalid_input("empty-token", NULL, "OAUTHBEARER", "empty");
    expect_invalid_input("ctl-user", NULL, "XOAUTH2", "user name is invalid");
    expect_invalid_input("space-user", NULL, "OAUTHBEARER", "user name is invalid");
    expect_invalid_input("plain", "shared\x01@example.com", "XOAUTH2", "control character");
    expect_invalid_input("plain", "shared mailbox@example.com", "OAUTHBEARER", "space");
}

static void
vector11_password_with_framing_bytes(void **state)
{
    /* Tokens with CR, LF or NUL cannot come through the helper's reply; the password can carry them. */
#define BYTES(s) {s, sizeof(s) - 1}
    static const struct {
        const char *p;
        size_t n;
    } passwords[] = {
        BYTES("abcdefghijklmnopqrstuvwxyz\r\nX-Injected: 1"),
        BYTES("abcdefghijklmnopqrstuvwxyz\x01" "auth=Bearer other"),
        BYTES("abcdefghijklmnopqrstuvwxyz\0hidden-after-nul"),
    };
#undef BYTES

    (void)state;
    for (size_t i = 0; i < sizeof(passwords) / sizeof(passwords[0]); i++) {
        struct client c = {
            .authname = "nobody@example.com",
            .password = passwords[i].p,
            .password_len = passwords[i].n,
        };
        struct result x;

        client_connect(&c);
        x = client_start(&c, "XOAUTH2", 1);
        assert_int_equal(x.r, SASL_NOUSER);
        assert_nothing_produced(&x);
        assert_errdetail_has(&c, "not an access token");
        client_close(&c);
    }
}

/* Starts XOAUTH2 or OAUTHBEARER for the account "len-N" and checks where the message goes. */
static void
expect_smtp_split(const char *service, const char *mech, long token_len, int on_auth_line)
{
    struct client c = {.service = service};
    struct mt_buf token, expected;
    char account[32];
    struct result x;

    snprintf(account, sizeof(account), "len-%ld", token_len);
    c.authname = account;
    mt_buf_init(&token, 1 << 20);
    mt_buf_init(&expected, 1 << 20);
    fake_len_token(token_len, &token);
    if (strcmp(mech, "XOAUTH2") == 0)
        mt_buf_printf(&expected, "user=%s\x01" "auth=Bearer %s\x01\x01", FAKE_LEN_USER,
                      token.data);
    else
        mt_buf_printf(&expected, "n,a=%s,\x01" "auth=Bearer %s\x01\x01", FAKE_LEN_USER,
                      token.data);

    remove_record("helper.log");
    client_connect(&c);
    x = client_start(&c, mech, 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    if (on_auth_line) {
        assert_bytes(&x, expected.data, expected.len);
    } else {
        assert_null(x.out);
        assert_int_equal(x.len, 0);
        /* The server's "334 " empty challenge. */
        x = client_step(&c, "", 0);
        assert_int_equal(x.r, SASL_CONTINUE);
        assert_bytes(&x, expected.data, expected.len);
    }
    assert_int_equal(helper_calls(), 1);
    client_close(&c);
    mt_buf_free(&token);
    mt_buf_free(&expected);
}

static void
vector12_smtp_length_rule_xoauth2(void **state)
{
    (void)state;
    /*
     * user=u@example.com plus framing is 33 bytes, so a 339-byte token
     * gives 372 raw bytes: "AUTH XOAUTH2 " plus 496 base64 characters plus
     * CRLF is 511 bytes. One more raw byte makes the line 515 bytes.
     */
    assert_int_equal(13 + mt_base64_encoded_len(372, MT_BASE64_STD) + 2, 511);
    assert_int_equal(13 + mt_base64_encoded_len(373, MT_BASE64_STD) + 2, 515);
    expect_smtp_split("smtp", "XOAUTH2", 339, 1);
    expect_smtp_split("smtp", "XOAUTH2", 340, 0);
    /* Only SMTP has the limit. */
    expect_smtp_split("imap", "XOAUTH2", 340, 1);
    expect_smtp_split("SMTP", "XOAUTH2", 340, 0);
}

static void
vector12_smtp_length_rule_oauthbearer(void **state)
{
    (void)state;
    /* "AUTH OAUTHBEARER " is 4 bytes longer: 369 raw bytes is the most. */
    assert_int_equal(17 + mt_base64_encoded_len(369, MT_BASE64_STD) + 2, 511);
    assert_int_equal(17 + mt_base64_encoded_len(370, MT_BASE64_STD) + 2, 515);
    expect_smtp_split("smtp", "OAUTHBEARER", 336, 1);
    expect_smtp_split("smtp", "OAUTHBEARER", 337, 0);
}

static void
vector12_smtp_long_token(void **state)
{
    (void)state;
    expect_smtp_split("smtp", "XOAUTH2", 3000, 0);
    expect_smtp_split("smtp", "OAUTHBEARER", 3000, 0);
    expect_smtp_split("imap", "XOAUTH2", 3000, 1);
}

static void
vector12_deferred_then_error_challenge(void **state)
{
    struct client c = {.service = "smtp", .authname = "len-3000"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_null(x.out);
    x = client_step(&c, "", 0);
    assert_int_equal(x.len, 3033);
    x = client_step(&c, google_error, sizeof(google_error) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_non_null(x.out);
    assert_int_equal(x.len, 0);
    assert_int_equal(helper_calls(), 2);   /* TOKEN, then REJECTED */
    client_close(&c);
}

static void
vector12_deferred_rejects_non_empty_challenge(void **state)
{
    struct client c = {.service = "smtp", .authname = "len-3000"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    x = client_step(&c, "challenge", 9);
    assert_int_equal(x.r, SASL_BADPROT);
    assert_nothing_produced(&x);
    client_close(&c);
}

static void
vector13_chosen_without_password_callback(void **state)
{
    struct client c = {.authname = "plain"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_string_equal(x.mech, "XOAUTH2");
    client_close(&c);

    c = (struct client){.authname = "plain"};
    client_connect(&c);
    x = client_start(&c, "PLAIN XOAUTH2 OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_true(strcmp(x.mech, "XOAUTH2") == 0 || strcmp(x.mech, "OAUTHBEARER") == 0);
    client_close(&c);
}

static void
vector14_identities_reach_the_library(void **state)
{
    struct client c = {.authname = "shared"};
    const void *value;
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_int_equal(sasl_getprop(c.conn, SASL_USERNAME, &value), SASL_OK);
    assert_string_equal(value, FAKE_SHARED_MAILBOX);
    assert_int_equal(sasl_getprop(c.conn, SASL_AUTHUSER, &value), SASL_OK);
    assert_string_equal(value, FAKE_PLAIN_USER);
    client_close(&c);
}

static void
vector14_library_default_authname(void **state)
{
    static const char plain_xoauth2[] = "user=" FAKE_PLAIN_USER "\x01" "auth=Bearer TOKEN\x01\x01";
    struct client c = {0};
    char *saved = getenv("USER") != NULL ? strdup(getenv("USER")) : NULL;
    struct result x;

    (void)state;
    /* No AUTHNAME callback: libsasl2 answers with $USER. The account's user goes out, not $USER. */
    setenv("USER", "plain", 1);
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_bytes(&x, plain_xoauth2, sizeof(plain_xoauth2) - 1);
    client_close(&c);

    setenv("USER", "alice", 1);
    c = (struct client){0};
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_NOUSER);
    assert_nothing_produced(&x);
    assert_errdetail_has(&c, "no mailtoken account matches \"alice\"");
    client_close(&c);

    if (saved != NULL)
        setenv("USER", saved, 1);
    else
        unsetenv("USER");
    free(saved);
}

/* ---- account and address ---- */

static void
shared_mailbox_from_authzid(void **state)
{
    static const char xoauth2[] = "user=shared@example.com\x01" "auth=Bearer TOKEN\x01\x01";
    static const char oauthbearer[] = "n,a=shared@example.com,\x01" "auth=Bearer TOKEN\x01\x01";
    struct client c = {.authname = "plain", .authzid = "shared@example.com"};
    const void *value;
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, xoauth2, sizeof(xoauth2) - 1);
    assert_int_equal(sasl_getprop(c.conn, SASL_USERNAME, &value), SASL_OK);
    assert_string_equal(value, "shared@example.com");
    assert_int_equal(sasl_getprop(c.conn, SASL_AUTHUSER, &value), SASL_OK);
    assert_string_equal(value, FAKE_PLAIN_USER);
    client_close(&c);

    c = (struct client){.authname = "plain", .authzid = "shared@example.com"};
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER", 1);
    assert_bytes(&x, oauthbearer, sizeof(oauthbearer) - 1);
    client_close(&c);
}

static void
shared_mailbox_from_account(void **state)
{
    static const char xoauth2[] = "user=shared@example.com\x01" "auth=Bearer TOKEN\x01\x01";
    struct client c = {.authname = "shared"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, xoauth2, sizeof(xoauth2) - 1);
    client_close(&c);
}

static void
authzid_equal_to_authname_is_ignored(void **state)
{
    static const char xoauth2[] = "user=" FAKE_PLAIN_USER "\x01" "auth=Bearer TOKEN\x01\x01";
    struct client c = {.authname = "plain", .authzid = "plain"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, xoauth2, sizeof(xoauth2) - 1);
    client_close(&c);

    /* An empty authorization id, as imtest gives without -u, is no authorization id. */
    c = (struct client){.authname = "plain", .authzid = ""};
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, xoauth2, sizeof(xoauth2) - 1);
    client_close(&c);
}

static void
reply_without_user_uses_authname(void **state)
{
    static const char xoauth2[] = "user=nouser\x01" "auth=Bearer TOKEN\x01\x01";
    struct client c = {.authname = "nouser"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, xoauth2, sizeof(xoauth2) - 1);
    assert_true(log_contains("has no '@'"));
    client_close(&c);
}

static void
address_without_at_is_warned(void **state)
{
    struct client c = {.authname = "bareuser"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_true(log_contains("3 mailtoken: XOAUTH2: account bareuser: the address sent, \"alice\", has no '@'"));
    client_close(&c);

    /* Repeats go to debug level, so that a relay does not warn on every message. */
    mt_buf_reset(&captured_log);
    c = (struct client){.authname = "bareuser"};
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_true(log_contains("5 mailtoken: XOAUTH2: account bareuser: the address sent"));
    assert_false(log_contains("3 mailtoken: XOAUTH2: account bareuser: the address sent"));
    client_close(&c);

    mt_buf_reset(&captured_log);
    c = (struct client){.authname = "plain"};
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_false(log_contains("has no '@'"));
    client_close(&c);
}

static void
log_names_account_and_fingerprint(void **state)
{
    char fp[MT_FINGERPRINT_SIZE], expected[200];
    struct client c = {0};

    (void)state;
    start_google(&c);
    mt_fingerprint_str(FAKE_GOOGLE_TOKEN, fp);
    snprintf(expected, sizeof(expected), "XOAUTH2: account google: sending token %s for %s",
             fp, FAKE_GOOGLE_USER);
    assert_true(log_contains(expected));
    client_close(&c);
}

/* ---- the password as the token ---- */

static void
password_used_when_no_account(void **state)
{
    static const char xoauth2[] =
        "user=bob@example.com\x01" "auth=Bearer " PASSWORD_TOKEN "\x01\x01";
    struct client c = {.authname = "bob@example.com", .password = PASSWORD_TOKEN};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_bytes(&x, xoauth2, sizeof(xoauth2) - 1);
    assert_int_equal(count_lines("helper.log", "exec TOKEN bob@example.com "), 1);
    assert_true(log_contains("sending the client's password as the access token"));

    /* A token that did not come from the helper is not reported as rejected. */
    x = client_step(&c, google_error, sizeof(google_error) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_int_equal(helper_calls(), 1);
    client_close(&c);
}

static void
password_used_with_authzid(void **state)
{
    static const char oauthbearer[] =
        "n,a=shared@example.com,\x01" "auth=Bearer " PASSWORD_TOKEN "\x01\x01";
    struct client c = {
        .authname = "bob@example.com",
        .authzid = "shared@example.com",
        .password = PASSWORD_TOKEN,
    };
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER", 1);
    assert_bytes(&x, oauthbearer, sizeof(oauthbearer) - 1);
    client_close(&c);
}

static void
password_ignored_when_account_exists(void **state)
{
    struct client c = {.authname = "google", .password = PASSWORD_TOKEN};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    client_close(&c);
}

static void
password_must_look_like_token(void **state)
{
    /* The form of a Google app password: 16 characters. */
    struct client c = {.authname = "bob@example.com", .password = "abcdefghijklmnop"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_NOUSER);
    assert_nothing_produced(&x);
    assert_errdetail_has(&c, "is not an access token");
    client_close(&c);

    c = (struct client){.authname = "bob@example.com", .password = "correct horse battery staple"};
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_NOUSER);
    client_close(&c);
}

static void
no_account_and_no_password(void **state)
{
    struct client c = {.authname = "bob@example.com"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_NOUSER);
    assert_nothing_produced(&x);
    assert_errdetail_has(&c, "no mailtoken account matches \"bob@example.com\"");
    assert_errdetail_has(&c, "no account matches the name");
    client_close(&c);
}

static void
invalid_account_name_skips_helper(void **state)
{
    struct client c = {.authname = "-v", .password = PASSWORD_TOKEN};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);   /* the password is the token */
    assert_int_equal(helper_calls(), 0);
    client_close(&c);

    c = (struct client){.authname = "John Smith"};
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_NOUSER);
    assert_errdetail_has(&c, "not a valid account name");
    assert_int_equal(helper_calls(), 0);
    client_close(&c);
}

/* ---- prompts ---- */

static void
prompts_for_authname(void **state)
{
    struct client c = {.authname = "google", .interact_authname = 1};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    assert_int_equal(c.nprompted, 1);
    assert_int_equal(c.prompted[0], SASL_CB_AUTHNAME);
    client_close(&c);
}

static void
prompts_for_authname_and_authzid(void **state)
{
    static const char xoauth2[] = "user=shared@example.com\x01" "auth=Bearer TOKEN\x01\x01";
    struct client c = {
        .authname = "plain",
        .authzid = "shared@example.com",
        .interact_authname = 1,
        .interact_authzid = 1,
    };
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, xoauth2, sizeof(xoauth2) - 1);
    assert_int_equal(c.nprompted, 2);
    client_close(&c);
}

static void
prompts_for_password_only_when_needed(void **state)
{
    static const char xoauth2[] =
        "user=bob@example.com\x01" "auth=Bearer " PASSWORD_TOKEN "\x01\x01";
    struct client c = {.authname = "google", .password = PASSWORD_TOKEN, .interact_password = 1};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    assert_int_equal(c.nprompted, 0);
    client_close(&c);

    c = (struct client){
        .authname = "bob@example.com", .password = PASSWORD_TOKEN, .interact_password = 1,
    };
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_bytes(&x, xoauth2, sizeof(xoauth2) - 1);
    assert_int_equal(c.nprompted, 1);
    assert_int_equal(c.prompted[0], SASL_CB_PASS);
    assert_int_equal(count_lines("helper.log", "exec TOKEN bob@example.com "), 1);
    client_close(&c);
}

/* ---- protocol corners ---- */

static void
empty_challenge_after_message_resends_once(void **state)
{
    struct client c = {0};
    struct result x;

    (void)state;
    start_google(&c);
    x = client_step(&c, "", 0);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    x = client_step(&c, "", 0);
    assert_int_equal(x.r, SASL_BADPROT);
    assert_nothing_produced(&x);
    client_close(&c);
}

static void
step_without_challenge_completes(void **state)
{
    sasl_interact_t *prompts = NULL;
    struct client c = {0};
    struct result x;

    (void)state;
    /* mbsync steps once more with no challenge after the server's OK. */
    start_google(&c);
    x.r = sasl_client_step(c.conn, NULL, 0, &prompts, &x.out, &x.len);
    assert_int_equal(x.r, SASL_OK);
    assert_int_equal(x.len, 0);
    x = client_step(&c, "", 0);
    assert_int_equal(x.r, SASL_FAIL);   /* the library refuses steps after doneflag */
    client_close(&c);

    /* The same after a deferred SMTP message. */
    c = (struct client){.service = "smtp", .authname = "len-3000"};
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_null(x.out);
    x = client_step(&c, "", 0);
    assert_int_equal(x.len, 3033);
    x.r = sasl_client_step(c.conn, NULL, 0, &prompts, &x.out, &x.len);
    assert_int_equal(x.r, SASL_OK);
    assert_int_equal(x.len, 0);
    client_close(&c);
}

static void
challenge_before_message_is_protocol_error(void **state)
{
    struct client c = {.authname = "google"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 0);
    assert_int_equal(x.r, SASL_CONTINUE);
    x = client_step(&c, "hello", 5);
    assert_int_equal(x.r, SASL_BADPROT);
    assert_nothing_produced(&x);
    assert_int_equal(helper_calls(), 0);
    client_close(&c);
}

/* ---- helper failures ---- */

static void
expect_helper_failure(const char *account, int code, const char *detail_text)
{
    struct client c = {.authname = account};
    struct result x;

    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, code);
    assert_nothing_produced(&x);
    assert_errdetail_has(&c, detail_text);
    assert_true(log_contains(detail_text));
    client_close(&c);
}

static void
assert_no_children(void)
{
    int status;

    assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void
helper_error_replies(void **state)
{
    (void)state;
    expect_helper_failure("unauthorized", SASL_BADAUTH, "Run: mailtoken authorize unauthorized");
    expect_helper_failure("temporary", SASL_TRYAGAIN, "(helper error temporary, exit code 75)");
    expect_helper_failure("escape-message", SASL_FAIL, "bad \\x1b[31mred\\x1b[0m message");
    expect_helper_failure("notoken", SASL_FAIL, "has no token");
    assert_no_children();
}

static void
helper_misbehaves(void **state)
{
    (void)state;
    expect_helper_failure("garbage", SASL_FAIL, "is invalid");
    expect_helper_failure("partial", SASL_FAIL, "printed no whole reply and it exited with status 0");
    expect_helper_failure("flood", SASL_FAIL, "printed more than 65536 bytes and was killed");
    expect_helper_failure("silent", SASL_FAIL, "printed nothing and it exited with status 3");
    assert_no_children();
}

static void
helper_times_out(void **state)
{
    long long start = time(NULL);

    (void)state;
    expect_helper_failure("slow", SASL_FAIL, "sent no whole reply within 2000 ms and was killed");
    assert_true(time(NULL) - start <= 5);
    assert_no_children();
}

static void
helper_lingering_after_reply(void **state)
{
    struct client c = {.authname = "linger"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    client_close(&c);
    assert_no_children();
}

static void
helper_environment_and_descriptors(void **state)
{
    struct client c = {.authname = "envdump"};
    struct result x;
    char *dump, line[512];
    int stray;

    (void)state;
    setenv("MAILTOKEN_TEST_SECRET", "must-not-pass", 1);
    setenv("XDG_RUNTIME_DIR", "/run/user/test", 1);
    stray = open("/dev/null", O_RDONLY);   /* without O_CLOEXEC on purpose */
    assert_true(stray >= 0);

    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    client_close(&c);
    close(stray);

    dump = read_file("helper-env.txt");
    assert_null(strstr(dump, "MAILTOKEN_TEST_SECRET"));
    assert_null(strstr(dump, "MAILTOKEN_HELPER"));
    assert_null(strstr(dump, "SASL_PATH"));
    snprintf(line, sizeof(line), "env MAILTOKEN_CONFIG=%s\n", config_path);
    assert_non_null(strstr(dump, line));
    assert_non_null(strstr(dump, "env XDG_RUNTIME_DIR=/run/user/test\n"));
    if (getenv("HOME") != NULL)
        assert_non_null(strstr(dump, "env HOME="));
    assert_int_equal(count_lines("helper-env.txt", "fd 0"), 1);
    assert_int_equal(count_lines("helper-env.txt", "fd 1"), 1);
    assert_int_equal(count_lines("helper-env.txt", "fd 2"), 1);
    for (char *p = dump; *p != '\0';) {
        char *end = strchr(p, '\n');

        assert_non_null(end);
        if (strncmp(p, "fd ", 3) == 0 && !(end - p == 4 && p[3] >= '0' && p[3] <= '2'))
            fail_msg("the helper inherited a descriptor: %.*s", (int)(end - p), p);
        p = end + 1;
    }
    free(dump);
    unsetenv("MAILTOKEN_TEST_SECRET");
    unsetenv("XDG_RUNTIME_DIR");
}

static volatile sig_atomic_t sigchld_count;

static void
count_sigchld(int signo)
{
    (void)signo;
    sigchld_count++;
}

static void
application_sigchld_handling_kept(void **state)
{
    struct sigaction sa, old, now;
    struct client c = {.authname = "plain"};
    struct result x;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = count_sigchld;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    client_close(&c);
    assert_int_equal(sigaction(SIGCHLD, NULL, &now), 0);
    assert_ptr_equal(now.sa_handler, count_sigchld);
    assert_true(sigchld_count >= 1);

    /* With SIGCHLD ignored the kernel reaps the child itself; the login still works. */
    sa.sa_handler = SIG_IGN;
    assert_int_equal(sigaction(SIGCHLD, &sa, NULL), 0);
    c = (struct client){.authname = "plain"};
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    client_close(&c);
    assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}

static void
report_rejected_failure_is_logged(void **state)
{
    struct client c = {.authname = "reject-fails"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    x = client_step(&c, google_error, sizeof(google_error) - 1);
    /* The server still gets its response when the report to the token source fails. */
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_non_null(x.out);
    assert_int_equal(x.len, 0);
    assert_true(log_contains("cannot report the rejection of token sha256:"));
    assert_true(log_contains("cannot write the store"));
    client_close(&c);
}

/* ---- configuration ---- */

static int
setup_config_helper(void **state)
{
    static char config[600];
    static const struct library_setup s = {.config = config};

    (void)state;
    snprintf(config, sizeof(config), "[defaults]\nhelper = %s\nhelper_timeout=3\n",
             FAKE_HELPER_PATH);
    library_up(&s);
    return 0;
}

static void
config_helper_key_is_used(void **state)
{
    struct client c = {0};
    struct result x;

    (void)state;
    x = start_google(&c);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    client_close(&c);
}

static int
setup_missing_helper(void **state)
{
    static const struct library_setup s = {
        .config = "[defaults]\nhelper = /nonexistent/mailtoken\n",
    };

    (void)state;
    library_up(&s);
    return 0;
}

static void
missing_helper_is_reported(void **state)
{
    (void)state;
    expect_helper_failure("google", SASL_FAIL,
                          "cannot run the helper /nonexistent/mailtoken: No such file or directory");
    assert_no_children();
}

static int
setup_bad_config(void **state)
{
    static const struct library_setup s = {
        .config = "[defaults]\nhelper = bin/mailtoken\nhelper_timeout = soon\n",
        .helper_env = "relative/helper",
    };

    (void)state;
    library_up(&s);
    return 0;
}

static void
bad_config_warns_and_keeps_defaults(void **state)
{
    struct client c = {.authname = "google"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "XOAUTH2", 1);
    /* The default helper path of the build does not exist in the test. */
    assert_int_not_equal(x.r, SASL_CONTINUE);
    assert_true(log_contains("helper path \"bin/mailtoken\" is not absolute"));
    assert_true(log_contains("MAILTOKEN_HELPER: helper path \"relative/helper\" is not absolute"));
    assert_true(log_contains("helper_timeout \"soon\" is not a duration"));
    assert_true(log_contains(MAILTOKEN_HELPER_PATH));
    client_close(&c);
}

static int
setup_no_config_file(void **state)
{
    static const struct library_setup s = {.config = NULL, .helper_env = FAKE_HELPER_PATH};

    (void)state;
    library_up(&s);
    return 0;
}

static void
missing_config_file_uses_defaults(void **state)
{
    struct client c = {0};
    struct result x;

    (void)state;
    x = start_google(&c);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    assert_true(log_contains("(MAILTOKEN_CONFIG) does not exist; using defaults"));
    client_close(&c);
}

/* ---- the daemon socket ---- */

enum server_mode {
    SERVER_GOOD,     /* the fake replies */
    SERVER_STALL,    /* reads the request, never replies */
    SERVER_GARBAGE,  /* replies with something that is not an mt_wire reply */
    SERVER_CLOSE     /* closes without a reply */
};

static void
serve(int listener, enum server_mode mode)
{
    for (;;) {
        char line[2048], record[2100];
        struct mt_wire_request req;
        struct mt_buf out;
        const char *error;
        size_t len = 0;
        int fd = accept(listener, NULL, NULL);

        if (fd < 0)
            continue;
        while (len < sizeof(line) - 1) {
            ssize_t n = read(fd, line + len, 1);

            if (n <= 0 || line[len] == '\n')
                break;
            len++;
        }
        line[len] = '\0';
        snprintf(record, sizeof(record), "socket %s", line);
        fake_record(tmpdir, "socket.log", record);
        mt_buf_init(&out, 1 << 20);
        switch (mode) {
        case SERVER_GOOD:
            if (mt_wire_parse_request(line, len, &req, &error) == 0)
                fake_reply(req.account, req.verb == MT_WIRE_REJECTED, &out);
            else
                mt_buf_append_str(&out, "MAILTOKEN/1 ERR 64 bad-request\n\n");
            break;
        case SERVER_STALL:
            sleep(60);
            break;
        case SERVER_GARBAGE:
            mt_buf_append_str(&out, "HTTP/1.0 200 OK\n\n");
            break;
        case SERVER_CLOSE:
            break;
        }
        if (out.len > 0)
            (void)!write(fd, out.data, out.len);
        mt_buf_free(&out);
        close(fd);
    }
}

static void
server_start(enum server_mode mode)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd;

    unlink(socket_path);
    assert_true(strlen(socket_path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, socket_path, strlen(socket_path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 8), 0);
    server_pid = fork();
    assert_true(server_pid >= 0);
    if (server_pid == 0) {
        serve(fd, mode);
        _exit(0);
    }
    close(fd);
}

static int
setup_socket(void **state)
{
    static char config[700];
    static const struct library_setup s = {.config = config, .helper_env = FAKE_HELPER_PATH};

    (void)state;
    snprintf(config, sizeof(config), "[defaults]\nhelper_timeout = 2\nplugin_socket = %s\n",
             socket_path);
    library_up(&s);
    return 0;
}

static void
socket_gives_token(void **state)
{
    struct client c = {0};
    struct result x;
    char fp[MT_FINGERPRINT_SIZE], line[200];

    (void)state;
    server_start(SERVER_GOOD);
    x = start_google(&c);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    assert_int_equal(count_lines("socket.log", "socket MAILTOKEN/1 TOKEN google"), 1);
    assert_int_equal(helper_calls(), 0);

    x = client_step(&c, google_error, sizeof(google_error) - 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    mt_fingerprint_str(FAKE_GOOGLE_TOKEN, fp);
    snprintf(line, sizeof(line), "socket MAILTOKEN/1 REJECTED google %s", fp);
    assert_int_equal(count_lines("socket.log", line), 1);
    assert_int_equal(helper_calls(), 0);
    client_close(&c);
}

static void
socket_error_reply(void **state)
{
    (void)state;
    server_start(SERVER_GOOD);
    expect_helper_failure("unauthorized", SASL_BADAUTH, "Run: mailtoken authorize");
    assert_int_equal(helper_calls(), 0);
}

static void
socket_stalls(void **state)
{
    long long start = time(NULL);

    (void)state;
    server_start(SERVER_STALL);
    expect_helper_failure("google", SASL_FAIL, "sent no whole reply within 2000 ms");
    assert_true(time(NULL) - start <= 5);
    assert_int_equal(helper_calls(), 0);   /* a reachable daemon is not bypassed */
}

static void
socket_sends_garbage(void **state)
{
    (void)state;
    server_start(SERVER_GARBAGE);
    expect_helper_failure("google", SASL_FAIL, "is invalid");
    assert_int_equal(helper_calls(), 0);
}

static void
socket_closes_early(void **state)
{
    (void)state;
    server_start(SERVER_CLOSE);
    expect_helper_failure("google", SASL_FAIL, "closed the connection before a whole reply");
    assert_int_equal(helper_calls(), 0);
}

static void
socket_unreachable_falls_back_to_exec(void **state)
{
    struct client c = {0};
    struct result x;

    (void)state;
    unlink(socket_path);
    x = start_google(&c);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    assert_int_equal(helper_calls(), 1);
    client_close(&c);
    assert_true(log_contains("3 mailtoken: the daemon socket is unreachable"));

    /* The second fallback is logged at debug level only. */
    mt_buf_reset(&captured_log);
    c = (struct client){0};
    x = start_google(&c);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_false(log_contains("3 mailtoken: the daemon socket is unreachable"));
    assert_true(log_contains("5 mailtoken: the daemon socket is unreachable"));
    client_close(&c);
}

static int
setup_relative_socket(void **state)
{
    static const struct library_setup s = {
        .config = "[defaults]\nhelper_timeout = 2\n",
        .helper_env = FAKE_HELPER_PATH,
        .socket_env = "private/mailtoken",
    };
    char dir[400];

    (void)state;
    snprintf(dir, sizeof(dir), "%s/private", tmpdir);
    mkdir(dir, 0700);
    snprintf(socket_path, sizeof(socket_path), "%s/private/mailtoken", tmpdir);
    library_up(&s);
    return 0;
}

static int
teardown_relative_socket(void **state)
{
    snprintf(socket_path, sizeof(socket_path), "%s/daemon.sock", tmpdir);
    return teardown_library(state);
}

static void
socket_relative_path_and_env_override(void **state)
{
    char cwd[1024];
    struct client c = {0};
    struct result x;

    (void)state;
    server_start(SERVER_GOOD);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmpdir), 0);
    x = start_google(&c);
    assert_int_equal(chdir(cwd), 0);
    assert_bytes(&x, vector1_raw, sizeof(vector1_raw) - 1);
    assert_int_equal(count_lines("socket.log", "socket MAILTOKEN/1 TOKEN google"), 1);
    assert_int_equal(helper_calls(), 0);
    client_close(&c);
}

/* ---- mechanism selection with other plugins present ---- */

static int
setup_mixed(void **state)
{
    static const struct library_setup s = {.config = default_config,
                                           .helper_env = FAKE_HELPER_PATH};
    static const char *const names[] = {"libplain.so", "liblogin.so"};
    char from[512], to[512];

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s/%s", SYSTEM_SASL_PLUGINDIR, names[i]);
        snprintf(to, sizeof(to), "%s/%s", mixed_dir, names[i]);
        if (access(from, R_OK) != 0) {
            print_error("%s is missing: install the Debian package libsasl2-modules\n", from);
            return -1;
        }
        unlink(to);
        if (symlink(from, to) != 0)
            return -1;
    }
    library_up(&(struct library_setup){.config = s.config, .helper_env = s.helper_env,
                                       .dir = mixed_dir});
    return 0;
}

static void
selection_sees_plain_and_login(void **state)
{
    struct client c = {.authname = "plain", .password = "secret"};
    struct result x;

    (void)state;
    /* Proof that the folder really offers PLAIN and LOGIN. */
    client_connect(&c);
    x = client_start(&c, "PLAIN LOGIN", 1);
    assert_true(x.r == SASL_OK || x.r == SASL_CONTINUE);
    assert_true(strcmp(x.mech, "PLAIN") == 0 || strcmp(x.mech, "LOGIN") == 0);
    client_close(&c);
}

static void
selection_prefers_ours_over_plain(void **state)
{
    static const char *const lists[] = {
        "LOGIN PLAIN XOAUTH2", "PLAIN XOAUTH2 OAUTHBEARER", "XOAUTH2 PLAIN", "PLAIN OAUTHBEARER",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        struct client c = {.authname = "plain", .password = "secret"};
        struct result x;

        client_connect(&c);
        x = client_start(&c, lists[i], 1);
        assert_int_equal(x.r, SASL_CONTINUE);
        assert_true(strcmp(x.mech, "XOAUTH2") == 0 || strcmp(x.mech, "OAUTHBEARER") == 0);
        client_close(&c);
    }
}

static void
selection_without_password_callback(void **state)
{
    struct client c = {.authname = "plain"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "PLAIN LOGIN XOAUTH2 OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_true(strcmp(x.mech, "XOAUTH2") == 0 || strcmp(x.mech, "OAUTHBEARER") == 0);
    client_close(&c);

    /* PLAIN alone cannot be chosen without a password: proof that the callback set matters. */
    c = (struct client){.authname = "plain"};
    client_connect(&c);
    x = client_start(&c, "PLAIN", 1);
    assert_int_equal(x.r, SASL_NOMECH);
    client_close(&c);
}

static void
selection_client_mech_list(void **state)
{
    struct client c = {.authname = "plain", .password = "secret", .client_mech_list = "XOAUTH2"};
    struct result x;

    (void)state;
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER PLAIN XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_string_equal(x.mech, "XOAUTH2");
    client_close(&c);

    c = (struct client){.authname = "plain", .password = "secret", .client_mech_list = "PLAIN"};
    client_connect(&c);
    x = client_start(&c, "OAUTHBEARER PLAIN XOAUTH2", 1);
    assert_string_equal(x.mech, "PLAIN");
    client_close(&c);
}

static void
selection_noplaintext_needs_external_ssf(void **state)
{
    struct client c = {
        .authname = "plain",
        .password = "secret",
        .security_flags = SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS,
    };
    struct result x;

    (void)state;
    /* Postfix's default smtp_sasl_security_options: noplaintext, noanonymous. */
    client_connect(&c);
    x = client_start(&c, "PLAIN LOGIN XOAUTH2 OAUTHBEARER", 1);
    assert_int_equal(x.r, SASL_NOMECH);
    client_close(&c);

    /* An application that reports its TLS layer (SASL_SSF_EXTERNAL) lifts the requirement. */
    c = (struct client){
        .authname = "plain",
        .password = "secret",
        .security_flags = SASL_SEC_NOPLAINTEXT | SASL_SEC_NOANONYMOUS,
        .external_ssf = 256,
    };
    client_connect(&c);
    x = client_start(&c, "PLAIN LOGIN XOAUTH2", 1);
    assert_int_equal(x.r, SASL_CONTINUE);
    assert_string_equal(x.mech, "XOAUTH2");
    client_close(&c);
}

/* ---- main ---- */

static void
make_folders(void)
{
    const char *base = getenv("TMPDIR");
    char link[400];

    snprintf(tmpdir, sizeof(tmpdir), "%s/mtplugin-test.XXXXXX",
             base != NULL && base[0] == '/' ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(ours_dir, sizeof(ours_dir), "%s/plugins-ours", tmpdir);
    snprintf(mixed_dir, sizeof(mixed_dir), "%s/plugins-mixed", tmpdir);
    snprintf(config_path, sizeof(config_path), "%s/mailtoken.conf", tmpdir);
    snprintf(socket_path, sizeof(socket_path), "%s/daemon.sock", tmpdir);
    mkdir(ours_dir, 0700);
    mkdir(mixed_dir, 0700);
    snprintf(link, sizeof(link), "%s/libmailtoken.so", ours_dir);
    if (symlink(PLUGIN_PATH, link) != 0)
        perror("symlink");
    snprintf(link, sizeof(link), "%s/libmailtoken.so", mixed_dir);
    if (symlink(PLUGIN_PATH, link) != 0)
        perror("symlink");
}

static void
remove_folders(void)
{
    char command[600];

    /* The folder name comes from mkdtemp, so it needs no quoting beyond this. */
    snprintf(command, sizeof(command), "rm -rf -- '%s'", tmpdir);
    if (system(command) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_default, teardown_library)

int
main(int argc, char **argv)
{
    const struct CMUnitTest exec_tests[] = {
        T(plugin_loads_alone),
        T(mechanism_flags_as_documented),
        T(vector1_xoauth2_google),
        T(vector2_xoauth2_microsoft),
        T(vector3_oauthbearer_rfc7628),
        T(vector3_oauthbearer_smtp_port),
        T(vector5_gs2_escaping),
        T(vector6_xoauth2_error_challenge),
        T(vector6_xoauth2_error_challenge_401),
        T(vector7_oauthbearer_error_challenge),
        T(vector8_no_third_round),
        T(vector8_no_third_round_oauthbearer),
        T(vector9_client_without_initial_response),
        T(vector10_hostile_challenge),
        T(vector10_hostile_json_values),
        T(vector10_huge_challenge),
        T(vector11_input_validation),
        T(vector11_password_with_framing_bytes),
        T(vector12_smtp_length_rule_xoauth2),
        T(vector12_smtp_length_rule_oauthbearer),
        T(vector12_smtp_long_token),
        T(vector12_deferred_then_error_challenge),
        T(vector12_deferred_rejects_non_empty_challenge),
        T(vector13_chosen_without_password_callback),
        T(vector14_identities_reach_the_library),
        T(vector14_library_default_authname),
        T(shared_mailbox_from_authzid),
        T(shared_mailbox_from_account),
        T(authzid_equal_to_authname_is_ignored),
        T(reply_without_user_uses_authname),
        T(address_without_at_is_warned),
        T(log_names_account_and_fingerprint),
        T(password_used_when_no_account),
        T(password_used_with_authzid),
        T(password_ignored_when_account_exists),
        T(password_must_look_like_token),
        T(no_account_and_no_password),
        T(invalid_account_name_skips_helper),
        T(prompts_for_authname),
        T(prompts_for_authname_and_authzid),
        T(prompts_for_password_only_when_needed),
        T(empty_challenge_after_message_resends_once),
        T(step_without_challenge_completes),
        T(challenge_before_message_is_protocol_error),
        T(report_rejected_failure_is_logged),
        T(helper_error_replies),
        T(helper_misbehaves),
        T(helper_times_out),
        T(helper_lingering_after_reply),
        T(helper_environment_and_descriptors),
        T(application_sigchld_handling_kept),
        cmocka_unit_test_setup_teardown(config_helper_key_is_used, setup_config_helper,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(missing_helper_is_reported, setup_missing_helper,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(bad_config_warns_and_keeps_defaults, setup_bad_config,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(missing_config_file_uses_defaults, setup_no_config_file,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(socket_gives_token, setup_socket, teardown_library),
        cmocka_unit_test_setup_teardown(socket_error_reply, setup_socket, teardown_library),
        cmocka_unit_test_setup_teardown(socket_stalls, setup_socket, teardown_library),
        cmocka_unit_test_setup_teardown(socket_sends_garbage, setup_socket, teardown_library),
        cmocka_unit_test_setup_teardown(socket_closes_early, setup_socket, teardown_library),
        cmocka_unit_test_setup_teardown(socket_unreachable_falls_back_to_exec, setup_socket,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(socket_relative_path_and_env_override,
                                        setup_relative_socket, teardown_relative_socket),
        cmocka_unit_test_setup_teardown(selection_sees_plain_and_login, setup_mixed,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(selection_prefers_ours_over_plain, setup_mixed,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(selection_without_password_callback, setup_mixed,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(selection_client_mech_list, setup_mixed,
                                        teardown_library),
        cmocka_unit_test_setup_teardown(selection_noplaintext_needs_external_ssf, setup_default,
                                        teardown_library),
    };
    int failed;

    mt_buf_init(&captured_log, 1 << 20);
    make_folders();
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    failed = cmocka_run_group_tests_name("plugin", exec_tests, NULL, NULL);
    remove_folders();
    mt_buf_free(&captured_log);
    return failed;
}
