/*
 * Measures what loading a SASL client plugin costs a mail program:
 * sasl_client_init, sasl_client_new and one sasl_client_start for the
 * mechanism in argv[1], in the folder that SASL_PATH names. No initial
 * response is asked for, so no token is fetched.
 * Usage: sasl_start MECH [ROUNDS]; exit status 0 when the mechanism was chosen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

static int
get_name(void *context, int id, const char **result, unsigned *len)
{
    (void)context;
    if (id != SASL_CB_AUTHNAME && id != SASL_CB_USER)
        return SASL_FAIL;
    *result = "bench";
    if (len != NULL)
        *len = 5;
    return SASL_OK;
}

/* PLAIN needs a password callback before it can be chosen; it is never called here. */
static int
get_password(sasl_conn_t *conn, void *context, int id, sasl_secret_t **secret)
{
    static sasl_secret_t empty = {.len = 0};

    (void)conn;
    (void)context;
    (void)id;
    *secret = &empty;
    return SASL_OK;
}

int
main(int argc, char **argv)
{
    static sasl_callback_t callbacks[] = {
        {SASL_CB_AUTHNAME, (int (*)(void))get_name, NULL},
        {SASL_CB_USER, (int (*)(void))get_name, NULL},
        {SASL_CB_PASS, (int (*)(void))get_password, NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    const char *mech = NULL;
    sasl_conn_t *conn = NULL;
    int r;

    if (argc < 2) {
        fprintf(stderr, "usage: sasl_start MECH\n");
        return 2;
    }
    if (sasl_client_init(callbacks) != SASL_OK)
        return 1;
    if (sasl_client_new("smtp", "localhost", NULL, NULL, NULL, 0, &conn) != SASL_OK)
        return 1;
    r = sasl_client_start(conn, argv[1], NULL, NULL, NULL, &mech);
    if ((r != SASL_OK && r != SASL_CONTINUE) || mech == NULL || strcmp(mech, argv[1]) != 0) {
        fprintf(stderr, "sasl_client_start(%s): %s\n", argv[1], sasl_errdetail(conn));
        return 1;
    }
    sasl_dispose(&conn);
    sasl_client_done();
    return 0;
}
