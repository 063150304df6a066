/* Time and reading helpers shared by the exec and socket transports. */
#ifndef PLUGIN_TRANSPORT_UTIL_H
#define PLUGIN_TRANSPORT_UTIL_H

#include "mt_buf.h"

enum transport_read_result {
    TRANSPORT_READ_COMPLETE,   /* a whole mt_wire reply (ends with an empty line) */
    TRANSPORT_READ_EOF,        /* the peer closed before a whole reply */
    TRANSPORT_READ_TIMEOUT,    /* the deadline passed */
    TRANSPORT_READ_TOO_LONG,   /* more bytes than reply's limit */
    TRANSPORT_READ_ERROR       /* poll or read failed; errno is set */
};

/* Returns CLOCK_MONOTONIC in milliseconds. */
long long transport_now_ms(void);

void transport_sleep_us(long microseconds);

/*
 * Reads from fd into reply until a whole mt_wire reply, EOF, the limit of
 * reply, or the monotonic time deadline (transport_now_ms() scale).
 */
enum transport_read_result transport_read_reply(int fd, struct mt_buf *reply,
                                                long long deadline);

#endif
