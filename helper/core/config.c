/* The configuration file: INI parsed with libinih, then checked key by key. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "mt_buf.h"
#include "mt_io.h"
#include "mt_confpath.h"
#include "mt_wipe.h"
#include "provider.h"

#ifndef MAILTOKEN_SYSCONFDIR
#define MAILTOKEN_SYSCONFDIR "/etc/mailtoken"
#endif

#define CONFIG_MAX_SIZE (4 * 1024 * 1024)
#define DEFAULTS_SECTION "defaults"
/* libinih cuts section names at 49 characters. */
#define SECTION_NAME_MAX 49

/* One "key = value" line of the file, in order. */
struct entry {
    char *section;
    char *key;
    char *value;
    unsigned line;
};

struct parse {
    const char *name;             /* the file name, for messages */
    const char *text;             /* the whole file */
    size_t pos;
    unsigned line;                /* the line the reader returned last */
    int line_is_continuation;     /* that line started with white space */
    unsigned long_line;           /* first line longer than inih accepts */
    struct entry *entries;
    size_t nentries, cap;
    char **sections;              /* section names in order, with their lines */
    unsigned *section_line;
    size_t nsections, section_cap;
    size_t *section_index;        /* hash table of section numbers + 1; 0 is empty */
    size_t index_size;            /* a power of two, at least twice nsections */
    struct mt_err err;            /* the first error a handler found */
    unsigned err_line;
};

/* The part of the configuration a key belongs to. */
enum key_scope { KEY_GLOBAL, KEY_ACCOUNT };

struct build {
    struct config *cfg;
    const char *file;
    char *scope_spec;             /* the account's scope value before expansion */
    int scope_set;
    unsigned scope_line;          /* where that value was set, for messages */
    unsigned error_line;          /* account_finish: the line its error is about, or 0 */
};

typedef int key_apply_fn(struct build *b, struct account *a, const struct entry *e,
                         struct mt_err *err);

struct key_def {
    const char *name;
    enum key_scope scope;
    key_apply_fn *apply;
};

const char *
config_system_path(void)
{
    return MAILTOKEN_SYSCONFDIR "/mailtoken.conf";
}

const char *
provider_name(enum provider p)
{
    switch (p) {
    case PROVIDER_MICROSOFT:
        return "microsoft";
    case PROVIDER_GOOGLE:
        return "google";
    default:
        return "generic";
    }
}

/* ---- value parsers ---- */

int
config_parse_duration(const char *s, long *out)
{
    char *end;
    long n, unit = 1;

    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end != '\0') {
        switch (*end) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    /* At most 10 years, which keeps every sum with a time_t far from overflow. */
    if (n > 10L * 366 * 86400 / unit)
        return -1;
    *out = n * unit;
    return 0;
}

int
config_parse_date(const char *s, time_t *out)
{
    struct tm tm;
    int y, m, d;
    char extra;

    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) != 3)
        return -1;
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    *out = timegm(&tm);
    /* timegm normalises 2027-02-30 to March: reject such dates. */
    {
        struct tm check;

        gmtime_r(out, &check);
        if (check.tm_mday != d || check.tm_mon != m - 1)
            return -1;
    }
    return 0;
}

int
config_endpoint_allowed(const char *url)
{
    static const char *const loopback[] = {"127.0.0.1", "[::1]", "localhost"};
    const char *host;

    if (strncmp(url, "https://", 8) == 0)
        return url[8] != '\0' && url[8] != '/';
    if (strncmp(url, "http://", 7) != 0)
        return 0;
    host = url + 7;
    for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
        size_t n = strlen(loopback[i]);

        if (strncmp(host, loopback[i], n) == 0 &&
            (host[n] == '\0' || host[n] == ':' || host[n] == '/'))
            return 1;
    }
    return 0;
}

/* Returns 1 when the text has no control characters (tab excepted). */
static int
printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

/* ---- key handlers ---- */

static int
set_string(char **field, const struct entry *e, struct mt_err *err)
{
    char *copy;

    if (e->value[0] == '\0')
        return err_set(err, EX_CONFIG, "%s is empty", e->key);
    if (!printable(e->value))
        return err_set(err, EX_CONFIG, "%s contains control characters", e->key);
    copy = strdup(e->value);
    if (copy == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    if (*field != NULL)
        mt_strfree(*field);
    *field = copy;
    return 0;
}

static int
set_endpoint(char **field, const struct entry *e, struct mt_err *err)
{
    if (!config_endpoint_allowed(e->value))
        return err_set(err, EX_CONFIG,
                       "%s \"%s\" is not allowed: endpoints must use https "
                       "(plain http only to 127.0.0.1, [::1] or localhost)",
                       e->key, e->value);
    return set_string(field, e, err);
}

static int
set_duration(long *field, const struct entry *e, struct mt_err *err)
{
    if (config_parse_duration(e->value, field) != 0)
        return err_set(err, EX_CONFIG,
                       "invalid %s \"%s\": expected a number of seconds, or a number "
                       "followed by s, m, h or d (for example 90d)", e->key, e->value);
    return 0;
}

static int
key_tenant(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    if (!provider_tenant_valid(e->value))
        return err_set(err, EX_CONFIG,
                       "invalid tenant \"%s\": use a domain such as contoso.onmicrosoft.com, "
                       "a tenant ID, organizations, consumers or common", e->value);
    return set_string(&a->tenant, e, err);
}

static int
key_provider(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    if (strcmp(e->value, "microsoft") == 0)
        a->provider = PROVIDER_MICROSOFT;
    else if (strcmp(e->value, "google") == 0)
        a->provider = PROVIDER_GOOGLE;
    else if (strcmp(e->value, "generic") == 0)
        a->provider = PROVIDER_GENERIC;
    else
        return err_set(err, EX_CONFIG,
                       "invalid provider \"%s\": expected microsoft, google or generic", e->value);
    return 0;
}

static int
key_grant(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    if (strcmp(e->value, "authorization_code") == 0)
        a->grant = GRANT_AUTHORIZATION_CODE;
    else if (strcmp(e->value, "client_credentials") == 0)
        a->grant = GRANT_CLIENT_CREDENTIALS;
    else
        return err_set(err, EX_CONFIG,
                       "invalid grant \"%s\": expected authorization_code or client_credentials",
                       e->value);
    return 0;
}

static int
key_client_auth(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    if (strcmp(e->value, "basic") == 0)
        a->client_auth = CLIENT_AUTH_BASIC;
    else if (strcmp(e->value, "post") == 0)
        a->client_auth = CLIENT_AUTH_POST;
    else
        return err_set(err, EX_CONFIG, "invalid client_auth \"%s\": expected basic or post",
                       e->value);
    return 0;
}

#define STRING_KEY(field)                                                                   \
    static int key_##field(struct build *b, struct account *a, const struct entry *e,       \
                           struct mt_err *err)                                              \
    {                                                                                       \
        (void)b;                                                                            \
        return set_string(&a->field, e, err);                                               \
    }
