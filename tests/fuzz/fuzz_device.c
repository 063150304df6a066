/*
 * Fuzz target: the device authorization grant's replies (RFC 8628), as
 * device_start and device_poll read them through a scripted network
 * module and a fake clock.
 *
 * The input is a list of HTTP replies separated by lines "@@". Each reply
 * starts with a line "STATUS [CONTENT-TYPE]"; the rest is the body. The
 * first reply answers the device authorization request, the others the
 * polls. Status 0 stands for a lost connection. When the replies run out
 * the network module fails for good, which ends the polling.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/device.h"
#include "core/net.h"
#include "core/oauth.h"
#include "core/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REPLIES 64

struct reply {
    const char *text;
    size_t len;
};

static struct reply replies[MAX_REPLIES];
static size_t nreplies, next_reply;
static time_t fake_now;

static void
discard_trace(const char *line)
{
    (void)line;
}

static int
scripted_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    const struct reply *r;
    const char *nl, *space;
    char status[16];
    size_t head;

    (void)req;
    mt_buf_init(&resp->body, NET_MAX_BODY);
    resp->status = 0;
    resp->content_type[0] = '\0';
    resp->location[0] = '\0';
    resp->retry_after = -1;
    if (next_reply >= nreplies)
        return err_set(err, EX_SOFTWARE, "no more scripted replies");
    r = &replies[next_reply++];
    nl = memchr(r->text, '\n', r->len);
    head = nl != NULL ? (size_t)(nl - r->text) : r->len;
    space = memchr(r->text, ' ', head);
    snprintf(status, sizeof(status), "%.*s",
             (int)(space != NULL ? (size_t)(space - r->text) : head), r->text);
    resp->status = strtol(status, NULL, 10);
    if (resp->status <= 0 || resp->status > 599)
        return err_set(err, EX_TEMPFAIL, "cannot connect: try again later");
    if (space != NULL)
        snprintf(resp->content_type, sizeof(resp->content_type), "%.*s",
                 (int)(head - (size_t)(space + 1 - r->text)), space + 1);
    if (nl != NULL && mt_buf_append(&resp->body, nl + 1, r->len - head - 1) != 0)
        return err_set(err, EX_PROTOCOL, "the reply is larger than %d bytes", NET_MAX_BODY);
    if (resp->status == 429)
        resp->retry_after = 30;
    return 0;
}

static const struct net_ops scripted_ops = {
    .abi_version = NET_ABI_VERSION,
    .http = scripted_http,
};

static time_t
fake_clock(void)
{
    return fake_now;
}

static int
fake_wait(void *ctx, long seconds, long seconds_left, struct mt_err *err)
{
    (void)ctx;
    (void)seconds_left;
    (void)err;
    fake_now += seconds;
    return 0;
}

/* Splits the input at every "\n@@\n" into replies. */
static void
split_replies(const char *p, size_t n)
{
    static const char sep[] = "\n@@\n";
    const size_t seplen = sizeof(sep) - 1;

    nreplies = 0;
    next_reply = 0;
    while (nreplies < MAX_REPLIES) {
        const char *end = NULL;

        for (size_t i = 0; i + seplen <= n; i++) {
            if (memcmp(p + i, sep, seplen) == 0) {
                end = p + i;
                break;
            }
        }
        replies[nreplies].text = p;
        replies[nreplies].len = end != NULL ? (size_t)(end - p) : n;
        nreplies++;
        if (end == NULL)
            break;
        n -= (size_t)(end - p) + seplen;
        p = end + seplen;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char name[] = "fuzz";
    static char client_id[] = "client";
    static char scope[] = "mail offline_access";
    static char token_endpoint[] = "https://login.example.com/token";
    static char device_endpoint[] = "https://login.example.com/devicecode";
    static const struct device_clock clock = {.wait = fake_wait, .now = fake_clock};
    struct device_authorization d;
    struct token_reply reply;
    struct account a;
    struct mt_err err;
    char *copy, *user;

    /* The replies point into a copy, so that reading one byte too far is caught. */
    copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    net_override(&scripted_ops);
    trace_set_sink(discard_trace);
    split_replies(copy, size);

    memset(&a, 0, sizeof(a));
    a.name = name;
    a.provider = size & 1 ? PROVIDER_GOOGLE : PROVIDER_MICROSOFT;
    a.client_id = client_id;
    a.scope = scope;
    a.token_endpoint = token_endpoint;
    a.device_authorization_endpoint = device_endpoint;
    a.timeout = 30;

    fake_now = 1000;
    err_clear(&err);
    if (device_start(&a, NULL, &d, &err) == 0) {
        memset(&reply, 0, sizeof(reply));
        err_clear(&err);
        if (device_poll(&a, NULL, &d, fake_now, 3600, &clock, &reply, &err) == 0) {
            user = oauth_id_token_user(reply.id_token);
            free(user);
        }
        token_reply_free(&reply);
        device_authorization_free(&d);
    }
    trace_set_sink(NULL);
    free(copy);
    return 0;
}
