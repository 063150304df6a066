/*
 * The loopback listener that receives the browser's redirect after the
 * sign-in (RFC 8252 sections 7.3 and 8.3): bound to loopback addresses
 * only, opened when the authorization starts and closed as soon as a
 * reply has been processed. It serves GET on the redirect URI's path.
 * Other paths get 404 and other methods 405, without ending the wait.
 * Connections are served together with poll(2), each with its own short
 * timeout, so a browser's idle preconnection cannot block the real
 * request.
 */
#ifndef CORE_LISTENER_H
#define CORE_LISTENER_H

#include <stddef.h>

#include "err.h"

/* The largest request (request line and headers) read from the browser. */
#define LISTENER_REQUEST_MAX 8192
/* Milliseconds a browser connection may take to send its request. */
#define LISTENER_CONNECTION_TIMEOUT_MS 10000
/* Connections served at once; the oldest is dropped when more arrive. */
#define LISTENER_MAX_CONNECTIONS 16
#define LISTENER_URI_MAX 512

struct listener {
    int fds[2];                        /* 127.0.0.1 and ::1; -1 when unused */
    unsigned port;
    char host[16];                     /* "localhost", "127.0.0.1" or "[::1]" */
    char path[LISTENER_URI_MAX];       /* the path the redirect arrives at */
    char redirect_uri[LISTENER_URI_MAX];
    int port_closing;    /* listener_open failed only because of TIME_WAIT */
};

enum listener_mode {
    LISTENER_LISTEN,     /* accept the browser's redirect */
    LISTENER_RESERVE     /* only hold the port (--manual: the user pastes the address) */
};

/*
 * Opens the listener. configured is the account's redirect_uri, or NULL
 * for http://localhost:PORT/ on a port the system chooses. A configured
 * URI fixes host, path and, when it names one, the port; without a port
 * one is chosen and written into l->redirect_uri. For localhost both
 * 127.0.0.1 and ::1 are bound on the same port (::1 is skipped when the
 * system has no IPv6 loopback), because browsers may resolve localhost
 * to either. SO_REUSEADDR is never set. Sockets are close-on-exec.
 * Returns 0, or -1 with err set: EX_CONFIG for a redirect_uri that is not
 * http://localhost, 127.0.0.1 or [::1] with an optional port and path,
 * or that has a query or fragment; EX_TEMPFAIL when the port is in use;
 * EX_OSERR for other socket errors. When no program listens on a port in
 * use, a recently closed connection most likely occupies it (TIME_WAIT,
 * which ends within a minute), and l->port_closing is set. Call
 * listener_close in every case.
 */
int listener_open(struct listener *l, const char *configured, enum listener_mode mode,
                  struct mt_err *err);

/* Closes the sockets; safe to call twice. */
void listener_close(struct listener *l);

/*
 * Checks the query string of a GET on the redirect path. Returns 1 when
 * it was the awaited reply and was accepted, 0 when it is no reply at all
 * (keep waiting), -1 with err set when it was a reply and failed its
 * checks (the wait ends with that error).
 */
typedef int listener_handler_fn(void *ctx, const char *query, struct mt_err *err);

/* Called about once a second while waiting, with the whole seconds left. */
typedef void listener_progress_fn(void *ctx, long seconds_left);

/*
 * Serves browser connections until the handler returns 1 or -1, or until
 * timeout_s seconds have passed. The browser gets a short HTML page with
 * the result and a request to return to the terminal, without any token
 * material. The listening sockets are closed before the reply page
 * is written, so a later connection is refused. progress may be NULL.
 * Returns 0 when the handler accepted a reply, or -1 with err set: the
 * handler's error, EX_TEMPFAIL when the time ran out, EX_OSERR when
 * poll or accept failed.
 */
int listener_wait(struct listener *l, long timeout_s, listener_handler_fn *handler,
                  void *handler_ctx, listener_progress_fn *progress, void *progress_ctx,
                  struct mt_err *err);

#endif
