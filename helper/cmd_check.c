/*
 * mailtoken check ACCOUNT [imap|pop3|smtp] [HOST:PORT]: log in to the
 * mail server with the account's token and show every step.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/check.h"

static const char usage_text[] =
    "check [--mech xoauth2|oauthbearer] ACCOUNT [imap|pop3|smtp] [HOST:PORT|URL]";

/* The transcript goes to standard output, one line per event. */
static void
print_event(void *ctx, enum mail_event event, const char *text)
{
    (void)ctx;
    switch (event) {
    case MAIL_EVENT_STEP:
        printf("%s\n", text);
        break;
    case MAIL_EVENT_SERVER:
        printf("S: %s\n", text);
        break;
    case MAIL_EVENT_CLIENT:
        printf("C: %s\n", text);
        break;
    }
    /* Keeps the order when standard output and standard error share a terminal or log. */
    fflush(stdout);
}

/* Parses the arguments after the options into o. Returns 0 or -1. */
static int
parse_arguments(int argc, char **argv, struct check_options *o)
{
    int i = 0;

    if (argc < 1 || argc > 3)
        return -1;
    i = 1;
    if (i < argc && mail_protocol_parse(argv[i], &o->protocol) == 0) {
        o->protocol_given = 1;
        i++;
    } else if (i < argc && strchr(argv[i], ':') == NULL) {
        /* A server is HOST:PORT or a URL: a bare word is a mistyped protocol. */
        fprintf(stderr, "mailtoken: check: unknown protocol \"%s\": expected imap, pop3 or "
                "smtp (a server is given as HOST:PORT or as a URL)\n", argv[i]);
        return -1;
    }
    if (i < argc)
        o->server = argv[i++];
    return i == argc ? 0 : -1;
}

int
cmd_check(struct cli *cli, int argc, char **argv)
{
    static const struct option options[] = {
        {"mech", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    struct check_options o = {.protocol = MAIL_IMAP, .mech = MAIL_MECH_AUTO};
    struct check_outcome out;
    const struct account *a;
    struct mt_err err;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "m:", options, NULL)) != -1) {
        if (opt != 'm')
            return cli_usage(usage_text);
        if (mail_mech_parse(optarg, &o.mech) != 0) {
            fprintf(stderr, "mailtoken: check: unknown mechanism \"%s\": expected xoauth2 or "
                    "oauthbearer\n", optarg);
            return cli_usage(usage_text);
        }
    }
    if (parse_arguments(argc - optind, argv + optind, &o) != 0)
        return cli_usage(usage_text);
    rc = cli_find_account(cli, argv[optind], &a);
    if (rc != 0)
        return rc;

    err_clear(&err);
    if (check_run(&cli->cfg, a, &o, print_event, NULL, &out, &err) == 0)
        return 0;
    rc = cli_error(&err);
    if (out.ncauses > 0) {
        fprintf(stderr, "mailtoken: likely causes, most likely first:\n");
        for (size_t i = 0; i < out.ncauses; i++)
            fprintf(stderr, "  - %s\n", out.causes[i]);
    }
    if (out.token_rejected)
        fprintf(stderr, "mailtoken: %s: the token is marked as rejected, so the next mailtoken "
                        "run gets a new one\n", a->name);
    return rc;
}
