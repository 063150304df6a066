/*
 * The counting allocator (see alloc.h). It hands the real work to
 * glibc's __libc_malloc family, which glibc exports for allocators that
 * wrap its own. It cannot run under AddressSanitizer or valgrind, which
 * replace malloc themselves.
 */
#include "alloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);

/* Open addressing; a test window holds far fewer live blocks than this. */
#define LIVE_SLOTS (1 << 16)
#define TOMBSTONE ((void *)1)

struct block {
    void *p;
    void *caller;              /* return address into the code that allocated it */
    enum torture_owner owner;
};

static struct block live[LIVE_SLOTS];
static long live_count;
static int live_overflow;
static long calls, fail_at;
static int active, paused, injected;
static enum torture_owner injected_owner;
static pid_t owner_pid;
static int notify_fd = -1;

const char *
torture_owner_name(enum torture_owner owner)
{
    switch (owner) {
    case OWNER_OURS:
        return "ours";
    case OWNER_JSONC:
        return "json-c";
    case OWNER_SASL:
        return "libsasl2";
    default:
        return "another library";
    }
}

/* Returns 1 when the code at address p belongs to libc or the dynamic loader. */
static int
in_libc(const void *p, Dl_info *info)
{
    return dladdr(p, info) != 0 && info->dli_fname != NULL &&
           (strstr(info->dli_fname, "/libc.so") != NULL ||
            strstr(info->dli_fname, "/ld-linux") != NULL);
}

static enum torture_owner
owner_of_module(const Dl_info *info)
{
    const char *name = info->dli_fname;

    if (name == NULL)
        return OWNER_OTHER;
    if (strstr(name, "/libjson-c.so") != NULL)
        return OWNER_JSONC;
    if (strstr(name, "/libsasl2.so") != NULL)
        return OWNER_SASL;
    if (strstr(name, "/libmailtoken.so") != NULL)
        return OWNER_OURS;
    /* The main program: dladdr names it as the program's path, with no ".so". */
    if (strstr(name, ".so") == NULL)
        return OWNER_OURS;
    return OWNER_OTHER;
}

/*
 * Returns the module that asked for memory at caller: caller's own, or,
 * when caller is in libc or the loader, that of the first frame above it
 * that is not.
 */
static enum torture_owner
owner_of(void *caller)
{
    void *frames[32];
    Dl_info info;
    int n;

    if (!in_libc(caller, &info))
        return owner_of_module(&info);
    n = backtrace(frames, 32);
    for (int i = 0; i + 1 < n; i++) {
        if (frames[i] != caller)
            continue;
        for (int j = i + 1; j < n; j++)
            if (!in_libc(frames[j], &info))
                return owner_of_module(&info);
        break;
    }
    return OWNER_OTHER;
}

static size_t
slot_of(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull) & (LIVE_SLOTS - 1);
}

static void
remember(void *p, void *caller, enum torture_owner owner)
{
    size_t i = slot_of(p);

    for (size_t probes = 0; probes < LIVE_SLOTS; probes++, i = (i + 1) & (LIVE_SLOTS - 1)) {
        if (live[i].p == NULL || live[i].p == TOMBSTONE) {
            live[i] = (struct block){.p = p, .caller = caller, .owner = owner};
            live_count++;
            return;
        }
    }
    live_overflow = 1;
}

static void
forget(void *p)
{
    size_t i = slot_of(p);

    for (size_t probes = 0; probes < LIVE_SLOTS; probes++, i = (i + 1) & (LIVE_SLOTS - 1)) {
        if (live[i].p == NULL)
            return;
        if (live[i].p == p) {
            live[i].p = TOMBSTONE;
            live_count--;
            return;
        }
    }
}

static int
counting(void)
{
    return active && !paused && getpid() == owner_pid;
}

/* Counts one allocation call; returns 1 when this one must fail. */
static int
must_fail(enum torture_owner owner)
{
    char note;

    if (!counting())
        return 0;
    calls++;
    if (calls != fail_at)
        return 0;
    injected = 1;
    injected_owner = owner;
    note = (char)('0' + owner);
    if (notify_fd >= 0 && write(notify_fd, &note, 1) != 1)
        notify_fd = -1;
    return 1;
}

void *
malloc(size_t size)
{
    void *caller = __builtin_return_address(0);
    enum torture_owner owner = counting() ? owner_of(caller) : OWNER_OURS;
    void *p;

    if (must_fail(owner)) {
        errno = ENOMEM;
        return NULL;
    }
    p = __libc_malloc(size);
    if (p != NULL && counting())
        remember(p, caller, owner);
    return p;
}

void *
calloc(size_t n, size_t size)
{
    void *caller = __builtin_return_address(0);
    enum torture_owner owner = counting() ? owner_of(caller) : OWNER_OURS;
    void *p;

    if (must_fail(owner)) {
        errno = ENOMEM;
        return NULL;
    }
    p = __libc_calloc(n, size);
    if (p != NULL && counting())
        remember(p, caller, owner);
    return p;
}

void *
realloc(void *p, size_t size)
{
    void *caller = __builtin_return_address(0);
    enum torture_owner owner;
    void *q;

    if (p != NULL && size == 0) {
        free(p);
        return NULL;
    }
    owner = counting() ? owner_of(caller) : OWNER_OURS;
    if (must_fail(owner)) {
        errno = ENOMEM;
        return NULL;
    }
    q = __libc_realloc(p, size);
    if (q != NULL && counting()) {
        if (p != NULL)
            forget(p);
        remember(q, caller, owner);
    }
    return q;
}

void
free(void *p)
{
    if (p == NULL)
        return;
    if (counting())
        forget(p);
    __libc_free(p);
}

void
torture_alloc_start(long fail)
{
    void *frames[4];

    /* The first backtrace loads libgcc's unwinder, which allocates: do it now. */
    backtrace(frames, 4);
    memset(live, 0, sizeof(live));
    live_count = 0;
    live_overflow = 0;
    calls = 0;
    injected = 0;
    injected_owner = OWNER_OURS;
    fail_at = fail;
    owner_pid = getpid();
    paused = 0;
    active = 1;
}

void
torture_alloc_pause(int pause)
{
    paused = pause;
}

void
torture_alloc_notify(int fd)
{
    notify_fd = fd;
}

struct torture_alloc_stats
torture_alloc_stop(void)
{
    struct torture_alloc_stats s = {
        .calls = calls,
        .injected = injected,
        .injected_owner = injected_owner,
        .overflow = live_overflow,
    };

    active = 0;
    for (size_t i = 0; i < LIVE_SLOTS; i++)
        if (live[i].p != NULL && live[i].p != TOMBSTONE)
            s.live[live[i].owner]++;
    return s;
}

void
torture_alloc_report(FILE *out)
{
    for (size_t i = 0; i < LIVE_SLOTS; i++) {
        const struct block *b = &live[i];
        Dl_info info;

        if (b->p == NULL || b->p == TOMBSTONE)
            continue;
        if (dladdr(b->caller, &info) != 0 && info.dli_fname != NULL)
            fprintf(out, "  block %p (%s) allocated from %s (%s+%#lx)\n", b->p,
                    torture_owner_name(b->owner), info.dli_fname,
                    info.dli_sname != NULL ? info.dli_sname : "?",
                    (unsigned long)((const char *)b->caller -
                                    (const char *)(info.dli_saddr != NULL ? info.dli_saddr
                                                                          : info.dli_fbase)));
        else
            fprintf(out, "  block %p allocated from %p\n", b->p, b->caller);
    }
}
