/*
 * Errors from the core: an exit code from sysexits.h and one line of
 * text for the user. Core functions return -1 and fill a struct mt_err;
 * only helper/main.c and the cmd_*.c files print it.
 */
#ifndef CORE_ERR_H
#define CORE_ERR_H

#include <stdarg.h>
#include <sysexits.h>

#define ERR_MSG_SIZE 1536

struct mt_err {
    int code;                  /* EX_* from sysexits.h; 0 when no error */
    char kind[32];             /* wire error kind (MT_WIRE_* in mt_wire.h) */
    char msg[ERR_MSG_SIZE];    /* "ACCOUNT: what failed: detail. What to do." */
};

/* Clears err to "no error". */
void err_clear(struct mt_err *err);

/*
 * Sets err to code and a formatted message, and the wire kind that goes
 * with code. Control characters in the result are replaced by '?'.
 * Returns -1, so that callers can write "return err_set(...)".
 */
int err_set(struct mt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int err_setv(struct mt_err *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Like err_set, but with an explicit wire kind. */
int err_set_kind(struct mt_err *err, int code, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Puts "PREFIX: " in front of the message already in err. */
void err_prefix(struct mt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Returns the wire kind that matches an exit code. */
const char *err_kind_for_code(int code);

#endif
