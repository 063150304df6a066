/* Provider presets (endpoints, client authentication) and scope expansion. */
#include "provider.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloud.h"
#include "mt_buf.h"

/*
 * Scope short names. Microsoft's delegated scopes are written without
 * their resource, because it depends on the cloud (outlook.office.com in
 * the global one). With grant client_credentials every Microsoft short
 * name means the resource's app-only scope RESOURCE/.default.
 */
struct short_scope {
    enum provider provider;
    const char *name;
    const char *scope;
};

static const struct short_scope short_scopes[] = {
    {.provider = PROVIDER_MICROSOFT, .name = "imap", .scope = "/IMAP.AccessAsUser.All"},
    {.provider = PROVIDER_MICROSOFT, .name = "pop", .scope = "/POP.AccessAsUser.All"},
    {.provider = PROVIDER_MICROSOFT, .name = "pop3", .scope = "/POP.AccessAsUser.All"},
    {.provider = PROVIDER_MICROSOFT, .name = "smtp", .scope = "/SMTP.Send"},
    {.provider = PROVIDER_GOOGLE, .name = "imap", .scope = "https://mail.google.com/"},
    {.provider = PROVIDER_GOOGLE, .name = "pop", .scope = "https://mail.google.com/"},
    {.provider = PROVIDER_GOOGLE, .name = "pop3", .scope = "https://mail.google.com/"},
    {.provider = PROVIDER_GOOGLE, .name = "smtp", .scope = "https://mail.google.com/"},
};

#define APP_ONLY_SCOPE "/.default"

/* Scope words every provider understands without expansion. */
static const char *const plain_scopes[] = {"offline_access", "openid", "email", "profile"};

static int
has_word(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static int
add_word(struct mt_buf *out, const char *word)
{
    if (has_word(mt_buf_str(out), word))
        return 0;
    if (out->len > 0 && mt_buf_append_byte(out, ' ') != 0)
        return -1;
    return mt_buf_append_str(out, word);
}

/* Returns the full scope for word, in buf when it must be built, or NULL when unknown. */
static const char *
expand_word(enum provider p, enum grant g, enum cloud c, const char *word, char *buf,
            size_t size)
{
    const struct cloud_hosts *hosts = cloud_get(c);

    if (p == PROVIDER_GENERIC)
        return word;
    if (strncmp(word, "https://", 8) == 0 || strncmp(word, "api://", 6) == 0)
        return word;
    for (size_t i = 0; i < sizeof(plain_scopes) / sizeof(plain_scopes[0]); i++)
        if (strcmp(word, plain_scopes[i]) == 0)
            return word;
    for (size_t i = 0; i < sizeof(short_scopes) / sizeof(short_scopes[0]); i++) {
        const struct short_scope *s = &short_scopes[i];

        if (s->provider != p || strcasecmp(word, s->name) != 0)
            continue;
        if (p != PROVIDER_MICROSOFT)
            return s->scope;
        if (g == GRANT_CLIENT_CREDENTIALS)
            snprintf(buf, size, "%s%s", hosts->app_resource, APP_ONLY_SCOPE);
        else
            snprintf(buf, size, "%s%s", hosts->user_resource, s->scope);
        return buf;
    }
    return NULL;
}

/* Reports a failed add_word: the 4096-byte limit (ENOSPC), or no memory. */
static void
scope_too_long(struct mt_err *err)
{
    if (errno == ENOMEM)
        err_set(err, EX_OSERR, "out of memory");
    else
        err_set(err, EX_CONFIG, "scope is too long (at most 4096 characters)");
}

char *
provider_expand_scope(enum provider p, enum grant g, const char *spec, struct mt_err *err)
{
    return provider_expand_scope_cloud(p, g, CLOUD_GLOBAL, spec, err);
}

char *
provider_expand_scope_cloud(enum provider p, enum grant g, enum cloud c, const char *spec,
                            struct mt_err *err)
{
    struct mt_buf out;
    char *copy, *word, *save = NULL, built[256];

    mt_buf_init(&out, 4096);
    copy = strdup(spec);
    if (copy == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        return NULL;
    }
    for (word = strtok_r(copy, " \t", &save); word != NULL; word = strtok_r(NULL, " \t", &save)) {
        const char *full = expand_word(p, g, c, word, built, sizeof(built));

        if (full == NULL) {
            err_set(err, EX_CONFIG,
                    "unknown scope \"%s\": use imap, pop, smtp or a full scope URL", word);
            goto fail;
        }
        if (add_word(&out, full) != 0) {
            scope_too_long(err);
            goto fail;
        }
    }
    if (out.len == 0) {
        err_set(err, EX_CONFIG, "scope is empty");
        goto fail;
    }
    /* Microsoft issues a refresh token only when offline_access is asked for. */
    if (p == PROVIDER_MICROSOFT && g == GRANT_AUTHORIZATION_CODE &&
        add_word(&out, "offline_access") != 0) {
        scope_too_long(err);
        goto fail;
    }
    free(copy);
    return mt_buf_detach(&out);

fail:
    free(copy);
    mt_buf_free(&out);
    return NULL;
}

static int
set_default(char **field, const char *value, struct mt_err *err)
{
    if (*field != NULL)
        return 0;
    *field = strdup(value);
    if (*field == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    return 0;
}

static int
set_ms_endpoint(char **field, enum cloud c, const char *tenant, const char *leaf,
                struct mt_err *err)
{
    char url[512];

    if (*field != NULL)
        return 0;
    if (snprintf(url, sizeof(url), "%s/%s/oauth2/v2.0/%s", cloud_get(c)->login, tenant, leaf) >=
        (int)sizeof(url))
        return err_set(err, EX_CONFIG, "tenant \"%s\" is too long", tenant);
    return set_default(field, url, err);
}

int
provider_tenant_valid(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '.'))
            return 0;
    return 1;
}

