/*
 * Fuzz target: the plugin<->helper messages, as the daemon reads a
 * request line and the plugin reads a reply.
 */
#include <stdint.h>
#include <string.h>

#include "mt_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mt_wire_request req;
    struct mt_wire_reply reply;
    const char *problem;
    struct mt_buf b;

    if (mt_wire_parse_request((const char *)data, size, &req, &problem) == 0) {
        mt_buf_init(&b, MT_WIRE_MAX_REQUEST);
        mt_wire_format_request(&req, &b);
        mt_buf_free(&b);
    }
    if (mt_wire_parse_reply((const char *)data, size, &reply, &problem) == 0) {
        for (size_t i = 0; i < reply.nfields; i++)
            (void)strlen(reply.fields[i].value);
        (void)mt_wire_reply_get(&reply, "token");
    }
    mt_wire_reply_clear(&reply);
    return 0;
}
