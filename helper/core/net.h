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

#define NET_ABI_VERSION 1
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