#define ENDPOINT_KEY(field)                                                                 \
    static int key_##field(struct build *b, struct account *a, const struct entry *e,       \
                           struct mt_err *err)                                              \
    {                                                                                       \
        (void)b;                                                                            \
        return set_endpoint(&a->field, e, err);                                             \
    }
#define DURATION_KEY(field)                                                                 \
    static int key_##field(struct build *b, struct account *a, const struct entry *e,       \
                           struct mt_err *err)                                              \
    {                                                                                       \
        (void)b;                                                                            \
        return set_duration(&a->field, e, err);                                             \
    }

STRING_KEY(client_id)
STRING_KEY(client_secret)
STRING_KEY(client_secret_command)
STRING_KEY(ca_file)
STRING_KEY(proxy)
ENDPOINT_KEY(authorization_endpoint)
ENDPOINT_KEY(token_endpoint)
ENDPOINT_KEY(device_authorization_endpoint)
ENDPOINT_KEY(revocation_endpoint)
DURATION_KEY(refresh_token_lifetime)
DURATION_KEY(refresh_margin)
DURATION_KEY(timeout)

static int
require_absolute(const struct entry *e, struct mt_err *err)
{
    if (e->value[0] != '/')
        return err_set(err, EX_CONFIG, "%s \"%s\" must be an absolute path", e->key, e->value);
    return 0;
}

static int
key_client_secret_file(struct build *b, struct account *a, const struct entry *e,
                       struct mt_err *err)
{
    (void)b;
    if (require_absolute(e, err) != 0)
        return -1;
    return set_string(&a->client_secret_file, e, err);
}

static int
key_token_file(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    if (require_absolute(e, err) != 0)
        return -1;
    return set_string(&a->token_file, e, err);
}

static int
address_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 254)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int
key_address(char **field, const struct entry *e, struct mt_err *err)
{
    if (!address_valid(e->value))
        return err_set(err, EX_CONFIG,
                       "invalid %s \"%s\": expected an address without spaces", e->key, e->value);
    return set_string(field, e, err);
}

static int
key_user(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    return key_address(&a->user, e, err);
}

static int
key_mailbox(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    return key_address(&a->mailbox, e, err);
}

static int
key_issuer(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    return set_string(&a->issuer, e, err);
}

static int
key_redirect_uri(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    if (strncmp(e->value, "http://127.0.0.1", 16) != 0 &&
        strncmp(e->value, "http://localhost", 16) != 0 &&
        strncmp(e->value, "http://[::1]", 12) != 0)
        return err_set(err, EX_CONFIG,
                       "redirect_uri \"%s\" is not a loopback address: expected "
                       "http://localhost:PORT/PATH, http://127.0.0.1:PORT/PATH or "
                       "http://[::1]:PORT/PATH", e->value);
    return set_string(&a->redirect_uri, e, err);
}

static int
key_scope(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)a;
    if (e->value[0] == '\0' || !printable(e->value))
        return err_set(err, EX_CONFIG, "scope is empty or contains control characters");
    free(b->scope_spec);
    b->scope_spec = strdup(e->value);
    if (b->scope_spec == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    b->scope_set = 1;
    b->scope_line = e->line;
    return 0;
}

static int
key_client_secret_expires(struct build *b, struct account *a, const struct entry *e,
                          struct mt_err *err)
{
    (void)b;
    if (config_parse_date(e->value, &a->client_secret_expires) != 0)
        return err_set(err, EX_CONFIG,
                       "invalid client_secret_expires \"%s\": expected a date as YYYY-MM-DD",
                       e->value);
    return 0;
}

static int
key_client_certificate(struct build *b, struct account *a, const struct entry *e,
                       struct mt_err *err)
{
    (void)b;
    if (require_absolute(e, err) != 0)
        return -1;
    return set_string(&a->client_certificate, e, err);
}

static int
key_client_key(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    if (require_absolute(e, err) != 0)
        return -1;
    return set_string(&a->client_key, e, err);
}

