/* The client secret, fetched only when a request needs it. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mt_buf.h"
#include "mt_io.h"
#include "mt_wipe.h"

#define SECRET_MAX 8192
#define SECRET_COMMAND_TIMEOUT_MS 60000

/* Keeps the first line of buf, without surrounding white space. */
static char *
first_line(struct mt_buf *buf)
{
    static char empty[1];
    char *s = buf->data != NULL ? buf->data : empty;
    char *end = strchr(s, '\n');
    size_t n;

    if (end != NULL)
        *end = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return strdup(s);
}

static int
read_secret_file(const char *path, struct mt_buf *buf, struct mt_err *err)
{
    struct stat sb;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return err_set(err, EX_CONFIG, "cannot open client_secret_file %s: %s", path,
                       strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        err_set(err, EX_CONFIG, "client_secret_file %s is not a regular file", path);
        goto done;
    }
    if ((sb.st_mode & 077) != 0) {
        err_set(err, EX_CONFIG,
                "client_secret_file %s can be read by other users (mode %04o): run chmod 600 %s",
                path, (unsigned)(sb.st_mode & 07777), path);
        goto done;
    }
    if (mt_read_all(fd, buf) != 0) {
        err_set(err, EX_CONFIG, "cannot read client_secret_file %s: %s", path,
                errno == ENOSPC ? "larger than 8 KiB" : strerror(errno));
        goto done;
    }
    rc = 0;
done:
    close(fd);
    return rc;
}

static long
elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

static int
run_secret_command(const char *command, struct mt_buf *buf, struct mt_err *err)
{
    struct timespec start;
    char chunk[1024];
    int pipefd[2], status, rc = -1, timed_out = 0;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return err_set(err, EX_OSERR, "cannot create a pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return err_set(err, EX_OSERR, "cannot start client_secret_command: %s", strerror(errno));
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);

        if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        long left = SECRET_COMMAND_TIMEOUT_MS - elapsed_ms(&start);
        ssize_t n;

        if (left <= 0) {
            timed_out = 1;
            break;
        }
        if (poll(&pfd, 1, (int)left) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n = read(pipefd[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (mt_buf_append(buf, chunk, (size_t)n) != 0) {
            /* Enough for the first line; stop reading. */
            break;
        }
    }
    close(pipefd[0]);
    mt_wipe(chunk, sizeof(chunk));
    if (timed_out)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        err_set(err, EX_CONFIG, "client_secret_command timed out after %d s",
                SECRET_COMMAND_TIMEOUT_MS / 1000);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        err_set(err, EX_CONFIG, "client_secret_command failed (%s %d): run it by hand to see why",
                WIFEXITED(status) ? "exit status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    } else {
        rc = 0;
    }
    return rc;
}

int
secret_fetch(const struct account *a, char **secret_r, struct mt_err *err)
{
    struct mt_buf buf;
    const char *source = NULL;
    int r = 0;

    *secret_r = NULL;
    if (a->client_secret != NULL) {
        *secret_r = strdup(a->client_secret);
        if (*secret_r == NULL)
            return err_set(err, EX_OSERR, "out of memory");
        return 0;
    }
    mt_buf_init(&buf, SECRET_MAX);
    if (a->client_secret_file != NULL) {
        source = "client_secret_file";
        r = read_secret_file(a->client_secret_file, &buf, err);
    } else if (a->client_secret_command != NULL) {
        source = "client_secret_command";
        r = run_secret_command(a->client_secret_command, &buf, err);
    } else {
        return 0;
    }
    if (r == 0) {
        *secret_r = first_line(&buf);
        if (*secret_r == NULL)
            r = err_set(err, EX_OSERR, "out of memory");
        else if ((*secret_r)[0] == '\0') {
            mt_strfree(*secret_r);
            *secret_r = NULL;
            r = err_set(err, EX_CONFIG, "%s gave an empty client secret", source);
        }
    }
    mt_buf_free(&buf);
    return r;
}
