/* The loopback listener for the browser's redirect. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mt_buf.h"
#include "trace.h"

#define LISTEN_BACKLOG 16
/* Attempts to find a port that is free on both 127.0.0.1 and ::1. */
#define PORT_ATTEMPTS 10
/* Milliseconds allowed for writing a reply page. */
#define SEND_TIMEOUT_MS 2000
/*
 * Milliseconds to wait, after a reply, for the browser to close first.
 * The side that closes first keeps the port in TIME_WAIT for a minute.
 * Without SO_REUSEADDR, that would block a fixed redirect port for the
 * next authorization.
 */
#define LINGER_MS 1000

struct connection {
    int fd;
    long long deadline_ms;
    int replied;         /* the reply is out; waiting for the browser to close */
    struct mt_buf head;
};

/* Result of serving one request. */
enum outcome {
    KEEP_WAITING,
    REPLY_ACCEPTED,
    REPLY_FAILED
};

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the redirect URI ---- */

/*
 * Splits "http://HOST[:PORT][/PATH]" into l->host, *port_r (0 when absent)
 * and l->path ("/" when absent).
 */
static int
parse_redirect_uri(struct listener *l, const char *uri, unsigned *port_r, struct mt_err *err)
{
    static const char *const hosts[] = {"localhost", "127.0.0.1", "[::1]"};
    const char *p = uri + 7, *path;
    size_t host_len = 0;
    unsigned long port = 0;

    *port_r = 0;
    if (strncmp(uri, "http://", 7) != 0)
        goto invalid;
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        size_t n = strlen(hosts[i]);

        if (strncasecmp(p, hosts[i], n) == 0 && (p[n] == ':' || p[n] == '/' || p[n] == '\0')) {
            snprintf(l->host, sizeof(l->host), "%s", hosts[i]);
            host_len = n;
            break;
        }
    }
    if (host_len == 0)
        goto invalid;
    p += host_len;
    if (*p == ':') {
        char *end;

        if (p[1] < '0' || p[1] > '9')
            goto invalid;
        port = strtoul(p + 1, &end, 10);
        if (port == 0 || port > 65535 || end - (p + 1) > 5)
            goto invalid;
        p = end;
    }
    if (*p != '\0' && *p != '/')
        goto invalid;
    path = p;
    for (; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '?' || *p == '#')
            return err_set(err, EX_CONFIG,
                           "redirect_uri \"%s\" has a query, a fragment, a space or a "
                           "character that is not ASCII in its path", uri);
    if (snprintf(l->path, sizeof(l->path), "%s", *path != '\0' ? path : "/") >=
        (int)sizeof(l->path))
        return err_set(err, EX_CONFIG, "redirect_uri \"%s\" is too long", uri);
    *port_r = (unsigned)port;
    return 0;

invalid:
    return err_set(err, EX_CONFIG,
                   "redirect_uri \"%s\" is not a loopback address: expected "
                   "http://localhost[:PORT][/PATH], http://127.0.0.1[:PORT][/PATH] or "
                   "http://[::1][:PORT][/PATH]", uri);
}

/* ---- binding ---- */

/* Fills ss with the loopback address of family (AF_INET or AF_INET6) and port; returns its length. */
static socklen_t
loopback_address(int family, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        sin6->sin6_addr = in6addr_loopback;
        return sizeof(*sin6);
    }
}

/* Binds a loopback socket of family to port (0: any). Returns the descriptor, or -1 (errno). */
static int
bind_loopback(int family, unsigned port, enum listener_mode mode, unsigned *port_r)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, saved;

    len = loopback_address(family, port, &ss);
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (family == AF_INET6) {
        int on = 1;

        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0)
            goto fail;
    }
    /* No SO_REUSEADDR: another process must not be able to share the port. */
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        goto fail;
    if (mode == LISTENER_LISTEN && listen(fd, LISTEN_BACKLOG) != 0)
        goto fail;
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        goto fail;
    *port_r = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;

fail:
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* Returns 1 when a program accepts connections on the loopback port, 0 when none does. */
static int
port_has_listener(int family, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, connected;

    len = loopback_address(family, port, &ss);
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    connected = connect(fd, (struct sockaddr *)&ss, len) == 0 || errno != ECONNREFUSED;
    close(fd);
    return connected;
}