static int
key_client_assertion_alg(struct build *b, struct account *a, const struct entry *e,
                         struct mt_err *err)
{
    (void)b;
    if (strcmp(e->value, "RS256") == 0)
        a->client_assertion_alg = ASSERTION_ALG_RS256;
    else if (strcmp(e->value, "PS256") == 0)
        a->client_assertion_alg = ASSERTION_ALG_PS256;
    else
        return err_set(err, EX_CONFIG,
                       "invalid client_assertion_alg \"%s\": expected RS256 or PS256", e->value);
    return 0;
}

static int
key_cloud(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)b;
    if (cloud_parse(e->value, &a->cloud) != 0)
        return err_set(err, EX_CONFIG,
                       "invalid cloud \"%s\": expected global, usgov (GCC High), usgov-dod or "
                       "china (21Vianet)", e->value);
    return 0;
}

static void
free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Splits a space-separated value into a new list. */
static int
split_words(const char *value, char ***list_r, size_t *n_r, struct mt_err *err)
{
    char *copy = strdup(value), *word, *save = NULL;
    char **list = NULL;
    size_t n = 0;

    if (copy == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    for (word = strtok_r(copy, " \t,", &save); word != NULL;
         word = strtok_r(NULL, " \t,", &save)) {
        char **grown = realloc(list, (n + 1) * sizeof(*list));

        if (grown == NULL || (grown[n] = strdup(word)) == NULL) {
            free_list(grown != NULL ? grown : list, n);
            free(copy);
            return err_set(err, EX_OSERR, "out of memory");
        }
        list = grown;
        n++;
    }
    free(copy);
    *list_r = list;
    *n_r = n;
    return 0;
}

static int
key_allow(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    char **list;
    size_t n;

    (void)b;
    if (split_words(e->value, &list, &n, err) != 0)
        return -1;
    free_list(a->allow, a->nallow);
    a->allow = list;
    a->nallow = n;
    return 0;
}

/* Global keys: only in [defaults]. */

static int
key_store(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)a;
    if (require_absolute(e, err) != 0)
        return -1;
    return set_string(&b->cfg->store, e, err);
}

static int
key_socket(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)a;
    if (split_words(e->value, &b->cfg->sockets, &b->cfg->nsockets, err) != 0)
        return -1;
    for (size_t i = 0; i < b->cfg->nsockets; i++)
        if (b->cfg->sockets[i][0] != '/')
            return err_set(err, EX_CONFIG, "socket \"%s\" must be an absolute path",
                           b->cfg->sockets[i]);
    return 0;
}

static int
key_socket_mode(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    char *end;
    unsigned long mode;

    (void)a;
    mode = strtoul(e->value, &end, 8);
    if (e->value[0] < '0' || e->value[0] > '7' || *end != '\0' || mode > 0777)
        return err_set(err, EX_CONFIG,
                       "invalid socket_mode \"%s\": expected octal permissions such as 0660",
                       e->value);
    b->cfg->socket_mode = (unsigned)mode;
    return 0;
}

static int
key_socket_group(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)a;
    return set_string(&b->cfg->socket_group, e, err);
}

static int
key_keepalive(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)a;
    return set_duration(&b->cfg->keepalive, e, err);
}

static int
key_notify_command(struct build *b, struct account *a, const struct entry *e,
                   struct mt_err *err)
{
    (void)a;
    if (require_absolute(e, err) != 0)
        return -1;
    return set_string(&b->cfg->notify_command, e, err);
}

static int
key_log(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)a;
    if (strcmp(e->value, "stderr") != 0 && strcmp(e->value, "syslog") != 0)
        return err_set(err, EX_CONFIG, "invalid log \"%s\": expected stderr or syslog",
                       e->value);
    return set_string(&b->cfg->log, e, err);
}

static int
key_helper(struct build *b, struct account *a, const struct entry *e, struct mt_err *err)
{
    (void)a;
    if (require_absolute(e, err) != 0)
        return -1;
    return set_string(&b->cfg->helper, e, err);
}

static int
key_helper_timeout(struct build *b, struct account *a, const struct entry *e,
                   struct mt_err *err)
{
    (void)a;
    return set_duration(&b->cfg->helper_timeout, e, err);
}

static int
key_plugin_socket(struct build *b, struct account *a, const struct entry *e,
                  struct mt_err *err)
{
    (void)a;
    return set_string(&b->cfg->plugin_socket, e, err);
}

