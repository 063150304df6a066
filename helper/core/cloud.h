/*
 * Microsoft's cloud instances: the sign-in host, the Exchange Online
 * resource that scopes name, and the mail servers of each. The account
 * key `cloud` selects one; `mailtoken check` reads the mail servers.
 */
#ifndef CORE_CLOUD_H
#define CORE_CLOUD_H

enum cloud {
    CLOUD_GLOBAL,       /* Microsoft 365 worldwide, including GCC */
    CLOUD_USGOV,        /* Microsoft 365 GCC High */
    CLOUD_USGOV_DOD,    /* Microsoft 365 DoD */
    CLOUD_CHINA         /* Microsoft 365 operated by 21Vianet */
};

/* A mail server: IMAP and POP3 use implicit TLS, SMTP uses STARTTLS. */
struct cloud_server {
    const char *host;
    long port;
};

struct cloud_hosts {
    const char *name;              /* the value of the `cloud` key */
    const char *login;             /* https://HOST of the authorize, token and device endpoints */
    const char *user_resource;     /* prefix of delegated scopes, e.g. .../IMAP.AccessAsUser.All */
    const char *app_resource;      /* prefix of the app-only scope RESOURCE/.default */
    struct cloud_server imap;
    struct cloud_server pop3;
    struct cloud_server smtp;
};

/* Returns the hosts of cloud c; an unknown value gives those of CLOUD_GLOBAL. */
const struct cloud_hosts *cloud_get(enum cloud c);

/* Parses global, usgov, usgov-dod or china. Returns 0 and *c_r, or -1. */
int cloud_parse(const char *s, enum cloud *c_r);

/* Returns the cloud's name as written in the configuration. */
const char *cloud_name(enum cloud c);

#endif
