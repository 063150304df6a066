/* mailtoken token ACCOUNT: print a valid access token and nothing else. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/token.h"
#include "mt_buf.h"
#include "mt_wipe.h"

static const char usage_text[] = "token [--refresh] ACCOUNT";

int
cmd_token(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"refresh", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const struct account *a;
    struct mt_err err;
    struct mt_buf line;
    char *token = NULL;
    time_t expires;
    int opt, force = 0, rc;

    while ((opt = getopt_long(argc, argv, "r", options, NULL)) != -1) {
        if (opt != 'r')
            return cli_usage(usage_text);
        force = 1;
    }
    if (argc - optind != 1)
        return cli_usage(usage_text);
    rc = cli_find_account(cli, argv[optind], &a);
    if (rc != 0)
        return rc;

    err_clear(&err);
    if (token_get(&cli->cfg, a, force, &token, &expires, &err) != 0)
        return cli_error(&err);

    /* One write: a reader never sees half a token, and a failure is noticed. */
    mt_buf_init(&line, strlen(token) + 2);
    rc = 0;
    if (mt_buf_append_str(&line, token) != 0 || mt_buf_append_byte(&line, '\n') != 0 ||
        write(STDOUT_FILENO, line.data, line.len) != (ssize_t)line.len) {
        fprintf(stderr, "mailtoken: %s: cannot write the token to standard output: %s\n",
                a->name, strerror(errno));
        rc = EX_IOERR;
    }
    mt_buf_free(&line);
    mt_strfree(token);
    return rc;
}