static const struct key_def keys[] = {
    {"allow", KEY_ACCOUNT, key_allow},
    {"authorization_endpoint", KEY_ACCOUNT, key_authorization_endpoint},
    {"ca_file", KEY_ACCOUNT, key_ca_file},
    {"client_assertion_alg", KEY_ACCOUNT, key_client_assertion_alg},
    {"client_auth", KEY_ACCOUNT, key_client_auth},
    {"client_certificate", KEY_ACCOUNT, key_client_certificate},
    {"client_id", KEY_ACCOUNT, key_client_id},
    {"client_key", KEY_ACCOUNT, key_client_key},
    {"client_secret", KEY_ACCOUNT, key_client_secret},
    {"client_secret_command", KEY_ACCOUNT, key_client_secret_command},
    {"client_secret_expires", KEY_ACCOUNT, key_client_secret_expires},
    {"client_secret_file", KEY_ACCOUNT, key_client_secret_file},
    {"cloud", KEY_ACCOUNT, key_cloud},
    {"device_authorization_endpoint", KEY_ACCOUNT, key_device_authorization_endpoint},
    {"grant", KEY_ACCOUNT, key_grant},
    {"helper", KEY_GLOBAL, key_helper},
    {"helper_timeout", KEY_GLOBAL, key_helper_timeout},
    {"issuer", KEY_ACCOUNT, key_issuer},
    {"keepalive", KEY_GLOBAL, key_keepalive},
    {"log", KEY_GLOBAL, key_log},
    {"mailbox", KEY_ACCOUNT, key_mailbox},
    {"notify_command", KEY_GLOBAL, key_notify_command},
    {"plugin_socket", KEY_GLOBAL, key_plugin_socket},
    {"provider", KEY_ACCOUNT, key_provider},
    {"proxy", KEY_ACCOUNT, key_proxy},
    {"redirect_uri", KEY_ACCOUNT, key_redirect_uri},
    {"refresh_margin", KEY_ACCOUNT, key_refresh_margin},
    {"refresh_token_lifetime", KEY_ACCOUNT, key_refresh_token_lifetime},
    {"revocation_endpoint", KEY_ACCOUNT, key_revocation_endpoint},
    {"scope", KEY_ACCOUNT, key_scope},
    {"socket", KEY_GLOBAL, key_socket},
    {"socket_group", KEY_GLOBAL, key_socket_group},
    {"socket_mode", KEY_GLOBAL, key_socket_mode},
    {"store", KEY_GLOBAL, key_store},
    {"tenant", KEY_ACCOUNT, key_tenant},
    {"timeout", KEY_ACCOUNT, key_timeout},
    {"token_endpoint", KEY_ACCOUNT, key_token_endpoint},
    {"token_file", KEY_ACCOUNT, key_token_file},
    {"user", KEY_ACCOUNT, key_user},
};

static const struct key_def *
find_key(const char *name)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Levenshtein distance, for "did you mean" hints on unknown keys. */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = prev[j] + 1;

            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (prev[j - 1] + cost < best)
                best = prev[j - 1] + cost;
            cur[j] = best;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

static const char *
suggest_key(const char *name)
{
    const char *best = NULL;
    size_t best_distance = 3;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        size_t d = edit_distance(name, keys[i].name);

        /* Short names are close to many keys: only suggest for real near misses. */
        if (d < best_distance && d * 2 < strlen(name)) {
            best_distance = d;
            best = keys[i].name;
        }
    }
    return best;
}

/* ---- reading the file ---- */

static void note_section_line(struct parse *p, const char *line);
static int parse_fail(struct parse *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static char *
reader(char *str, int num, void *stream)
{
    struct parse *p = stream;
    size_t start = p->pos, end, n, room = (size_t)num - 1;

    if (p->text[start] == '\0')
        return NULL;
    end = start;
    while (p->text[end] != '\0' && p->text[end] != '\n')
        end++;
    if (p->text[end] == '\n')
        end++;
    p->pos = end;
    p->line++;
    n = end - start;
    p->line_is_continuation = p->text[start] == ' ' || p->text[start] == '\t';
    if (n > room) {
        if (p->long_line == 0)
            p->long_line = p->line;
        n = room;
    }
    memcpy(str, p->text + start, n);
    str[n] = '\0';
    note_section_line(p, str);
    return str;
}

static int
parse_fail(struct parse *p, int code, const char *fmt, ...)
{
    va_list ap;

    if (p->err.code != 0)
        return 0;
    va_start(ap, fmt);
    err_setv(&p->err, code, fmt, ap);
    va_end(ap);
    p->err_line = p->line;
    return 0;
}

static int
section_name_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > SECTION_NAME_MAX || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("._@+-", s[i]) == NULL)
            return 0;
    return 1;
}

static size_t
hash_name(const char *name)
{
    size_t h = 14695981039346656037u;

    for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++)
        h = (h ^ *c) * 1099511628211u;
    return h;
}

/* Finds name in the section index; *slot_r is its slot, or the free slot to use. */
static int
find_section(const struct parse *p, const char *name, size_t *slot_r)
{
    size_t slot;

    if (p->index_size == 0) {
        *slot_r = 0;
        return 0;
    }
    for (slot = hash_name(name) & (p->index_size - 1); p->section_index[slot] != 0;
         slot = (slot + 1) & (p->index_size - 1))
        if (strcmp(p->sections[p->section_index[slot] - 1], name) == 0) {
            *slot_r = slot;
            return 1;
        }
    *slot_r = slot;
    return 0;
}

/* Adds section number i to the index, growing it to stay at most half full. */
static int
index_section(struct parse *p, size_t i)
{
    size_t slot;

    if (2 * p->nsections > p->index_size) {
        size_t size = p->index_size ? p->index_size * 2 : 64;
        size_t *table = calloc(size, sizeof(*table));

        if (table == NULL)
            return -1;
        free(p->section_index);
        p->section_index = table;
        p->index_size = size;
        for (size_t k = 0; k < p->nsections; k++) {
            find_section(p, p->sections[k], &slot);
            p->section_index[slot] = k + 1;
        }
        return 0;
    }
    find_section(p, p->sections[i], &slot);
    p->section_index[slot] = i + 1;
    return 0;
}

/*
 * Records a section header as the reader passes it, the way libinih reads
 * it: '[' after optional white space, the name up to ']'. Doing it here
 * gives the header's own line number, and finds sections without keys,
 * for which libinih calls no handler.
 */
