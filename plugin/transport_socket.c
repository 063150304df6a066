/* Asking the mailtoken daemon on its Unix socket. */
#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "transport_util.h"

static void
set_timeouts(int fd, int timeout_ms)
{
    struct timeval tv = {
        .tv_sec = timeout_ms / 1000,
        .tv_usec = (timeout_ms % 1000) * 1000,
    };

    /* A blocking connect on a Unix socket waits for room in the backlog for at most SO_SNDTIMEO. */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int
write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
transport_socket(const char *path, const char *request, size_t len, int timeout_ms,
                 struct mt_buf *reply, int *unreachable_r, char *err, size_t err_size)
{
    struct sockaddr_un addr;
    long long deadline = transport_now_ms() + timeout_ms;
    int fd = -1, result = -1;

    *unreachable_r = 0;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof(addr.sun_path)) {
        *unreachable_r = 1;
        snprintf(err, err_size, "socket path \"%s\" is empty or too long", path);
        goto out;
    }
    memcpy(addr.sun_path, path, strlen(path));

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *unreachable_r = 1;
        snprintf(err, err_size, "cannot create a socket: %s", strerror(errno));
        goto out;
    }
    set_timeouts(fd, timeout_ms);
    while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (errno == EINTR)
            continue;
        *unreachable_r = 1;
        snprintf(err, err_size, "cannot connect to %s: %s", path, strerror(errno));
        goto out;
    }

    if (write_all(fd, request, len) != 0) {
        snprintf(err, err_size, "cannot send the request to %s: %s", path, strerror(errno));
        goto out;
    }
    switch (transport_read_reply(fd, reply, deadline)) {
    case TRANSPORT_READ_COMPLETE:
        result = 0;
        break;
    case TRANSPORT_READ_EOF:
        snprintf(err, err_size, "%s closed the connection before a whole reply (%zu bytes read)",
                 path, reply->len);
        break;
    case TRANSPORT_READ_TIMEOUT:
        snprintf(err, err_size, "%s sent no whole reply within %d ms", path, timeout_ms);
        break;
    case TRANSPORT_READ_TOO_LONG:
        snprintf(err, err_size, "%s sent more than %zu bytes", path, reply->max);
        break;
    case TRANSPORT_READ_ERROR:
    default:
        snprintf(err, err_size, "reading the reply from %s failed: %s", path, strerror(errno));
        break;
    }

out:
    if (fd >= 0)
        close(fd);
    return result;
}
