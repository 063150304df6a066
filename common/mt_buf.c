/* Growable byte buffers with a hard size limit. */
#include "mt_buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt_wipe.h"

void
mt_buf_init(struct mt_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

/* Makes room for n more bytes plus the terminator. */
static int
buf_reserve(struct mt_buf *b, size_t n)
{
    size_t need, newcap;
    char *p;

    if (n > b->max || b->len > b->max - n) {
        errno = ENOSPC;
        return -1;
    }
    need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    newcap = b->cap ? b->cap : 64;
    while (newcap < need)
        newcap = newcap > SIZE_MAX / 2 ? need : newcap * 2;
    /* A fresh allocation, so the old bytes can be wiped (realloc would not). */
    p = malloc(newcap);
    if (p == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (b->data != NULL) {
        memcpy(p, b->data, b->len + 1);
        mt_freezero(b->data, b->cap);
    } else {
        p[0] = '\0';
    }
    b->data = p;
    b->cap = newcap;
    return 0;
}

int
mt_buf_append(struct mt_buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
mt_buf_append_str(struct mt_buf *b, const char *s)
{
    return mt_buf_append(b, s, strlen(s));
}

int
mt_buf_append_byte(struct mt_buf *b, unsigned char c)
{
    return mt_buf_append(b, &c, 1);
}

int
mt_buf_vprintf(struct mt_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    int n;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    if (buf_reserve(b, (size_t)n) != 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int
mt_buf_printf(struct mt_buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = mt_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void
mt_buf_reset(struct mt_buf *b)
{
    if (b->data != NULL) {
        mt_wipe(b->data, b->cap);
        b->data[0] = '\0';
    }
    b->len = 0;
}

void
mt_buf_free(struct mt_buf *b)
{
    mt_freezero(b->data, b->cap);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *
mt_buf_detach(struct mt_buf *b)
{
    char *s;

    if (b->data == NULL)
        return calloc(1, 1);
    s = b->data;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return s;
}

const char *
mt_buf_str(const struct mt_buf *b)
{
    return b->data != NULL ? b->data : "";
}