static void
note_section_line(struct parse *p, const char *line)
{
    const char *start = line, *end;
    char name[256];
    size_t n, slot;

    while (*start == ' ' || *start == '\t')
        start++;
    if (*start != '[')
        return;
    end = strchr(start + 1, ']');
    if (end == NULL)
        return;
    n = (size_t)(end - start - 1);
    if (n >= sizeof(name))
        n = sizeof(name) - 1;
    memcpy(name, start + 1, n);
    name[n] = '\0';

    if (find_section(p, name, &slot)) {
        size_t first = p->section_index[slot] - 1;

        parse_fail(p, EX_CONFIG, "section [%s] appears twice (first on line %u): merge them",
                   name, p->section_line[first]);
        return;
    }
    if (!section_name_valid(name)) {
        parse_fail(p, EX_CONFIG,
                   "invalid section name [%s]: use 1 to %d letters, digits and . _ @ + -", name,
                   SECTION_NAME_MAX);
        return;
    }
    if (p->nsections == p->section_cap) {
        size_t cap = p->section_cap ? p->section_cap * 2 : 16;
        char **names = realloc(p->sections, cap * sizeof(*names));
        unsigned *lines;

        if (names == NULL) {
            parse_fail(p, EX_OSERR, "out of memory");
            return;
        }
        p->sections = names;
        lines = realloc(p->section_line, cap * sizeof(*lines));
        if (lines == NULL) {
            parse_fail(p, EX_OSERR, "out of memory");
            return;
        }
        p->section_line = lines;
        p->section_cap = cap;
    }
    p->sections[p->nsections] = strdup(name);
    if (p->sections[p->nsections] == NULL) {
        parse_fail(p, EX_OSERR, "out of memory");
        return;
    }
    p->section_line[p->nsections] = p->line;
    p->nsections++;
    if (index_section(p, p->nsections - 1) != 0)
        parse_fail(p, EX_OSERR, "out of memory");
}

/* Strips one pair of double quotes around a whole value. */
static const char *
unquote(const char *value, char *buf, size_t size)
{
    size_t n = strlen(value);

    if (n >= 2 && value[0] == '"' && value[n - 1] == '"' && n - 2 < size) {
        memcpy(buf, value + 1, n - 2);
        buf[n - 2] = '\0';
        return buf;
    }
    return value;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse *p = user;
    struct entry *e;
    char unquoted[512];

    if (section[0] == '\0')
        return parse_fail(p, EX_CONFIG,
                          "\"%s\" is outside any section: put it under [defaults] or an "
                          "account's [name]", name);

    /* inih hands an indented line to us under the previous key. */
    if (p->line_is_continuation && p->nentries > 0 &&
        strcmp(p->entries[p->nentries - 1].key, name) == 0 &&
        strcmp(p->entries[p->nentries - 1].section, section) == 0) {
        e = &p->entries[p->nentries - 1];
        char *joined = malloc(strlen(e->value) + strlen(value) + 2);

        if (joined == NULL)
            return parse_fail(p, EX_OSERR, "out of memory");
        sprintf(joined, "%s %s", e->value, value);
        mt_strfree(e->value);
        e->value = joined;
        return 1;
    }

    for (size_t i = p->nentries; i-- > 0;) {
        if (strcmp(p->entries[i].section, section) != 0)
            break;
        if (strcmp(p->entries[i].key, name) == 0)
            return parse_fail(p, EX_CONFIG, "%s is set twice in [%s] (first on line %u)", name,
                              section, p->entries[i].line);
    }

    if (p->nentries == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        struct entry *grown = realloc(p->entries, cap * sizeof(*grown));

        if (grown == NULL)
            return parse_fail(p, EX_OSERR, "out of memory");
        p->entries = grown;
        p->cap = cap;
    }
    e = &p->entries[p->nentries];
    value = unquote(value, unquoted, sizeof(unquoted));
    e->section = strdup(section);
    e->key = strdup(name);
    e->value = strdup(value);
    e->line = p->line;
    mt_wipe(unquoted, sizeof(unquoted));
    if (e->section == NULL || e->key == NULL || e->value == NULL) {
        free(e->section);
        free(e->key);
        free(e->value);
        return parse_fail(p, EX_OSERR, "out of memory");
    }
    p->nentries++;
    return 1;
}

static void
parse_free(struct parse *p)
{
    for (size_t i = 0; i < p->nentries; i++) {
        free(p->entries[i].section);
        free(p->entries[i].key);
        mt_strfree(p->entries[i].value);
    }
    free(p->entries);
    for (size_t i = 0; i < p->nsections; i++)
        free(p->sections[i]);
    free(p->sections);
    free(p->section_line);
    free(p->section_index);
}

/* ---- building accounts ---- */

static void
account_free(struct account *a)
{
    free(a->name);
    free(a->tenant);
    free(a->client_id);
    mt_strfree(a->client_secret);
    free(a->client_secret_file);
    free(a->client_secret_command);
    free(a->client_certificate);
    free(a->client_key);
    free(a->user);
    free(a->mailbox);
    free(a->scope);
    free(a->authorization_endpoint);
    free(a->token_endpoint);
    free(a->device_authorization_endpoint);
    free(a->revocation_endpoint);
    free(a->issuer);
    free(a->redirect_uri);
    free(a->ca_file);
    free(a->proxy);
    free(a->token_file);
    free_list(a->allow, a->nallow);
    free(a->authorize_params);
    memset(a, 0, sizeof(*a));
}

static void
account_defaults(struct account *a)
{
    memset(a, 0, sizeof(*a));
    a->provider = PROVIDER_MICROSOFT;
    a->client_auth = CLIENT_AUTH_POST;
    a->grant = GRANT_AUTHORIZATION_CODE;
    a->refresh_token_lifetime = 90L * 86400;
    a->refresh_margin = 300;
    a->timeout = 30;
}

static int
copy_string(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst == NULL ? -1 : 0;
}

