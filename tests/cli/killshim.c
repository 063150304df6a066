/*
 * An LD_PRELOAD library for crash tests: it kills the process with
 * SIGKILL at the step named by MAILTOKEN_TEST_KILL_AT, as a power cut or
 * the OOM killer would:
 *   connect       before the first network connection (before the request)
 *   tmp-open      when the store's temporary file is about to be created
 *                 (the server's reply has arrived)
 *   rename        after the temporary file is written, before the rename
 *   after-rename  right after the rename
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

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    int (*real)(int, const struct sockaddr *, socklen_t);

    if (kill_at("connect") && addr->sa_family != AF_UNIX)
        die();
    *(void **)&real = dlsym(RTLD_NEXT, "connect");
    return real(fd, addr, len);
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
