/*
 * The state main.c hands to each command: the options given before the
 * command, and the loaded configuration. Commands print and choose exit
 * codes; the work is done in core/.
 */
#ifndef HELPER_CLI_H
#define HELPER_CLI_H

#include "core/config.h"
#include "core/err.h"

struct cli {
    const char *config_path;     /* --config, or NULL */
    int verbose;                 /* -v */
    struct config cfg;
};

/* Loads the configuration into cli->cfg; prints the error and returns its code on failure. */
int cli_load_config(struct cli *cli);

/* Finds ACCOUNT; prints the error and returns its exit code (0 when found). */
int cli_find_account(struct cli *cli, const char *name, const struct account **a_r);

/* Prints "mailtoken: MESSAGE" on stderr and returns the error's exit code. */
int cli_error(const struct mt_err *err);

/* Prints a usage error for a command on stderr and returns EX_USAGE. */
int cli_usage(const char *usage);

/* Prints a formatted line on stderr, prefixed with "mailtoken: ". */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef int command_fn(struct cli *cli, int argc, char **argv);

command_fn cmd_authorize;
command_fn cmd_token;
command_fn cmd_import;
command_fn cmd_status;
command_fn cmd_request;
command_fn cmd_forget;
command_fn cmd_check;
command_fn cmd_tunnel;
command_fn cmd_serve;

#endif
