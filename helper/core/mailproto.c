/* IMAP, POP3 and SMTP details for OAuth2 logins: parsing and message building. */
#include "mailproto.h"

#include "cloud.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "jsonutil.h"
#include "mt_base64.h"

/* Standard ports and what they mean. */
struct port_role {
    long port;
    enum mail_protocol protocol;
    enum mail_tls tls;
};

static const struct port_role port_roles[] = {
    {.port = 993, .protocol = MAIL_IMAP, .tls = MAIL_TLS_IMPLICIT},
    {.port = 143, .protocol = MAIL_IMAP, .tls = MAIL_TLS_STARTTLS},
    {.port = 995, .protocol = MAIL_POP3, .tls = MAIL_TLS_IMPLICIT},
    {.port = 110, .protocol = MAIL_POP3, .tls = MAIL_TLS_STARTTLS},
    {.port = 465, .protocol = MAIL_SMTP, .tls = MAIL_TLS_IMPLICIT},
    {.port = 587, .protocol = MAIL_SMTP, .tls = MAIL_TLS_STARTTLS},
    {.port = 25, .protocol = MAIL_SMTP, .tls = MAIL_TLS_STARTTLS},
};

struct scheme {
    const char *name;
    enum mail_protocol protocol;
    enum mail_tls tls;
    long default_port;
};

static const struct scheme schemes[] = {
    {.name = "imaps", .protocol = MAIL_IMAP, .tls = MAIL_TLS_IMPLICIT, .default_port = 993},
    {.name = "imap", .protocol = MAIL_IMAP, .tls = MAIL_TLS_STARTTLS, .default_port = 143},
    {.name = "pop3s", .protocol = MAIL_POP3, .tls = MAIL_TLS_IMPLICIT, .default_port = 995},
    {.name = "pop3", .protocol = MAIL_POP3, .tls = MAIL_TLS_STARTTLS, .default_port = 110},
    {.name = "smtps", .protocol = MAIL_SMTP, .tls = MAIL_TLS_IMPLICIT, .default_port = 465},
    {.name = "smtp", .protocol = MAIL_SMTP, .tls = MAIL_TLS_STARTTLS, .default_port = 587},
};

struct provider_server {
    enum provider provider;
    enum mail_protocol protocol;
    const char *host;
    long port;
};

static const struct provider_server provider_servers[] = {
    {.provider = PROVIDER_MICROSOFT, .protocol = MAIL_IMAP, .host = "outlook.office365.com",
     .port = 993},
    {.provider = PROVIDER_MICROSOFT, .protocol = MAIL_POP3, .host = "outlook.office365.com",
     .port = 995},
    {.provider = PROVIDER_MICROSOFT, .protocol = MAIL_SMTP, .host = "smtp.office365.com",
     .port = 587},
    {.provider = PROVIDER_GOOGLE, .protocol = MAIL_IMAP, .host = "imap.gmail.com", .port = 993},
    {.provider = PROVIDER_GOOGLE, .protocol = MAIL_POP3, .host = "pop.gmail.com", .port = 995},
    {.provider = PROVIDER_GOOGLE, .protocol = MAIL_SMTP, .host = "smtp.gmail.com", .port = 587},
};

const char *
mail_protocol_name(enum mail_protocol p)
{
    switch (p) {
    case MAIL_IMAP:
        return "IMAP";
    case MAIL_POP3:
        return "POP3";
    case MAIL_SMTP:
        return "SMTP";
    }
    return "?";
}

int
mail_protocol_parse(const char *s, enum mail_protocol *p_r)
{
    if (strcasecmp(s, "imap") == 0)
        *p_r = MAIL_IMAP;
    else if (strcasecmp(s, "pop3") == 0 || strcasecmp(s, "pop") == 0)
        *p_r = MAIL_POP3;
    else if (strcasecmp(s, "smtp") == 0)
        *p_r = MAIL_SMTP;
    else
        return -1;
    return 0;
}

const char *
mail_mech_name(enum mail_mech m)
{
    return m == MAIL_MECH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2";
}

int
mail_mech_parse(const char *s, enum mail_mech *m_r)
{
    if (strcasecmp(s, "xoauth2") == 0)
        *m_r = MAIL_MECH_XOAUTH2;
    else if (strcasecmp(s, "oauthbearer") == 0)
        *m_r = MAIL_MECH_OAUTHBEARER;
    else
        return -1;
    return 0;
}

static int
host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static int
ipv6_char_ok(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
           c == ':' || c == '.';
}