static int
bind_error(struct listener *l, int family, unsigned port, int e, struct mt_err *err)
{
    const char *address = family == AF_INET ? "127.0.0.1" : "::1";

    if (e == EADDRINUSE && !port_has_listener(family, port)) {
        l->port_closing = 1;
        return err_set(err, EX_TEMPFAIL,
                       "port %u on %s is held, but nothing accepts connections there: most "
                       "likely a connection closed less than a minute ago (TCP TIME_WAIT)",
                       port, address);
    }
    if (e == EADDRINUSE)
        return err_set(err, EX_TEMPFAIL,
                       "port %u on %s is in use by another program: stop it, or choose another "
                       "port in redirect_uri (and register it with the authorization server)",
                       port, address);
    return err_set(err, EX_OSERR, "cannot listen on %s port %u: %s", address, port,
                   strerror(e));
}

int
listener_open(struct listener *l, const char *configured, enum listener_mode mode,
              struct mt_err *err)
{
    unsigned fixed, port = 0;
    int want4, want6;

    memset(l, 0, sizeof(*l));
    l->fds[0] = l->fds[1] = -1;
    if (parse_redirect_uri(l, configured != NULL ? configured : "http://localhost/", &fixed,
                           err) != 0)
        return -1;
    want4 = strcmp(l->host, "[::1]") != 0;
    want6 = strcmp(l->host, "127.0.0.1") != 0;

    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        port = fixed;
        if (want4) {
            l->fds[0] = bind_loopback(AF_INET, port, mode, &port);
            if (l->fds[0] < 0)
                return bind_error(l, AF_INET, fixed, errno, err);
        }
        if (!want6)
            break;
        l->fds[1] = bind_loopback(AF_INET6, port, mode, &port);
        if (l->fds[1] >= 0)
            break;
        if (want4 && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) {
            trace("no IPv6 loopback (%s): listening on 127.0.0.1 only", strerror(errno));
            break;
        }
        /* A port the system chose for 127.0.0.1 may be taken on ::1: try another. */
        if (errno == EADDRINUSE && fixed == 0 && want4 && attempt + 1 < PORT_ATTEMPTS) {
            close(l->fds[0]);
            l->fds[0] = -1;
            continue;
        }
        return bind_error(l, AF_INET6, port, errno, err);
    }
    l->port = port;

    if (configured != NULL && fixed != 0) {
        snprintf(l->redirect_uri, sizeof(l->redirect_uri), "%s", configured);
    } else {
        /* The configured path as written (maybe empty), now with the port. */
        const char *path = configured != NULL ? strchr(configured + 7, '/') : "/";

        if (snprintf(l->redirect_uri, sizeof(l->redirect_uri), "http://%s:%u%s", l->host, port,
                     path != NULL ? path : "") >= (int)sizeof(l->redirect_uri))
            return err_set(err, EX_CONFIG, "redirect_uri \"%s\" is too long", configured);
    }
    trace("%s %s%s%s", mode == LISTENER_LISTEN ? "listening for the redirect to"
                                               : "holding the port of",
          l->redirect_uri, l->fds[0] >= 0 ? " on 127.0.0.1" : "",
          l->fds[1] >= 0 ? " on ::1" : "");
    return 0;
}

void
listener_close(struct listener *l)
{
    for (size_t i = 0; i < 2; i++) {
        if (l->fds[i] >= 0)
            close(l->fds[i]);
        l->fds[i] = -1;
    }
}

/* ---- replies to the browser ---- */

static int
append_html_escaped(struct mt_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        int r;

        switch (*s) {
        case '<':
            r = mt_buf_append_str(out, "&lt;");
            break;
        case '>':
            r = mt_buf_append_str(out, "&gt;");
            break;
        case '&':
            r = mt_buf_append_str(out, "&amp;");
            break;
        case '"':
            r = mt_buf_append_str(out, "&quot;");
            break;
        case '\'':
            r = mt_buf_append_str(out, "&#39;");
            break;
        default:
            r = mt_buf_append_byte(out, (unsigned char)*s);
            break;
        }
        if (r != 0)
            return -1;
    }
    return 0;
}

/* Writes all of buf to a non-blocking socket, waiting at most SEND_TIMEOUT_MS. */
static void
send_all(int fd, const char *buf, size_t len)
{
    long long deadline = now_ms() + SEND_TIMEOUT_MS;

    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            long long left = deadline - now_ms();

            if (left > 0 && poll(&pfd, 1, (int)left) > 0)
                continue;
        }
        return;
    }
}

