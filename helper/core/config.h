/*
 * The configuration file: INI, one section per account, [defaults] for
 * values every account inherits and for the global keys. Parsed with
 * libinih; every error names the file, the line and the key.
 */
#ifndef CORE_CONFIG_H
#define CORE_CONFIG_H

#include <stddef.h>
#include <time.h>

#include "assertion.h"
#include "cloud.h"
#include "err.h"

enum provider {
    PROVIDER_MICROSOFT,
    PROVIDER_GOOGLE,
    PROVIDER_GENERIC
};

enum client_auth {
    CLIENT_AUTH_BASIC,   /* HTTP Basic with the form-encoded id and secret */
    CLIENT_AUTH_POST     /* client_id and client_secret in the POST body */
};

enum grant {
    GRANT_AUTHORIZATION_CODE,   /* a user signs in; refresh tokens */
    GRANT_CLIENT_CREDENTIALS    /* app-only: the client authenticates as itself */
};

struct account {
    char *name;                   /* the section name */
    unsigned line;                /* the section's line, for messages */
    enum provider provider;
    char *tenant;                 /* microsoft: domain, GUID, organizations, common */
    char *client_id;
    char *client_secret;          /* inline secret (discouraged) */
    char *client_secret_file;
    char *client_secret_command;
    time_t client_secret_expires; /* 0 when not set */
    char *client_certificate;     /* PEM certificate: client assertions instead of a secret */
    char *client_key;             /* PEM private key; NULL: in client_certificate */
    enum assertion_alg client_assertion_alg;  /* after loading: RS256 or PS256 */
    enum cloud cloud;             /* microsoft: the cloud instance of every host */
    char *user;                   /* the login that authorizes */
    char *mailbox;                /* the address to act for, when not the user */
    char *scope;                  /* expanded: full scope strings, space-separated */
    char *authorization_endpoint;
    char *token_endpoint;
    char *device_authorization_endpoint;
    char *revocation_endpoint;
    char *issuer;                 /* expected "iss" in authorization replies */
    char *redirect_uri;           /* NULL: http://localhost:PORT/ on a free port */
    char *ca_file;
    char *proxy;
    char *token_file;             /* keep a copy of the access token here */
    char **allow;                 /* daemon: user names that may fetch the token */
    size_t nallow;
    enum client_auth client_auth;
    enum grant grant;
    long refresh_token_lifetime;  /* seconds; for status warnings */
    long refresh_margin;          /* seconds before expiry that count as expired */
    long timeout;                 /* seconds for each HTTP exchange */
    int send_scope_on_refresh;    /* microsoft requires the scope on refresh */
    char *authorize_params;       /* extra query for the authorization URL */
};

struct config {
    char *path;                   /* the file read; NULL when none exists */
    int is_system;                /* the system file: the store defaults to /var/lib */
    char *store;                  /* folder of the token store */
    char **sockets;               /* daemon sockets */
    size_t nsockets;
    unsigned socket_mode;
    char *socket_group;
    long keepalive;               /* seconds between forced refreshes in the daemon */
    char *notify_command;
    char *log;                    /* daemon log: "stderr" or "syslog" */
    char *helper;                 /* read by the plugin; validated here */
    long helper_timeout;
    char *plugin_socket;
    struct account *accounts;     /* in file order */
    size_t naccounts;
};

/*
 * Loads the configuration. path is the --config value or NULL; without it
 * the file is found by mt_confpath_locate. A missing file is an error only
 * when it was named explicitly (by --config or MAILTOKEN_CONFIG); then
 * the result has no accounts. Returns 0, or -1 with err set (EX_CONFIG or
 * EX_NOINPUT). Free the result with config_free, even after a failure.
 */
int config_load(struct config *cfg, const char *path, struct mt_err *err);

/* Loads from a string, for tests. name is used in messages. */
int config_load_string(struct config *cfg, const char *name, const char *text,
                       struct mt_err *err);

void config_free(struct config *cfg);

/*
 * Finds an account by section name, then by mailbox, then by user (the
 * comparison of addresses ignores case). *as_mailbox_r is set to 1 when
 * name matched the account's mailbox. Returns the account, or NULL with
 * err set: EX_CONFIG and kind unknown-account, or EX_CONFIG when the name
 * matches several accounts.
 */
const struct account *config_find_account(const struct config *cfg, const char *name,
                                          int *as_mailbox_r, struct mt_err *err);

/* Returns the provider's name as written in the file. */
const char *provider_name(enum provider p);

/* Returns the system configuration file's path. */
const char *config_system_path(void);

/*
 * Parses a duration: a number with an optional unit s, m, h or d
 * (seconds by default). Returns 0 and *out, or -1.
 */
int config_parse_duration(const char *s, long *out);

/* Parses a date YYYY-MM-DD as 00:00 UTC. Returns 0 and *out, or -1. */
int config_parse_date(const char *s, time_t *out);

/*
 * Returns 1 when url is acceptable as an endpoint: https, or plain http
 * to 127.0.0.1, [::1] or localhost.
 */
int config_endpoint_allowed(const char *url);

#endif
