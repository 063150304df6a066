/*
 * Fuzz target: token endpoint replies. The first byte picks the HTTP
 * status and content type; the rest is the body.
 */
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "core/oauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 400, 401, 429, 500, 302, 403, 503};
    static const char *const types[] = {
        "application/json", "application/x-www-form-urlencoded", "text/plain", "text/html",
    };
    static char name[] = "fuzz";
    static char endpoint[] = "https://login.example.com/token";
    struct account a;
    struct token_reply reply;
    struct mt_err err;
    const char *body;
    size_t len;

    if (size < 1)
        return 0;
    memset(&a, 0, sizeof(a));
    a.name = name;
    a.provider = (enum provider)(data[0] >> 6 & 1);
    a.token_endpoint = endpoint;
    body = (const char *)data + 1;
    len = size - 1;
    err_clear(&err);
    oauth_parse_token_reply(&a, "fuzzing", statuses[data[0] & 7], types[data[0] >> 3 & 3], body,
                            len, &reply, &err);
    token_reply_free(&reply);
    err_clear(&err);
    oauth_reply_error(&a, "fuzzing", statuses[data[0] & 7], types[data[0] >> 3 & 3], body, len,
                      -1, &err);
    return 0;
}
