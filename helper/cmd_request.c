/*
 * mailtoken request VERB ACCOUNT [FINGERPRINT]: handles one plugin request and writes the reply
 * to standard output, in the format of docs/PROTOCOL.md. The SASL plugin
 * runs this when no daemon socket is configured.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/request.h"
#include "mt_buf.h"
#include "mt_wire.h"

static const char usage_text[] = "request TOKEN|REJECTED|STATUS [ACCOUNT [FINGERPRINT]]";

int
cmd_request(struct cli *cli, int argc, char **argv)
{
    struct mt_wire_request req;
    struct mt_buf line, reply;
    const char *problem = NULL;
    int rc;

    struct mt_err err;

    if (argc < 2 || argc > 4)
        return cli_usage(usage_text);
    mt_buf_init(&line, MT_WIRE_MAX_REQUEST);
    mt_buf_init(&reply, MT_WIRE_MAX_REPLY);
    err_clear(&err);
    mt_buf_append_str(&line, MT_WIRE_VERSION);
    for (int i = 1; i < argc; i++)
        if (mt_buf_printf(&line, " %s", argv[i]) != 0)
            problem = "request line too long";
    if (problem == NULL)
        mt_wire_parse_request(line.data, line.len, &req, &problem);
    if (problem != NULL) {
        request_error_reply(&reply, EX_USAGE, MT_WIRE_BAD_REQUEST, problem);
        rc = EX_USAGE;
    } else if (config_load(&cli->cfg, cli->config_path, &err) != 0) {
        /* The plugin sends stderr to /dev/null: the reply must carry the reason. */
        request_error_reply(&reply, err.code, err.kind, err.msg);
        rc = err.code;
    } else {
        rc = request_handle(&cli->cfg, &req, NULL, &reply);
    }
    if (write(STDOUT_FILENO, reply.data, reply.len) != (ssize_t)reply.len) {
        fprintf(stderr, "mailtoken: cannot write the reply: %s\n", strerror(errno));
        rc = EX_IOERR;
    }
    mt_buf_free(&line);
    mt_buf_free(&reply);
    return rc;
}
