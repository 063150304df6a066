/*
 * mailtoken authorize ACCOUNT: the one interactive step. The user signs
 * in through a browser (loopback redirect, or a pasted address with
 * --manual) or on another device (--device), and the tokens are stored.
 *
 * Standard output carries only what a program may parse. For the browser
 * flow that is the address to open, exactly, on a line of its own. With
 * --device it is the verification address and then the user code, each on
 * its own line. Everything else goes to standard error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/authorize.h"
#include "core/device.h"
#include "core/listener.h"
#include "core/oauth.h"
#include "core/secret.h"
#include "core/token.h"
#include "mt_buf.h"
#include "mt_wipe.h"

#define DEFAULT_TIMEOUT 300
#define MAX_TIMEOUT 86400
/* Seconds to wait for a fixed redirect port in TCP TIME_WAIT (60 s on Linux). */
#define PORT_WAIT 65
/* Maximum length of the address read from standard input in --manual mode. */
#define PASTED_MAX (16 * 1024)

static const char usage_text[] =
    "authorize [--device | --manual] [--no-browser] [--timeout SECONDS] ACCOUNT";

struct options {
    int device;
    int manual;
    int no_browser;
    long timeout;        /* seconds */
    int timeout_given;
};

/* ---- the "waiting" line on standard error ---- */

struct waiting {
    const char *account;
    char what[LISTENER_URI_MAX + 64];
    int tty;             /* rewrite the line in place */
    int open_line;       /* a line without its newline is on the terminal */
    long last_shown;     /* seconds left when a line was last printed; -1 never */
    time_t last_poll_at; /* device grant: wall-clock time just before the latest poll */
};

static void
waiting_init(struct waiting *w, const struct cli *cli, const char *account)
{
    memset(w, 0, sizeof(*w));
    w->account = account;
    /* -v trace lines would land in the middle of a line rewritten in place. */
    w->tty = isatty(STDERR_FILENO) && !cli->verbose;
    w->last_shown = -1;
}

static void
waiting_show(struct waiting *w, long left)
{
    if (w->tty) {
        fprintf(stderr, "\rmailtoken: %s: waiting for %s (%ld:%02ld left)\033[K", w->account,
                w->what, left / 60, left % 60);
        fflush(stderr);
        w->open_line = 1;
    } else if (w->last_shown < 0 || w->last_shown / 60 != left / 60) {
        /* Without a terminal: one line at the start and one a minute. */
        fprintf(stderr, "mailtoken: %s: waiting for %s (%ld:%02ld left)\n", w->account, w->what,
                left / 60, left % 60);
    } else {
        return;
    }
    w->last_shown = left;
}

static void
waiting_end(struct waiting *w)
{
    if (w->open_line)
        fputc('\n', stderr);
    w->open_line = 0;
}

static void
on_listener_progress(void *ctx, long seconds_left)
{
    waiting_show(ctx, seconds_left);
}

static time_t
monotonic_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Sleeps between device polls, updating the waiting line each second. */
static int
on_device_wait(void *ctx, long seconds, long seconds_left, struct mt_err *err)
{
    struct waiting *w = ctx;

    (void)err;
    for (long i = 0; i < seconds; i++) {
        struct timespec one = {.tv_sec = 1};

        waiting_show(w, seconds_left - i);
        while (nanosleep(&one, &one) != 0 && errno == EINTR)
            ;
    }
    w->last_poll_at = time(NULL);
    return 0;
}

/* ---- messages ---- */

/* Puts the account's name in front of a core message that lacks it. */
static void
name_error(struct mt_err *err, const char *account)
{
    size_t n = strlen(account);

    if (strncmp(err->msg, account, n) != 0 || err->msg[n] != ':')
        err_prefix(err, "%s", account);
}

static int
fail(struct mt_err *err, const char *account)
{
    name_error(err, account);
    return cli_error(err);
}

/* ---- the browser ---- */

/* Returns 1 when the environment variable is set and not empty. */
static int
env_set(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0';
}

