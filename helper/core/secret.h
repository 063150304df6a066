/* The client secret, fetched only when a request needs it. */
#ifndef CORE_SECRET_H
#define CORE_SECRET_H

#include "config.h"
#include "err.h"

/*
 * Fetches the account's client secret from client_secret,
 * client_secret_file (refused when group or others can read it) or
 * client_secret_command (run with /bin/sh -c; the first line of its
 * output). Sets *secret_r to a new string for mt_strfree, or to NULL for
 * a public client. Returns 0, or -1 with err set (EX_CONFIG).
 */
int secret_fetch(const struct account *a, char **secret_r, struct mt_err *err);

#endif
