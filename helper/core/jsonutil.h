/*
 * json-c with secrets in mind: parsing that wipes the parser's buffers,
 * freeing that wipes every string, lenient readers for provider quirks,
 * and a small writer into a wiped mt_buf.
 */
#ifndef CORE_JSONUTIL_H
#define CORE_JSONUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "mt_buf.h"

/*
 * The error_r of json_parse_wiped when memory ran out; compare the
 * pointer. An object with a member name that appears twice gets it too,
 * because the two cases look the same once json-c 0.16 has parsed them.
 */
extern const char json_out_of_memory[];

/*
 * Parses len bytes as exactly one JSON value (white space around it
 * allowed, nothing else). Returns the value, or NULL with *error_r set
 * to a static description: json_out_of_memory when an allocation
 * failed, which no byte of the text explains. Free with json_wipe_put.
 */
struct json_object *json_parse_wiped(const char *text, size_t len, const char **error_r);

/* Wipes every string inside o, then releases o. Accepts NULL. */
void json_wipe_put(struct json_object *o);

/* Returns the string member key of object o, or NULL when absent or not a string. */
const char *json_get_str(struct json_object *o, const char *key);

/*
 * Reads an integer member that may be a JSON number or a string of
 * digits (Microsoft's v1 endpoint sends "3599"). Returns 1 and *out when
 * present and valid, 0 when absent, -1 when present but not an integer.
 */
int json_get_int_lenient(struct json_object *o, const char *key, int64_t *out);

/* Writer: jw_begin, members, jw_end. Each returns 0 or -1 (errno). */
int jw_begin(struct mt_buf *b);
int jw_str(struct mt_buf *b, const char *key, const char *value);   /* skipped when NULL */
int jw_int(struct mt_buf *b, const char *key, int64_t value);
int jw_end(struct mt_buf *b);

/* Appends s as a JSON string literal, quotes included. */
int jw_quote(struct mt_buf *b, const char *s);

#endif
