/*
 * libmailtoken.so: the XOAUTH2 and OAUTHBEARER (RFC 7628) client
 * mechanisms for Cyrus SASL. The access token comes from the mailtoken
 * helper (source.h); this file contains the SASL side: the mechanism
 * table, the credentials, and the step state machine.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "config.h"
#include "credentials.h"
#include "message.h"
#include "mt_buf.h"
#include "mt_sha256.h"
#include "mt_wipe.h"
#include "mt_wire.h"
#include "source.h"

#ifndef MAILTOKEN_HELPER_PATH
#error "MAILTOKEN_HELPER_PATH must be defined by the build"
#endif
#ifndef MAILTOKEN_SYSCONFDIR
#error "MAILTOKEN_SYSCONFDIR must be defined by the build"
#endif

/* The settings read at plugin init: Postfix calls it before it enters its chroot. */
static struct plugin_config plugin_settings;
/* Set once the socket fallback was logged at warning level; later ones go to debug. */
static int fallback_logged;
/* Likewise for the warning about an address without '@'. */
static int bare_address_logged;

/*
 * At plugin init the library has no connection, so utils->log goes to
 * syslog, not to the application's log callback. The messages of init are
 * therefore kept and logged again, once, through the first connection.
 */
#define INIT_MESSAGES_MAX 8
static struct {
    int level;
    char text[400];
} init_messages[INIT_MESSAGES_MAX];
static int init_message_count;
static int init_messages_replayed;

enum step_state {
    STATE_START,      /* nothing sent yet */
    STATE_DEFERRED,   /* SMTP: the message waits for the server's empty 334 challenge */
    STATE_SENT,       /* the message went out; success or an error challenge comes next */
    STATE_ANSWERED,   /* the error challenge got its response; only the failure can follow */
    STATE_DONE,       /* the application reported the server's success */
    STATE_FAILED      /* a step failed; the exchange cannot go on */
};

enum token_origin {
    TOKEN_NONE,
    TOKEN_FROM_SOURCE,    /* the helper or the daemon */
    TOKEN_FROM_PASSWORD   /* the client's password, for clients without an account */
};

struct mech_conn {
    enum message_mech mech;
    const char *mech_name;
    enum step_state state;
    int message_resent;

    struct credentials creds;
    int have_names;
    char *authname;            /* names the account */
    char *authzid;             /* the mailbox to act for; NULL when absent or equal to authname */

    int source_asked;
    enum source_status source_status;
    struct source_result source_result;
    struct source_grant grant;
    char *password;            /* secret */
    size_t password_len;
    enum token_origin origin;

    char fingerprint[MT_FINGERPRINT_SIZE];
    struct mt_buf out;         /* the message; secret until wiped */
};

