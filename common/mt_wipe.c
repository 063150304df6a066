/* Wiping secrets from memory before it is released. */
#include "mt_wipe.h"

#include <stdlib.h>
#include <string.h>

void
mt_wipe(void *p, size_t len)
{
    if (p == NULL || len == 0)
        return;
    /* glibc 2.25 and later: the store is never optimised away. */
    explicit_bzero(p, len);
}

void
mt_freezero(void *p, size_t len)
{
    if (p == NULL)
        return;
    mt_wipe(p, len);
    free(p);
}

void
mt_strfree(char *s)
{
    if (s == NULL)
        return;
    mt_freezero(s, strlen(s));
}

int
mt_consttime_memcmp(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    unsigned char diff = 0;

    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(x[i] ^ y[i]);
    return diff != 0;
}
