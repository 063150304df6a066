/*
 * mailtoken tunnel ACCOUNT imap [HOST:PORT]: an IMAP session on standard
 * input and output, already logged in with OAuth2, for fetchmail's
 * plugin, mutt's tunnel and mbsync's Tunnel. Standard output carries
 * IMAP only; messages go to standard error.
 */
#include <getopt.h>
#include <stdio.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "core/tunnel.h"

static const char usage_text[] =
    "tunnel [--mech xoauth2|oauthbearer] ACCOUNT imap [HOST:PORT|URL]";

/* With -v, the login transcript goes to standard error. */
static void
trace_event(void *ctx, enum mail_event event, const char *text)
{
    (void)ctx;
    switch (event) {
    case MAIL_EVENT_STEP:
        fprintf(stderr, "mailtoken: tunnel: %s\n", text);
        break;
    case MAIL_EVENT_SERVER:
        fprintf(stderr, "mailtoken: tunnel: S: %s\n", text);
        break;
    case MAIL_EVENT_CLIENT:
        fprintf(stderr, "mailtoken: tunnel: C: %s\n", text);
        break;
    }
}

int
cmd_tunnel(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"mech", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    struct tunnel_options o = {
        .mech = MAIL_MECH_AUTO,
        .in_fd = STDIN_FILENO,
        .out_fd = STDOUT_FILENO,
    };
    const struct account *a;
    struct mt_err err;
    int opt, rc, nargs;

    while ((opt = getopt_long(argc, argv, "m:", options, NULL)) != -1) {
        if (opt != 'm')
            return cli_usage(usage_text);
        if (mail_mech_parse(optarg, &o.mech) != 0) {
            fprintf(stderr, "mailtoken: tunnel: unknown mechanism \"%s\": expected xoauth2 or "
                    "oauthbearer\n", optarg);
            return cli_usage(usage_text);
        }
    }
    nargs = argc - optind;
    if (nargs < 2 || nargs > 3)
        return cli_usage(usage_text);
    if (strcasecmp(argv[optind + 1], "imap") != 0) {
        fprintf(stderr, "mailtoken: tunnel: only imap is supported, not \"%s\"\n",
                argv[optind + 1]);
        return cli_usage(usage_text);
    }
    if (nargs == 3)
        o.server = argv[optind + 2];
    rc = cli_find_account(cli, argv[optind], &a);
    if (rc != 0)
        return rc;

    err_clear(&err);
    if (tunnel_run(&cli->cfg, a, &o, cli->verbose ? trace_event : NULL, NULL, &err) != 0)
        return cli_error(&err);
    return 0;
}
