/* mailtoken import ACCOUNT: store a refresh token read from standard input. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "core/token.h"
#include "mt_buf.h"
#include "mt_wipe.h"

#define IMPORT_MAX 16384

static const char usage_text[] = "import ACCOUNT  (the refresh token comes on standard input)";

/* Reads one line from standard input, without echo when it is a terminal. */
static int
read_secret_line(struct mt_buf *out)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO), echo_off = 0, rc = 0;
    char c;

    if (tty) {
        fprintf(stderr, "Paste the refresh token and press Enter: ");
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    for (;;) {
        ssize_t n = read(STDIN_FILENO, &c, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == '\n')
            break;
        if (mt_buf_append_byte(out, (unsigned char)c) != 0) {
            rc = -1;
            break;
        }
    }
    if (echo_off)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    if (tty)
        fputc('\n', stderr);
    return rc;
}

int
cmd_import(struct cli *cli, int argc, char **argv)
{
    const struct account *a;
    struct mt_err err;
    struct mt_buf input;
    char *token;
    size_t n;
    int rc, moved = 0;

    if (argc != 2)
        return cli_usage(usage_text);
    rc = cli_find_account(cli, argv[1], &a);
    if (rc != 0)
        return rc;

    mt_buf_init(&input, IMPORT_MAX);
    if (read_secret_line(&input) != 0) {
        mt_buf_free(&input);
        fprintf(stderr, "mailtoken: %s: the refresh token is longer than %d bytes\n", a->name,
                IMPORT_MAX);
        return EX_DATAERR;
    }
    if (input.data == NULL && mt_buf_append_str(&input, "") != 0) {
        fprintf(stderr, "mailtoken: out of memory\n");
        return EX_OSERR;
    }
    token = input.data;
    while (*token == ' ' || *token == '\t')
        token++;
    n = strlen(token);
    while (n > 0 && strchr(" \t\r", token[n - 1]) != NULL)
        token[--n] = '\0';
    rc = 0;
    if (n == 0) {
        fprintf(stderr, "mailtoken: %s: no refresh token on standard input\n", a->name);
        rc = EX_DATAERR;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f) {
            fprintf(stderr, "mailtoken: %s: the refresh token contains a space or a character "
                    "that is not printable ASCII (at position %zu): paste only the token\n",
                    a->name, i + 1);
            rc = EX_DATAERR;
        }
    }
    if (rc == 0) {
        err_clear(&err);
        if (token_import(&cli->cfg, a, token, &moved, &err) != 0)
            rc = cli_error(&err);
    }
    mt_buf_free(&input);
    if (rc != 0)
        return rc;
    if (moved)
        cli_note("%s: the old token file was corrupt and is kept as %s/%s.json.corrupt", a->name,
                 cli->cfg.store, a->name);
    cli_note("%s: refresh token stored; run mailtoken token %s to check that it works", a->name,
             a->name);
    return 0;
}
