/*
 * The plugin's settings: where the helper is, how long it may take, and
 * the daemon's socket. The plugin reads only these keys of the [defaults]
 * section of the mailtoken configuration file and ignores everything else;
 * the helper validates the whole file.
 */
#ifndef PLUGIN_CONFIG_H
#define PLUGIN_CONFIG_H

#include <stddef.h>

#define CONFIG_PATH_MAX 4096
#define CONFIG_SOCKET_MAX 108          /* sun_path of struct sockaddr_un */
#define CONFIG_TIMEOUT_DEFAULT 20      /* seconds */
#define CONFIG_TIMEOUT_MAX 3600        /* seconds */

struct plugin_config {
    char helper[CONFIG_PATH_MAX];      /* absolute path */
    char socket_path[CONFIG_SOCKET_MAX]; /* "" when no daemon socket is configured */
    int timeout_ms;
    char file[CONFIG_PATH_MAX];        /* the file read; "" when none exists */
    const char *file_source;           /* "MAILTOKEN_CONFIG", "user", "system" or "none" */
};

/* Receives one warning about the configuration, in English, without a newline. */
typedef void config_warn_fn(const void *context, const char *message);

/*
 * Fills cfg from, in rising precedence: the built-in defaults
 * (helper_default, CONFIG_TIMEOUT_DEFAULT, no socket), the configuration
 * file located by mt_confpath_locate(system_file), and the environment
 * variables MAILTOKEN_HELPER and MAILTOKEN_SOCKET (an empty
 * MAILTOKEN_SOCKET turns the socket off). Never fails: an unreadable
 * file, an invalid value or a relative helper path is reported through
 * warn and the lower-precedence value stays.
 */
void config_load(struct plugin_config *cfg, const char *helper_default,
                 const char *system_file, config_warn_fn *warn, const void *context);

/*
 * Reads the [defaults] keys helper, helper_timeout and plugin_socket from
 * the INI file at path into cfg: "[section]" lines, "key = value" lines,
 * whole-line comments starting with ';' or '#', and inline comments that
 * start with whitespace and ';'. Returns 0, or -1 with errno when the
 * file cannot be opened (ENOENT when it does not exist).
 */
int config_read_file(struct plugin_config *cfg, const char *path,
                     config_warn_fn *warn, const void *context);

#endif
