/*
 * A scripted mail server (and token endpoint) behind struct net_ops, for
 * the unit tests of check and tunnel. The script is a list of steps:
 * each waits for one client line matching a fnmatch(3) pattern and then
 * makes its reply available to mail_recv. Every line the client sends is
 * kept for the test to inspect.
 */
#ifndef TEST_CHECK_FAKENET_H
#define TEST_CHECK_FAKENET_H

#include <stddef.h>

#include "core/net.h"

#define FAKE_MAX_STEPS 32
#define FAKE_MAX_LINES 64

struct fake_step {
    const char *expect;   /* pattern for the client's line (CRLF removed) */
    const char *reply;    /* what the server sends then; may be "" */
    int close_after;      /* the server closes the connection after the reply */
};

struct fake_setup_line {
    enum net_mail_event event;
    const char *text;
};

struct fake_script {
    struct fake_setup_line setup[16];   /* what libcurl's setup shows; ends at text NULL */
    const char *tls;                    /* NET_MAIL_TLS text, or NULL */
    int open_fails;                     /* mail_open fails with this exit code */
    struct fake_step steps[FAKE_MAX_STEPS];   /* ends at expect NULL */
};

/* What the fake saw. */
struct fake_state {
    const struct fake_script *script;
    size_t step;
    int opened;
    int closed;
    char url[256];
    char ca_file[256];
    char *lines[FAKE_MAX_LINES];        /* the client's lines, in order */
    size_t nlines;
    int unexpected;                     /* a line matched no step: the test failed */
    char unexpected_line[512];
    /* token endpoint */
    const char *http_body;              /* reply of the scripted token endpoint */
    long http_status;
    int http_calls;
};

extern struct fake_state fake;
extern const struct net_ops fake_ops;

/* Resets the fake to a script and installs it with net_override. */
void fake_start(const struct fake_script *script);

/* Frees what the fake kept. */
void fake_finish(void);

/* Returns the client's line number i ("" when absent). */
const char *fake_line(size_t i);

#endif
