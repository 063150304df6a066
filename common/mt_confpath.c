/* Locating the configuration file, the same way for plugin and helper. */
#include "mt_confpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int
fits(int n, size_t size)
{
    return n >= 0 && (size_t)n < size;
}

int
mt_confpath_locate(char *out, size_t size, const char *system_file)
{
    const char *env = getenv("MAILTOKEN_CONFIG");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;

    if (env != NULL && env[0] != '\0') {
        if (!fits(snprintf(out, size, "%s", env), size))
            return -1;
        return MT_CONFPATH_ENV;
    }

    n = -1;
    /* The XDG Base Directory specification requires a relative XDG_CONFIG_HOME to be ignored. */
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, size, "%s/mailtoken/config", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(out, size, "%s/.config/mailtoken/config", home);
    if (n >= 0) {
        if (!fits(n, size))
            return -1;
        if (access(out, F_OK) == 0)
            return MT_CONFPATH_USER;
    }

    if (!fits(snprintf(out, size, "%s", system_file), size))
        return -1;
    if (access(out, F_OK) == 0)
        return MT_CONFPATH_SYSTEM;
    out[0] = '\0';
    return MT_CONFPATH_NONE;
}

const char *
mt_confpath_source_name(int source)
{
    switch (source) {
    case MT_CONFPATH_ENV:
        return "MAILTOKEN_CONFIG";
    case MT_CONFPATH_USER:
        return "user";
    case MT_CONFPATH_SYSTEM:
        return "system";
    default:
        return "none";
    }
}
