/*
 * The network module. Everything that needs libcurl (and through it
 * OpenSSL) lives in mailtoken-net.so, which the helper loads with dlopen
 * only when it must talk to a server: `mailtoken token` with a valid
 * cached token never pays for loading those libraries.
 */
#ifndef CORE_NET_H
#define CORE_NET_H

#include <stddef.h>

#include "err.h"
#include "mt_buf.h"

#define NET_ABI_VERSION 2
#define NET_MAX_BODY (1024 * 1024)

struct net_request {
    const char *method;            /* "GET" or "POST" */
    const char *url;
    const char *body;              /* POST: application/x-www-form-urlencoded */
    size_t body_len;
    const char *basic_user;        /* HTTP Basic, already form-encoded; NULL for none */
    const char *basic_password;
    const char *ca_file;           /* extra trust anchors, or NULL */
    const char *proxy;             /* or NULL for the environment's proxy settings */
    long timeout_s;                /* for the whole exchange */
};

struct net_response {
    long status;                   /* HTTP status */
    struct mt_buf body;            /* capped at NET_MAX_BODY */
    char content_type[128];
    long retry_after;              /* seconds from Retry-After, or -1 */
    char location[512];            /* Location of a redirect, never followed */
};

/* An event that a mail connection reports while libcurl sets it up. */
enum net_mail_event {
    NET_MAIL_SERVER_LINE,    /* a line from the server, without CRLF */
    NET_MAIL_CLIENT_LINE,    /* a command libcurl sent (never a credential) */
    NET_MAIL_TLS             /* TLS is up: version and cipher */
};

typedef void net_mail_observer_fn(void *ctx, enum net_mail_event event, const char *text,
                                  size_t len);

struct net_mail_request {
    /*
     * imaps, pop3s or smtps for implicit TLS; imap, pop3 or smtp for
     * STARTTLS, which is then required. "SCHEME://HOST:PORT/".
     */
    const char *url;
    const char *ca_file;           /* extra trust anchors, or NULL */
    const char *proxy;             /* or NULL for the environment's proxy settings */
    long timeout_s;                /* for connecting and each reply during setup */
    net_mail_observer_fn *observe; /* may be NULL */
    void *observe_ctx;
};

/* The peer and TLS parameters of an open mail connection. */
struct net_mail_info {
    char ip[64];                   /* the server's address */
    long port;
    char tls[96];                  /* e.g. "TLSv1.3 / TLS_AES_256_GCM_SHA384", or "" */
};

struct net_mail;                   /* an open mail connection; opaque */

/* mail_recv's result when nothing arrived in time. */
#define NET_MAIL_AGAIN (-2)

struct net_ops {
    int abi_version;
    /*
     * Performs one HTTP exchange. TLS certificates are always verified
     * and redirects are never followed. Returns 0 when a reply arrived
     * (any status), or -1 with err set: EX_TEMPFAIL for timeouts, DNS,
     * connection and TLS failures, EX_PROTOCOL for a body over the cap or
     * a broken reply. resp->body must be freed with mt_buf_free in both
     * cases.
     */
    int (*http)(const struct net_request *req, struct net_response *resp, struct mt_err *err);

    /*
     * Opens a TLS connection to a mail server through libcurl's IMAP,
     * POP3 or SMTP support. libcurl reads the greeting, requests the
     * capabilities and performs STARTTLS, then stops before any login.
     * The server's certificate is always verified against its host name.
     * The lines exchanged so far go to req->observe. Returns 0 with
     * *conn_r (close with mail_close) and *info_r, or -1 with err set:
     * EX_TEMPFAIL for DNS, connection, timeout and TLS failures,
     * EX_PROTOCOL for a server that breaks the protocol or offers no
     * STARTTLS, EX_CONFIG for an unreadable ca_file.
     */
    int (*mail_open)(const struct net_mail_request *req, struct net_mail **conn_r,
                     struct net_mail_info *info_r, struct mt_err *err);

    /*
     * Sends all n bytes, waiting at most timeout_s seconds for the
     * connection to take them. Returns 0, or -1 with err set (EX_TEMPFAIL).
     */
    int (*mail_send)(struct net_mail *conn, const void *p, size_t n, long timeout_s,
                     struct mt_err *err);

    /*
     * Receives up to size bytes, waiting at most timeout_ms milliseconds
     * (0: do not wait). Returns the number of bytes, 0 when the server
     * closed the connection, NET_MAIL_AGAIN when nothing arrived in time,
     * or -1 with err set (EX_TEMPFAIL). Bytes that TLS has already
     * decrypted do not show on the socket: call mail_recv until it
     * returns NET_MAIL_AGAIN before waiting on mail_socket.
     */
    long (*mail_recv)(struct net_mail *conn, void *p, size_t size, int timeout_ms,
                      struct mt_err *err);

    /* Returns the connection's socket, for poll(2) only. */
    int (*mail_socket)(struct net_mail *conn);

    /*
     * Closes the connection without sending anything more, so LOGOUT or
     * QUIT must come first. Accepts NULL.
     */
    void (*mail_close)(struct net_mail *conn);
};

/*
 * Loads mailtoken-net.so once: from the folder of the running program
 * (an uninstalled build) or else from the install folder. Returns the
 * operations, or NULL with err set (EX_SOFTWARE).
 */
const struct net_ops *net_load(struct mt_err *err);

/* Installs operations to use instead of the module, for tests. */
void net_override(const struct net_ops *ops);

/* The module's entry point, looked up by name with dlsym. */
const struct net_ops *mailtoken_net_ops(void);

#endif
