/* mailtoken status [ACCOUNT]: the state of each account, from the store, without network. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/status.h"
#include "core/store.h"
#include "core/token.h"

static const char usage_text[] = "status [ACCOUNT]";

enum column { COL_ACCOUNT, COL_USER, COL_PROVIDER, COL_STATE, COL_ACCESS, COL_REFRESH,
              COL_SECRET, COL_COUNT };

static const char *const headings[COL_COUNT] = {
    "ACCOUNT", "USER", "PROVIDER", "STATE", "ACCESS TOKEN", "REFRESH TOKEN", "CLIENT CREDENTIAL",
};

struct row {
    char cell[COL_COUNT][96];
    char warning[512];
    char error[1024];
    enum account_state state;
};

/* Writes "52 min", "3 h" or "12 d". */
static void
span(char *out, size_t size, time_t seconds)
{
    if (seconds < 0)
        seconds = -seconds;
    if (seconds < 3600)
        snprintf(out, size, "%ld min", (long)(seconds / 60));
    else if (seconds < 2 * 86400)
        snprintf(out, size, "%ld h", (long)(seconds / 3600));
    else
        snprintf(out, size, "%ld d", (long)(seconds / 86400));
}

/* Drops a leading "ACCOUNT: " from a message, since status prints the name before it. */
static const char *
without_account(const char *message, const char *account)
{
    size_t n = strlen(account);

    if (strncmp(message, account, n) == 0 && message[n] == ':' && message[n + 1] == ' ')
        return message + n + 2;
    return message;
}

/* Returns the address shown for an account; an app-only one often names only its mailbox. */
static const char *
account_address(const struct account *a)
{
    if (a->user != NULL)
        return a->user;
    if (a->mailbox != NULL)
        return a->mailbox;
    return "-";
}

/* Fills a row for an account whose store cannot be opened at all. */
static void
fill_unreadable_row(const struct account *a, const struct mt_err *err, struct row *row)
{
    memset(row, 0, sizeof(*row));
    row->state = STATE_ERROR;
    snprintf(row->cell[COL_ACCOUNT], sizeof(row->cell[0]), "%s", a->name);
    snprintf(row->cell[COL_USER], sizeof(row->cell[0]), "%s", account_address(a));
    snprintf(row->cell[COL_PROVIDER], sizeof(row->cell[0]), "%s", provider_name(a->provider));
    snprintf(row->cell[COL_STATE], sizeof(row->cell[0]), "%s", status_state_name(STATE_ERROR));
    for (int c = COL_ACCESS; c < COL_COUNT; c++)
        snprintf(row->cell[c], sizeof(row->cell[0]), "-");
    snprintf(row->error, sizeof(row->error), "%s", err->msg);
}

