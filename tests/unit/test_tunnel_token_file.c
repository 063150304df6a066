/*
 * Unit tests for the token_file setting. Besides the tunnel, it is the
 * other way for programs without OAuth2, such as fetchmail builds that
 * read passwordfile on each poll. The file is created when missing and
 * replaced atomically with mode 0600 whenever the token changes. It is
 * never followed through a symbolic link, and concurrent processes write
 * it safely.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/oauth.h"
#include "core/store.h"
#include "core/token.h"
#include "mt_sha256.h"
#include "mt_wipe.h"
#include "test_check_fakenet.h"

struct fixture {
    char dir[64];
    char store[96];
    char token_file[96];
    struct config cfg;
};

static void
store_access_token(struct fixture *f, const char *token, time_t obtained_at)
{
    static char copy[256];
    struct tokens t = {.refresh_token = "rt-1", .access_token = copy, .token_type = "Bearer",
                       .obtained_at = obtained_at, .expires_in = 3600};
    struct store st;
    struct mt_err err;

    snprintf(copy, sizeof(copy), "%s", token);
    err_clear(&err);
    assert_int_equal(store_open(&st, f->store, 1, &err), 0);
    assert_int_equal(store_write(&st, "alice", &t, &err), 0);
    store_close(&st);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char text[2048];
    struct mt_err err;

    strcpy(f->dir, "/tmp/mailtoken-tokfile-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
    snprintf(f->token_file, sizeof(f->token_file), "%s/files/alice.token", f->dir);
    snprintf(text, sizeof(text), "%s/files", f->dir);
    if (mkdir(text, 0700) != 0)
        return -1;
    snprintf(text, sizeof(text),
             "[defaults]\nstore = %s\n"
             "[alice]\nprovider = generic\nclient_id = cid\nuser = alice\nscope = mail\n"
             "authorization_endpoint = http://127.0.0.1:9/auth\n"
             "token_endpoint = http://127.0.0.1:9/token\ntoken_file = %s\n",
             f->store, f->token_file);
    err_clear(&err);
    if (config_load_string(&f->cfg, "unit.conf", text, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[160];

    fake_finish();
    config_free(&f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static const char *
file_contents(const char *path)
{
    static char buf[512];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    if (fd < 0)
        return NULL;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void
get_token(struct fixture *f, const char *expected)
{
    struct mt_err err;
    char *token = NULL;
    time_t expires;

    err_clear(&err);
    if (token_get(&f->cfg, &f->cfg.accounts[0], 0, &token, &expires, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(token, expected);
    mt_strfree(token);
}

/* Returns the number of entries in the token file's folder. */
static int
files_in_folder(struct fixture *f)
{
    char path[128];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "%s/files", f->dir);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static const struct fake_script no_mail = {0};

