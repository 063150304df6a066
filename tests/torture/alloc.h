/*
 * A counting allocator for the allocation-failure tests: alloc.c defines
 * malloc, calloc, realloc and free for the whole program, so every
 * allocation goes through it: ours, json-c's, libinih's, libsasl2's and
 * the plugin's, and glibc's own (strdup, asprintf, fopen), which call
 * malloc. Between torture_alloc_start and torture_alloc_stop it counts
 * the calls, makes call number fail_at return NULL with errno ENOMEM, and
 * remembers every block it handed out that is not freed yet.
 *
 * Each call is attributed to the module that asked for the memory: the
 * first code on the stack outside libc and the dynamic loader, so that
 * strdup called by json-c counts as json-c's. Ours are the test program
 * (with mtcore and mtcommon) and libmailtoken.so. The tests judge the
 * failures of libraries that mishandle them (see torture.c) apart from ours.
 */
#ifndef TORTURE_ALLOC_H
#define TORTURE_ALLOC_H

#include <stdio.h>

enum torture_owner {
    OWNER_OURS,
    OWNER_JSONC,         /* libjson-c */
    OWNER_SASL,          /* libsasl2 */
    OWNER_OTHER          /* any other library */
};
#define OWNER_COUNT 4

struct torture_alloc_stats {
    long calls;                  /* allocation calls counted */
    int injected;                /* 1 when call fail_at was reached and failed */
    enum torture_owner injected_owner;  /* who made that call */
    long live[OWNER_COUNT];      /* blocks not freed, by owner */
    int overflow;                /* too many live blocks to track */
};

/* Returns the name of an owner for messages: "ours", "json-c", "libsasl2", "another library". */
const char *torture_owner_name(enum torture_owner owner);

/*
 * Starts counting in this process (children after a fork are not
 * counted). fail_at 0 fails nothing.
 */
void torture_alloc_start(long fail_at);

/*
 * Makes the failing call write one byte to fd as it fails: '0' plus its
 * enum torture_owner. The byte survives a crash that follows.
 */
void torture_alloc_notify(int fd);

/* Stops (1) or resumes (0) counting, around what a scenario does only to check its result. */
void torture_alloc_pause(int paused);

/* Stops counting and returns what happened since the start. */
struct torture_alloc_stats torture_alloc_stop(void);

/* Lists the blocks still live since the last start, with the code that allocated each. */
void torture_alloc_report(FILE *out);

#endif
