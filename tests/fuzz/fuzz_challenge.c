/*
 * Fuzz target: the server's SASL error challenge as the plugin reads it
 * (plugin/message.c), and the checks the plugin applies to a token and
 * an address before it builds its message.
 *
 * message_read_challenge promises fields that are safe to log: printable
 * ASCII only. A field with any other byte aborts the run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "mt_buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
require_printable(const char *s, size_t size)
{
    size_t n = strnlen(s, size);

    if (n == size)
        abort();   /* not terminated within its array */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct message_challenge c;
    struct message_params p;
    struct mt_buf out;
    const char *error;
    char escaped[64], *text;
    size_t half;

    message_read_challenge(in, size, &c);
    require_printable(c.status, sizeof(c.status));
    require_printable(c.scope, sizeof(c.scope));
    require_printable(c.text, sizeof(c.text));
    message_escape(in, size, escaped, sizeof(escaped));
    require_printable(escaped, sizeof(escaped));

    /* The first half as the address, the second as the token. */
    text = malloc(size + 2);
    if (text == NULL)
        return 0;
    half = size / 2;
    memcpy(text, in, half);
    text[half] = '\0';
    memcpy(text + half + 1, in + half, size - half);
    text[size + 1] = '\0';
    (void)message_check_token(text + half + 1, size - half);
    (void)message_check_address(text, half);
    (void)message_is_token_like(text + half + 1, size - half);
    (void)message_port_from_ipport(text);
    for (int mech = 0; mech < 2; mech++) {
        memset(&p, 0, sizeof(p));
        p.mech = mech == 0 ? MESSAGE_XOAUTH2 : MESSAGE_OAUTHBEARER;
        p.address = text;
        p.host = "imap.example.test";
        p.port = 993;
        p.token = text + half + 1;
        p.token_len = size - half;
        mt_buf_init(&out, MESSAGE_MAX);
        /* A message is built only from a valid token and a valid (or no) address. */
        if (message_build(&p, &out, &error) == 0 &&
            (message_check_token(p.token, p.token_len) != NULL ||
             (text[0] != '\0' && message_check_address(text, strlen(text)) != NULL)))
            abort();
        mt_buf_free(&out);
    }
    free(text);
    return 0;
}
