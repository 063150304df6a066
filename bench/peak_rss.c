/*
 * Runs a command and prints its peak resident memory in KiB (ru_maxrss of
 * wait4). The command inherits this small program's memory at fork, so
 * the figure includes about 1 MiB that is not the command's own; the
 * floor program shows that baseline.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    struct rusage usage;
    int status;
    pid_t pid;

    if (argc < 2) {
        fprintf(stderr, "usage: peak_rss COMMAND [ARGS]\n");
        return 2;
    }
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    if (wait4(pid, &status, 0, &usage) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "peak_rss: %s failed\n", argv[1]);
        return 1;
    }
    printf("%ld\n", usage.ru_maxrss);
    return 0;
}