static void
plugin_log(const sasl_utils_t *utils, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs through the application's SASL log callback; the library's own formatter is bypassed. */
static void
plugin_log(const sasl_utils_t *utils, int level, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    utils->log(utils->conn, level, "mailtoken: %s", message);
}

static void
init_log(const sasl_utils_t *utils, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs a message of plugin init, and keeps it for the first connection's log. */
static void
init_log(const sasl_utils_t *utils, int level, const char *fmt, ...)
{
    char text[sizeof(init_messages[0].text)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    plugin_log(utils, level, "%s", text);
    if (init_message_count < INIT_MESSAGES_MAX) {
        init_messages[init_message_count].level = level;
        memcpy(init_messages[init_message_count].text, text, sizeof(text));
        init_message_count++;
    }
}

static void
replay_init_messages(const sasl_utils_t *utils)
{
    if (init_messages_replayed)
        return;
    init_messages_replayed = 1;
    for (int i = 0; i < init_message_count; i++)
        plugin_log(utils, init_messages[i].level, "%s", init_messages[i].text);
}

static int
step_fail(struct mech_conn *mc, sasl_client_params_t *params, int code, int level,
          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Records a failure as the connection's error detail and in the log, and
 * ends the exchange. Returns code.
 */
static int
step_fail(struct mech_conn *mc, sasl_client_params_t *params, int code, int level,
          const char *fmt, ...)
{
    const sasl_utils_t *utils = params->utils;
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    utils->seterror(utils->conn, SASL_NOLOG, "mailtoken: %s: %s", mc->mech_name, message);
    utils->log(utils->conn, level, "mailtoken: %s: %s", mc->mech_name, message);
    mc->state = STATE_FAILED;
    return code;
}

/* Reads the authentication name and the authorization id, once per exchange. */
static int
gather_names(struct mech_conn *mc, sasl_client_params_t *params, sasl_interact_t **prompt_need)
{
    const sasl_utils_t *utils = params->utils;
    enum credential missing[2];
    size_t nmissing = 0, name_len = 0, zid_len = 0;
    char *name = NULL, *zid = NULL;
    int r_name, r_zid, result;

    if (mc->have_names)
        return SASL_OK;
    r_name = credentials_get(&mc->creds, utils, CREDENTIAL_AUTHNAME, &name, &name_len);
    r_zid = credentials_get(&mc->creds, utils, CREDENTIAL_AUTHZID, &zid, &zid_len);
    if (r_name == SASL_INTERACT)
        missing[nmissing++] = CREDENTIAL_AUTHNAME;
    if (r_zid == SASL_INTERACT)
        missing[nmissing++] = CREDENTIAL_AUTHZID;
    if (nmissing > 0) {
        result = credentials_prompt(&mc->creds, utils, prompt_need, missing, nmissing);
        if (result != SASL_INTERACT)
            result = step_fail(mc, params, result, SASL_LOG_ERR,
                               "the application wants prompts but gave no prompt list");
        goto out;
    }
    if (r_name != SASL_OK || r_zid != SASL_OK) {
        result = step_fail(mc, params, r_name != SASL_OK ? r_name : r_zid, SASL_LOG_ERR,
                           "the application's callback for the %s failed",
                           r_name != SASL_OK ? "authentication name" : "authorization id");
        goto out;
    }
    if (name == NULL || name_len == 0 || strlen(name) != name_len) {
        result = step_fail(mc, params, SASL_BADPARAM, SASL_LOG_ERR,
                           "no authentication name: the client must give the mailtoken "
                           "account (or its address) as the user name");
        goto out;
    }
    if (zid != NULL && (zid_len == 0 || strcmp(zid, name) == 0)) {
        free(zid);
        zid = NULL;
    }
    if (zid != NULL && strlen(zid) != zid_len) {
        result = step_fail(mc, params, SASL_BADPARAM, SASL_LOG_ERR,
                           "the authorization id contains a NUL byte");
        goto out;
    }
    mc->authname = name;
    mc->authzid = zid;
    name = NULL;
    zid = NULL;   /* both handed to mc */
    mc->have_names = 1;
    result = SASL_OK;

out:
    free(name);
    free(zid);
    return result;
}

/* Maps a failed token request to a SASL result code. */
static int
source_failure_code(const struct source_result *res)
{
    if (strcmp(res->kind, MT_WIRE_TEMPORARY) == 0)
        return SASL_TRYAGAIN;
    if (strcmp(res->kind, MT_WIRE_UNAUTHORIZED) == 0)
        return SASL_BADAUTH;
    if (strcmp(res->kind, MT_WIRE_DENIED) == 0)
        return SASL_NOAUTHZ;
    if (strcmp(res->kind, MT_WIRE_UNKNOWN_ACCOUNT) == 0)
        return SASL_NOUSER;
    return SASL_FAIL;
}

static void
log_fallback(const sasl_utils_t *utils, const struct source_result *res)
{
    if (!res->fell_back)
        return;
    plugin_log(utils, fallback_logged ? SASL_LOG_DEBUG : SASL_LOG_WARN,
               "the daemon socket is unreachable (%s); running the helper %s instead",
               res->fallback_reason, plugin_settings.helper);
    fallback_logged = 1;
}

/*
 * Asks the token source for the account's token. When the source has no
 * such account, takes the client's password if it has the form of an
 * access token.
 */
static int
obtain_token(struct mech_conn *mc, sasl_client_params_t *params, sasl_interact_t **prompt_need)
{
    const sasl_utils_t *utils = params->utils;
    const struct source_result *res = &mc->source_result;
    enum credential want_password = CREDENTIAL_PASSWORD;
    char *password = NULL;
    size_t password_len = 0;
    int r;

    if (mc->origin != TOKEN_NONE)
        return SASL_OK;

    if (!mc->source_asked) {
        mc->source_asked = 1;
        /* A name starting with '-' could pass for an option on the helper's command line. */
        if (!mt_wire_account_valid(mc->authname, strlen(mc->authname)) ||
            mc->authname[0] == '-') {
            mc->source_status = SOURCE_UNKNOWN_ACCOUNT;
            snprintf(mc->source_result.message, sizeof(mc->source_result.message),
                     "the authentication name is not a valid account name");
        } else {
            mc->source_status = source_get_token(&plugin_settings, mc->authname, &mc->grant,
                                                 &mc->source_result);
            log_fallback(utils, res);
        }
        if (mc->source_status == SOURCE_OK) {
            mc->origin = TOKEN_FROM_SOURCE;
            return SASL_OK;
        }
        if (mc->source_status == SOURCE_FAILED && res->code != 0)
            return step_fail(mc, params, source_failure_code(res), SASL_LOG_ERR,
                             "account %s: no access token: %s (helper error %s, exit code %d)",
                             mc->authname, res->message, res->kind, res->code);
        if (mc->source_status == SOURCE_FAILED)
            return step_fail(mc, params, source_failure_code(res), SASL_LOG_ERR,
                             "account %s: no access token: %s", mc->authname, res->message);
    }

    /* No account of that name: clients such as mbsync with PassCmd give the token as password. */
    r = credentials_get(&mc->creds, utils, CREDENTIAL_PASSWORD, &password, &password_len);
    if (r == SASL_INTERACT) {
        r = credentials_prompt(&mc->creds, utils, prompt_need, &want_password, 1);
        if (r != SASL_INTERACT)
            return step_fail(mc, params, r, SASL_LOG_ERR,
                             "the application wants prompts but gave no prompt list");
        return r;
    }
    if (r != SASL_OK)
        return step_fail(mc, params, r, SASL_LOG_ERR,
                         "the application's password callback failed");
    if (password == NULL)
        return step_fail(mc, params, SASL_NOUSER, SASL_LOG_ERR,
                         "no mailtoken account matches \"%s\" (%s), and the client gave no "
                         "password to use as the access token", mc->authname, res->message);
    if (!message_is_token_like(password, password_len)) {
        mt_freezero(password, password_len);
        return step_fail(mc, params, SASL_NOUSER, SASL_LOG_ERR,
                         "no mailtoken account matches \"%s\" (%s), and the client's password "
                         "is not an access token (RFC 6750 characters, at least %d)",
                         mc->authname, res->message, MESSAGE_TOKEN_LIKE_MIN);
    }
    mc->password = password;
    mc->password_len = password_len;
    mc->origin = TOKEN_FROM_PASSWORD;
    return SASL_OK;
}

static const char *
token_text(const struct mech_conn *mc, size_t *len_r)
{
    if (mc->origin == TOKEN_FROM_SOURCE) {
        *len_r = strlen(mc->grant.token);
        return mc->grant.token;
    }
    *len_r = mc->password_len;
    return mc->password;
}

/* The address for user= / a=: the authorization id, the account's mailbox, its user, the name. */
static const char *
choose_address(const struct mech_conn *mc)
{
    if (mc->authzid != NULL)
        return mc->authzid;
    if (mc->origin == TOKEN_FROM_SOURCE && mc->grant.mailbox != NULL)
        return mc->grant.mailbox;
    if (mc->origin == TOKEN_FROM_SOURCE && mc->grant.user != NULL)
        return mc->grant.user;
    return mc->authname;
}

static int
set_identities(struct mech_conn *mc, sasl_client_params_t *params, const char *authid,
               const char *address, sasl_out_params_t *oparams)
{
    const sasl_utils_t *utils = params->utils;
    int r;

    if (strcmp(authid, address) == 0) {
        r = params->canon_user(utils->conn, authid, 0, SASL_CU_AUTHID | SASL_CU_AUTHZID,
                               oparams);
    } else {
        r = params->canon_user(utils->conn, authid, 0, SASL_CU_AUTHID, oparams);
        if (r == SASL_OK)
            r = params->canon_user(utils->conn, address, 0, SASL_CU_AUTHZID, oparams);
    }
    if (r != SASL_OK)
        return step_fail(mc, params, r, SASL_LOG_ERR, "the library rejected the user name");
    oparams->doneflag = 0;
    oparams->mech_ssf = 0;
    oparams->maxoutbuf = 0;
    oparams->encode_context = NULL;
    oparams->encode = NULL;
    oparams->decode_context = NULL;
    oparams->decode = NULL;
    oparams->param_version = 0;
    return SASL_OK;
}

/* Forgets every copy of the token except the one inside the message. */
static void
drop_token(struct mech_conn *mc)
{
    mt_strfree(mc->grant.token);
    mc->grant.token = NULL;
    mt_freezero(mc->password, mc->password_len);
    mc->password = NULL;
    mc->password_len = 0;
}

/* Gets everything the first message needs and builds it into mc->out. */
static int
prepare_message(struct mech_conn *mc, sasl_client_params_t *params,
                sasl_interact_t **prompt_need, sasl_out_params_t *oparams)
{
    const sasl_utils_t *utils = params->utils;
    struct message_params mp = {.mech = mc->mech};
    const char *address, *authid, *error;
    int r;

    r = credentials_take_answers(&mc->creds, utils, prompt_need);
    if (r != SASL_OK)
        return step_fail(mc, params, r, SASL_LOG_ERR, "out of memory");
    r = gather_names(mc, params, prompt_need);
    if (r != SASL_OK)
        return r;
    r = obtain_token(mc, params, prompt_need);
    if (r != SASL_OK)
        return r;

    address = choose_address(mc);
    authid = mc->origin == TOKEN_FROM_SOURCE && mc->grant.user != NULL ? mc->grant.user
                                                                       : mc->authname;
    mp.address = address;
    mp.host = params->serverFQDN;
    mp.port = message_port_from_ipport(params->ipremoteport);
    mp.token = token_text(mc, &mp.token_len);
    if (message_check_address(authid, strlen(authid)) != NULL)
        return step_fail(mc, params, SASL_BADPARAM, SASL_LOG_ERR,
                         "account %s: the user name is invalid: %s", mc->authname,
                         message_check_address(authid, strlen(authid)));
    if (message_build(&mp, &mc->out, &error) != 0)
        return step_fail(mc, params, SASL_BADPARAM, SASL_LOG_ERR,
                         "account %s: cannot build the message: %s", mc->authname, error);
    mt_fingerprint(mp.token, mp.token_len, mc->fingerprint);
    drop_token(mc);

    r = set_identities(mc, params, authid, address, oparams);
    if (r != SASL_OK)
        return r;

    if (strchr(address, '@') == NULL) {
        plugin_log(utils, bare_address_logged ? SASL_LOG_DEBUG : SASL_LOG_WARN,
                   "%s: account %s: the address sent, \"%s\", has no '@'; servers such as "
                   "Microsoft's and Gmail's expect the mailbox address", mc->mech_name,
                   mc->authname, address);
        bare_address_logged = 1;
    }
    if (mc->origin == TOKEN_FROM_SOURCE) {
        long long left = mc->grant.expires - (long long)time(NULL);

        plugin_log(utils, SASL_LOG_NOTE,
                   "%s: account %s: sending token %s for %s (user %s), expires in %lld s%s",
                   mc->mech_name, mc->grant.account, mc->fingerprint, address, authid,
                   mc->grant.expires > 0 ? left : 0LL,
                   mc->grant.expires > 0 ? "" : " (expiry unknown)");
    } else {
        plugin_log(utils, SASL_LOG_NOTE,
                   "%s: no account \"%s\"; sending the client's password as the access token "
                   "(%s) for %s", mc->mech_name, mc->authname, mc->fingerprint, address);
    }
    return SASL_OK;
}

static int
is_smtp(const sasl_client_params_t *params)
{
    return params->service != NULL && strcasecmp(params->service, "smtp") == 0;
}

static void
emit_message(struct mech_conn *mc, const char **clientout, unsigned *clientoutlen)
{
    *clientout = mc->out.data;
    *clientoutlen = (unsigned)mc->out.len;
    mc->state = STATE_SENT;
}

/* Responds to the server's error challenge (RFC 7628 section 3.2.3; Google's XOAUTH2 page). */
static int
respond_to_error_challenge(struct mech_conn *mc, sasl_client_params_t *params,
                           const char *serverin, unsigned serverinlen, const char **clientout,
                           unsigned *clientoutlen)
{
    const sasl_utils_t *utils = params->utils;
    const char *account = mc->origin == TOKEN_FROM_SOURCE ? mc->grant.account : mc->authname;
    struct message_challenge challenge;
    struct source_result res;
    char detail[600];

    message_read_challenge(serverin, serverinlen, &challenge);
    if (challenge.is_json)
        snprintf(detail, sizeof(detail), "status %s, scope %s",
                 challenge.status[0] != '\0' ? challenge.status : "(none)",
                 challenge.scope[0] != '\0' ? challenge.scope : "(none)");
    else
        snprintf(detail, sizeof(detail), "the error challenge is not JSON: \"%s\"",
                 challenge.text);
    utils->seterror(utils->conn, SASL_NOLOG,
                    "mailtoken: %s: account %s: the server rejected token %s: %s", mc->mech_name,
                    account, mc->fingerprint, detail);
    plugin_log(utils, SASL_LOG_FAIL, "%s: account %s: the server rejected token %s: %s",
               mc->mech_name, account, mc->fingerprint, detail);

    if (mc->origin == TOKEN_FROM_SOURCE) {
        if (source_report_rejected(&plugin_settings, account, mc->fingerprint, &res) ==
            SOURCE_OK)
            plugin_log(utils, SASL_LOG_NOTE,
                       "%s: account %s: reported the rejection of token %s to the token source",
                       mc->mech_name, account, mc->fingerprint);
        else
            plugin_log(utils, SASL_LOG_WARN,
                       "%s: account %s: cannot report the rejection of token %s to the "
                       "token source: %s", mc->mech_name, account, mc->fingerprint, res.message);
        log_fallback(utils, &res);
    }

    /* The message is no longer needed. */
    mt_buf_free(&mc->out);
    if (mc->mech == MESSAGE_OAUTHBEARER) {
        *clientout = "\x01";
        *clientoutlen = 1;
    } else {
        *clientout = "";
        *clientoutlen = 0;
    }
    mc->state = STATE_ANSWERED;
    return SASL_CONTINUE;
}

/*
 * The exchange: the first call (serverin NULL from sasl_client_start, or
 * the server's empty challenge when the client sends no initial response)
 * produces the message; a later non-empty challenge is the server's error
 * report, which gets the dummy response; anything after that is a protocol
 * error. After the message the plugin returns SASL_CONTINUE, because the
 * server may still send its error challenge; the server's success reply
 * ends the exchange. Only a later step without any challenge (serverin
 * NULL), which some applications make after the success reply, returns
 * SASL_OK and sets doneflag.
 */
static int
mech_step(void *conn_context, sasl_client_params_t *params, const char *serverin,
          unsigned serverinlen, sasl_interact_t **prompt_need, const char **clientout,
          unsigned *clientoutlen, sasl_out_params_t *oparams)
{
    struct mech_conn *mc = conn_context;
    int r;

    *clientout = NULL;
    *clientoutlen = 0;

    switch (mc->state) {
    case STATE_START:
        if (serverinlen > 0)
            return step_fail(mc, params, SASL_BADPROT, SASL_LOG_ERR,
                             "the server sent a non-empty challenge (%u bytes) before the "
                             "client's message", serverinlen);
        r = prepare_message(mc, params, prompt_need, oparams);
        if (r != SASL_OK)
            return r;
        /* RFC 4954: a response that makes the AUTH line longer than 512 bytes waits for 334. */
        if (serverin == NULL && is_smtp(params) &&
            message_smtp_auth_line_len(mc->mech_name, mc->out.len) > MESSAGE_SMTP_LINE_MAX) {
            plugin_log(params->utils, SASL_LOG_DEBUG,
                       "%s: the message (%zu bytes) is too long for the SMTP AUTH line; "
                       "sending it after the server's empty challenge",
                       mc->mech_name, mc->out.len);
            mc->state = STATE_DEFERRED;
            return SASL_CONTINUE;
        }
        emit_message(mc, clientout, clientoutlen);
        return SASL_CONTINUE;

    case STATE_DEFERRED:
        if (serverinlen > 0)
            return step_fail(mc, params, SASL_BADPROT, SASL_LOG_ERR,
                             "the server replied to AUTH without an initial response with a "
                             "non-empty challenge (%u bytes)", serverinlen);
        emit_message(mc, clientout, clientoutlen);
        return SASL_CONTINUE;

    case STATE_SENT:
        if (serverin == NULL) {
            /*
             * No challenge at all: the server accepted the message, and the
             * application (mbsync, for one) checks whether the mechanism is done.
             */
            oparams->doneflag = 1;
            mc->state = STATE_DONE;
            mt_buf_free(&mc->out);
            return SASL_OK;
        }
        if (serverinlen == 0) {
            /*
             * An empty challenge after the message: the application did not
             * send the message it got from sasl_client_start. Send it again,
             * once.
             */
            if (mc->message_resent)
                return step_fail(mc, params, SASL_BADPROT, SASL_LOG_ERR,
                                 "the server sent a second empty challenge after the message");
            mc->message_resent = 1;
            emit_message(mc, clientout, clientoutlen);
            return SASL_CONTINUE;
        }
        return respond_to_error_challenge(mc, params, serverin, serverinlen, clientout,
                                          clientoutlen);

    case STATE_ANSWERED:
        return step_fail(mc, params, SASL_BADPROT, SASL_LOG_ERR,
                         "the server sent another challenge after the response to its error "
                         "challenge");

    case STATE_DONE:
    case STATE_FAILED:
    default:
        return step_fail(mc, params, SASL_BADPROT, SASL_LOG_ERR,
                         "step called after the exchange failed");
    }
}

static int
mech_new(void *glob_context, sasl_client_params_t *params, void **conn_context,
         enum message_mech mech, const char *mech_name)
{
    struct mech_conn *mc;

    (void)glob_context;
    replay_init_messages(params->utils);
    mc = calloc(1, sizeof(*mc));
    if (mc == NULL) {
        params->utils->seterror(params->utils->conn, 0, "mailtoken: out of memory");
        return SASL_NOMEM;
    }
    mc->mech = mech;
    mc->mech_name = mech_name;
    mc->state = STATE_START;
    mt_buf_init(&mc->out, MESSAGE_MAX);
    *conn_context = mc;
    return SASL_OK;
}

static int
xoauth2_new(void *glob_context, sasl_client_params_t *params, void **conn_context)
{
    return mech_new(glob_context, params, conn_context, MESSAGE_XOAUTH2, "XOAUTH2");
}

static int
oauthbearer_new(void *glob_context, sasl_client_params_t *params, void **conn_context)
{
    return mech_new(glob_context, params, conn_context, MESSAGE_OAUTHBEARER, "OAUTHBEARER");
}

static void
mech_dispose(void *conn_context, const sasl_utils_t *utils)
{
    struct mech_conn *mc = conn_context;

    if (mc == NULL)
        return;
    credentials_clear(&mc->creds, utils);
    free(mc->authname);
    free(mc->authzid);
    source_grant_clear(&mc->grant);
    mt_freezero(mc->password, mc->password_len);
    mt_buf_free(&mc->out);
    mt_freezero(mc, sizeof(*mc));
}

/*
 * libsasl2 checks that these callbacks exist before it picks a mechanism.
 * Only the authentication name is required, and the library supplies a
 * default for it, so applications without a password callback can pick
 * these mechanisms. The password is optional (see obtain_token).
 */
static const unsigned long required_prompts[] = {
    SASL_CB_AUTHNAME,
    SASL_CB_LIST_END,
};

/*
 * Security flags, stated as they are:
 * - no NOPLAINTEXT: a bearer token can be replayed by anyone who reads it,
 *   so these mechanisms need TLS underneath. An application that requires
 *   NOPLAINTEXT gets them only when it reports the TLS strength to the library
 *   (SASL_SSF_EXTERNAL).
 * - NODICTIONARY: nothing derived from a password crosses the wire; the
 *   token is random and issued by the authorization server, so there is
 *   nothing to guess offline. This also ranks the mechanisms above PLAIN
 *   and LOGIN in the library's choice.
 * - PASS_CREDENTIALS: the server receives a credential it could reuse.
 * ALLOWS_PROXY: an authorization id (a shared mailbox) is supported.
 */
#define MECH_SECURITY_FLAGS \
    (SASL_SEC_NOANONYMOUS | SASL_SEC_NODICTIONARY | SASL_SEC_PASS_CREDENTIALS)
#define MECH_FEATURES (SASL_FEAT_WANT_CLIENT_FIRST | SASL_FEAT_ALLOWS_PROXY)

static sasl_client_plug_t mechanisms[] = {
    {
        .mech_name = "XOAUTH2",
        .max_ssf = 0,
        .security_flags = MECH_SECURITY_FLAGS,
        .features = MECH_FEATURES,
        .required_prompts = required_prompts,
        .glob_context = NULL,
        .mech_new = xoauth2_new,
        .mech_step = mech_step,
        .mech_dispose = mech_dispose,
        .mech_free = NULL,
        .idle = NULL,
        .spare_fptr1 = NULL,
        .spare_fptr2 = NULL,
    },
    {
        .mech_name = "OAUTHBEARER",
        .max_ssf = 0,
        .security_flags = MECH_SECURITY_FLAGS,
        .features = MECH_FEATURES,
        .required_prompts = required_prompts,
        .glob_context = NULL,
        .mech_new = oauthbearer_new,
        .mech_step = mech_step,
        .mech_dispose = mech_dispose,
        .mech_free = NULL,
        .idle = NULL,
        .spare_fptr1 = NULL,
        .spare_fptr2 = NULL,
    },
};

static void
config_warning(const void *context, const char *message)
{
    init_log(context, SASL_LOG_WARN, "configuration: %s", message);
}

sasl_client_plug_init_t sasl_client_plug_init __attribute__((visibility("default")));

/* The entry point libsasl2 looks up in every plugin library. */
int
sasl_client_plug_init(const sasl_utils_t *utils, int max_version, int *out_version,
                      sasl_client_plug_t **pluglist, int *plugcount)
{
    if (max_version < SASL_CLIENT_PLUG_VERSION) {
        plugin_log(utils, SASL_LOG_ERR,
                   "libsasl2 offers client plugin version %d; version %d is needed",
                   max_version, SASL_CLIENT_PLUG_VERSION);
        return SASL_BADVERS;
    }
    init_message_count = 0;
    init_messages_replayed = 0;
    fallback_logged = 0;
    bare_address_logged = 0;
    config_load(&plugin_settings, MAILTOKEN_HELPER_PATH, MAILTOKEN_SYSCONFDIR "/mailtoken.conf",
                config_warning, utils);
    init_log(utils, SASL_LOG_DEBUG,
               "configuration %s (%s); helper %s; socket %s; timeout %d s",
               plugin_settings.file[0] != '\0' ? plugin_settings.file : "(none)",
               plugin_settings.file_source, plugin_settings.helper,
               plugin_settings.socket_path[0] != '\0' ? plugin_settings.socket_path : "(none)",
               plugin_settings.timeout_ms / 1000);

    *out_version = SASL_CLIENT_PLUG_VERSION;
    *pluglist = mechanisms;
    *plugcount = (int)(sizeof(mechanisms) / sizeof(mechanisms[0]));
    return SASL_OK;
}
