/*
 * The client's credentials as Cyrus SASL hands them to a plugin: from
 * the application's callbacks, or through SASL_INTERACT prompts that the
 * application fills in before it calls the step again.
 */
#ifndef PLUGIN_CREDENTIALS_H
#define PLUGIN_CREDENTIALS_H

#include <stddef.h>

#include <sasl/sasl.h>
#include <sasl/saslplug.h>

enum credential {
    CREDENTIAL_AUTHNAME,   /* SASL_CB_AUTHNAME: names the mailtoken account */
    CREDENTIAL_AUTHZID,    /* SASL_CB_USER: the mailbox to act for */
    CREDENTIAL_PASSWORD,   /* SASL_CB_PASS: an access token for clients without an account */
    CREDENTIAL_COUNT
};

/* Answers taken from a filled-in prompt list, and the list still waiting for answers. */
struct credentials {
    int answered[CREDENTIAL_COUNT];
    char *value[CREDENTIAL_COUNT];     /* NUL-terminated copies; the password is wiped on clear */
    size_t len[CREDENTIAL_COUNT];
    sasl_interact_t *pending;          /* our prompt list while the application fills it in */
};

/*
 * Copies the answers from the prompt list in *prompt_need (when there is
 * one) and frees that list. Returns SASL_OK or SASL_NOMEM.
 */
int credentials_take_answers(struct credentials *c, const sasl_utils_t *utils,
                             sasl_interact_t **prompt_need);

/*
 * Gets one credential: a prompt answer first, then the application's
 * callback. On SASL_OK, *value_r is an allocated NUL-terminated copy
 * (NULL when the application has no such callback or gave nothing) and
 * *len_r its length; the caller frees it (mt_freezero for the password).
 * Returns SASL_INTERACT when the application wants to be prompted, or
 * the callback's error.
 */
int credentials_get(struct credentials *c, const sasl_utils_t *utils, enum credential which,
                    char **value_r, size_t *len_r);

/*
 * Builds a prompt list for the n credentials in which, stores it in
 * *prompt_need and returns SASL_INTERACT, or returns SASL_NOMEM.
 */
int credentials_prompt(struct credentials *c, const sasl_utils_t *utils,
                       sasl_interact_t **prompt_need, const enum credential *which, size_t n);

/* Wipes and frees the answers and a prompt list that was never answered. */
void credentials_clear(struct credentials *c, const sasl_utils_t *utils);

#endif
