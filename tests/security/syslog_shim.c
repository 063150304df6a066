/*
 * An LD_PRELOAD library for the canary test: every syslog message of the
 * process goes to the file MAILTOKEN_SYSLOG_CAPTURE names (appended, one
 * line each), and none reaches the system's log. It replaces the public
 * entry points and the _FORTIFY_SOURCE ones (__syslog_chk,
 * __vsyslog_chk), which programs built with fortification call instead.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static void
capture(int priority, const char *fmt, va_list ap)
{
    const char *path = getenv("MAILTOKEN_SYSLOG_CAPTURE");
    char line[8192];
    int n, fd;

    if (path == NULL)
        return;
    n = snprintf(line, sizeof(line), "<%d> ", priority);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    strcat(line, "\n");
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write(fd, line, strlen(line)) < 0) {
        /* Nothing to do: the test then finds nothing in the file. */
    }
    close(fd);
}

void
openlog(const char *ident, int option, int facility)
{
    (void)ident;
    (void)option;
    (void)facility;
}

void
closelog(void)
{
}

void
vsyslog(int priority, const char *fmt, va_list ap)
{
    capture(priority, fmt, ap);
}

void
syslog(int priority, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    capture(priority, fmt, ap);
    va_end(ap);
}

void
__vsyslog_chk(int priority, int flag, const char *fmt, va_list ap)
{
    (void)flag;
    capture(priority, fmt, ap);
}

void
__syslog_chk(int priority, int flag, const char *fmt, ...)
{
    va_list ap;

    (void)flag;
    va_start(ap, fmt);
    capture(priority, fmt, ap);
    va_end(ap);
}