/*
 * Sends a complete HTTP reply with an HTML page. detail (may be NULL) is
 * escaped; title and text are fixed strings of ours.
 */
static void
send_page(int fd, int status, const char *reason, const char *extra_header, const char *title,
          const char *text, const char *detail)
{
    struct mt_buf body, reply;

    mt_buf_init(&body, 8192);
    mt_buf_init(&reply, 10240);
    mt_buf_printf(&body,
                  "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                  "<title>mailtoken: %s</title></head>\n<body><h1>%s</h1>\n<p>%s</p>\n",
                  title, title, text);
    if (detail != NULL) {
        mt_buf_append_str(&body, "<p>");
        append_html_escaped(&body, detail);
        mt_buf_append_str(&body, "</p>\n");
    }
    mt_buf_append_str(&body, "</body></html>\n");
    if (mt_buf_printf(&reply,
                      "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                      "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                      "Referrer-Policy: no-referrer\r\nConnection: close\r\n%s\r\n",
                      status, reason, body.len, extra_header != NULL ? extra_header : "") == 0 &&
        mt_buf_append(&reply, mt_buf_str(&body), body.len) == 0)
        send_all(fd, reply.data, reply.len);
    mt_buf_free(&body);
    mt_buf_free(&reply);
}

/* ---- connections ---- */

/*
 * Closes a connection. With reset set, a TCP reset goes out instead of a
 * FIN, so no TIME_WAIT stays on the port (see LINGER_MS). Pass 0 only
 * when the browser has closed its side already.
 */
static void
drop(struct connection *c, int reset)
{
    if (c->fd >= 0) {
        if (reset) {
            struct linger abortive = {.l_onoff = 1, .l_linger = 0};

            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
        }
        close(c->fd);
    }
    c->fd = -1;
    c->replied = 0;
    mt_buf_free(&c->head);
}

static void
drop_all(struct connection *conns)
{
    for (size_t i = 0; i < LISTENER_MAX_CONNECTIONS; i++)
        drop(&conns[i], 1);
}

/* Reads and discards what the browser still sends. Returns 1 once it has closed. */
static int
discard_input(int fd)
{
    char buf[2048];

    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);

        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
}

/* Keeps a connection whose reply is out until the browser closes it, or LINGER_MS. */
static void
linger(struct connection *c)
{
    c->replied = 1;
    c->deadline_ms = now_ms() + LINGER_MS;
    mt_buf_free(&c->head);
}

/* Waits at most LINGER_MS for the browser to close, then closes. */
static void
linger_close(struct connection *c)
{
    long long deadline = now_ms() + LINGER_MS;

    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        long long left = deadline - now_ms();

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        if (discard_input(c->fd)) {
            drop(c, 0);
            return;
        }
    }
    drop(c, 1);
}

/* Accepts every pending connection on a listening socket. */
static int
accept_pending(int lfd, struct connection *conns, struct mt_err *err)
{
    for (;;) {
        struct connection *slot = NULL;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED ||
                errno == EINTR)
                return 0;
            if (errno == EMFILE || errno == ENFILE)
                return 0;
            return err_set(err, EX_OSERR, "accepting a browser connection failed: %s",
                           strerror(errno));
        }
        for (size_t i = 0; i < LISTENER_MAX_CONNECTIONS; i++) {
            if (conns[i].fd < 0) {
                slot = &conns[i];
                break;
            }
            if (slot == NULL || conns[i].deadline_ms < slot->deadline_ms)
                slot = &conns[i];
        }
        if (slot->fd >= 0) {
            trace("too many browser connections at once: dropping the oldest");
            drop(slot, 1);
        }
        slot->fd = fd;
        slot->replied = 0;
        slot->deadline_ms = now_ms() + LISTENER_CONNECTION_TIMEOUT_MS;
        mt_buf_init(&slot->head, LISTENER_REQUEST_MAX);
    }
}

/* Returns 1 when the request head (request line and headers) is complete. */
static int
head_complete(const struct mt_buf *head)
{
    const char *s = mt_buf_str(head);

    return strstr(s, "\r\n\r\n") != NULL || strstr(s, "\n\n") != NULL;
}

/*
 * Reads what the connection has. Returns 1 when the head is complete,
 * 0 when more is needed, -1 when the connection ended or broke, -2 when
 * the head is larger than LISTENER_REQUEST_MAX, -3 when it has a NUL byte.
 */
