/*
 * Fuzz target: the HTTP request that reaches the loopback listener
 * during mailtoken authorize, and the redirect URI parser.
 *
 * The request parser (read_head, serve) is static in listener.c, so this
 * file includes listener.c itself. No other part of mtcore refers to the
 * listener, so the linker takes no second copy from the library. The
 * bytes go through a socket pair to the connection, as a browser's
 * would, and the listener's handler is the real authorization callback
 * with a fixed state. The first line is also parsed as a redirect URI.
 *
 * Neither the page sent back nor the -v trace may show the expected
 * state: a run that does aborts. The check applies when the request
 * holds no copy of the state, or exactly one as the value of a state
 * parameter (the browser's copy). A request with more copies put the
 * state into other places too (the path, other parameters, headers),
 * whose text may be shown.
 */
#include "core/listener.c"

#include <stdint.h>
#include <stdlib.h>

#include "core/authorize.h"
#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The state the listener waits for: 43 base64url characters, like a real one. */
#define FUZZ_STATE "Zm8zMnN0YXRlLWZvci10aGUtbGlzdGVuZXItZnV6eg"

static int trace_leaked;

static void
check_trace(const char *line)
{
    if (strstr(line, FUZZ_STATE) != NULL)
        trace_leaked = 1;
}

/* Counts the occurrences of needle in the n bytes at p. */
static size_t
count(const uint8_t *p, size_t n, const char *needle)
{
    size_t len = strlen(needle), found = 0;

    for (size_t i = 0; i + len <= n; i++)
        if (memcmp(p + i, needle, len) == 0)
            found++;
    return found;
}

/*
 * Returns 1 when the request line's target has a query whose parameter
 * "state" contains the first copy of the state.
 */
static int
state_in_query(const uint8_t *p, size_t n)
{
    static const char param[] = "state=" FUZZ_STATE;
    const uint8_t *line_end = memchr(p, '\n', n);
    const uint8_t *target, *target_end, *query;
    size_t line = line_end != NULL ? (size_t)(line_end - p) : n;

    target = memchr(p, ' ', line);
    if (target == NULL)
        return 0;
    target++;
    target_end = memchr(target, ' ', line - (size_t)(target - p));
    if (target_end == NULL)
        target_end = p + line;
    query = memchr(target, '?', (size_t)(target_end - target));
    if (query == NULL)
        return 0;
    for (const uint8_t *q = query; q + sizeof(param) <= target_end; q++)
        if ((*q == '?' || *q == '&') && memcmp(q + 1, param, sizeof(param) - 1) == 0)
            return 1;
    return 0;
}

static void
parse_uri(const char *data, size_t size)
{
    struct listener l;
    struct mt_err err;
    char uri[LISTENER_URI_MAX + 64];
    const char *nl = memchr(data, '\n', size);
    size_t n = nl != NULL ? (size_t)(nl - data) : size;
    unsigned port;

    if (n >= sizeof(uri))
        n = sizeof(uri) - 1;
    memcpy(uri, data, n);
    uri[n] = '\0';
    memset(&l, 0, sizeof(l));
    err_clear(&err);
    parse_redirect_uri(&l, uri, &port, &err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char name[] = "fuzz";
    static struct account a = {.name = name};
    struct connection conns[LISTENER_MAX_CONNECTIONS];
    struct authorize_request r;
    struct authorize_callback cb;
    struct listener l;
    struct mt_err err;
    struct mt_buf page;
    char chunk[4096];
    int pair[2];
    size_t sent = 0, copies;
    ssize_t n;

    parse_uri((const char *)data, size);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair) != 0)
        return 0;
    while (sent < size) {
        n = send(pair[0], data + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    shutdown(pair[0], SHUT_WR);

    memset(&l, 0, sizeof(l));
    l.fds[0] = l.fds[1] = -1;
    l.port = 8765;
    snprintf(l.host, sizeof(l.host), "localhost");
    /* The redirect path is "/" or "/callback", by the input's length. */
    snprintf(l.path, sizeof(l.path), "%s", size & 1 ? "/callback" : "/");
    snprintf(l.redirect_uri, sizeof(l.redirect_uri), "http://localhost:8765%s", l.path);
    memset(&r, 0, sizeof(r));
    r.account = &a;
    snprintf(r.redirect_uri, sizeof(r.redirect_uri), "%s", l.redirect_uri);
    snprintf(r.state, sizeof(r.state), "%s", FUZZ_STATE);
    cb.request = &r;
    mt_buf_init(&cb.code, AUTHORIZE_CODE_MAX);
    for (size_t i = 0; i < LISTENER_MAX_CONNECTIONS; i++) {
        conns[i].fd = -1;
        mt_buf_init(&conns[i].head, LISTENER_REQUEST_MAX);
    }
    conns[0].fd = pair[1];
    conns[0].replied = 0;
    conns[0].deadline_ms = 0;

    trace_leaked = 0;
    trace_set_sink(check_trace);
    err_clear(&err);
    /* As listener_wait does. All bytes are in the socket already, so 0 (more to come) cannot occur. */
    switch (read_head(&conns[0])) {
    case 1:
        serve(&l, conns, &conns[0], authorize_listener_handler, &cb, &err);
        break;
    case -2:
        send_page(conns[0].fd, 431, "Request Header Fields Too Large", NULL, "Request too large",
                  "The request is larger than mailtoken accepts.", NULL);
        break;
    default:
        break;
    }
    trace_set_sink(NULL);

    mt_buf_init(&page, 1 << 20);
    while ((n = recv(pair[0], chunk, sizeof(chunk), 0)) > 0)
        mt_buf_append(&page, chunk, (size_t)n);
    copies = count(data, size, FUZZ_STATE);
    if ((copies == 0 || (copies == 1 && state_in_query(data, size))) &&
        (trace_leaked || (page.data != NULL && strstr(page.data, FUZZ_STATE) != NULL)))
        abort();
    mt_buf_free(&page);

    drop_all(conns);
    close(pair[0]);
    mt_buf_free(&cb.code);
    return 0;
}
