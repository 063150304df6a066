/* Running the helper as a child process, without a shell. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mt_wire.h"
#include "transport_util.h"

extern char **environ;

/* The descriptors the child gets: 0, 1 and 2, plus 3 for reporting a failed exec. */
#define CHILD_EXEC_ERROR_FD 3
#define FIRST_PRIVATE_FD 4

static int
env_passes(const char *entry)
{
    static const char *const names[] = {
        "HOME=", "USER=", "LOGNAME=", "PATH=", "LANG=", "MAILTOKEN_CONFIG=", "XDG_",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strncmp(entry, names[i], strlen(names[i])) == 0)
            return 1;
    return 0;
}

/* Builds the child's environment: pointers into environ, so nothing to free but the array. */
static char **
build_env(void)
{
    size_t n = 0, used = 0;
    char **env;

    for (char **e = environ; e != NULL && *e != NULL; e++)
        n++;
    env = calloc(n + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (char **e = environ; e != NULL && *e != NULL; e++)
        if (env_passes(*e))
            env[used++] = *e;
    env[used] = NULL;
    return env;
}

/* Moves fd to a number of at least FIRST_PRIVATE_FD, close-on-exec. */
static int
move_high(int fd)
{
    int high;

    if (fd >= FIRST_PRIVATE_FD)
        return fd;
    high = fcntl(fd, F_DUPFD_CLOEXEC, FIRST_PRIVATE_FD);
    close(fd);
    return high;
}

static void
close_from(int first, long max_fd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0U) == 0)
        return;
#endif
    for (long fd = first; fd < max_fd; fd++)
        close((int)fd);
}

/*
 * The child between fork and exec: only async-signal-safe calls, because
 * the application may have other threads. Never returns.
 */
static void
run_child(const char *helper, char *const argv[], char *const envp[], int null_fd,
          int out_fd, int error_fd, long max_fd)
{
    struct sigaction dfl;
    sigset_t none;
    int e;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Every source descriptor is at least FIRST_PRIVATE_FD, so no dup2 overwrites another. */
    if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(null_fd, 2) < 0 ||
        dup2(error_fd, CHILD_EXEC_ERROR_FD) < 0 ||
        fcntl(CHILD_EXEC_ERROR_FD, F_SETFD, FD_CLOEXEC) < 0)
        _exit(127);
    close_from(FIRST_PRIVATE_FD, max_fd);

    execve(helper, argv, envp);
    e = errno;
    (void)!write(CHILD_EXEC_ERROR_FD, &e, sizeof(e));
    _exit(127);
}

/* Waits for the child until deadline, then kills it; reaps it in both cases. */
static void
reap_child(pid_t pid, long long deadline, int *status_r, int *killed_r)
{
    long sleep_us = 500;

    *killed_r = 0;
    for (;;) {
        pid_t r = waitpid(pid, status_r, WNOHANG);

        if (r == pid)
            return;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            /* ECHILD: the application reaped it or ignores SIGCHLD. */
            *status_r = -1;
            return;
        }
        if (transport_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            *killed_r = 1;
            while (waitpid(pid, status_r, 0) < 0) {
                if (errno != EINTR) {
                    *status_r = -1;
                    return;
                }
            }
            return;
        }
        transport_sleep_us(sleep_us);
        if (sleep_us < 20000)
            sleep_us *= 2;
    }
}

