/*
 * The two ways a request reaches the helper: running it as a child
 * process, or asking the daemon on its Unix socket. Both return the raw
 * reply bytes; source.c parses them.
 */
#ifndef PLUGIN_TRANSPORT_H
#define PLUGIN_TRANSPORT_H

#include <stddef.h>

#include "mt_buf.h"

/*
 * Runs the helper at the absolute path helper with argv (argv[0] is the
 * helper's name, NULL-terminated) and no shell: stdin and stderr on
 * /dev/null, every other file descriptor closed, an environment of only
 * HOME, USER, LOGNAME, PATH, LANG, XDG_* and MAILTOKEN_CONFIG, and the
 * signal mask and SIGPIPE/SIGCHLD dispositions reset. Reads its stdout
 * into reply (whose limit caps the reply) until EOF or a whole mt_wire
 * reply, for at most timeout_ms in all. The child is killed with SIGKILL
 * when it overruns the time or the limit, and is always reaped with
 * waitpid on its own pid, so the application's SIGCHLD handling is left
 * alone (a child reaped by someone else counts as exited).
 * Returns 0 when a whole reply was read (the helper's exit status is then
 * not checked: the reply carries the outcome). Returns -1 with an English
 * description in err otherwise.
 */
int transport_exec(const char *helper, char *const argv[], int timeout_ms,
                   struct mt_buf *reply, char *err, size_t err_size);

/*
 * Connects to the Unix socket at path (relative paths are relative to
 * the working directory), writes the request line of len bytes, and reads
 * the reply into reply until the empty line that ends it, for at most
 * timeout_ms in all. Returns 0 when a whole reply was read; -1 with an
 * English description in err otherwise. *unreachable_r is set to 1 when
 * the connection could not be made (nothing was sent), else 0.
 */
int transport_socket(const char *path, const char *request, size_t len, int timeout_ms,
                     struct mt_buf *reply, int *unreachable_r, char *err, size_t err_size);

#endif
