/*
 * Growable byte buffers with a hard size limit. Every buffer that holds
 * data from outside (HTTP bodies, helper output, socket requests) is an
 * mt_buf, so no reply can make us allocate without bound. The contents
 * are always NUL-terminated, and are wiped when the buffer grows or is
 * freed, because they may be tokens.
 */
#ifndef MT_BUF_H
#define MT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct mt_buf {
    char *data;    /* NUL-terminated; NULL until the first append */
    size_t len;    /* bytes in use, without the terminator */
    size_t cap;    /* bytes allocated */
    size_t max;    /* largest len allowed */
};

/* Prepares an empty buffer that may grow to max bytes. */
void mt_buf_init(struct mt_buf *b, size_t max);

/*
 * Appends n bytes. Returns 0, or -1 with errno ENOSPC when the result
 * would pass the limit (the buffer is then unchanged) or ENOMEM.
 */
int mt_buf_append(struct mt_buf *b, const void *p, size_t n);
int mt_buf_append_str(struct mt_buf *b, const char *s);
int mt_buf_append_byte(struct mt_buf *b, unsigned char c);
int mt_buf_printf(struct mt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int mt_buf_vprintf(struct mt_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Wipes the contents and keeps the allocation and the limit. */
void mt_buf_reset(struct mt_buf *b);

/* Wipes and frees the contents; the buffer may be used again. */
void mt_buf_free(struct mt_buf *b);

/*
 * Hands the contents to the caller, who frees them (with mt_strfree when
 * secret). Returns an empty allocated string for an empty buffer, or NULL
 * when out of memory. The buffer is empty afterwards.
 */
char *mt_buf_detach(struct mt_buf *b);

/* Returns the contents, or "" for a buffer that was never written. */
const char *mt_buf_str(const struct mt_buf *b);

#endif
