/*
 * Fuzz target: what IMAP, POP3 and SMTP servers send back, as the reply
 * parsers of helper/core/mailproto.c and the login of mailsession.c read
 * it.
 *
 * The first byte picks the protocol (bits 0-1) and the mechanism (bits
 * 2-3). The rest is the server's side of the conversation: when it holds
 * a line "@@", the lines before it are what libcurl showed during its
 * setup (greeting, capabilities) and the bytes after it are everything
 * the server sends once the login starts. Each line is also handed to
 * every parser on its own.
 *
 * The transcript must never show the token: a client line that contains
 * it, or its base64 form, aborts the run.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mailproto.h"
#include "core/mailsession.h"
#include "core/net.h"
#include "mt_base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TOKEN "ya29.FuzzToken-Q2FuYXJ5LXRva2Vu"
#define FUZZ_USER "alice@example.test"

struct net_mail {
    const char *setup;
    size_t setup_len;
    const char *stream;
    size_t stream_len;
    size_t pos;
};

static struct net_mail connection;
/* The token's base64 forms at the three byte offsets, without the edge characters. */
static char token_b64[3][64];

static void
parse_line(const char *line)
{
    struct imap_reply ir;
    struct mail_challenge challenge;
    struct mail_target t;
    struct mt_buf caps;
    struct mt_err err;
    char code[32];
    int smtp_code, last;

    imap_reply_parse(line, &ir);
    mt_buf_init(&caps, 8192);
    imap_capability_parse(line, &caps);
    mt_buf_reset(&caps);
    imap_caps_for_preauth(line, &caps);
    mt_buf_reset(&caps);
    smtp_ehlo_auth(line, &caps);
    mt_buf_reset(&caps);
    pop3_capa_sasl(line, &caps);
    mt_buf_free(&caps);
    smtp_reply_line(line, &smtp_code, &last);
    smtp_enhanced_code(line, code, sizeof(code));
    pop3_resp_code(line, code, sizeof(code));
    mail_challenge_parse(line, strlen(line), &challenge);
    (void)mail_caps_has(line, "XOAUTH2");
    err_clear(&err);
    mail_target_parse(line, 0, MAIL_IMAP, &t, &err);
}

static int
fake_open(const struct net_mail_request *req, struct net_mail **conn_r,
          struct net_mail_info *info_r, struct mt_err *err)
{
    const char *p = connection.setup;
    size_t n = connection.setup_len;

    (void)err;
    memset(info_r, 0, sizeof(*info_r));
    snprintf(info_r->ip, sizeof(info_r->ip), "127.0.0.1");
    snprintf(info_r->tls, sizeof(info_r->tls), "TLSv1.3 / TLS_AES_256_GCM_SHA384");
    info_r->port = 993;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl != NULL ? (size_t)(nl - p) : n;

        req->observe(req->observe_ctx, NET_MAIL_SERVER_LINE, p, len);
        if (nl == NULL)
            break;
        p = nl + 1;
        n -= len + 1;
    }
    connection.pos = 0;
    *conn_r = &connection;
    return 0;
}

static int
fake_send(struct net_mail *c, const void *p, size_t n, long timeout_s, struct mt_err *err)
{
    (void)c;
    (void)p;
    (void)n;
    (void)timeout_s;
    (void)err;
    return 0;
}

static long
fake_recv(struct net_mail *c, void *p, size_t size, int timeout_ms, struct mt_err *err)
{
    size_t n = c->stream_len - c->pos;

    (void)timeout_ms;
    (void)err;
    if (n == 0)
        return 0;
    /* Pieces of up to 13 bytes, so that lines arrive split. */
    if (n > size)
        n = size;
    if (n > 13)
        n = 13;
    memcpy(p, c->stream + c->pos, n);
    c->pos += n;
    return (long)n;
}

static int
fake_socket(struct net_mail *c)
{
    (void)c;
    return -1;
}

static void
fake_close(struct net_mail *c)
{
    (void)c;
}

static const struct net_ops fake_ops = {
    .abi_version = NET_ABI_VERSION,
    .mail_open = fake_open,
    .mail_send = fake_send,
    .mail_recv = fake_recv,
    .mail_socket = fake_socket,
    .mail_close = fake_close,
};

