/* json-c with secrets in mind. */
#include "jsonutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json_tokener.h>
#include <json-c/printbuf.h>

#include "mt_wipe.h"

#define JSON_MAX_DEPTH 16

const char json_out_of_memory[] = "out of memory, or a member name appears twice";

/*
 * Counts the members of every object and the elements of every array in
 * a text that json-c accepted: each container has one item more than
 * its top-level commas, unless it is empty. Returns (size_t)-1 when the text
 * nests deeper than json-c allows.
 */
static size_t
count_items_in_text(const char *text, size_t len)
{
    unsigned char nonempty[JSON_MAX_DEPTH + 1];
    size_t items = 0;
    int depth = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == ',') {
            items++;
            continue;
        }
        if (c == '}' || c == ']') {
            if (depth > 0 && nonempty[depth])
                items++;
            depth--;
            continue;
        }
        if (depth > 0)
            nonempty[depth] = 1;
        if (c == '{' || c == '[') {
            if (++depth > JSON_MAX_DEPTH)
                return (size_t)-1;
            nonempty[depth] = 0;
        } else if (c == '"' || c == '\'') {
            /* json-c accepts single-quoted strings, even in strict mode. */
            for (i++; i < len && text[i] != c; i++)
                if (text[i] == '\\')
                    i++;
        }
    }
    return items;
}

/* Counts the members of every object and the elements of every array in o. */
static size_t
count_items_in_tree(struct json_object *o)
{
    size_t items = 0;

    if (json_object_is_type(o, json_type_object)) {
        struct json_object_iterator it = json_object_iter_begin(o);
        struct json_object_iterator end = json_object_iter_end(o);

        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
            items += 1 + count_items_in_tree(json_object_iter_peek_value(&it));
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            items += 1 + count_items_in_tree(json_object_array_get_idx(o, i));
    }
    return items;
}

struct json_object *
json_parse_wiped(const char *text, size_t len, const char **error_r)
{
    struct json_tokener *tok;
    struct json_object *o;
    enum json_tokener_error jerr;
    size_t used;
    int out_of_memory;

    if (len > INT32_MAX - 16) {
        *error_r = "too large";
        return NULL;
    }
    tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (tok == NULL) {
        *error_r = json_out_of_memory;
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /*
     * json-c 0.16 (Debian 12) ignores its own allocation failures while it
     * parses: a string comes out cut short, or a member or an element
     * goes missing, and the parse still succeeds. No string is longer
     * than the text, so a buffer of the text's size never has to grow
     * (and leaves no copy of a token behind in a block realloc freed).
     * A missing member or element shows in the counts.
     */
    if (printbuf_memset(tok->pb, 0, 0, (int)len + 1) < 0) {
        json_tokener_free(tok);
        *error_r = json_out_of_memory;
        return NULL;
    }
    printbuf_reset(tok->pb);
    errno = 0;
    o = json_tokener_parse_ex(tok, text, (int)len);
    out_of_memory = errno == ENOMEM;
    jerr = json_tokener_get_error(tok);
    used = json_tokener_get_parse_end(tok);
    if (!out_of_memory && o != NULL && jerr == json_tokener_success &&
        count_items_in_tree(o) != count_items_in_text(text, used))
        out_of_memory = 1;
    if (out_of_memory) {
        /* A repeated member name also makes the counts differ; json-c keeps the last. */
        *error_r = json_out_of_memory;
        json_wipe_put(o);
        o = NULL;
    } else if (o == NULL || jerr != json_tokener_success) {
        *error_r = jerr == json_tokener_continue ? "truncated JSON" : json_tokener_error_desc(jerr);
        json_wipe_put(o);
        o = NULL;
    } else {
        while (used < len && strchr(" \t\r\n", text[used]) != NULL)
            used++;
        if (used != len) {
            *error_r = "data after the JSON value";
            json_wipe_put(o);
            o = NULL;
        }
    }
    /* The tokener keeps the last string it read, which may be a token. */
    if (tok->pb != NULL && tok->pb->buf != NULL)
        mt_wipe(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);
    return o;
}

void
json_wipe_put(struct json_object *o)
{
    if (o == NULL)
        return;
    switch (json_object_get_type(o)) {
    case json_type_object: {
        struct json_object_iterator it = json_object_iter_begin(o);
        struct json_object_iterator end = json_object_iter_end(o);

        for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
            struct json_object *v = json_object_iter_peek_value(&it);

            if (v != NULL && json_object_get_type(v) == json_type_string)
                mt_wipe((void *)(uintptr_t)json_object_get_string(v),
                        (size_t)json_object_get_string_len(v));
            else if (v != NULL && (json_object_get_type(v) == json_type_object ||
                                   json_object_get_type(v) == json_type_array))
                json_wipe_put(json_object_get(v));
        }
        break;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            struct json_object *v = json_object_array_get_idx(o, i);

            if (v != NULL && json_object_get_type(v) == json_type_string)
                mt_wipe((void *)(uintptr_t)json_object_get_string(v),
                        (size_t)json_object_get_string_len(v));
            else if (v != NULL)
                json_wipe_put(json_object_get(v));
        }
        break;
    case json_type_string:
        mt_wipe((void *)(uintptr_t)json_object_get_string(o), (size_t)json_object_get_string_len(o));
        break;
    default:
        break;
    }
    json_object_put(o);
}

const char *
json_get_str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int
json_get_int_lenient(struct json_object *o, const char *key, int64_t *out)
{
    struct json_object *v;
    const char *s;
    char *end;
    long long n;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        *out = json_object_get_int64(v);
        return errno == 0 ? 1 : -1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);

        if (d != d || d > 9.2e18 || d < -9.2e18)
            return -1;
        *out = (int64_t)d;
        return 1;
    }
    if (!json_object_is_type(v, json_type_string))
        return -1;
    s = json_object_get_string(v);
    if (s[0] == '\0' || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
        return -1;
    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = n;
    return 1;
}

int
jw_quote(struct mt_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    if (mt_buf_append_byte(b, '"') != 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        int r;

        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            r = mt_buf_append(b, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            r = mt_buf_append(b, esc, 6);
        } else {
            r = mt_buf_append_byte(b, *p);
        }
        if (r != 0)
            return -1;
    }
    return mt_buf_append_byte(b, '"');
}

/* Writes the separator and "key": before a member. */
static int
jw_key(struct mt_buf *b, const char *key)
{
    if (b->len > 0 && b->data[b->len - 1] != '{' && mt_buf_append_str(b, ",") != 0)
        return -1;
    if (mt_buf_append_str(b, "\n  ") != 0 || jw_quote(b, key) != 0)
        return -1;
    return mt_buf_append_str(b, ": ");
}

int
jw_begin(struct mt_buf *b)
{
    return mt_buf_append_byte(b, '{');
}

int
jw_str(struct mt_buf *b, const char *key, const char *value)
{
    if (value == NULL)
        return 0;
    if (jw_key(b, key) != 0)
        return -1;
    return jw_quote(b, value);
}

int
jw_int(struct mt_buf *b, const char *key, int64_t value)
{
    if (jw_key(b, key) != 0)
        return -1;
    return mt_buf_printf(b, "%lld", (long long)value);
}

int
jw_end(struct mt_buf *b)
{
    return mt_buf_append_str(b, "\n}\n");
}