/* Parses a decimal port 1..65535 of n characters. Returns 0 or -1. */
static int
parse_port(const char *s, size_t n, long *port_r)
{
    long port = 0;

    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    if (port < 1 || port > 65535)
        return -1;
    *port_r = port;
    return 0;
}

/*
 * Splits "HOST", "HOST:PORT" or "[V6]:PORT" (n characters at s) into the
 * target's host and *port_r (0 when absent). Returns 0 or -1 with err set.
 */
static int
parse_host_port(const char *arg, const char *s, size_t n, struct mail_target *t, long *port_r,
                struct mt_err *err)
{
    const char *host = s, *port = NULL;
    size_t host_len;

    *port_r = 0;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);

        if (close == NULL)
            return err_set(err, EX_USAGE, "\"%s\": ']' missing after the IPv6 address", arg);
        host = s + 1;
        host_len = (size_t)(close - host);
        for (size_t i = 0; i < host_len; i++)
            if (!ipv6_char_ok(host[i]))
                return err_set(err, EX_USAGE, "\"%s\": not an IPv6 address in brackets", arg);
        if (close + 1 < s + n) {
            if (close[1] != ':')
                return err_set(err, EX_USAGE, "\"%s\": expected :PORT after ']'", arg);
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);

        host_len = colon != NULL ? (size_t)(colon - s) : n;
        for (size_t i = 0; i < host_len; i++)
            if (!host_char_ok(host[i]))
                return err_set(err, EX_USAGE,
                               "\"%s\": the host name may contain only letters, digits, '.', "
                               "'-' and '_'", arg);
        if (colon != NULL)
            port = colon + 1;
    }
    if (host_len == 0)
        return err_set(err, EX_USAGE, "\"%s\": the host is missing", arg);
    if (host_len >= sizeof(t->host))
        return err_set(err, EX_USAGE, "\"%s\": the host name is too long", arg);
    memcpy(t->host, host, host_len);
    t->host[host_len] = '\0';
    if (port != NULL && parse_port(port, (size_t)(s + n - port), port_r) != 0)
        return err_set(err, EX_USAGE, "\"%s\": the port must be a number from 1 to 65535", arg);
    return 0;
}

static const struct port_role *
find_port_role(long port)
{
    for (size_t i = 0; i < sizeof(port_roles) / sizeof(port_roles[0]); i++)
        if (port_roles[i].port == port)
            return &port_roles[i];
    return NULL;
}

/* The TLS mode of a standard port (all callers pass one). */
static enum mail_tls
tls_of_port(long port)
{
    const struct port_role *role = find_port_role(port);

    return role != NULL ? role->tls : MAIL_TLS_IMPLICIT;
}

static const char *
scheme_name(enum mail_protocol p, enum mail_tls tls)
{
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (schemes[i].protocol == p && schemes[i].tls == tls)
            return schemes[i].name;
    return "?";
}

static long
default_port(enum mail_protocol p)
{
    switch (p) {
    case MAIL_IMAP:
        return 993;
    case MAIL_POP3:
        return 995;
    case MAIL_SMTP:
        return 587;
    }
    return 993;
}

int
mail_target_parse(const char *arg, int protocol_given, enum mail_protocol protocol,
                  struct mail_target *t, struct mt_err *err)
{
    const char *sep = strstr(arg, "://");
    size_t n = strlen(arg);
    long port;

    memset(t, 0, sizeof(*t));
    if (sep != NULL) {
        const struct scheme *sc = NULL;
        const char *rest = sep + 3;
        size_t scheme_len = (size_t)(sep - arg);

        for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
            if (strlen(schemes[i].name) == scheme_len &&
                strncasecmp(arg, schemes[i].name, scheme_len) == 0)
                sc = &schemes[i];
        if (sc == NULL)
            return err_set(err, EX_USAGE,
                           "\"%s\": the scheme must be imaps, imap, pop3s, pop3, smtps or smtp",
                           arg);
        if (protocol_given && sc->protocol != protocol)
            return err_set(err, EX_USAGE, "\"%s\" is a %s server, not %s", arg,
                           mail_protocol_name(sc->protocol), mail_protocol_name(protocol));
        n = strlen(rest);
        if (n > 0 && rest[n - 1] == '/')
            n--;
        if (parse_host_port(arg, rest, n, t, &port, err) != 0)
            return -1;
        t->protocol = sc->protocol;
        t->tls = sc->tls;
        t->port = port != 0 ? port : sc->default_port;
        return 0;
    }