static int
read_head(struct connection *c)
{
    char buf[2048];

    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        if (memchr(buf, '\0', (size_t)n) != NULL)
            return -3;
        if (mt_buf_append(&c->head, buf, (size_t)n) != 0)
            return -2;
        if (head_complete(&c->head))
            return 1;
    }
}

/* Returns 1 when the Host header names this listener (browsers always send it). */
static int
host_allowed(const struct listener *l, const char *value)
{
    static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};
    char port[16];

    snprintf(port, sizeof(port), ":%u", l->port);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);

        if (strncasecmp(value, names[i], n) != 0)
            continue;
        if (strcmp(value + n, port) == 0 || (value[n] == '\0' && l->port == 80))
            return 1;
    }
    return 0;
}

/*
 * Finds the Host header in the lines after the request line and checks it.
 * A name that is not loopback means another site reached us through DNS
 * rebinding. Returns 1 when acceptable or absent (HTTP/1.0).
 */
static int
check_host(const struct listener *l, char *headers)
{
    char *save = NULL;

    for (char *line = strtok_r(headers, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);

        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0)
            break;
        if (strncasecmp(line, "Host:", 5) == 0) {
            char *value = line + 5;

            while (*value == ' ' || *value == '\t')
                value++;
            n = strlen(value);
            while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
                value[--n] = '\0';
            return host_allowed(l, value);
        }
    }
    return 1;
}

/* Closes the port and every other connection: one reply per authorization. */
static void
close_all_but(struct listener *l, struct connection *conns, const struct connection *c)
{
    listener_close(l);
    for (size_t i = 0; i < LISTENER_MAX_CONNECTIONS; i++)
        if (&conns[i] != c)
            drop(&conns[i], 1);
}

/* Replies to one complete request. */
static enum outcome
serve(struct listener *l, struct connection *conns, struct connection *c,
      listener_handler_fn *handler, void *handler_ctx, struct mt_err *err)
{
    char *head = c->head.data, *line_end, *method, *target, *version, *query, *save = NULL;
    int r;

    line_end = strchr(head, '\n');
    *line_end = '\0';
    if (line_end > head && line_end[-1] == '\r')
        line_end[-1] = '\0';
    method = strtok_r(head, " ", &save);
    target = strtok_r(NULL, " ", &save);
    version = strtok_r(NULL, " ", &save);
    if (method == NULL || target == NULL || version == NULL ||
        strtok_r(NULL, " ", &save) != NULL || strncmp(version, "HTTP/1.", 7) != 0 ||
        target[0] != '/') {
        send_page(c->fd, 400, "Bad Request", NULL, "Bad request",
                  "This is not an HTTP request that mailtoken understands.", NULL);
        return KEEP_WAITING;
    }
    if (!check_host(l, line_end + 1)) {
        send_page(c->fd, 400, "Bad Request", NULL, "Bad request",
                  "This address accepts requests for localhost only.", NULL);
        return KEEP_WAITING;
    }
    if (strcmp(method, "GET") != 0) {
        trace("listener: %.16s request answered with 405", method);
        send_page(c->fd, 405, "Method Not Allowed", "Allow: GET\r\n", "Method not allowed",
                  "mailtoken waits here for the browser's redirect (a GET request).", NULL);
        return KEEP_WAITING;
    }
    query = strchr(target, '?');
    if (query != NULL)
        *query++ = '\0';
    if (strcmp(target, l->path) != 0) {
        trace("listener: GET %.100s answered with 404", target);
        send_page(c->fd, 404, "Not Found", NULL, "Not found",
                  "mailtoken waits for the sign-in reply at another path of this address.",
                  NULL);
        return KEEP_WAITING;
    }

    r = handler(handler_ctx, query != NULL ? query : "", err);
    if (r == 0) {
        trace("listener: GET %.100s without an authorization reply answered with 400", target);
        send_page(c->fd, 400, "Bad Request", NULL, "No sign-in reply",
                  "This address receives the reply of the authorization server after the "
                  "sign-in; this request carried none. mailtoken is still waiting.", NULL);
        return KEEP_WAITING;
    }
    /* The port closes before the page goes out, so a second reply is refused. */
    close_all_but(l, conns, c);
    if (r > 0) {
        send_page(c->fd, 200, "OK", NULL, "Signed in",
                  "mailtoken received the authorization. You can close this tab and return "
                  "to the terminal.", NULL);
        return REPLY_ACCEPTED;
    }
    send_page(c->fd, 400, "Bad Request", NULL, "Sign-in failed",
              "mailtoken could not complete the authorization. Return to the terminal for "
              "what to do next.", err->msg);
    return REPLY_FAILED;
}

