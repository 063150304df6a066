/* Small I/O helpers shared by the plugin and the helper. */
#include "mt_io.h"

#include <errno.h>
#include <unistd.h>

#include "mt_wipe.h"

int
mt_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int
mt_read_all(int fd, struct mt_buf *buf)
{
    char chunk[4096];
    ssize_t n;
    int rc = 0, saved = 0;

    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        if (mt_buf_append(buf, chunk, (size_t)n) != 0) {
            saved = errno;
            rc = -1;
            break;
        }
    }
    mt_wipe(chunk, sizeof(chunk));
    errno = saved;
    return rc;
}
