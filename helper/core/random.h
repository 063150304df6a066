/* Random bytes from the kernel's CSPRNG, for PKCE verifiers and state. */
#ifndef CORE_RANDOM_H
#define CORE_RANDOM_H

#include <stddef.h>

/*
 * Fills buf with n bytes from getrandom(2), waiting until the kernel's
 * pool is initialised and retrying after signals and short reads.
 * Returns 0, or -1 with errno set (ENOSYS on kernels before 3.17).
 */
int random_bytes(void *buf, size_t n);

#endif
