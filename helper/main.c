/*
 * mailtoken: OAuth2 access tokens for mail programs. Parses the global
 * options and hands over to one command.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/trace.h"

#ifndef MAILTOKEN_VERSION
#define MAILTOKEN_VERSION "0"
#endif

struct command {
    const char *name;
    command_fn *run;
    const char *summary;
    int loads_config;    /* 1: the command loads the configuration itself */
};

static const struct command commands[] = {
    {.name = "authorize", .run = cmd_authorize,
     .summary = "sign in once in a browser or on another device; store the tokens"},
    {.name = "token", .run = cmd_token,
     .summary = "print a valid access token (refreshing it when needed)"},
    {.name = "status", .run = cmd_status,
     .summary = "show the state of every account, or of one"},
    {.name = "import", .run = cmd_import,
     .summary = "store a refresh token read from standard input"},
    {.name = "forget", .run = cmd_forget,
     .summary = "delete an account's stored tokens"},
    /* request reports a bad configuration in its reply, where the plugin reads it. */
    {.name = "request", .run = cmd_request, .loads_config = 1,
     .summary = "answer one SASL plugin request (used by the plugin)"},
    {.name = "check", .run = cmd_check,
     .summary = "log in to the mail server with the token and show each step"},
    {.name = "tunnel", .run = cmd_tunnel,
     .summary = "an IMAP session logged in with OAuth2 on stdin/stdout"},
    {.name = "serve", .run = cmd_serve,
     .summary = "run the token daemon for the SASL plugin (Unix sockets)"},
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: mailtoken [--config FILE] [-v] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nThe configuration is --config FILE, else $MAILTOKEN_CONFIG, else\n"
                 "~/.config/mailtoken/config, else %s.\n", config_system_path());
}

static void
trace_to_stderr(const char *line)
{
    fprintf(stderr, "mailtoken: %s\n", line);
}

int
cli_error(const struct mt_err *err)
{
    fprintf(stderr, "mailtoken: %s\n", err->msg);
    return err->code != 0 ? err->code : EX_SOFTWARE;
}

int
cli_usage(const char *text)
{
    fprintf(stderr, "usage: mailtoken %s\n", text);
    return EX_USAGE;
}

void
cli_note(const char *fmt, ...)
{
    va_list ap;

    fputs("mailtoken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
cli_load_config(struct cli *cli)
{
    struct mt_err err;

    err_clear(&err);
    if (config_load(&cli->cfg, cli->config_path, &err) != 0)
        return cli_error(&err);
    if (cli->verbose)
        trace("configuration: %s, token store: %s",
              cli->cfg.path != NULL ? cli->cfg.path : "(none found)", cli->cfg.store);
    return 0;
}

int
cli_find_account(struct cli *cli, const char *name, const struct account **a_r)
{
    struct mt_err err;
    int as_mailbox;

    err_clear(&err);
    *a_r = config_find_account(&cli->cfg, name, &as_mailbox, &err);
    if (*a_r == NULL)
        return cli_error(&err);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli cli;
    int opt, rc;

    memset(&cli, 0, sizeof(cli));
    /* A reader that goes away (head, a mail program) must not kill us mid-write. */
    signal(SIGPIPE, SIG_IGN);
    umask(077);

    /* "+": stop at the command, whose own options follow it. */
    while ((opt = getopt_long(argc, argv, "+c:vhV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            cli.config_path = optarg;
            break;
        case 'v':
            cli.verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("mailtoken %s\n", MAILTOKEN_VERSION);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    if (cli.verbose)
        trace_set_sink(trace_to_stderr);

    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[optind], commands[i].name) != 0)
            continue;
        /* Each command parses its own options from argv[0] = its name. */
        optind++;
        argc -= optind - 1;
        argv += optind - 1;
        optind = 1;
        rc = commands[i].loads_config ? 0 : cli_load_config(&cli);
        if (rc == 0)
            rc = commands[i].run(&cli, argc, argv);
        config_free(&cli.cfg);
        if (fflush(stdout) != 0 && rc == 0) {
            fprintf(stderr, "mailtoken: cannot write to standard output: %s\n", strerror(errno));
            rc = EX_IOERR;
        }
        return rc;
    }
    fprintf(stderr, "mailtoken: unknown command \"%s\"\n", argv[optind]);
    usage(stderr);
    return EX_USAGE;
}
