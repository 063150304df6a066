/*
 * An LD_PRELOAD library for crash tests: it kills the process with
 * SIGKILL at the step named by MAILTOKEN_TEST_KILL_AT, as a power cut or
 * the OOM killer would:
 *   connect       before the first network connection (before the request)
 *   reply         as soon as the first bytes of the server's reply arrive
 *                 on a connection this process opened
 *   tmp-open      when the store's temporary file is about to be created
 *                 (the server's reply has arrived)
 *   rename        after the temporary file is written, before the rename
 *   after-rename  right after the rename
 *   token-file-rename  before token_file's temporary file is renamed (the
 *                 helper uses rename(2) there and renameat(2) in the store)
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
kill_at(const char *step)
{
    const char *want = getenv("MAILTOKEN_TEST_KILL_AT");

    return want != NULL && strcmp(want, step) == 0;
}

static void
die(void)
{
    kill(getpid(), SIGKILL);
    _exit(137);
}

/* Descriptors connected to a network address; 1024 covers a helper's descriptors. */
static unsigned char connected[1024];

static void
note_connected(int fd, const struct sockaddr *addr)
{
    if (fd >= 0 && fd < (int)sizeof(connected))
        connected[fd] = addr->sa_family == AF_INET || addr->sa_family == AF_INET6;
}

static void
check_reply(int fd, ssize_t n)
{
    if (n > 0 && fd >= 0 && fd < (int)sizeof(connected) && connected[fd] && kill_at("reply"))
        die();
}

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int (*real)(int, const struct sockaddr *, socklen_t);

    if (kill_at("connect") && addr->sa_family != AF_UNIX)
        die();
    *(void **)&real = dlsym(RTLD_NEXT, "connect");
    note_connected(fd, addr);
    return real(fd, addr, len);
}

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
    ssize_t (*real)(int, void *, size_t, int);
    ssize_t n;

    *(void **)&real = dlsym(RTLD_NEXT, "recv");
    n = real(fd, buf, len, flags);
    check_reply(fd, n);
    return n;
}

ssize_t
read(int fd, void *buf, size_t len)
{
    ssize_t (*real)(int, void *, size_t);
    ssize_t n;

    *(void **)&real = dlsym(RTLD_NEXT, "read");
    n = real(fd, buf, len);
    check_reply(fd, n);
    return n;
}

int
close(int fd)
{
    int (*real)(int);

    if (fd >= 0 && fd < (int)sizeof(connected))
        connected[fd] = 0;
    *(void **)&real = dlsym(RTLD_NEXT, "close");
    return real(fd);
}

int
rename(const char *oldpath, const char *newpath)
{
    int (*real)(const char *, const char *);

    if (kill_at("token-file-rename"))
        die();
    *(void **)&real = dlsym(RTLD_NEXT, "rename");
    return real(oldpath, newpath);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
    int (*real)(int, const char *, int, ...);
    mode_t mode = 0;
    va_list ap;

    if (flags & O_CREAT) {
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (kill_at("tmp-open") && strstr(path, ".json.tmp") != NULL)
        die();
    *(void **)&real = dlsym(RTLD_NEXT, "openat");
    return real(dirfd, path, flags, mode);
}

int
renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    int (*real)(int, const char *, int, const char *);
    int r;

    if (kill_at("rename") && strstr(oldpath, ".json.tmp") != NULL)
        die();
    *(void **)&real = dlsym(RTLD_NEXT, "renameat");
    r = real(olddirfd, oldpath, newdirfd, newpath);
    if (kill_at("after-rename") && strstr(oldpath, ".json.tmp") != NULL)
        die();
    return r;
}
