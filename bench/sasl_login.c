/*
 * Times whole SASL client logins through the plugin: sasl_client_new and
 * a sasl_client_start that produces the initial response, so the plugin
 * fetches a token each time (from the daemon's socket or by running the
 * helper, as the environment says). Prints the median time per login in
 * microseconds.
 * Usage: sasl_login MECH ACCOUNT ROUNDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sasl/sasl.h>

static const char *account;

static int
get_name(void *context, int id, const char **result, unsigned *len)
{
    (void)context;
    if (id != SASL_CB_AUTHNAME)
        return SASL_FAIL;
    *result = account;
    if (len != NULL)
        *len = (unsigned)strlen(account);
    return SASL_OK;
}

static int
compare_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    static sasl_callback_t callbacks[] = {
        {SASL_CB_AUTHNAME, (int (*)(void))get_name, NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    long *micros;
    int rounds;

    if (argc != 4 || (rounds = atoi(argv[3])) < 1) {
        fprintf(stderr, "usage: sasl_login MECH ACCOUNT ROUNDS\n");
        return 2;
    }
    account = argv[2];
    micros = calloc((size_t)rounds, sizeof(*micros));
    if (micros == NULL || sasl_client_init(callbacks) != SASL_OK)
        return 1;
    for (int i = 0; i < rounds; i++) {
        struct timespec t0, t1;
        sasl_conn_t *conn = NULL;
        const char *out = NULL, *mech = NULL;
        unsigned outlen = 0;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (sasl_client_new("imap", "localhost", NULL, NULL, NULL, 0, &conn) != SASL_OK)
            return 1;
        r = sasl_client_start(conn, argv[1], NULL, &out, &outlen, &mech);
        if ((r != SASL_OK && r != SASL_CONTINUE) || outlen == 0) {
            fprintf(stderr, "sasl_client_start: %s\n", sasl_errdetail(conn));
            return 1;
        }
        sasl_dispose(&conn);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        micros[i] = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    }
    qsort(micros, (size_t)rounds, sizeof(*micros), compare_long);
    printf("%ld\n", micros[rounds / 2]);
    free(micros);
    sasl_client_done();
    return 0;
}
