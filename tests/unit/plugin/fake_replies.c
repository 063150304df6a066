/* The canned replies of the fake token source. */
#include "fake_replies.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mt_wire.h"

struct fake_account {
    const char *name;
    const char *user;       /* NULL: no user field */
    const char *mailbox;    /* NULL: no mailbox field */
    const char *token;      /* NULL: no token field */
};

static const struct fake_account accounts[] = {
    {.name = "google", .user = FAKE_GOOGLE_USER, .token = FAKE_GOOGLE_TOKEN},
    {.name = "microsoft", .user = FAKE_MICROSOFT_USER, .token = FAKE_MICROSOFT_TOKEN},
    {.name = "rfc7628", .user = FAKE_RFC7628_USER, .token = FAKE_RFC7628_TOKEN},
    {.name = "plain", .user = FAKE_PLAIN_USER, .token = FAKE_PLAIN_TOKEN},
    {.name = "envdump", .user = FAKE_PLAIN_USER, .token = FAKE_PLAIN_TOKEN},
    {.name = "linger", .user = FAKE_PLAIN_USER, .token = FAKE_PLAIN_TOKEN},
    {.name = "reject-fails", .user = FAKE_PLAIN_USER, .token = FAKE_PLAIN_TOKEN},
    {.name = "shared", .user = FAKE_PLAIN_USER, .mailbox = FAKE_SHARED_MAILBOX,
     .token = FAKE_PLAIN_TOKEN},
    {.name = "nouser", .token = FAKE_PLAIN_TOKEN},
    {.name = "bareuser", .user = "alice", .token = FAKE_PLAIN_TOKEN},
    {.name = "notoken", .user = FAKE_PLAIN_USER},
    {.name = "ctl-token", .user = FAKE_PLAIN_USER, .token = "TO\x01KEN"},
    {.name = "space-token", .user = FAKE_PLAIN_USER, .token = "TO KEN"},
    {.name = "empty-token", .user = FAKE_PLAIN_USER, .token = ""},
    {.name = "esc-token", .user = FAKE_PLAIN_USER, .token = "TO\x1bKEN"},
    {.name = "ctl-user", .user = "alice\x01@example.com", .token = FAKE_PLAIN_TOKEN},
    {.name = "space-user", .user = "alice smith@example.com", .token = FAKE_PLAIN_TOKEN},
};

void
fake_len_token(long n, struct mt_buf *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";

    for (long i = 0; i < n; i++)
        mt_buf_append_byte(out, (unsigned char)alphabet[i % (long)(sizeof(alphabet) - 1)]);
}

static int
error_reply(struct mt_buf *out, int code, const char *kind, const char *message)
{
    mt_wire_begin_err(out, code, kind);
    mt_wire_add_field(out, "message", message);
    mt_wire_end(out);
    return code;
}

static void
raw_field(struct mt_buf *out, const char *key, const char *value)
{
    /* mt_wire_add_field is bypassed so that invalid tokens can be served on purpose. */
    mt_buf_printf(out, "%s %s\n", key, value);
}

int
fake_reply(const char *account, int rejected, struct mt_buf *out)
{
    char expires[32];

    if (strcmp(account, "unauthorized") == 0)
        return error_reply(out, 77, MT_WIRE_UNAUTHORIZED,
                           "unauthorized: no token yet. Run: mailtoken authorize unauthorized");
    if (strcmp(account, "temporary") == 0)
        return error_reply(out, 75, MT_WIRE_TEMPORARY,
                           "temporary: the token endpoint timed out. Try again later");
    if (strcmp(account, "escape-message") == 0)
        return error_reply(out, 70, MT_WIRE_INTERNAL, "bad \x1b[31mred\x1b[0m message");
    if (rejected) {
        if (strcmp(account, "reject-fails") == 0)
            return error_reply(out, 74, MT_WIRE_STORE, "cannot write the store");
        mt_wire_begin_ok(out);
        mt_wire_end(out);
        return 0;
    }

    snprintf(expires, sizeof(expires), "%lld", (long long)time(NULL) + 3600);
    if (strncmp(account, "len-", 4) == 0) {
        long n = strtol(account + 4, NULL, 10);

        mt_wire_begin_ok(out);
        raw_field(out, "account", account);
        raw_field(out, "user", FAKE_LEN_USER);
        mt_buf_append_str(out, "token ");
        fake_len_token(n, out);
        mt_buf_append_byte(out, '\n');
        raw_field(out, "expires", expires);
        mt_wire_end(out);
        return 0;
    }
    for (size_t i = 0; i < sizeof(accounts) / sizeof(accounts[0]); i++) {
        const struct fake_account *a = &accounts[i];

        if (strcmp(account, a->name) != 0)
            continue;
        mt_wire_begin_ok(out);
        if (strcmp(account, "nouser") != 0)
            raw_field(out, "account", a->name);
        if (a->user != NULL)
            raw_field(out, "user", a->user);
        if (a->mailbox != NULL)
            raw_field(out, "mailbox", a->mailbox);
        if (a->token != NULL)
            raw_field(out, "token", a->token);
        raw_field(out, "expires", expires);
        mt_wire_end(out);
        return 0;
    }
    return error_reply(out, FAKE_UNKNOWN_CODE, MT_WIRE_UNKNOWN_ACCOUNT,
                       "no account matches the name");
}

void
fake_record(const char *dir, const char *name, const char *line)
{
    char path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    (void)!write(fd, line, strlen(line));
    (void)!write(fd, "\n", 1);
    close(fd);
}