    if (parse_host_port(arg, arg, n, t, &port, err) != 0)
        return -1;
    if (port == 0) {
        t->protocol = protocol_given ? protocol : MAIL_IMAP;
        t->port = default_port(t->protocol);
        t->tls = tls_of_port(t->port);
        return 0;
    }
    const struct port_role *role = find_port_role(port);

    if (role == NULL)
        return err_set(err, EX_USAGE,
                       "\"%s\": port %ld is not a standard mail port, so say which TLS it "
                       "speaks: %s://%s:%ld for implicit TLS or %s://%s:%ld for STARTTLS",
                       arg, port, scheme_name(protocol, MAIL_TLS_IMPLICIT), t->host, port,
                       scheme_name(protocol, MAIL_TLS_STARTTLS), t->host, port);
    if (protocol_given && role->protocol != protocol)
        return err_set(err, EX_USAGE, "\"%s\": port %ld is a %s port, not %s", arg, port,
                       mail_protocol_name(role->protocol), mail_protocol_name(protocol));
    t->protocol = role->protocol;
    t->tls = role->tls;
    t->port = port;
    return 0;
}

int
mail_target_default(enum provider provider, enum mail_protocol protocol, struct mail_target *t,
                    struct mt_err *err)
{
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < sizeof(provider_servers) / sizeof(provider_servers[0]); i++) {
        const struct provider_server *s = &provider_servers[i];

        if (s->provider != provider || s->protocol != protocol)
            continue;
        snprintf(t->host, sizeof(t->host), "%s", s->host);
        t->protocol = protocol;
        t->port = s->port;
        t->tls = tls_of_port(s->port);
        return 0;
    }
    return err_set(err, EX_USAGE,
                   "the account's provider has no standard %s server: name it as HOST:PORT",
                   mail_protocol_name(protocol));
}

int
mail_target_for_account(const struct account *a, enum mail_protocol protocol,
                        struct mail_target *t, struct mt_err *err)
{
    const struct cloud_hosts *hosts;
    const struct cloud_server *server;

    if (a->provider != PROVIDER_MICROSOFT)
        return mail_target_default(a->provider, protocol, t, err);
    /* Microsoft's national clouds have their own mail servers. */
    hosts = cloud_get(a->cloud);
    server = protocol == MAIL_IMAP ? &hosts->imap : protocol == MAIL_POP3 ? &hosts->pop3
                                                                          : &hosts->smtp;
    memset(t, 0, sizeof(*t));
    snprintf(t->host, sizeof(t->host), "%s", server->host);
    t->protocol = protocol;
    t->port = server->port;
    t->tls = tls_of_port(server->port);
    return 0;
}