static void
compute_token_b64(void)
{
    for (int shift = 0; shift < 3; shift++) {
        char raw[64];
        struct mt_buf b;
        size_t n = strlen(FUZZ_TOKEN), first, last;

        memset(raw, 'x', (size_t)shift);
        memcpy(raw + shift, FUZZ_TOKEN, n);
        mt_buf_init(&b, 128);
        mt_base64_encode(&b, raw, (size_t)shift + n, MT_BASE64_STD);
        /* Characters that mix in bytes around the token are left out. */
        first = ((size_t)shift * 8 + 5) / 6;
        last = ((size_t)shift + n) * 8 / 6;
        snprintf(token_b64[shift], sizeof(token_b64[shift]), "%.*s", (int)(last - first),
                 b.data + first);
        mt_buf_free(&b);
    }
}

static void
check_transcript(void *ctx, enum mail_event event, const char *text)
{
    (void)ctx;
    if (event != MAIL_EVENT_CLIENT)
        return;
    if (strstr(text, FUZZ_TOKEN) != NULL)
        abort();
    for (int i = 0; i < 3; i++)
        if (strstr(text, token_b64[i]) != NULL)
            abort();
}

static void
run_session(enum mail_protocol protocol, enum mail_mech requested)
{
    struct mail_session s;
    struct mail_target t;
    struct mail_auth_result res;
    struct mail_reply reply;
    struct mt_err err;
    enum mail_mech mech;

    memset(&t, 0, sizeof(t));
    t.protocol = protocol;
    t.tls = MAIL_TLS_IMPLICIT;
    snprintf(t.host, sizeof(t.host), "mail.example.test");
    t.port = protocol == MAIL_IMAP ? 993 : protocol == MAIL_POP3 ? 995 : 465;
    err_clear(&err);
    if (mail_session_open(&s, &fake_ops, &t, NULL, NULL, 5, check_transcript, NULL, &err) != 0) {
        mail_session_close(&s);
        return;
    }
    err_clear(&err);
    if (mail_session_choose_mech(&s, requested, &mech, &err) == 0) {
        memset(&res, 0, sizeof(res));
        err_clear(&err);
        if (mail_session_authenticate(&s, mech, FUZZ_USER, FUZZ_TOKEN, &res, &err) == 0 &&
            res.outcome == MAIL_AUTH_OK) {
            err_clear(&err);
            mail_session_command(&s, "NOOP", &reply, &err);
        }
    }
    mail_session_goodbye(&s);
    mail_session_close(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum mail_protocol protocols[] = {MAIL_IMAP, MAIL_POP3, MAIL_SMTP, MAIL_IMAP};
    static const enum mail_mech mechs[] = {
        MAIL_MECH_AUTO, MAIL_MECH_XOAUTH2, MAIL_MECH_OAUTHBEARER, MAIL_MECH_AUTO,
    };
    const char *text, *sep;
    char *copy;
    size_t len;

    if (size < 1)
        return 0;
    if (token_b64[0][0] == '\0')
        compute_token_b64();
    text = (const char *)data + 1;
    len = size - 1;

    /* Every line on its own, NUL-terminated as the session passes them. */
    copy = malloc(len + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, text, len);
    copy[len] = '\0';
    for (char *line = copy, *end; line != NULL; line = end != NULL ? end + 1 : NULL) {
        end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        parse_line(line);
    }
    free(copy);

    /* A whole login against the bytes as the server's side. */
    sep = NULL;
    for (size_t i = 0; i + 4 <= len; i++) {
        if (memcmp(text + i, "\n@@\n", 4) == 0) {
            sep = text + i;
            break;
        }
    }
    memset(&connection, 0, sizeof(connection));
    if (sep != NULL) {
        connection.setup = text;
        connection.setup_len = (size_t)(sep - text);
        connection.stream = sep + 4;
        connection.stream_len = len - connection.setup_len - 4;
    } else {
        connection.stream = text;
        connection.stream_len = len;
    }
    run_session(protocols[data[0] & 3], mechs[data[0] >> 2 & 3]);
    return 0;
}
