/* Wiping secrets from memory before it is released. */
#ifndef MT_WIPE_H
#define MT_WIPE_H

#include <stddef.h>

/* Overwrites len bytes at p with zeros in a way the compiler cannot remove. */
void mt_wipe(void *p, size_t len);

/* Wipes len bytes at p, then frees p. Accepts NULL. */
void mt_freezero(void *p, size_t len);

/* Wipes a NUL-terminated string up to its terminator, then frees it. */
void mt_strfree(char *s);

/* Compares two buffers in time that depends on len only. Returns 0 when equal. */
int mt_consttime_memcmp(const void *a, const void *b, size_t len);

#endif