static int
apply_microsoft(struct account *a, struct mt_err *err)
{
    if (set_default(&a->tenant, "common", err) != 0)
        return -1;
    if (!provider_tenant_valid(a->tenant))
        return err_set(err, EX_CONFIG,
                       "invalid tenant \"%s\": use a domain such as contoso.onmicrosoft.com, "
                       "a tenant ID, organizations, consumers or common", a->tenant);
    /* Microsoft refuses the client credentials grant on /common, /organizations and /consumers. */
    if (a->grant == GRANT_CLIENT_CREDENTIALS && a->token_endpoint == NULL &&
        (strcmp(a->tenant, "common") == 0 || strcmp(a->tenant, "organizations") == 0 ||
         strcmp(a->tenant, "consumers") == 0))
        return err_set(err, EX_CONFIG,
                       "grant client_credentials needs the tenant's domain or ID in tenant, not "
                       "\"%s\": the app gets its token from its own tenant", a->tenant);
    if (set_ms_endpoint(&a->authorization_endpoint, a->cloud, a->tenant, "authorize", err) != 0 ||
        set_ms_endpoint(&a->token_endpoint, a->cloud, a->tenant, "token", err) != 0 ||
        set_ms_endpoint(&a->device_authorization_endpoint, a->cloud, a->tenant, "devicecode",
                        err) != 0)
        return -1;
    a->send_scope_on_refresh = 1;
    return 0;
}

static int
apply_google(struct account *a, struct mt_err *err)
{
    if (set_default(&a->authorization_endpoint,
                    "https://accounts.google.com/o/oauth2/v2/auth", err) != 0 ||
        set_default(&a->token_endpoint, "https://oauth2.googleapis.com/token", err) != 0 ||
        set_default(&a->device_authorization_endpoint,
                    "https://oauth2.googleapis.com/device/code", err) != 0 ||
        set_default(&a->revocation_endpoint, "https://oauth2.googleapis.com/revoke", err) != 0 ||
        set_default(&a->issuer, "https://accounts.google.com", err) != 0)
        return -1;
    /* Google returns a refresh token only with access_type=offline, and
     * only on the first consent unless prompt=consent requests it again. */
    if (set_default(&a->authorize_params, "access_type=offline&prompt=consent", err) != 0)
        return -1;
    /* Google reads the client id and secret from the body only. */
    a->client_auth = CLIENT_AUTH_POST;
    return 0;
}

int
provider_apply(struct account *a, const char *scope_spec, struct mt_err *err)
{
    const char *spec = scope_spec;
    char app_only[256], *expanded;

    switch (a->provider) {
    case PROVIDER_MICROSOFT:
        if (apply_microsoft(a, err) != 0)
            return -1;
        snprintf(app_only, sizeof(app_only), "%s%s", cloud_get(a->cloud)->app_resource,
                 APP_ONLY_SCOPE);
        if (spec == NULL)
            spec = a->grant == GRANT_CLIENT_CREDENTIALS ? app_only : "imap smtp";
        break;
    case PROVIDER_GOOGLE:
        if (apply_google(a, err) != 0)
            return -1;
        if (spec == NULL)
            spec = "https://mail.google.com/";
        break;
    case PROVIDER_GENERIC:
        if (a->token_endpoint == NULL)
            return err_set(err, EX_CONFIG,
                           "provider generic needs token_endpoint (and authorization_endpoint "
                           "for authorize)");
        if (spec == NULL)
            return err_set(err, EX_CONFIG, "provider generic needs a scope");
        break;
    }
    expanded = provider_expand_scope_cloud(a->provider, a->grant, a->cloud, spec, err);
    if (expanded == NULL)
        return -1;
    free(a->scope);
    a->scope = expanded;
    return 0;
}