/* Returns 1 when an executable named name is in PATH. */
static int
in_path(const char *name)
{
    const char *path = getenv("PATH");
    char candidate[PATH_MAX];

    if (path == NULL)
        return 0;
    while (*path != '\0') {
        size_t n = strcspn(path, ":");

        if (n > 0 && snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)n, path, name) <
                         (int)sizeof(candidate) &&
            access(candidate, X_OK) == 0)
            return 1;
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

/*
 * Starts xdg-open on url, detached: no shell, its own session, output to
 * /dev/null, and no wait for it (a second fork leaves no zombie behind).
 */
static void
open_browser(const char *account, const char *url)
{
    pid_t child;
    int status;

    if (!env_set("DISPLAY") && !env_set("WAYLAND_DISPLAY"))
        return;
    if (!in_path("xdg-open")) {
        cli_note("%s: xdg-open is not installed, so no browser was opened: open the address "
                 "above yourself", account);
        return;
    }
    child = fork();
    if (child < 0) {
        cli_note("%s: cannot start xdg-open (%s): open the address above yourself", account,
                 strerror(errno));
        return;
    }
    if (child == 0) {
        char program[] = "xdg-open";
        char *argv[] = {program, strdup(url), NULL};
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        setsid();
        if (fork() != 0)
            _exit(0);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        if (argv[1] != NULL)
            execvp(program, argv);
        _exit(127);
    }
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
}

/* ---- --manual ---- */

/*
 * Reads one line from standard input within timeout_s seconds. Returns 0,
 * or -1 with err set (EX_TEMPFAIL on timeout, EX_DATAERR when the input
 * ends or is too long).
 */
static int
read_pasted_line(struct mt_buf *out, long timeout_s, struct mt_err *err)
{
    time_t deadline = monotonic_now() + timeout_s;

    for (;;) {
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        long left = (long)(deadline - monotonic_now());
        char c;
        ssize_t n;
        int r;

        if (left <= 0)
            return err_set(err, EX_TEMPFAIL, "timed out after %ld s waiting for the pasted "
                           "address", timeout_s);
        r = poll(&pfd, 1, (int)(left > 1000 ? 1000000 : left * 1000));
        if (r < 0 && errno != EINTR)
            return err_set(err, EX_IOERR, "reading standard input failed: %s",
                           strerror(errno));
        if (r <= 0)
            continue;
        n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_set(err, EX_IOERR, "reading standard input failed: %s",
                           strerror(errno));
        if (n == 0 || c == '\n') {
            if (n == 0 && out->len == 0)
                return err_set(err, EX_DATAERR, "standard input ended before an address was "
                               "pasted");
            return 0;
        }
        if (mt_buf_append_byte(out, (unsigned char)c) != 0)
            return err_set(err, EX_DATAERR, "the pasted line is longer than %d bytes",
                           PASTED_MAX);
    }
}

/* ---- after the grant ---- */

/* Stores the reply, then prints who signed in and how to test the tokens. */
static int
store_and_report(struct cli *cli, const struct account *a, const struct token_reply *reply,
                 time_t requested_at)
{
    struct mt_err err;
    char *user;

    err_clear(&err);
    if (token_store_authorized(&cli->cfg, a, reply, requested_at, &err) != 0)
        return fail(&err, a->name);

    user = oauth_id_token_user(reply->id_token);
    if (user != NULL)
        cli_note("%s: authorized as %s", a->name, user);
    else
        cli_note("%s: authorized", a->name);
    if (user != NULL && a->user != NULL && strcasecmp(user, a->user) != 0)
        cli_note("%s: warning: the sign-in was as %s, but the account's user is %s; mail "
                 "servers accept the token only for %s: sign in again as %s, or change user in "
                 "the configuration", a->name, user, a->user, user, a->user);
    free(user);
    if (reply->refresh_token == NULL)
        cli_note("%s: warning: the server sent no refresh token, so mailtoken token works only "
                 "until the access token expires%s", a->name,
                 a->provider == PROVIDER_MICROSOFT ? " (is offline_access in scope?)"
                 : a->provider == PROVIDER_GOOGLE ? " (Google sends one only with "
                                                    "access_type=offline and prompt=consent)"
                                                  : "");
    cli_note("%s: tokens stored in %s; check them with: mailtoken token %s", a->name,
             cli->cfg.store, a->name);
    return 0;
}

