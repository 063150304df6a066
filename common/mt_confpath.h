/* Locating the configuration file, the same way for plugin and helper. */
#ifndef MT_CONFPATH_H
#define MT_CONFPATH_H

#include <stddef.h>

enum mt_confpath_source {
    MT_CONFPATH_NONE,        /* no file exists at any of the places */
    MT_CONFPATH_ENV,         /* $MAILTOKEN_CONFIG */
    MT_CONFPATH_USER,        /* ${XDG_CONFIG_HOME:-~/.config}/mailtoken/config */
    MT_CONFPATH_SYSTEM       /* MAILTOKEN_SYSCONFDIR/mailtoken.conf */
};

/*
 * Finds the configuration file when no --config option was given:
 * $MAILTOKEN_CONFIG when set and not empty (whether the file exists or
 * not, so that a typo is reported), else the user file when it exists,
 * else the system file when it exists. Writes the path into out.
 * Returns the source, or -1 when the path does not fit in size bytes.
 */
int mt_confpath_locate(char *out, size_t size, const char *system_file);

/* Names the source for messages: "MAILTOKEN_CONFIG", "user", "system", "none". */
const char *mt_confpath_source_name(int source);

#endif