/* Deep-copies the values of the [defaults] template into a new account. */
static int
account_copy(struct account *dst, const struct account *src)
{
    int r = 0;

    *dst = *src;
    dst->allow = NULL;
    dst->nallow = 0;
    r |= copy_string(&dst->name, src->name);
    r |= copy_string(&dst->tenant, src->tenant);
    r |= copy_string(&dst->client_id, src->client_id);
    r |= copy_string(&dst->client_secret, src->client_secret);
    r |= copy_string(&dst->client_secret_file, src->client_secret_file);
    r |= copy_string(&dst->client_secret_command, src->client_secret_command);
    r |= copy_string(&dst->client_certificate, src->client_certificate);
    r |= copy_string(&dst->client_key, src->client_key);
    r |= copy_string(&dst->user, src->user);
    r |= copy_string(&dst->mailbox, src->mailbox);
    r |= copy_string(&dst->scope, src->scope);
    r |= copy_string(&dst->authorization_endpoint, src->authorization_endpoint);
    r |= copy_string(&dst->token_endpoint, src->token_endpoint);
    r |= copy_string(&dst->device_authorization_endpoint, src->device_authorization_endpoint);
    r |= copy_string(&dst->revocation_endpoint, src->revocation_endpoint);
    r |= copy_string(&dst->issuer, src->issuer);
    r |= copy_string(&dst->redirect_uri, src->redirect_uri);
    r |= copy_string(&dst->ca_file, src->ca_file);
    r |= copy_string(&dst->proxy, src->proxy);
    r |= copy_string(&dst->token_file, src->token_file);
    r |= copy_string(&dst->authorize_params, src->authorize_params);
    if (src->nallow > 0) {
        dst->allow = calloc(src->nallow, sizeof(char *));
        if (dst->allow == NULL)
            return -1;
        dst->nallow = src->nallow;
        for (size_t i = 0; i < src->nallow; i++)
            r |= copy_string(&dst->allow[i], src->allow[i]);
    }
    return r;
}

static int
apply_entry(struct build *b, struct account *a, const struct entry *e, int in_defaults,
            struct mt_err *err)
{
    const struct key_def *def = find_key(e->key);

    if (def == NULL) {
        const char *hint = suggest_key(e->key);

        if (hint != NULL)
            return err_set(err, EX_CONFIG, "unknown key \"%s\" in [%s]: did you mean \"%s\"?",
                           e->key, e->section, hint);
        return err_set(err, EX_CONFIG,
                       "unknown key \"%s\" in [%s]: see mailtoken.conf(5) for the valid keys",
                       e->key, e->section);
    }
    if (def->scope == KEY_GLOBAL && !in_defaults)
        return err_set(err, EX_CONFIG, "%s is valid only in [defaults], not in [%s]", e->key,
                       e->section);
    if (def->scope == KEY_GLOBAL && a != NULL)
        return 0;
    if (def->scope == KEY_ACCOUNT && a == NULL)
        return 0;
    return def->apply(b, a, e, err);
}

/* Checks what a finished account needs, and applies its provider preset. */
static int
account_finish(struct build *b, struct account *a, struct mt_err *err)
{
    int sources = (a->client_secret != NULL) + (a->client_secret_file != NULL) +
                  (a->client_secret_command != NULL);

    if (a->client_id == NULL)
        return err_set(err, EX_CONFIG,
                       "client_id is missing: copy the Application (client) ID of the app "
                       "registration into the account");
    if (sources > 1)
        return err_set(err, EX_CONFIG,
                       "set only one of client_secret, client_secret_file and "
                       "client_secret_command");
    if (sources > 0 && a->client_certificate != NULL)
        return err_set(err, EX_CONFIG,
                       "set either a client secret or client_certificate, not both: once the "
                       "certificate works, remove the secret from the account");
    if (a->client_key != NULL && a->client_certificate == NULL)
        return err_set(err, EX_CONFIG,
                       "client_key needs client_certificate, the certificate uploaded to the app "
                       "registration");
    if (a->grant == GRANT_CLIENT_CREDENTIALS && sources == 0 && a->client_certificate == NULL)
        return err_set(err, EX_CONFIG,
                       "grant client_credentials needs a client secret or a certificate: set "
                       "client_secret_file, client_secret_command or client_certificate");
    if (a->client_assertion_alg == ASSERTION_ALG_DEFAULT)
        a->client_assertion_alg = a->provider == PROVIDER_MICROSOFT ? ASSERTION_ALG_PS256
                                                                    : ASSERTION_ALG_RS256;
    if (provider_apply(a, b->scope_set ? b->scope_spec : NULL, err) != 0) {
        /* Point a scope error at the scope line rather than the section. */
        if (b->scope_set && strstr(err->msg, "scope") != NULL)
            b->error_line = b->scope_line;
        return -1;
    }
    if (a->timeout < 1)
        return err_set(err, EX_CONFIG, "timeout must be at least 1 second");
    return 0;
}

static int
check_file_mode(struct config *cfg, const char *file, struct mt_err *err)
{
    struct stat st;
    int has_secret = 0;

    for (size_t i = 0; i < cfg->naccounts; i++)
        if (cfg->accounts[i].client_secret != NULL)
            has_secret = 1;
    if (!has_secret || stat(file, &st) != 0)
        return 0;
    if ((st.st_mode & 077) != 0)
        return err_set(err, EX_CONFIG,
                       "%s contains a client_secret and others can read it: run chmod 600 %s, "
                       "or move the secret to a client_secret_file", file, file);
    return 0;
}

