/*
 * A stand-in for "mailtoken request" in the plugin tests: prints the
 * canned reply for the account, or misbehaves on purpose for some
 * account names. Records every call in helper.log beside the file that
 * MAILTOKEN_CONFIG names, because the plugin passes no other variable.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_replies.h"
#include "mt_buf.h"
#include "mt_wire.h"

extern char **environ;

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Records the environment and the open descriptors, for the test of what the child inherits. */
static void
dump_environment(const char *dir)
{
    struct dirent *e;
    char line[4200];
    DIR *d;

    for (char **v = environ; *v != NULL; v++) {
        snprintf(line, sizeof(line), "env %s", *v);
        fake_record(dir, "helper-env.txt", line);
    }
    d = opendir("/proc/self/fd");
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
            continue;
        snprintf(line, sizeof(line), "fd %s", e->d_name);
        fake_record(dir, "helper-env.txt", line);
    }
    closedir(d);
}

int
main(int argc, char **argv)
{
    const char *config = getenv("MAILTOKEN_CONFIG");
    const char *account;
    char dir[4096], line[4096], *slash;
    struct mt_buf out;
    int rejected, code;

    snprintf(dir, sizeof(dir), "%s", config != NULL ? config : "/nonexistent/x");
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(line, sizeof(line), "exec %s %s %s", argc > 2 ? argv[2] : "-",
             argc > 3 ? argv[3] : "-", argc > 4 ? argv[4] : "");
    fake_record(dir, "helper.log", line);

    mt_buf_init(&out, 1 << 20);
    if (argc < 4 || strcmp(argv[1], "request") != 0 ||
        (strcmp(argv[2], "TOKEN") == 0 && argc != 4) ||
        (strcmp(argv[2], "REJECTED") == 0 && argc != 5)) {
        mt_wire_begin_err(&out, 64, MT_WIRE_BAD_REQUEST);
        mt_wire_add_field(&out, "message", "usage: request TOKEN ACCOUNT | REJECTED ACCOUNT FP");
        mt_wire_end(&out);
        write_all(1, out.data, out.len);
        return 64;
    }
    rejected = strcmp(argv[2], "REJECTED") == 0;
    account = argv[3];

    if (!rejected && strcmp(account, "slow") == 0) {
        sleep(60);
        return 75;
    }
    if (!rejected && strcmp(account, "garbage") == 0) {
        write_all(1, "hello \x1b[31mworld\n\n", 18);
        return 0;
    }
    if (!rejected && strcmp(account, "partial") == 0) {
        write_all(1, "MAILTOKEN/1 OK\ntoken abc", 24);
        return 0;
    }
    if (!rejected && strcmp(account, "flood") == 0) {
        char chunk[4096];

        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 40; i++)
            write_all(1, chunk, sizeof(chunk));
        return 0;
    }
    if (!rejected && strcmp(account, "silent") == 0)
        return 3;
    if (!rejected && strcmp(account, "envdump") == 0)
        dump_environment(dir);

    code = fake_reply(account, rejected, &out);
    write_all(1, out.data, out.len);
    if (!rejected && strcmp(account, "linger") == 0) {
        close(1);
        sleep(60);
    }
    mt_buf_free(&out);
    return code;
}
