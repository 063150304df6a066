/* The plugin's settings from the [defaults] section and the environment. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_confpath.h"

#define LINE_MAX_BYTES 4096

static void
warnf(config_warn_fn *warn, const void *context, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
warnf(config_warn_fn *warn, const void *context, const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    if (warn == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    warn(context, message);
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Cuts whitespace from both ends of s in place and returns the new start. */
static char *
trim(char *s)
{
    size_t n;

    while (is_space(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Cuts an inline comment: ';' after whitespace, as libinih does by default. */
static void
cut_inline_comment(char *s)
{
    for (char *p = s; *p != '\0'; p++) {
        if (*p == ';' && p > s && is_space(p[-1])) {
            *p = '\0';
            return;
        }
    }
}

static int
parse_timeout(const char *value, int *seconds_r)
{
    char *end;
    long v;

    long unit = 1;

    if (value[0] < '0' || value[0] > '9')
        return -1;
    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || v > CONFIG_TIMEOUT_MAX)
        return -1;
    /* The same units as the helper's durations: s, m, h. */
    if (*end == 'm')
        unit = 60;
    else if (*end == 'h')
        unit = 3600;
    if (*end == 's' || *end == 'm' || *end == 'h')
        end++;
    if (*end != '\0' || v * unit < 1 || v * unit > CONFIG_TIMEOUT_MAX)
        return -1;
    *seconds_r = (int)(v * unit);
    return 0;
}

static int
set_helper(struct plugin_config *cfg, const char *value, const char *origin,
           config_warn_fn *warn, const void *context)
{
    if (value[0] != '/') {
        warnf(warn, context, "%s: helper path \"%s\" is not absolute; using %s", origin,
              value, cfg->helper);
        return -1;
    }
    if (strlen(value) >= sizeof(cfg->helper)) {
        warnf(warn, context, "%s: helper path is longer than %zu bytes; using %s", origin,
              sizeof(cfg->helper) - 1, cfg->helper);
        return -1;
    }
    snprintf(cfg->helper, sizeof(cfg->helper), "%s", value);
    return 0;
}

static int
set_socket(struct plugin_config *cfg, const char *value, const char *origin,
           config_warn_fn *warn, const void *context)
{
    if (strlen(value) >= sizeof(cfg->socket_path)) {
        warnf(warn, context, "%s: socket path \"%s\" is longer than %zu bytes; ignored",
              origin, value, sizeof(cfg->socket_path) - 1);
        return -1;
    }
    snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", value);
    return 0;
}

static void
apply_key(struct plugin_config *cfg, const char *key, const char *value, const char *where,
          config_warn_fn *warn, const void *context)
{
    int seconds;

    if (strcmp(key, "helper") == 0) {
        set_helper(cfg, value, where, warn, context);
    } else if (strcmp(key, "helper_timeout") == 0) {
        if (parse_timeout(value, &seconds) == 0)
            cfg->timeout_ms = seconds * 1000;
        else
            warnf(warn, context,
                  "%s: helper_timeout \"%s\" is not a duration from 1 to %d "
                  "seconds (a number, optionally followed by s, m or h); using %d",
                  where, value, CONFIG_TIMEOUT_MAX, cfg->timeout_ms / 1000);
    } else if (strcmp(key, "plugin_socket") == 0) {
        set_socket(cfg, value, where, warn, context);
    }
}

int
config_read_file(struct plugin_config *cfg, const char *path, config_warn_fn *warn,
                 const void *context)
{
    char line[LINE_MAX_BYTES], where[CONFIG_PATH_MAX + 32];
    unsigned lineno = 0;
    int in_defaults = 0, skipping_long_line = 0;
    FILE *f;

    f = fopen(path, "re");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t n = strlen(line);
        int complete = n > 0 && line[n - 1] == '\n';
        char *s, *eq;

        if (skipping_long_line) {
            skipping_long_line = !complete;
            continue;
        }
        lineno++;
        if (!complete && !feof(f)) {
            warnf(warn, context, "%s:%u: line longer than %d bytes ignored", path, lineno,
                  LINE_MAX_BYTES - 2);
            skipping_long_line = 1;
            continue;
        }
        s = trim(line);
        if (s[0] == '\0' || s[0] == ';' || s[0] == '#')
            continue;
        if (s[0] == '[') {
            char *close = strchr(s, ']');

            if (close != NULL) {
                *close = '\0';
                in_defaults = strcmp(trim(s + 1), "defaults") == 0;
            }
            continue;
        }
        if (!in_defaults)
            continue;
        eq = strchr(s, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        cut_inline_comment(eq + 1);
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        apply_key(cfg, trim(s), trim(eq + 1), where, warn, context);
    }
    fclose(f);
    return 0;
}

void
config_load(struct plugin_config *cfg, const char *helper_default, const char *system_file,
            config_warn_fn *warn, const void *context)
{
    const char *env;
    int source;

    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->helper, sizeof(cfg->helper), "%s", helper_default);
    cfg->timeout_ms = CONFIG_TIMEOUT_DEFAULT * 1000;

    source = mt_confpath_locate(cfg->file, sizeof(cfg->file), system_file);
    if (source < 0) {
        warnf(warn, context, "the configuration file's path is too long; using defaults");
        cfg->file[0] = '\0';
        source = MT_CONFPATH_NONE;
    }
    cfg->file_source = mt_confpath_source_name(source);
    if (source != MT_CONFPATH_NONE && config_read_file(cfg, cfg->file, warn, context) != 0) {
        if (errno == ENOENT && source == MT_CONFPATH_ENV)
            warnf(warn, context, "%s (MAILTOKEN_CONFIG) does not exist; using defaults",
                  cfg->file);
        else
            warnf(warn, context, "cannot read %s (%s): %s; using defaults", cfg->file,
                  cfg->file_source, strerror(errno));
    }

    env = getenv("MAILTOKEN_HELPER");
    if (env != NULL && env[0] != '\0')
        set_helper(cfg, env, "MAILTOKEN_HELPER", warn, context);
    env = getenv("MAILTOKEN_SOCKET");
    if (env != NULL)
        set_socket(cfg, env, "MAILTOKEN_SOCKET", warn, context);
}
