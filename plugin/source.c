/* Where access tokens come from: the daemon's socket or the helper. */
#include "source.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "mt_buf.h"
#include "mt_wipe.h"
#include "transport.h"

static void
set_failure(struct source_result *res, const char *kind, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
set_failure(struct source_result *res, const char *kind, int code, const char *fmt, ...)
{
    va_list ap;

    res->status = SOURCE_FAILED;
    snprintf(res->kind, sizeof(res->kind), "%s", kind);
    res->code = code;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

/*
 * Sends one request and parses the reply into reply (cleared by the
 * caller). Tries the socket first when one is configured, and runs the
 * helper when there is none or it cannot be reached.
 */
static int
exchange(const struct plugin_config *cfg, const struct mt_wire_request *req,
         struct mt_wire_reply *reply, struct source_result *res)
{
    /* execve takes non-const strings, so the arguments are copied. */
    char helper[CONFIG_PATH_MAX], command[] = "request", verb[16];
    char account[MT_WIRE_MAX_ACCOUNT + 1], fingerprint[MT_FINGERPRINT_SIZE];
    char *argv[6] = {NULL};
    char err[512];
    const char *parse_error, *origin;
    struct mt_buf line, raw;
    int result = -1, done = 0;

    mt_buf_init(&line, MT_WIRE_MAX_REQUEST);
    mt_buf_init(&raw, MT_WIRE_MAX_REPLY);
    if (mt_wire_format_request(req, &line) != 0) {
        set_failure(res, "transport", 0, "cannot format the request: %s", strerror(errno));
        goto out;
    }

    if (cfg->socket_path[0] != '\0') {
        int unreachable;

        origin = cfg->socket_path;
        if (transport_socket(cfg->socket_path, line.data, line.len, cfg->timeout_ms, &raw,
                             &unreachable, err, sizeof(err)) == 0) {
            done = 1;
        } else if (unreachable) {
            res->fell_back = 1;
            snprintf(res->fallback_reason, sizeof(res->fallback_reason), "%s", err);
            mt_buf_reset(&raw);
        } else {
            set_failure(res, "transport", 0, "%s", err);
            goto out;
        }
    }
    if (!done) {
        origin = cfg->helper;
        snprintf(helper, sizeof(helper), "%s", cfg->helper);
        snprintf(verb, sizeof(verb), "%s", req->verb == MT_WIRE_REJECTED ? "REJECTED" : "TOKEN");
        snprintf(account, sizeof(account), "%s", req->account);
        snprintf(fingerprint, sizeof(fingerprint), "%s", req->fingerprint);
        argv[0] = helper;
        argv[1] = command;
        argv[2] = verb;
        argv[3] = account;
        argv[4] = req->verb == MT_WIRE_REJECTED ? fingerprint : NULL;
        if (transport_exec(helper, argv, cfg->timeout_ms, &raw, err, sizeof(err)) != 0) {
            set_failure(res, "transport", 0, "%s", err);
            goto out;
        }
    }

    if (mt_wire_parse_reply(raw.data, raw.len, reply, &parse_error) != 0) {
        set_failure(res, "protocol", 0, "the reply from %s is invalid: %s", origin, parse_error);
        goto out;
    }
    result = 0;

out:
    mt_buf_free(&line);
    mt_buf_free(&raw);
    return result;
}

/* Fills res from an ERR reply. */
static enum source_status
take_error(const struct mt_wire_reply *reply, struct source_result *res)
{
    const char *message = mt_wire_reply_get(reply, "message");
    char escaped[400];

    message_escape(message != NULL ? message : "(no message)",
                   message != NULL ? strlen(message) : 12, escaped, sizeof(escaped));
    set_failure(res, reply->kind, reply->code, "%s", escaped);
    if (strcmp(reply->kind, MT_WIRE_UNKNOWN_ACCOUNT) == 0)
        res->status = SOURCE_UNKNOWN_ACCOUNT;
    return res->status;
}

static char *
dup_field(const struct mt_wire_reply *reply, const char *key)
{
    const char *value = mt_wire_reply_get(reply, key);

    return value != NULL ? strdup(value) : NULL;
}

static long long
parse_expires(const char *value)
{
    char *end;
    long long v;

    if (value == NULL || value[0] < '0' || value[0] > '9')
        return 0;
    errno = 0;
    v = strtoll(value, &end, 10);
    return errno == 0 && *end == '\0' ? v : 0;
}

static void
result_init(struct source_result *res)
{
    memset(res, 0, sizeof(*res));
    res->status = SOURCE_FAILED;
}

enum source_status
source_get_token(const struct plugin_config *cfg, const char *account,
                 struct source_grant *grant, struct source_result *res)
{
    struct mt_wire_request req = {.verb = MT_WIRE_TOKEN};
    struct mt_wire_reply reply;
    const char *sent_account;

    memset(grant, 0, sizeof(*grant));
    memset(&reply, 0, sizeof(reply));
    result_init(res);
    if (snprintf(req.account, sizeof(req.account), "%s", account) >= (int)sizeof(req.account)) {
        set_failure(res, "transport", 0, "the account name is too long");
        return res->status;
    }
    if (exchange(cfg, &req, &reply, res) != 0)
        goto out;
    if (!reply.ok) {
        take_error(&reply, res);
        goto out;
    }
    if (mt_wire_reply_get(&reply, "token") == NULL) {
        set_failure(res, "protocol", 0, "the helper's reply has no token");
        goto out;
    }

    sent_account = mt_wire_reply_get(&reply, "account");
    if (sent_account == NULL || !mt_wire_account_valid(sent_account, strlen(sent_account)))
        sent_account = account;
    grant->account = strdup(sent_account);
    grant->user = dup_field(&reply, "user");
    grant->mailbox = dup_field(&reply, "mailbox");
    grant->token = dup_field(&reply, "token");
    grant->expires = parse_expires(mt_wire_reply_get(&reply, "expires"));
    if (grant->account == NULL || grant->token == NULL ||
        (mt_wire_reply_get(&reply, "user") != NULL && grant->user == NULL) ||
        (mt_wire_reply_get(&reply, "mailbox") != NULL && grant->mailbox == NULL)) {
        source_grant_clear(grant);
        set_failure(res, "transport", 0, "out of memory");
        goto out;
    }
    res->status = SOURCE_OK;

out:
    mt_wire_reply_clear(&reply);
    return res->status;
}

enum source_status
source_report_rejected(const struct plugin_config *cfg, const char *account,
                       const char fingerprint[MT_FINGERPRINT_SIZE], struct source_result *res)
{
    struct mt_wire_request req = {.verb = MT_WIRE_REJECTED};
    struct mt_wire_reply reply;

    memset(&reply, 0, sizeof(reply));
    result_init(res);
    if (snprintf(req.account, sizeof(req.account), "%s", account) >= (int)sizeof(req.account)) {
        set_failure(res, "transport", 0, "the account name is too long");
        return res->status;
    }
    snprintf(req.fingerprint, sizeof(req.fingerprint), "%s", fingerprint);
    if (exchange(cfg, &req, &reply, res) != 0)
        goto out;
    if (!reply.ok) {
        take_error(&reply, res);
        goto out;
    }
    res->status = SOURCE_OK;

out:
    mt_wire_reply_clear(&reply);
    return res->status;
}

void
source_grant_clear(struct source_grant *grant)
{
    free(grant->account);
    free(grant->user);
    free(grant->mailbox);
    mt_strfree(grant->token);
    memset(grant, 0, sizeof(*grant));
}
