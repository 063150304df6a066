/* Errors from the core: an exit code and one line of text. */
#include "err.h"

#include <stdio.h>
#include <string.h>

#include "mt_wire.h"

void
err_clear(struct mt_err *err)
{
    err->code = 0;
    err->kind[0] = '\0';
    err->msg[0] = '\0';
}

const char *
err_kind_for_code(int code)
{
    switch (code) {
    case EX_USAGE:
        return MT_WIRE_BAD_REQUEST;
    case EX_TEMPFAIL:
        return MT_WIRE_TEMPORARY;
    case EX_PROTOCOL:
        return MT_WIRE_PROTOCOL;
    case EX_NOPERM:
        return MT_WIRE_UNAUTHORIZED;
    case EX_CONFIG:
        return MT_WIRE_CONFIG;
    case EX_CANTCREAT:
    case EX_IOERR:
        return MT_WIRE_STORE;
    default:
        return MT_WIRE_INTERNAL;
    }
}

static void
sanitize(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

int
err_setv(struct mt_err *err, int code, const char *fmt, va_list ap)
{
    err->code = code;
    snprintf(err->kind, sizeof(err->kind), "%s", err_kind_for_code(code));
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    sanitize(err->msg);
    return -1;
}

int
err_set(struct mt_err *err, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_setv(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int
err_set_kind(struct mt_err *err, int code, const char *kind, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_setv(err, code, fmt, ap);
    va_end(ap);
    snprintf(err->kind, sizeof(err->kind), "%s", kind);
    return -1;
}

void
err_prefix(struct mt_err *err, const char *fmt, ...)
{
    char prefix[512], old[ERR_MSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    sanitize(err->msg);
}