int
mail_target_url(const struct mail_target *t, char *url, size_t size)
{
    int is_v6 = strchr(t->host, ':') != NULL;
    int n = snprintf(url, size, "%s://%s%s%s:%ld/", scheme_name(t->protocol, t->tls),
                     is_v6 ? "[" : "", t->host, is_v6 ? "]" : "", t->port);

    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---- SASL messages ---- */

static int
check_user(const char *user, struct mt_err *err)
{
    if (user == NULL || user[0] == '\0')
        return err_set(err, EX_CONFIG, "the SASL user name is empty: set user (or mailbox)");
    for (const unsigned char *p = (const unsigned char *)user; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return err_set(err, EX_CONFIG,
                           "the SASL user name contains a control character: check user and "
                           "mailbox");
    return 0;
}

/* A bearer token is b64token (RFC 6750 section 2.1) in practice: printable ASCII, no space. */
static int
check_token(const char *token, struct mt_err *err)
{
    if (token == NULL || token[0] == '\0')
        return err_set(err, EX_CONFIG, "the access token is empty");
    for (const unsigned char *p = (const unsigned char *)token; *p != '\0'; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return err_set(err, EX_PROTOCOL,
                           "the access token contains a byte that cannot go into a SASL "
                           "message (a space, control or non-ASCII byte): the token endpoint "
                           "sent something unusual");
    return 0;
}

int
mail_sasl_xoauth2(struct mt_buf *out, const char *user, const char *token, struct mt_err *err)
{
    if (check_user(user, err) != 0 || check_token(token, err) != 0)
        return -1;
    if (mt_buf_printf(out, "user=%s\001auth=Bearer %s\001\001", user, token) != 0)
        return err_set(err, EX_OSERR, "out of memory");
    return 0;
}

int
mail_sasl_oauthbearer(struct mt_buf *out, const char *user, const char *host, long port,
                      const char *token, struct mt_err *err)
{
    int r = 0;

    if (check_user(user, err) != 0 || check_token(token, err) != 0)
        return -1;
    r |= mt_buf_append_str(out, "n,a=");
    for (const char *p = user; *p != '\0'; p++) {
        if (*p == ',')
            r |= mt_buf_append_str(out, "=2C");
        else if (*p == '=')
            r |= mt_buf_append_str(out, "=3D");
        else
            r |= mt_buf_append_byte(out, (unsigned char)*p);
    }
    r |= mt_buf_append_str(out, ",\001");
    if (host != NULL)
        r |= mt_buf_printf(out, "host=%s\001port=%ld\001", host, port);
    r |= mt_buf_printf(out, "auth=Bearer %s\001\001", token);
    if (r != 0)
        return err_set(err, EX_OSERR, "out of memory");
    return 0;
}

/* ---- display and error challenges ---- */

void
mail_sanitize(char *dst, size_t size, const char *s, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[n] = '\0';
}

static void
copy_member(struct json_object *o, const char *key, char *dst, size_t size)
{
    const char *v = json_get_str(o, key);

    if (v != NULL)
        mail_sanitize(dst, size, v, strlen(v));
}

void
mail_challenge_parse(const char *b64, size_t len, struct mail_challenge *c)
{
    struct mt_buf raw;
    struct json_object *o;
    const char *why;

    memset(c, 0, sizeof(*c));
    mt_buf_init(&raw, 8192);
    if (mt_base64_decode(&raw, b64, len, MT_BASE64_STD) != 0) {
        mail_sanitize(c->text, sizeof(c->text), b64, len);
        goto done;
    }
    mail_sanitize(c->text, sizeof(c->text), mt_buf_str(&raw), raw.len);
    o = json_parse_wiped(mt_buf_str(&raw), raw.len, &why);
    if (o == NULL)
        goto done;
    if (json_object_is_type(o, json_type_object)) {
        c->is_json = 1;
        copy_member(o, "status", c->status, sizeof(c->status));
        copy_member(o, "scope", c->scope, sizeof(c->scope));
    }
    json_wipe_put(o);
done:
    mt_buf_free(&raw);
}

int
mail_caps_has(const char *caps, const char *word)
{
    size_t n = strlen(word);
    const char *p = caps;

    while (*p != '\0') {
        size_t len;

        while (*p == ' ')
            p++;
        len = strcspn(p, " ");
        if (len == n && strncasecmp(p, word, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/* ---- IMAP ---- */

static enum imap_cond
imap_cond_of(const char *word, size_t n)
{
    static const struct {
        const char *name;
        enum imap_cond cond;
    } conds[] = {
        {.name = "OK", .cond = IMAP_OK},
        {.name = "NO", .cond = IMAP_NO},
        {.name = "BAD", .cond = IMAP_BAD},
        {.name = "PREAUTH", .cond = IMAP_PREAUTH},
        {.name = "BYE", .cond = IMAP_BYE},
    };

    for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
        if (strlen(conds[i].name) == n && strncasecmp(word, conds[i].name, n) == 0)
            return conds[i].cond;
    return IMAP_OTHER;
}

void
imap_reply_parse(const char *line, struct imap_reply *r)
{
    const char *p = line, *word;
    size_t n;

    memset(r, 0, sizeof(*r));
    r->text = "";
    if (line[0] == '+' && (line[1] == ' ' || line[1] == '\0')) {
        r->kind = IMAP_CONTINUATION;
        r->text = line[1] == ' ' ? line + 2 : line + 1;
        return;
    }
    n = strcspn(p, " ");
    if (n == 0 || p[n] != ' ') {
        r->kind = IMAP_MALFORMED;
        r->text = line;
        return;
    }
    if (n == 1 && p[0] == '*') {
        r->kind = IMAP_UNTAGGED;
    } else {
        r->kind = IMAP_TAGGED;
        if (n >= sizeof(r->tag)) {
            r->kind = IMAP_MALFORMED;
            r->text = line;
            return;
        }
        memcpy(r->tag, p, n);
        r->tag[n] = '\0';
    }
    p += n + 1;
    word = p;
    n = strcspn(p, " ");
    r->cond = imap_cond_of(word, n);
    if (r->cond == IMAP_OTHER) {
        if (r->kind == IMAP_TAGGED)
            r->kind = IMAP_MALFORMED;
        r->text = word;
        return;
    }
    p += n;
    if (*p == ' ')
        p++;
    if (*p == '[') {
        size_t code_len = strcspn(p + 1, " ]");
        const char *close = strchr(p, ']');

        mail_sanitize(r->code, sizeof(r->code), p + 1,
                      code_len < sizeof(r->code) ? code_len : sizeof(r->code) - 1);
        if (close != NULL) {
            p = close + 1;
            if (*p == ' ')
                p++;
        }
    }
    r->text = p;
}

/* Replaces caps with the n characters at list, squeezing runs of spaces. */
static int
set_caps(struct mt_buf *caps, const char *list, size_t n)
{
    mt_buf_reset(caps);
    for (size_t i = 0; i < n; i++) {
        if (list[i] == ' ' && (caps->len == 0 || caps->data[caps->len - 1] == ' '))
            continue;
        if (mt_buf_append_byte(caps, (unsigned char)list[i]) != 0)
            return -1;
    }
    if (caps->len > 0 && caps->data[caps->len - 1] == ' ')
        caps->data[--caps->len] = '\0';
    return 1;
}

int
imap_capability_parse(const char *line, struct mt_buf *caps)
{
    static const char untagged[] = "* CAPABILITY ";
    static const char code[] = "[CAPABILITY ";
    const char *p, *end;

    if (strncasecmp(line, untagged, sizeof(untagged) - 1) == 0) {
        p = line + sizeof(untagged) - 1;
        return set_caps(caps, p, strlen(p));
    }
    p = strchr(line, '[');
    if (p == NULL || strncasecmp(p, code, sizeof(code) - 1) != 0)
        return 0;
    p += sizeof(code) - 1;
    end = strchr(p, ']');
    if (end == NULL)
        return 0;
    return set_caps(caps, p, (size_t)(end - p));
}

int
imap_caps_for_preauth(const char *caps, struct mt_buf *out)
{
    static const char *const dropped[] = {"STARTTLS", "LOGINDISABLED", "SASL-IR"};
    const char *p = caps;

    mt_buf_reset(out);
    while (*p != '\0') {
        size_t len;
        int keep = 1;

        while (*p == ' ')
            p++;
        len = strcspn(p, " ");
        if (len == 0)
            break;
        if (len >= 5 && strncasecmp(p, "AUTH=", 5) == 0)
            keep = 0;
        for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
            if (strlen(dropped[i]) == len && strncasecmp(p, dropped[i], len) == 0)
                keep = 0;
        if (keep && ((out->len > 0 && mt_buf_append_byte(out, ' ') != 0) ||
                     mt_buf_append(out, p, len) != 0))
            return -1;
        p += len;
    }
    return 0;
}

/* ---- SMTP ---- */

int
smtp_reply_line(const char *line, int *code_r, int *last_r)
{
    for (int i = 0; i < 3; i++)
        if (line[i] < '0' || line[i] > '9')
            return -1;
    if (line[0] < '2' || line[0] > '5')
        return -1;
    *code_r = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (line[3] == '\0') {
        *last_r = 1;
        return 3;
    }
    if (line[3] != ' ' && line[3] != '-')
        return -1;
    *last_r = line[3] == ' ';
    return 4;
}

int
smtp_ehlo_auth(const char *ehlo, struct mt_buf *mechs)
{
    const char *line = ehlo;

    while (*line != '\0') {
        size_t len = strcspn(line, "\n");

        if (len >= 5 && strncasecmp(line, "AUTH", 4) == 0 &&
            (line[4] == ' ' || line[4] == '='))
            return set_caps(mechs, line + 5, len - 5);
        line += len;
        if (*line == '\n')
            line++;
    }
    return 0;
}

void
smtp_enhanced_code(const char *text, char *out, size_t size)
{
    size_t n = strspn(text, "0123456789.");
    int dots = 0;

    for (size_t i = 0; i < n; i++)
        dots += text[i] == '.';
    if (n < 5 || dots != 2 || (text[n] != ' ' && text[n] != '\0') || text[1] != '.') {
        out[0] = '\0';
        return;
    }
    mail_sanitize(out, size, text, n);
}

/* ---- POP3 ---- */

int
pop3_capa_sasl(const char *capa, struct mt_buf *mechs)
{
    const char *line = capa;

    while (*line != '\0') {
        size_t len = strcspn(line, "\n");

        if (len >= 4 && strncasecmp(line, "SASL", 4) == 0 && (len == 4 || line[4] == ' '))
            return set_caps(mechs, line + 4, len - 4);
        line += len;
        if (*line == '\n')
            line++;
    }
    return 0;
}

void
pop3_resp_code(const char *line, char *out, size_t size)
{
    const char *p = strchr(line, ' ');
    size_t n;

    out[0] = '\0';
    if (p == NULL || p[1] != '[')
        return;
    p += 2;
    n = strcspn(p, "] ");
    if (p[n] != ']')
        return;
    mail_sanitize(out, size, p, n);
}
