/* Time and reading helpers shared by the exec and socket transports. */
#include "transport_util.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "mt_wipe.h"
#include "mt_wire.h"

long long
transport_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
transport_sleep_us(long microseconds)
{
    struct timespec ts = {
        .tv_sec = microseconds / 1000000,
        .tv_nsec = (microseconds % 1000000) * 1000,
    };

    nanosleep(&ts, NULL);
}

enum transport_read_result
transport_read_reply(int fd, struct mt_buf *reply, long long deadline)
{
    enum transport_read_result result;
    char chunk[4096];

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = deadline - transport_now_ms();
        ssize_t n;
        int r;

        if (left <= 0) {
            result = TRANSPORT_READ_TIMEOUT;
            break;
        }
        r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            result = TRANSPORT_READ_ERROR;
            break;
        }
        if (r == 0)
            continue;
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            result = TRANSPORT_READ_ERROR;
            break;
        }
        if (n == 0) {
            result = TRANSPORT_READ_EOF;
            break;
        }
        if (mt_buf_append(reply, chunk, (size_t)n) != 0) {
            result = errno == ENOSPC ? TRANSPORT_READ_TOO_LONG : TRANSPORT_READ_ERROR;
            break;
        }
        if (mt_wire_reply_complete(reply->data, reply->len)) {
            result = TRANSPORT_READ_COMPLETE;
            break;
        }
    }
    /* The chunk may hold part of a token. */
    mt_wipe(chunk, sizeof(chunk));
    return result;
}
