/* mailtoken forget ACCOUNT: delete the stored tokens, and revoke them where possible. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/oauth.h"
#include "core/secret.h"
#include "core/token.h"
#include "mt_wipe.h"

static const char usage_text[] = "forget ACCOUNT";

/* Asks the provider to revoke the refresh token (RFC 7009); failures only warn. */
static void
revoke(const struct account *a, const char *refresh_token)
{
    struct net_response resp;
    struct mt_err err;
    struct form f;
    char *secret = NULL;

    if (a->revocation_endpoint == NULL) {
        cli_note("%s: the provider offers no revocation endpoint; to end the grant itself, "
                 "remove the app's access in the account's security settings", a->name);
        return;
    }
    err_clear(&err);
    if (secret_fetch(a, &secret, &err) != 0) {
        cli_note("%s: not revoked: %s", a->name, err.msg);
        return;
    }
    form_init(&f);
    form_add(&f, "token", refresh_token, 1);
    form_add(&f, "token_type_hint", "refresh_token", 0);
    if (oauth_post(a, a->revocation_endpoint, &f, secret, &resp, &err) != 0)
        cli_note("%s: the tokens are deleted, but revoking them failed: %s", a->name, err.msg);
    else if (resp.status != 200)
        cli_note("%s: the tokens are deleted, but the revocation endpoint answered HTTP %ld",
                 a->name, resp.status);
    else
        cli_note("%s: the refresh token was revoked at %s", a->name, a->revocation_endpoint);
    mt_buf_free(&resp.body);
    mt_strfree(secret);
}

int
cmd_forget(struct cli *cli, int argc, char **argv)
{
    const struct account *a;
    struct mt_err err;
    char *refresh_token = NULL;
    int rc;

    if (argc != 2)
        return cli_usage(usage_text);
    rc = cli_find_account(cli, argv[1], &a);
    if (rc != 0)
        return rc;
    err_clear(&err);
    rc = token_forget(&cli->cfg, a, &refresh_token, &err);
    if (rc < 0)
        return cli_error(&err);
    if (rc == 0) {
        cli_note("%s: no tokens were stored; nothing to delete", a->name);
        return 0;
    }
    cli_note("%s: stored tokens deleted", a->name);
    if (refresh_token != NULL)
        revoke(a, refresh_token);
    mt_strfree(refresh_token);
    return 0;
}