static void
fill_row(const struct account *a, struct store *st, time_t now, struct row *row)
{
    struct account_status s;
    char left[32], used[32], lapse[32];

    status_get(a, st, now, &s);
    row->state = s.state;
    snprintf(row->cell[COL_ACCOUNT], sizeof(row->cell[0]), "%s", a->name);
    snprintf(row->cell[COL_USER], sizeof(row->cell[0]), "%s", account_address(a));
    snprintf(row->cell[COL_PROVIDER], sizeof(row->cell[0]), "%s", provider_name(a->provider));
    snprintf(row->cell[COL_STATE], sizeof(row->cell[0]), "%s", status_state_name(s.state));

    if (s.access_expires == 0)
        snprintf(row->cell[COL_ACCESS], sizeof(row->cell[0]), "-");
    else if (s.access_valid) {
        span(left, sizeof(left), s.access_expires - now);
        snprintf(row->cell[COL_ACCESS], sizeof(row->cell[0]), "valid, %s left", left);
    } else
        snprintf(row->cell[COL_ACCESS], sizeof(row->cell[0]), "expired");

    if (a->grant == GRANT_CLIENT_CREDENTIALS) {
        snprintf(row->cell[COL_REFRESH], sizeof(row->cell[0]), "none (app-only)");
    } else if (s.state == STATE_NEEDS_REAUTH) {
        snprintf(row->cell[COL_REFRESH], sizeof(row->cell[0]), "rejected by the server");
    } else if (s.refresh_used_at == 0) {
        snprintf(row->cell[COL_REFRESH], sizeof(row->cell[0]), "-");
    } else {
        span(used, sizeof(used), now - s.refresh_used_at);
        span(lapse, sizeof(lapse), s.refresh_lapses - now);
        snprintf(row->cell[COL_REFRESH], sizeof(row->cell[0]), "used %s ago, %s %s", used,
                 s.refresh_lapses > now ? "lapses in" : "lapsed", lapse);
        if (s.refresh_lapses <= now)
            snprintf(row->cell[COL_REFRESH], sizeof(row->cell[0]), "used %s ago, lapsed", used);
    }

    if (s.credential_expires != 0) {
        struct tm tm;
        char date[16];

        gmtime_r(&s.credential_expires, &tm);
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
        snprintf(row->cell[COL_SECRET], sizeof(row->cell[0]), "%s%s %s",
                 s.credential_is_certificate ? "certificate " : "",
                 s.credential_expires > now ? "expires" : "expired", date);
    } else if (s.credential_is_certificate) {
        snprintf(row->cell[COL_SECRET], sizeof(row->cell[0]), "certificate unreadable");
    } else {
        snprintf(row->cell[COL_SECRET], sizeof(row->cell[0]), "-");
    }
    snprintf(row->warning, sizeof(row->warning), "%s", s.warning);
    snprintf(row->error, sizeof(row->error), "%s", without_account(s.error, a->name));
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
    struct store st = {.dirfd = -1};
    struct store *stp = NULL;
    struct row *rows;
    struct mt_err err;
    size_t width[COL_COUNT], n = 0;
    time_t now = token_clock();
    int rc = 0, store_failed = 0;

    if (argc > 2)
        return cli_usage(usage_text);
    if (cli->cfg.naccounts == 0 && cli->cfg.path != NULL) {
        cli_note("no accounts are configured in %s: add a section such as [work] with provider, "
                 "client_id and user; see mailtoken.conf(5)", cli->cfg.path);
        return EX_CONFIG;
    }
    if (cli->cfg.naccounts == 0) {
        cli_note("no configuration file found: looked for $MAILTOKEN_CONFIG, "
                 "~/.config/mailtoken/config and %s; create one with an account section such "
                 "as [work]; see mailtoken.conf(5)", config_system_path());
        return EX_CONFIG;
    }
    err_clear(&err);
    if (store_open(&st, cli->cfg.store, 0, &err) == 0)
        stp = &st;
    else if (access(cli->cfg.store, F_OK) == 0 || errno != ENOENT)
        store_failed = 1;   /* the folder exists but cannot be used: every row shows why */

    rows = calloc(cli->cfg.naccounts, sizeof(*rows));
    if (rows == NULL) {
        store_close(&st);
        fprintf(stderr, "mailtoken: out of memory\n");
        return EX_OSERR;
    }
    if (argc == 2) {
        const struct account *a;

        rc = cli_find_account(cli, argv[1], &a);
        if (rc != 0)
            goto done;
        if (store_failed)
            fill_unreadable_row(a, &err, &rows[n++]);
        else
            fill_row(a, stp, now, &rows[n++]);
    } else {
        for (size_t i = 0; i < cli->cfg.naccounts; i++) {
            if (store_failed)
                fill_unreadable_row(&cli->cfg.accounts[i], &err, &rows[n++]);
            else
                fill_row(&cli->cfg.accounts[i], stp, now, &rows[n++]);
        }
    }

    for (int c = 0; c < COL_COUNT; c++) {
        width[c] = strlen(headings[c]);
        for (size_t i = 0; i < n; i++)
            if (strlen(rows[i].cell[c]) > width[c])
                width[c] = strlen(rows[i].cell[c]);
    }
    for (int c = 0; c < COL_COUNT; c++)
        printf("%-*s%s", c + 1 < COL_COUNT ? (int)width[c] : 0, headings[c],
               c + 1 < COL_COUNT ? "  " : "\n");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < COL_COUNT; c++)
            printf("%-*s%s", c + 1 < COL_COUNT ? (int)width[c] : 0, rows[i].cell[c],
                   c + 1 < COL_COUNT ? "  " : "\n");
    for (size_t i = 0; i < n; i++) {
        if (rows[i].warning[0] != '\0')
            printf("%s: warning: %s\n", rows[i].cell[COL_ACCOUNT], rows[i].warning);
        if (rows[i].error[0] != '\0')
            printf("%s: %s: %s\n", rows[i].cell[COL_ACCOUNT],
                   rows[i].state == STATE_ERROR ? "error" : "last error", rows[i].error);
        if (rows[i].state == STATE_UNAUTHORIZED || rows[i].state == STATE_EXPIRED ||
            rows[i].state == STATE_NEEDS_REAUTH)
            printf("%s: run mailtoken authorize %s\n", rows[i].cell[COL_ACCOUNT],
                   rows[i].cell[COL_ACCOUNT]);
        if (rows[i].state != STATE_AUTHORIZED)
            rc = EX_NOPERM;
    }
done:
    free(rows);
    store_close(&st);
    return rc;
}