/* With grant = client_credentials the app signs in as itself, so a token request is the check. */
static int
check_client_credentials(struct cli *cli, const struct account *a)
{
    struct mt_err err;
    char *token = NULL;
    time_t expires;

    cli_note("%s: this account uses grant client_credentials, where the app signs in as "
             "itself, so it needs no authorization; requesting a token to check its client "
             "%s", a->name, a->client_certificate != NULL ? "certificate" : "secret");
    err_clear(&err);
    if (token_get(&cli->cfg, a, 1, &token, &expires, &err) != 0)
        return fail(&err, a->name);
    mt_strfree(token);
    cli_note("%s: the token endpoint issued an access token; mailtoken token %s prints it",
             a->name, a->name);
    return 0;
}

/* ---- the flows ---- */

/*
 * Opens the listener. When a recently closed connection occupies a fixed
 * port (TIME_WAIT), it retries each second for up to PORT_WAIT seconds.
 */
static int
open_listener(struct listener *l, const struct account *a, enum listener_mode mode,
              struct mt_err *err)
{
    for (int waited = 0;; waited++) {
        struct timespec one = {.tv_sec = 1};

        if (listener_open(l, a->redirect_uri, mode, err) == 0)
            return 0;
        if (!l->port_closing || waited >= PORT_WAIT)
            return -1;
        if (waited == 0)
            cli_note("%s: %s; waiting up to %d s for it to be released", a->name, err->msg,
                     PORT_WAIT);
        listener_close(l);
        err_clear(err);
        while (nanosleep(&one, &one) != 0 && errno == EINTR)
            ;
    }
}

static int
run_browser_flow(struct cli *cli, const struct account *a, const struct options *o,
                 const char *secret)
{
    struct authorize_request request;
    struct authorize_callback cb;
    struct token_reply reply;
    struct listener l;
    struct waiting w;
    struct mt_buf url, pasted;
    struct mt_err err;
    time_t requested_at;
    int rc;

    memset(&reply, 0, sizeof(reply));
    memset(&request, 0, sizeof(request));
    mt_buf_init(&url, 16 * 1024);
    mt_buf_init(&pasted, PASTED_MAX);
    cb.request = &request;
    mt_buf_init(&cb.code, AUTHORIZE_CODE_MAX);
    waiting_init(&w, cli, a->name);
    err_clear(&err);

    if (open_listener(&l, a, o->manual ? LISTENER_RESERVE : LISTENER_LISTEN, &err) != 0 ||
        authorize_request_init(&request, a, l.redirect_uri, &err) != 0 ||
        authorize_build_url(&request, &url, &err) != 0) {
        rc = fail(&err, a->name);
        goto done;
    }

    if (a->user != NULL)
        cli_note("%s: open this address in a browser and sign in as %s:", a->name, a->user);
    else
        cli_note("%s: open this address in a browser and sign in:", a->name);
    fflush(stderr);
    printf("%s\n", mt_buf_str(&url));
    fflush(stdout);
    if (!o->manual && !o->no_browser)
        open_browser(a->name, mt_buf_str(&url));

    if (o->manual) {
        cli_note("%s: after the sign-in the browser goes to %s..., which fails to load: copy "
                 "that whole address from the address bar, paste it here and press Enter "
                 "(within %ld s):", a->name, l.redirect_uri, o->timeout);
        if (read_pasted_line(&pasted, o->timeout, &err) != 0 ||
            authorize_parse_pasted(&request, mt_buf_str(&pasted), &cb.code, &err) != 0) {
            rc = fail(&err, a->name);
            goto done;
        }
    } else {
        snprintf(w.what, sizeof(w.what), "the browser to return to %s", l.redirect_uri);
        rc = listener_wait(&l, o->timeout, authorize_listener_handler, &cb,
                           on_listener_progress, &w, &err);
        waiting_end(&w);
        if (rc != 0) {
            rc = fail(&err, a->name);
            goto done;
        }
    }
    listener_close(&l);

    requested_at = time(NULL);
    if (authorize_redeem(&request, mt_buf_str(&cb.code), secret, &reply, &err) != 0) {
        rc = fail(&err, a->name);
        goto done;
    }
    rc = store_and_report(cli, a, &reply, requested_at);
done:
    listener_close(&l);
    authorize_request_wipe(&request);
    token_reply_free(&reply);
    mt_buf_free(&cb.code);
    mt_buf_free(&pasted);
    mt_buf_free(&url);
    return rc;
}