static int
build_config(struct config *cfg, struct parse *p, struct mt_err *err)
{
    struct build b = {.cfg = cfg, .file = p->name};
    struct account template;
    const struct entry *e = NULL;
    char *defaults_scope = NULL;
    size_t cursor;
    unsigned defaults_scope_line;
    int defaults_scope_set, rc = -1;

    account_defaults(&template);

    /* [defaults] first, so that its errors point at its own lines. */
    for (size_t i = 0; i < p->nentries; i++) {
        e = &p->entries[i];
        if (strcmp(e->section, DEFAULTS_SECTION) != 0)
            continue;
        if (apply_entry(&b, NULL, e, 1, err) != 0 || apply_entry(&b, &template, e, 1, err) != 0)
            goto entry_failed;
    }
    defaults_scope = b.scope_spec;
    defaults_scope_set = b.scope_set;
    defaults_scope_line = b.scope_line;

    b.scope_spec = NULL;
    /* Each section's entries are contiguous and in section order (a repeated
     * section is an error), so one cursor walks them all. */
    cursor = 0;
    for (size_t s = 0; s < p->nsections; s++) {
        struct account *a;

        if (strcmp(p->sections[s], DEFAULTS_SECTION) == 0) {
            while (cursor < p->nentries && strcmp(p->entries[cursor].section, p->sections[s]) == 0)
                cursor++;
            continue;
        }
        a = &cfg->accounts[cfg->naccounts];
        if (account_copy(a, &template) != 0) {
            account_free(a);
            err_set(err, EX_OSERR, "out of memory");
            goto done;
        }
        cfg->naccounts++;
        a->name = strdup(p->sections[s]);
        if (a->name == NULL) {
            err_set(err, EX_OSERR, "out of memory");
            goto done;
        }
        a->line = p->section_line[s];
        free(b.scope_spec);
        b.scope_spec = defaults_scope != NULL ? strdup(defaults_scope) : NULL;
        b.scope_set = defaults_scope_set;
        b.scope_line = defaults_scope_line;
        b.error_line = 0;
        for (; cursor < p->nentries && strcmp(p->entries[cursor].section, a->name) == 0; cursor++) {
            e = &p->entries[cursor];
            if (apply_entry(&b, a, e, 0, err) != 0)
                goto entry_failed;
        }
        if (account_finish(&b, a, err) != 0) {
            err_prefix(err, "%s:%u: [%s]", p->name, b.error_line != 0 ? b.error_line : a->line,
                       a->name);
            goto done;
        }
    }
    if (check_file_mode(cfg, p->name, err) != 0)
        goto done;
    rc = 0;
    goto done;

entry_failed:
    /* The messages of key handlers name the key themselves. */
    err_prefix(err, "%s:%u", p->name, e->line);
done:
    free(b.scope_spec);
    free(defaults_scope);
    account_free(&template);
    return rc;
}

static void
config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->socket_mode = 0660;
    cfg->keepalive = 7L * 86400;
    cfg->helper_timeout = 20;
}

static int
default_store(struct config *cfg, struct mt_err *err)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char path[4096];
    int n;

    if (cfg->store != NULL)
        return 0;
    if (cfg->is_system)
        n = snprintf(path, sizeof(path), "/var/lib/mailtoken");
    else if (state != NULL && state[0] == '/')
        n = snprintf(path, sizeof(path), "%s/mailtoken", state);
    else if (home != NULL && home[0] == '/')
        n = snprintf(path, sizeof(path), "%s/.local/state/mailtoken", home);
    else
        return err_set(err, EX_CONFIG,
                       "no token store folder: HOME is not set; set store = DIR in [defaults]");
    if (n < 0 || (size_t)n >= sizeof(path))
        return err_set(err, EX_CONFIG, "the token store path is too long");
    cfg->store = strdup(path);
    if (cfg->store == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    return 0;
}

