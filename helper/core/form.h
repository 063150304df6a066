/*
 * application/x-www-form-urlencoded bodies and query strings. Each field
 * remembers whether it is secret, so that the -v trace can show the
 * request with fingerprints in place of secrets.
 */
#ifndef CORE_FORM_H
#define CORE_FORM_H

#include <stddef.h>

#include "mt_buf.h"

#define FORM_MAX_FIELDS 24

struct form_field {
    const char *key;
    const char *value;   /* borrowed: the caller keeps it alive */
    int secret;
};

struct form {
    struct form_field fields[FORM_MAX_FIELDS];
    size_t n;
};

void form_init(struct form *f);

/* Adds a field; a NULL value is skipped. Returns 0, or -1 when full. */
int form_add(struct form *f, const char *key, const char *value, int secret);

/* Appends the encoded fields ("a=1&b=2") to out. Returns 0 or -1 (errno). */
int form_encode(const struct form *f, struct mt_buf *out);

/* Appends the fields for a trace line, secrets as fingerprints. */
int form_describe(const struct form *f, struct mt_buf *out);

/* Appends s with form encoding: unreserved characters kept, space as '+'. */
int form_escape(struct mt_buf *out, const char *s);

/* Appends s with percent-encoding of everything but unreserved characters. */
int url_escape(struct mt_buf *out, const char *s);

/*
 * Decodes n bytes of a form or query value (percent escapes and '+' as
 * space) into out. Returns 0, or -1 for a malformed escape or a decoded
 * NUL byte.
 */
int form_unescape(struct mt_buf *out, const char *s, size_t n);

/*
 * Finds key in a query or form string "a=1&b=2" and decodes its value into
 * out. Returns 1 when found, 0 when absent, -1 when malformed or repeated.
 */
int form_lookup(const char *query, const char *key, struct mt_buf *out);

#endif