static int
run_device_flow(struct cli *cli, const struct account *a, const struct options *o,
                const char *secret)
{
    struct device_authorization d;
    struct token_reply reply;
    struct device_clock clock = {.wait = on_device_wait, .now = monotonic_now};
    struct waiting w;
    struct mt_err err;
    time_t started;
    int rc;

    memset(&reply, 0, sizeof(reply));
    waiting_init(&w, cli, a->name);
    clock.ctx = &w;
    err_clear(&err);
    if (device_start(a, secret, &d, &err) != 0)
        return fail(&err, a->name);
    started = monotonic_now();

    cli_note("%s: on any device with a browser, open the address below and enter the code "
             "under it%s%s:", a->name, a->user != NULL ? "; sign in as " : "",
             a->user != NULL ? a->user : "");
    fflush(stderr);
    printf("%s\n%s\n", d.verification_uri, d.user_code);
    fflush(stdout);
    if (d.verification_uri_complete != NULL)
        cli_note("%s: or open %s, which fills in the code", a->name,
                 d.verification_uri_complete);
    if (d.message != NULL)
        cli_note("%s: the server says: %s", a->name, d.message);

    snprintf(w.what, sizeof(w.what), "the sign-in with code %s", d.user_code);
    rc = device_poll(a, secret, &d, started, o->timeout_given ? o->timeout : 0, &clock, &reply,
                     &err);
    waiting_end(&w);
    if (rc != 0)
        rc = fail(&err, a->name);
    else
        rc = store_and_report(cli, a, &reply, w.last_poll_at);
    token_reply_free(&reply);
    device_authorization_free(&d);
    return rc;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
    static const struct option options[] = {
        {"device", no_argument, NULL, 'd'},
        {"manual", no_argument, NULL, 'm'},
        {"no-browser", no_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    memset(o, 0, sizeof(*o));
    o->timeout = DEFAULT_TIMEOUT;
    /* 0 makes glibc's getopt start afresh, so options may also follow ACCOUNT. */
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        char *end;

        switch (opt) {
        case 'd':
            o->device = 1;
            break;
        case 'm':
            o->manual = 1;
            break;
        case 'n':
            o->no_browser = 1;
            break;
        case 't':
            errno = 0;
            o->timeout = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || o->timeout < 1 ||
                o->timeout > MAX_TIMEOUT) {
                fprintf(stderr, "mailtoken: --timeout takes whole seconds from 1 to %d, not "
                        "\"%s\"\n", MAX_TIMEOUT, optarg);
                return -1;
            }
            o->timeout_given = 1;
            break;
        default:
            return -1;
        }
    }
    if (o->device && o->manual) {
        fprintf(stderr, "mailtoken: --device and --manual exclude each other\n");
        return -1;
    }
    return 0;
}

int
cmd_authorize(struct cli *cli, int argc, char **argv)
{
    const struct account *a;
    struct options o;
    struct mt_err err;
    char *secret = NULL;
    int rc;

    if (parse_options(argc, argv, &o) != 0 || argc - optind != 1)
        return cli_usage(usage_text);
    rc = cli_find_account(cli, argv[optind], &a);
    if (rc != 0)
        return rc;
    if (a->grant == GRANT_CLIENT_CREDENTIALS)
        return check_client_credentials(cli, a);

    err_clear(&err);
    /* Checks that need no request come first, so a doomed flow sends nothing. */
    if (o.device && device_check_account(a, &err) != 0)
        return cli_error(&err);
    /* The secret is fetched before the sign-in, so a broken secret fails early. */
    if (secret_fetch(a, &secret, &err) != 0)
        return fail(&err, a->name);

    if (o.device)
        rc = run_device_flow(cli, a, &o, secret);
    else
        rc = run_browser_flow(cli, a, &o, secret);
    mt_strfree(secret);
    return rc;
}
