/* Small I/O helpers shared by the plugin and the helper. */
#ifndef MT_IO_H
#define MT_IO_H

#include <stddef.h>

/*
 * Writes all n bytes at p to fd, retrying after EINTR and short writes.
 * Returns 0, or -1 with errno from write(2).
 */
int mt_write_all(int fd, const void *p, size_t n);

#endif
