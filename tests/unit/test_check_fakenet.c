/* A scripted mail server behind struct net_ops; see test_check_fakenet.h. */
#include "test_check_fakenet.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt_buf.h"

struct fake_state fake;

/* The connection: bytes waiting for the client, and a pipe that is readable while they wait. */
struct net_mail {
    struct mt_buf out;
    size_t out_pos;
    struct mt_buf partial;       /* the client's line being sent */
    int signal[2];               /* [0] is mail_socket; one byte in it while out has data */
    int signalled;
    int server_closed;
};

static void
update_signal(struct net_mail *c)
{
    int waiting = c->out.len > c->out_pos;

    if (waiting && !c->signalled) {
        if (write(c->signal[1], "x", 1) == 1)
            c->signalled = 1;
    } else if (!waiting && c->signalled) {
        char b;

        if (read(c->signal[0], &b, 1) == 1)
            c->signalled = 0;
    }
    if (!waiting && c->server_closed && c->signal[1] >= 0) {
        close(c->signal[1]);
        c->signal[1] = -1;
    }
}

static void
server_says(struct net_mail *c, const char *text)
{
    mt_buf_append_str(&c->out, text);
}

static void
client_line(struct net_mail *c, const char *line)
{
    const struct fake_step *step;

    if (fake.nlines < FAKE_MAX_LINES)
        fake.lines[fake.nlines++] = strdup(line);
    if (c->server_closed)
        return;
    step = &fake.script->steps[fake.step];
    if (step->expect == NULL || fnmatch(step->expect, line, 0) != 0) {
        fake.unexpected = 1;
        snprintf(fake.unexpected_line, sizeof(fake.unexpected_line), "%s (expected %s)", line,
                 step->expect != NULL ? step->expect : "nothing");
        c->server_closed = 1;
        return;
    }
    fake.step++;
    server_says(c, step->reply);
    if (step->close_after)
        c->server_closed = 1;
}

static int
fake_open(const struct net_mail_request *req, struct net_mail **conn_r,
          struct net_mail_info *info_r, struct mt_err *err)
{
    const struct fake_script *script = fake.script;
    struct net_mail *c;

    *conn_r = NULL;
    memset(info_r, 0, sizeof(*info_r));
    snprintf(fake.url, sizeof(fake.url), "%s", req->url);
    snprintf(fake.ca_file, sizeof(fake.ca_file), "%s", req->ca_file != NULL ? req->ca_file : "");
    if (script->open_fails != 0)
        return err_set(err, script->open_fails, "scripted connection failure to %s", req->url);
    for (size_t i = 0; script->setup[i].text != NULL; i++)
        if (req->observe != NULL)
            req->observe(req->observe_ctx, script->setup[i].event, script->setup[i].text,
                         strlen(script->setup[i].text));
    if (script->tls != NULL && req->observe != NULL)
        req->observe(req->observe_ctx, NET_MAIL_TLS, script->tls, strlen(script->tls));
    snprintf(info_r->tls, sizeof(info_r->tls), "%s", script->tls != NULL ? script->tls : "");
    snprintf(info_r->ip, sizeof(info_r->ip), "127.0.0.1");
    info_r->port = 1;

    c = calloc(1, sizeof(*c));
    mt_buf_init(&c->out, 1 << 20);
    mt_buf_init(&c->partial, 1 << 20);
    if (pipe2(c->signal, O_CLOEXEC | O_NONBLOCK) != 0) {
        free(c);
        return err_set(err, EX_OSERR, "pipe failed");
    }
    fake.opened++;
    *conn_r = c;
    return 0;
}

static int
fake_send(struct net_mail *c, const void *p, size_t n, long timeout_s, struct mt_err *err)
{
    const char *data = p;

    (void)timeout_s;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        mt_buf_append_byte(&c->partial, (unsigned char)data[i]);
        if (data[i] != '\n')
            continue;
        c->partial.len -= c->partial.len >= 2 && c->partial.data[c->partial.len - 2] == '\r' ? 2
                                                                                           : 1;
        c->partial.data[c->partial.len] = '\0';
        client_line(c, mt_buf_str(&c->partial));
        mt_buf_reset(&c->partial);
    }
    update_signal(c);
    return 0;
}

static long
fake_recv(struct net_mail *c, void *p, size_t size, int timeout_ms, struct mt_err *err)
{
    size_t avail = c->out.len - c->out_pos;

    (void)timeout_ms;
    (void)err;
    if (avail == 0)
        return c->server_closed ? 0 : NET_MAIL_AGAIN;
    /* Small pieces, so that line reassembly is exercised. */
    if (avail > size)
        avail = size;
    if (avail > 7)
        avail = 7;
    memcpy(p, c->out.data + c->out_pos, avail);
    c->out_pos += avail;
    update_signal(c);
    return (long)avail;
}

static int
fake_socket(struct net_mail *c)
{
    return c->signal[0];
}

static void
fake_close(struct net_mail *c)
{
    if (c == NULL)
        return;
    fake.closed++;
    close(c->signal[0]);
    if (c->signal[1] >= 0)
        close(c->signal[1]);
    mt_buf_free(&c->out);
    mt_buf_free(&c->partial);
    free(c);
}

static int
fake_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    (void)req;
    (void)err;
    fake.http_calls++;
    mt_buf_init(&resp->body, NET_MAX_BODY);
    resp->status = fake.http_status;
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
    resp->retry_after = -1;
    resp->location[0] = '\0';
    mt_buf_append_str(&resp->body, fake.http_body != NULL ? fake.http_body : "{}");
    return 0;
}

const struct net_ops fake_ops = {
    .abi_version = NET_ABI_VERSION,
    .http = fake_http,
    .mail_open = fake_open,
    .mail_send = fake_send,
    .mail_recv = fake_recv,
    .mail_socket = fake_socket,
    .mail_close = fake_close,
};

void
fake_start(const struct fake_script *script)
{
    fake_finish();
    memset(&fake, 0, sizeof(fake));
    fake.script = script;
    fake.http_status = 200;
    net_override(&fake_ops);
}

void
fake_finish(void)
{
    for (size_t i = 0; i < fake.nlines; i++)
        free(fake.lines[i]);
    fake.nlines = 0;
}

const char *
fake_line(size_t i)
{
    return i < fake.nlines ? fake.lines[i] : "";
}
