/*
 * A preload library for the plugin's integration tests. libsasl2 sends a
 * plugin's log messages to syslog when the program sets no SASL log
 * callback (imtest, pop3test, smtptest, mbsync), and the test machines run
 * no syslog daemon. With this library in LD_PRELOAD, syslog(3) appends each
 * message to the file named by MAILTOKEN_TEST_SYSLOG instead, one line per
 * message: "<PRIORITY> TEXT". Without that variable messages are dropped.
 *
 * NOTE: the format is expanded with vsnprintf, so syslog's "%m" is not
 * supported; libsasl2 2.1.28 logs with "%s" only.
 */
/* The fortified headers turn syslog() into an inline wrapper, which this file replaces. */
#undef _FORTIFY_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

void __vsyslog_chk(int priority, int flag, const char *format, va_list ap)
    __attribute__((format(printf, 3, 0)));
void __syslog_chk(int priority, int flag, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void capture(int priority, const char *format, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
capture(int priority, const char *format, va_list ap)
{
    const char *path = getenv("MAILTOKEN_TEST_SYSLOG");
    char line[LINE_MAX_BYTES];
    size_t len;
    int prefix, fd;

    if (path == NULL || path[0] == '\0')
        return;
    prefix = snprintf(line, sizeof(line), "<%d> ", priority & LOG_PRIMASK);
    vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1, format, ap);
    len = strlen(line);
    /* One message, one line: embedded line breaks would split it. */
    for (size_t i = (size_t)prefix; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    /* O_APPEND makes each write land whole at the end, even from several processes. */
    if (write(fd, line, len) < 0) {
        /* Nothing to report to: the test notices the missing line. */
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
vsyslog(int priority, const char *format, va_list ap)
{
    capture(priority, format, ap);
}

void
syslog(int priority, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    capture(priority, format, ap);
    va_end(ap);
}

/* The entry points that programs built with _FORTIFY_SOURCE call (libsasl2 on Debian). */
void
__vsyslog_chk(int priority, int flag, const char *format, va_list ap)
{
    (void)flag;
    capture(priority, format, ap);
}

void
__syslog_chk(int priority, int flag, const char *format, ...)
{
    va_list ap;

    (void)flag;
    va_start(ap, format);
    capture(priority, format, ap);
    va_end(ap);
}
