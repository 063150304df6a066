/*
 * The token daemon behind `mailtoken serve`: replies to plugin requests
 * (mt_wire.h) on Unix sockets, checks each peer's uid against the
 * account's allow list, and keeps the stored tokens fresh ahead of their
 * expiry and at least once per keepalive period. It logs through a
 * callback and never prints or exits by itself.
 */
#ifndef CORE_DAEMON_H
#define CORE_DAEMON_H

#include "config.h"
#include "err.h"

/* Callbacks from the command that runs the daemon. */
struct daemon_hooks {
    /*
     * Writes one log line. priority is a syslog(3) level (LOG_ERR,
     * LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG); message has no
     * newline and no control characters. Called from several threads at
     * once, so it must be thread-safe.
     */
    void (*log)(void *context, int priority, const char *message);
    /*
     * Chooses where log lines go: "stderr" or "syslog", the value of the
     * configuration's log key. Called from the main thread before the
     * first log line and again after each successful reload.
     */
    void (*log_target)(void *context, const char *target);
    void *context;
};

/*
 * Runs the daemon until SIGTERM or SIGINT (or daemon_request_stop), then
 * closes and removes its sockets and waits for the requests in progress.
 * Takes over *cfg, the configuration already loaded, and leaves it empty.
 * config_path is the file to read again on SIGHUP (NULL: found the way
 * config_load finds it). verbose adds a LOG_DEBUG line per request.
 * Installs handlers for SIGHUP, SIGTERM and SIGINT and sets the umask to
 * 077; only one daemon may run in a process at a time. Returns 0 after a clean stop, or -1 with
 * err set: EX_CONFIG when no socket is configured, EX_CANTCREAT when a
 * socket cannot be created, EX_SOFTWARE when the network module cannot
 * be loaded, EX_OSERR when the system refuses a resource.
 */
int daemon_run(struct config *cfg, const char *config_path, int verbose,
               const struct daemon_hooks *hooks, struct mt_err *err);

/*
 * Asks the running daemon to stop, or to reload its configuration, as
 * SIGTERM and SIGHUP do. Async-signal-safe; does nothing when no daemon
 * runs.
 */
void daemon_request_stop(void);
void daemon_request_reload(void);

#endif
