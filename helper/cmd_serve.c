/*
 * mailtoken serve: run the token daemon in the foreground (systemd keeps
 * it running). Log lines go to stderr, with sd-daemon(3) priority
 * prefixes when stderr is the journal, or to syslog, as the
 * configuration's log key selects.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "core/daemon.h"
#include "core/trace.h"

static const char usage_text[] = "serve";

struct log_sink {
    pthread_mutex_t lock;
    int use_syslog;
    int journal;                 /* stderr is connected to journald */
};

static struct log_sink sink = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Returns 1 when stderr is the journal stream systemd named in $JOURNAL_STREAM. */
static int
stderr_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char extra;

    if (stream == NULL || sscanf(stream, "%llu:%llu%c", &dev, &ino, &extra) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void
log_line(void *context, int priority, const char *message)
{
    char line[2200];
    int n;

    (void)context;
    pthread_mutex_lock(&sink.lock);
    if (sink.use_syslog) {
        syslog(priority, "%s", message);
    } else {
        /* journald reads "<N>" as the priority; a terminal gets the program name instead. */
        if (sink.journal)
            n = snprintf(line, sizeof(line), "<%d>%s\n", priority, message);
        else
            n = snprintf(line, sizeof(line), "mailtoken: %s\n", message);
        if (n > (int)sizeof(line) - 1) {
            n = (int)sizeof(line) - 1;
            line[n - 1] = '\n';
        }
        if (write(STDERR_FILENO, line, (size_t)n) < 0) {
            /* Nowhere left to report it. */
        }
    }
    pthread_mutex_unlock(&sink.lock);
}

static void
log_target(void *context, const char *target)
{
    int want_syslog = strcmp(target, "syslog") == 0;

    (void)context;
    pthread_mutex_lock(&sink.lock);
    if (want_syslog && !sink.use_syslog)
        openlog("mailtoken", LOG_PID, LOG_DAEMON);
    else if (!want_syslog && sink.use_syslog)
        closelog();
    sink.use_syslog = want_syslog;
    pthread_mutex_unlock(&sink.lock);
}

/* The -v trace of the core goes into the daemon's log at debug level. */
static void
trace_to_log(const char *line)
{
    log_line(NULL, LOG_DEBUG, line);
}

int
cmd_serve(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {NULL, 0, NULL, 0},
    };
    struct daemon_hooks hooks = {.log = log_line, .log_target = log_target};
    struct mt_err err;

    if (getopt_long(argc, argv, "", options, NULL) != -1 || optind != argc)
        return cli_usage(usage_text);
    sink.journal = stderr_is_journal();
    if (cli->verbose)
        trace_set_sink(trace_to_log);

    err_clear(&err);
    if (daemon_run(&cli->cfg, cli->config_path, cli->verbose, &hooks, &err) != 0) {
        /* Into the log that an administrator reads, and to a terminal when there is one. */
        if (sink.use_syslog || sink.journal)
            log_line(NULL, LOG_ERR, err.msg);
        if (sink.journal && !sink.use_syslog)
            return err.code != 0 ? err.code : EX_SOFTWARE;
        return cli_error(&err);
    }
    return 0;
}