static void
describe_status(int status, char *out, size_t size)
{
    if (status == -1)
        snprintf(out, size, "its exit status is unknown");
    else if (WIFEXITED(status))
        snprintf(out, size, "it exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, size, "it was killed by signal %d", WTERMSIG(status));
    else
        snprintf(out, size, "it stopped with wait status 0x%x", (unsigned)status);
}

/* Reads the exec error report of the child: 0 when exec succeeded, else the errno. */
static int
read_exec_error(int fd)
{
    int e = 0;
    ssize_t n;

    do {
        n = read(fd, &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(e) ? e : 0;
}

int
transport_exec(const char *helper, char *const argv[], int timeout_ms, struct mt_buf *reply,
               char *err, size_t err_size)
{
    int out_pipe[2] = {-1, -1}, error_pipe[2] = {-1, -1}, null_fd = -1;
    int result = -1, status = 0, killed = 0, exec_errno;
    long long deadline = transport_now_ms() + timeout_ms;
    enum transport_read_result rr;
    char **envp = NULL;
    char how[64];
    long max_fd;
    pid_t pid = -1;

    if (helper[0] != '/') {
        snprintf(err, err_size, "helper path \"%s\" is not absolute", helper);
        goto out;
    }
    envp = build_env();
    if (envp == NULL) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    max_fd = sysconf(_SC_OPEN_MAX);
    if (max_fd < 0 || max_fd > 65536)
        max_fd = 65536;
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) {
        snprintf(err, err_size,
                 "cannot open /dev/null for the helper: %s (in a chroot such as Postfix's "
                 "smtp client the helper cannot run: use the daemon socket, plugin_socket)",
                 strerror(errno));
        goto out;
    }
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(error_pipe, O_CLOEXEC) != 0) {
        snprintf(err, err_size, "cannot create pipes for the helper: %s", strerror(errno));
        goto out;
    }
    null_fd = move_high(null_fd);
    out_pipe[0] = move_high(out_pipe[0]);
    out_pipe[1] = move_high(out_pipe[1]);
    error_pipe[0] = move_high(error_pipe[0]);
    error_pipe[1] = move_high(error_pipe[1]);
    if (null_fd < 0 || out_pipe[0] < 0 || out_pipe[1] < 0 || error_pipe[0] < 0 ||
        error_pipe[1] < 0) {
        snprintf(err, err_size, "cannot set up descriptors for the helper: %s",
                 strerror(errno));
        goto out;
    }

    pid = fork();
    if (pid < 0) {
        snprintf(err, err_size, "cannot start the helper %s: %s", helper, strerror(errno));
        goto out;
    }
    if (pid == 0)
        run_child(helper, argv, envp, null_fd, out_pipe[1], error_pipe[1], max_fd);

    close(out_pipe[1]);
    out_pipe[1] = -1;
    close(error_pipe[1]);
    error_pipe[1] = -1;

    /* The write end closes on exec, so this returns at once either way. */
    exec_errno = read_exec_error(error_pipe[0]);
    if (exec_errno != 0) {
        reap_child(pid, deadline, &status, &killed);
        pid = -1;
        snprintf(err, err_size, "cannot run the helper %s: %s%s", helper, strerror(exec_errno),
                 exec_errno == ENOENT ? " (set helper in the [defaults] section of the "
                                        "mailtoken configuration, or MAILTOKEN_HELPER; in a "
                                        "chroot use the daemon socket, plugin_socket)" : "");
        goto out;
    }

    rr = transport_read_reply(out_pipe[0], reply, deadline);
    close(out_pipe[0]);
    out_pipe[0] = -1;
    /*
     * After a whole reply or EOF the helper has the rest of the time to
     * exit; after a timeout or an overlong reply it is killed at once.
     */
    if (rr != TRANSPORT_READ_COMPLETE && rr != TRANSPORT_READ_EOF)
        deadline = 0;
    reap_child(pid, deadline, &status, &killed);
    pid = -1;
    describe_status(status, how, sizeof(how));

    switch (rr) {
    case TRANSPORT_READ_COMPLETE:
        result = 0;
        break;
    case TRANSPORT_READ_TIMEOUT:
        snprintf(err, err_size, "the helper %s sent no whole reply within %d ms and was killed",
                 helper, timeout_ms);
        break;
    case TRANSPORT_READ_TOO_LONG:
        snprintf(err, err_size, "the helper %s printed more than %zu bytes and was killed",
                 helper, reply->max);
        break;
    case TRANSPORT_READ_EOF:
        if (reply->len == 0)
            snprintf(err, err_size,
                     "the helper %s printed nothing and %s (its standard error goes to "
                     "/dev/null: run it by hand as the same user to see the error)", helper, how);
        else
            snprintf(err, err_size, "the helper %s printed no whole reply and %s", helper, how);
        break;
    case TRANSPORT_READ_ERROR:
    default:
        snprintf(err, err_size, "reading the reply of the helper %s failed: %s", helper,
                 strerror(errno));
        break;
    }

out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        reap_child(pid, 0, &status, &killed);
    }
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (error_pipe[i] >= 0)
            close(error_pipe[i]);
    }
    if (null_fd >= 0)
        close(null_fd);
    free(envp);
    return result;
}
