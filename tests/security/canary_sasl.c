/*
 * The plugin's part of the canary test: logins through the real libsasl2
 * and libmailtoken.so, with the real helper as the token source
 * (MAILTOKEN_HELPER and MAILTOKEN_CONFIG come from the test script).
 *
 * Usage: canary_sasl LOG_FILE TOKEN_PREFIX ACCOUNT
 *
 * 1. With a SASL log callback that appends every message to LOG_FILE:
 *    XOAUTH2, then the server's error challenge, which the plugin reports
 *    to the helper as a rejected token. Then OAUTHBEARER, which makes the
 *    helper refresh, and the server's success.
 * 2. Without a log callback, so that libsasl2 sends the plugin's
 *    messages to syslog: XOAUTH2 and an error challenge once more.
 *
 * The client messages must carry a token that starts with TOKEN_PREFIX,
 * which shows that the canary token did go out (the messages themselves
 * are for the server and are not written anywhere). Exits 0 when every
 * step went as described, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sasl/sasl.h>

#ifndef PLUGIN_PATH
#error "PLUGIN_PATH must name build/plugin/libmailtoken.so"
#endif

typedef int (*sasl_callback_fn)(void);

static const char google_error[] =
    "{\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":\"https://mail.google.com/\"}";

static char plugin_dir[512];
static FILE *log_file;
static const char *token_prefix;
static const char *account;
static int failures;

static int
log_callback(void *context, int level, const char *message)
{
    (void)context;
    fprintf(log_file, "%d %s\n", level, message);
    fflush(log_file);
    return SASL_OK;
}

static int
getpath_callback(void *context, const char **path)
{
    (void)context;
    *path = plugin_dir;
    return SASL_OK;
}

static int
authname_callback(void *context, int id, const char **result, unsigned *len)
{
    (void)context;
    (void)id;
    *result = account;
    if (len != NULL)
        *len = (unsigned)strlen(account);
    return SASL_OK;
}

static void
failed(const char *what)
{
    fprintf(stderr, "canary_sasl: %s\n", what);
    failures++;
}

/* Returns 1 when the len bytes at p contain the token prefix. */
static int
carries_token(const char *p, unsigned len)
{
    size_t n = strlen(token_prefix);

    for (unsigned i = 0; i + n <= len; i++)
        if (memcmp(p + i, token_prefix, n) == 0)
            return 1;
    return 0;
}

/* One login: the first message, then an error challenge or (NULL) the server's success. */
static void
login(const char *mech, const char *challenge)
{
    sasl_callback_t callbacks[] = {
        {SASL_CB_AUTHNAME, (sasl_callback_fn)(void (*)(void))authname_callback, NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    sasl_conn_t *conn = NULL;
    const char *out = NULL, *chosen = NULL;
    unsigned outlen = 0;
    int r;

    if (sasl_client_new("imap", "imap.example.test", NULL, "127.0.0.1;993", callbacks, 0,
                        &conn) != SASL_OK) {
        failed("sasl_client_new failed");
        return;
    }
    r = sasl_client_start(conn, mech, NULL, &out, &outlen, &chosen);
    if (r != SASL_CONTINUE) {
        fprintf(stderr, "canary_sasl: %s: sasl_client_start returned %d: %s\n", mech, r,
                sasl_errdetail(conn));
        failures++;
    } else if (!carries_token(out, outlen)) {
        fprintf(stderr, "canary_sasl: %s: the client message carries no canary token\n", mech);
        failures++;
    } else {
        r = sasl_client_step(conn, challenge, challenge != NULL ? (unsigned)strlen(challenge) : 0,
                             NULL, &out, &outlen);
        if (r != (challenge != NULL ? SASL_CONTINUE : SASL_OK)) {
            fprintf(stderr, "canary_sasl: %s: sasl_client_step returned %d: %s\n", mech, r,
                    sasl_errdetail(conn));
            failures++;
        }
    }
    sasl_dispose(&conn);
}

int
main(int argc, char **argv)
{
    static sasl_callback_t with_log[] = {
        {SASL_CB_LOG, (sasl_callback_fn)(void (*)(void))log_callback, NULL},
        {SASL_CB_GETPATH, (sasl_callback_fn)(void (*)(void))getpath_callback, NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    static sasl_callback_t without_log[] = {
        {SASL_CB_GETPATH, (sasl_callback_fn)(void (*)(void))getpath_callback, NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    char link_path[600];

    if (argc != 4) {
        fprintf(stderr, "usage: canary_sasl LOG_FILE TOKEN_PREFIX ACCOUNT\n");
        return 2;
    }
    token_prefix = argv[2];
    account = argv[3];
    log_file = fopen(argv[1], "a");
    /* A folder that holds only our plugin, so that libsasl2 loads no other. */
    snprintf(plugin_dir, sizeof(plugin_dir), "/tmp/mailtoken-canary-plugins-XXXXXX");
    if (log_file == NULL || mkdtemp(plugin_dir) == NULL) {
        perror("canary_sasl: setting up");
        return 2;
    }
    snprintf(link_path, sizeof(link_path), "%s/libmailtoken.so", plugin_dir);
    if (symlink(PLUGIN_PATH, link_path) != 0) {
        perror("canary_sasl: setting up");
        rmdir(plugin_dir);
        return 2;
    }

    if (sasl_client_init(with_log) == SASL_OK) {
        login("XOAUTH2", google_error);
        login("OAUTHBEARER", NULL);
        sasl_client_done();
    } else {
        failed("sasl_client_init failed");
    }

    if (sasl_client_init(without_log) == SASL_OK) {
        login("XOAUTH2", google_error);
        sasl_client_done();
    } else {
        failed("sasl_client_init without a log callback failed");
    }

    unlink(link_path);
    rmdir(plugin_dir);
    fclose(log_file);
    return failures > 0;
}
