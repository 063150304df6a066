/* Small I/O helpers shared by the plugin and the helper. */
#ifndef MT_IO_H
#define MT_IO_H

#include <stddef.h>

#include "mt_buf.h"

/*
 * Writes all n bytes at p to fd, retrying after EINTR and short writes.
 * Returns 0, or -1 with errno from write(2).
 */
int mt_write_all(int fd, const void *p, size_t n);

/*
 * Reads fd to its end and appends everything to buf, retrying after
 * EINTR. The read buffer is wiped, since the data may be a secret.
 * Returns 0, or -1 with errno: from read(2), or ENOSPC when buf's limit
 * would be passed, or ENOMEM.
 */
int mt_read_all(int fd, struct mt_buf *buf);

#endif