/* Builds the poll set; returns the number of entries. */
static nfds_t
poll_set(const struct listener *l, struct connection *conns, struct pollfd *pfds,
         struct connection **owners)
{
    nfds_t n = 0;

    for (size_t i = 0; i < 2; i++) {
        if (l->fds[i] < 0)
            continue;
        pfds[n] = (struct pollfd){.fd = l->fds[i], .events = POLLIN};
        owners[n++] = NULL;
    }
    for (size_t i = 0; i < LISTENER_MAX_CONNECTIONS; i++) {
        if (conns[i].fd < 0)
            continue;
        pfds[n] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        owners[n++] = &conns[i];
    }
    return n;
}

int
listener_wait(struct listener *l, long timeout_s, listener_handler_fn *handler,
              void *handler_ctx, listener_progress_fn *progress, void *progress_ctx,
              struct mt_err *err)
{
    struct connection conns[LISTENER_MAX_CONNECTIONS];
    struct pollfd pfds[2 + LISTENER_MAX_CONNECTIONS];
    struct connection *owners[2 + LISTENER_MAX_CONNECTIONS];
    long long start = now_ms(), deadline = start + (long long)timeout_s * 1000;
    long long next_tick = start;
    int rc = -1;

    for (size_t i = 0; i < LISTENER_MAX_CONNECTIONS; i++) {
        conns[i].fd = -1;
        mt_buf_init(&conns[i].head, LISTENER_REQUEST_MAX);
    }

    for (;;) {
        long long now = now_ms(), wake = deadline;
        nfds_t n;
        int ready;

        if (now >= deadline) {
            err_set(err, EX_TEMPFAIL,
                    "timed out after %ld s waiting for the browser to return to %s; if the "
                    "browser showed an error, the redirect URI may not be registered for the "
                    "app", timeout_s, l->redirect_uri);
            break;
        }
        if (progress != NULL && now >= next_tick) {
            progress(progress_ctx, (long)((deadline - now + 999) / 1000));
            while (next_tick <= now)
                next_tick += 1000;
        }
        if (progress != NULL && next_tick < wake)
            wake = next_tick;
        for (size_t i = 0; i < LISTENER_MAX_CONNECTIONS; i++) {
            if (conns[i].fd < 0)
                continue;
            if (conns[i].deadline_ms <= now) {
                if (!conns[i].replied)
                    trace("listener: a browser connection sent no complete request in time");
                drop(&conns[i], 1);
            } else if (conns[i].deadline_ms < wake) {
                wake = conns[i].deadline_ms;
            }
        }

        n = poll_set(l, conns, pfds, owners);
        ready = poll(pfds, n, (int)(wake - now));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            err_set(err, EX_OSERR, "waiting for the browser failed: %s", strerror(errno));
            break;
        }
        for (nfds_t i = 0; i < n; i++) {
            struct connection *c = owners[i];
            enum outcome outcome;
            int r;

            if (pfds[i].revents == 0)
                continue;
            if (c == NULL) {
                if (accept_pending(pfds[i].fd, conns, err) != 0)
                    goto done;
                continue;
            }
            if (c->fd < 0)
                continue;
            if (c->replied) {
                if (discard_input(c->fd))
                    drop(c, 0);
                continue;
            }
            r = read_head(c);
            if (r == 0)
                continue;
            if (r == -2) {
                trace("listener: a request larger than %d bytes answered with 431",
                      LISTENER_REQUEST_MAX);
                send_page(c->fd, 431, "Request Header Fields Too Large", NULL,
                          "Request too large", "The request is larger than mailtoken accepts.",
                          NULL);
            }
            if (r == -1 || r == -3) {
                drop(c, r == -3);
                continue;
            }
            outcome = r == -2 ? KEEP_WAITING : serve(l, conns, c, handler, handler_ctx, err);
            if (outcome != KEEP_WAITING) {
                linger_close(c);
                rc = outcome == REPLY_ACCEPTED ? 0 : -1;
                goto done;
            }
            linger(c);
        }
    }
done:
    drop_all(conns);
    listener_close(l);
    return rc;
}