static int
parse_text(struct config *cfg, const char *name, const char *text, struct mt_err *err)
{
    struct parse p;
    int r, rc = -1;
    size_t account_sections = 0;

    memset(&p, 0, sizeof(p));
    p.name = name;
    p.text = text;
    err_clear(&p.err);
    r = ini_parse_stream(reader, &p, handler, &p);
    if (p.long_line != 0 && (p.err.code == 0 || p.long_line <= p.err_line)) {
        err_set(err, EX_CONFIG,
                "%s:%u: line is too long (at most %d characters); continue a long value on "
                "the next line, indented", name, p.long_line, INI_MAX_LINE - 2);
        goto done;
    }
    if (r > 0 && (p.err.code == 0 || (unsigned)r < p.err_line)) {
        err_set(err, EX_CONFIG,
                "%s:%d: syntax error: expected [section], key = value, or a comment", name, r);
        goto done;
    }
    if (r < 0) {
        err_set(err, EX_OSERR, "%s: out of memory while parsing", name);
        goto done;
    }
    if (p.err.code != 0) {
        *err = p.err;
        err_prefix(err, "%s:%u", name, p.err_line);
        goto done;
    }
    for (size_t i = 0; i < p.nsections; i++)
        if (strcmp(p.sections[i], DEFAULTS_SECTION) != 0)
            account_sections++;
    cfg->accounts = calloc(account_sections + 1, sizeof(struct account));
    if (cfg->accounts == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    if (build_config(cfg, &p, err) != 0)
        goto done;
    if (cfg->helper_timeout < 1)
        cfg->helper_timeout = 1;
    rc = 0;
done:
    parse_free(&p);
    return rc;
}

int
config_load_string(struct config *cfg, const char *name, const char *text, struct mt_err *err)
{
    config_defaults(cfg);
    if (parse_text(cfg, name, text, err) != 0)
        return -1;
    return default_store(cfg, err);
}

static int
read_file(const char *path, char **text_r, struct mt_err *err)
{
    struct mt_buf buf;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, errno == ENOENT ? EX_CONFIG : EX_NOINPUT,
                       "cannot open the configuration file %s: %s", path, strerror(errno));
    mt_buf_init(&buf, CONFIG_MAX_SIZE);
    if (mt_read_all(fd, &buf) != 0) {
        if (errno == ENOMEM)
            err_set(err, EX_OSERR, "%s: out of memory", path);
        else if (errno == ENOSPC)
            err_set(err, EX_CONFIG, "%s is larger than %d bytes", path, CONFIG_MAX_SIZE);
        else
            err_set(err, EX_NOINPUT, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if (memchr(mt_buf_str(&buf), '\0', buf.len) != NULL) {
        err_set(err, EX_CONFIG, "%s contains a NUL byte: it is not a text file", path);
        goto fail;
    }
    close(fd);
    *text_r = mt_buf_detach(&buf);
    if (*text_r == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    return 0;

fail:
    close(fd);
    mt_buf_free(&buf);
    return -1;
}

int
config_load(struct config *cfg, const char *path, struct mt_err *err)
{
    char located[4096];
    char *text = NULL;
    const char *named_by = "--config";
    int source, rc;

    config_defaults(cfg);
    if (path == NULL) {
        source = mt_confpath_locate(located, sizeof(located), config_system_path());
        if (source < 0)
            return err_set(err, EX_CONFIG, "the configuration file's path is too long");
        if (source == MT_CONFPATH_NONE) {
            /* No file anywhere: no accounts, and commands explain how to add one. */
            return default_store(cfg, err);
        }
        path = located;
        named_by = source == MT_CONFPATH_ENV ? "MAILTOKEN_CONFIG" : NULL;
    }
    cfg->path = strdup(path);
    if (cfg->path == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    cfg->is_system = strcmp(path, config_system_path()) == 0;
    if (read_file(path, &text, err) != 0) {
        if (named_by != NULL && access(path, F_OK) != 0)
            err_set(err, EX_CONFIG,
                    "the configuration file %s, named by %s, does not exist: check the path, "
                    "or create the file with an account section such as [work]", path, named_by);
        return -1;
    }
    rc = parse_text(cfg, path, text, err);
    mt_strfree(text);
    if (rc != 0)
        return -1;
    return default_store(cfg, err);
}

void
config_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->naccounts; i++)
        account_free(&cfg->accounts[i]);
    free(cfg->accounts);
    free(cfg->path);
    free(cfg->store);
    free_list(cfg->sockets, cfg->nsockets);
    free(cfg->socket_group);
    free(cfg->notify_command);
    free(cfg->log);
    free(cfg->helper);
    free(cfg->plugin_socket);
    memset(cfg, 0, sizeof(*cfg));
}

/* Collects the accounts that match one rule; returns how many. */
static size_t
match_accounts(const struct config *cfg, const char *name, int rule,
               const struct account **first, struct mt_buf *names)
{
    size_t n = 0;

    for (size_t i = 0; i < cfg->naccounts; i++) {
        const struct account *a = &cfg->accounts[i];
        int hit;

        switch (rule) {
        case 0:
            hit = a->mailbox != NULL && strcasecmp(a->mailbox, name) == 0;
            break;
        case 1:
            hit = a->mailbox == NULL && a->user != NULL && strcasecmp(a->user, name) == 0;
            break;
        default:
            hit = a->user != NULL && strcasecmp(a->user, name) == 0;
            break;
        }
        if (!hit)
            continue;
        if (n == 0)
            *first = a;
        if (names->len > 0)
            mt_buf_append_str(names, ", ");
        mt_buf_append_str(names, a->name);
        n++;
    }
    return n;
}

const struct account *
config_find_account(const struct config *cfg, const char *name, int *as_mailbox_r,
                    struct mt_err *err)
{
    const struct account *found = NULL;
    struct mt_buf names;

    *as_mailbox_r = 0;
    for (size_t i = 0; i < cfg->naccounts; i++)
        if (strcmp(cfg->accounts[i].name, name) == 0)
            return &cfg->accounts[i];

    mt_buf_init(&names, 1024);
    for (int rule = 0; rule < 3; rule++) {
        size_t n;

        mt_buf_reset(&names);
        n = match_accounts(cfg, name, rule, &found, &names);
        if (n == 1) {
            *as_mailbox_r = rule == 0;
            mt_buf_free(&names);
            return found;
        }
        if (n > 1) {
            err_set(err, EX_CONFIG,
                    "%s: the address matches several accounts (%s): name the account instead",
                    name, mt_buf_str(&names));
            mt_buf_free(&names);
            return NULL;
        }
    }
    if (cfg->path == NULL)
        err_set_kind(err, EX_CONFIG, "unknown-account",
                     "%s: no configuration file: create %s or ~/.config/mailtoken/config "
                     "with an account section", name, config_system_path());
    else {
        /* Name the first accounts, so that a typing error is easy to see. */
        mt_buf_reset(&names);
        names.len = 0;
        for (size_t i = 0; i < cfg->naccounts && i < 8; i++)
            mt_buf_printf(&names, "%s%s", i > 0 ? ", " : "", cfg->accounts[i].name);
        if (cfg->naccounts > 8)
            mt_buf_printf(&names, " and %zu more", cfg->naccounts - 8);
        err_set_kind(err, EX_CONFIG, "unknown-account",
                     "%s: no account of that name, user or mailbox in %s (accounts: %s)", name,
                     cfg->path, cfg->naccounts > 0 ? mt_buf_str(&names) : "none");
    }
    mt_buf_free(&names);
    return NULL;
}