static void
cached_token_creates_missing_file(void **state)
{
    struct fixture *f = *state;
    struct stat sb;

    fake_start(&no_mail);
    store_access_token(f, "at-cached", time(NULL));
    get_token(f, "at-cached");
    assert_int_equal(fake.http_calls, 0);
    assert_string_equal(file_contents(f->token_file), "at-cached\n");
    assert_int_equal(stat(f->token_file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(files_in_folder(f), 1);
}

static void
refresh_replaces_file_atomically(void **state)
{
    struct fixture *f = *state;
    char old_link[128];
    struct stat before, after;
    int fd;

    fake_start(&no_mail);
    fake.http_body = "{\"access_token\":\"at-refreshed\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    fd = open(f->token_file, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "at-old\n", 7), 7);
    close(fd);
    chmod(f->token_file, 0644);
    /* A second name for the old file shows whether it was rewritten in place. */
    snprintf(old_link, sizeof(old_link), "%s/old-link", f->dir);
    assert_int_equal(link(f->token_file, old_link), 0);
    assert_int_equal(stat(f->token_file, &before), 0);

    store_access_token(f, "at-old", time(NULL) - 7200);
    get_token(f, "at-refreshed");
    assert_int_equal(fake.http_calls, 1);

    assert_string_equal(file_contents(f->token_file), "at-refreshed\n");
    assert_int_equal(stat(f->token_file, &after), 0);
    assert_int_equal(after.st_mode & 0777, 0600);
    assert_true(after.st_ino != before.st_ino);
    assert_string_equal(file_contents(old_link), "at-old\n");
    assert_int_equal(files_in_folder(f), 1);
}

static void
rejected_token_refresh_rewrites_file(void **state)
{
    struct fixture *f = *state;
    char fingerprint[MT_FINGERPRINT_SIZE];
    struct mt_err err;

    fake_start(&no_mail);
    store_access_token(f, "at-first", time(NULL));
    get_token(f, "at-first");
    assert_string_equal(file_contents(f->token_file), "at-first\n");

    mt_fingerprint_str("at-first", fingerprint);
    err_clear(&err);
    assert_int_equal(token_mark_rejected(&f->cfg, &f->cfg.accounts[0], fingerprint, &err), 0);
    fake.http_body = "{\"access_token\":\"at-second\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    get_token(f, "at-second");
    assert_string_equal(file_contents(f->token_file), "at-second\n");
}

static void
authorization_writes_file(void **state)
{
    struct fixture *f = *state;
    struct token_reply reply = {.access_token = "at-authorized", .refresh_token = "rt-2",
                                .token_type = "Bearer", .expires_in = 3600};
    struct mt_err err;

    fake_start(&no_mail);
    err_clear(&err);
    if (token_store_authorized(&f->cfg, &f->cfg.accounts[0], &reply, time(NULL), &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(file_contents(f->token_file), "at-authorized\n");
}

static void
symlink_is_replaced_not_followed(void **state)
{
    struct fixture *f = *state;
    char target[128];
    struct stat sb;
    int fd;

    fake_start(&no_mail);
    snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
    fd = open(target, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "keep\n", 5), 5);
    close(fd);
    assert_int_equal(symlink(target, f->token_file), 0);

    fake.http_body = "{\"access_token\":\"at-new\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    store_access_token(f, "at-old", time(NULL) - 7200);
    get_token(f, "at-new");
    assert_string_equal(file_contents(target), "keep\n");
    assert_int_equal(lstat(f->token_file, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_string_equal(file_contents(f->token_file), "at-new\n");
}

/*
 * Processes that find the file missing write it at the same time, without
 * the account's lock: each must succeed, and no temporary file may stay.
 */
static void
concurrent_writers_on_cached_path(void **state)
{
    struct fixture *f = *state;
    enum { WRITERS = 4, ROUNDS = 300 };
    pid_t pids[WRITERS];
    int failures = 0;

    fake_start(&no_mail);
    store_access_token(f, "at-shared", time(NULL));
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            int failed = 0;

            for (int i = 0; i < ROUNDS; i++) {
                struct mt_err err;
                char *token = NULL;
                time_t expires;

                unlink(f->token_file);
                err_clear(&err);
                if (token_get(&f->cfg, &f->cfg.accounts[0], 0, &token, &expires, &err) != 0) {
                    if (failed == 0)
                        fprintf(stderr, "writer %d: %s\n", w, err.msg);
                    failed++;
                }
                mt_strfree(token);
            }
            _exit(failed > 255 ? 255 : failed);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;

        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status));
        failures += WEXITSTATUS(status);
    }
    assert_int_equal(failures, 0);
    get_token(f, "at-shared");
    assert_string_equal(file_contents(f->token_file), "at-shared\n");
    assert_int_equal(files_in_folder(f), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cached_token_creates_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_replaces_file_atomically, setup, teardown),
        cmocka_unit_test_setup_teardown(rejected_token_refresh_rewrites_file, setup, teardown),
        cmocka_unit_test_setup_teardown(authorization_writes_file, setup, teardown),
        cmocka_unit_test_setup_teardown(symlink_is_replaced_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_writers_on_cached_path, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
