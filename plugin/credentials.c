/* The client's credentials from callbacks or SASL_INTERACT prompts. */
#include "credentials.h"

#include <stdlib.h>
#include <string.h>

#include "mt_wipe.h"

static const unsigned long callback_ids[CREDENTIAL_COUNT] = {
    [CREDENTIAL_AUTHNAME] = SASL_CB_AUTHNAME,
    [CREDENTIAL_AUTHZID] = SASL_CB_USER,
    [CREDENTIAL_PASSWORD] = SASL_CB_PASS,
};

static const char *const prompt_texts[CREDENTIAL_COUNT] = {
    [CREDENTIAL_AUTHNAME] = "Authentication name (the mailtoken account)",
    [CREDENTIAL_AUTHZID] =
        "Authorization name (the mailbox to act for; empty for the account's own)",
    [CREDENTIAL_PASSWORD] = "Access token (used only when no mailtoken account matches)",
};

static char *
copy_bytes(const void *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        return NULL;
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void
forget(struct credentials *c, enum credential which)
{
    mt_freezero(c->value[which], c->len[which]);
    c->value[which] = NULL;
    c->len[which] = 0;
    c->answered[which] = 0;
}

int
credentials_take_answers(struct credentials *c, const sasl_utils_t *utils,
                         sasl_interact_t **prompt_need)
{
    sasl_interact_t *list;

    if (prompt_need == NULL || *prompt_need == NULL)
        return SASL_OK;
    list = *prompt_need;
    for (sasl_interact_t *p = list; p->id != SASL_CB_LIST_END; p++) {
        for (int i = 0; i < CREDENTIAL_COUNT; i++) {
            size_t n;

            if (p->id != callback_ids[i])
                continue;
            forget(c, (enum credential)i);
            c->answered[i] = 1;
            if (p->result == NULL)
                break;
            n = p->len > 0 ? p->len : strlen(p->result);
            c->value[i] = copy_bytes(p->result, n);
            if (c->value[i] == NULL)
                return SASL_NOMEM;
            c->len[i] = n;
            break;
        }
    }
    if (list == c->pending) {
        utils->free(list);
        c->pending = NULL;
        *prompt_need = NULL;
    }
    return SASL_OK;
}

static int
get_from_callback(const sasl_utils_t *utils, unsigned long id, char **value_r, size_t *len_r)
{
    sasl_callback_ft proc = NULL;
    void *context = NULL;
    int r;

    r = utils->getcallback(utils->conn, id, &proc, &context);
    if (r == SASL_INTERACT)
        return SASL_INTERACT;
    if (r != SASL_OK || proc == NULL)
        return SASL_OK;   /* no such callback: the credential is absent */

    if (id == SASL_CB_PASS) {
        /* libsasl2 stores every callback as sasl_callback_ft; the id gives the real type. */
        sasl_getsecret_t *getsecret = (sasl_getsecret_t *)(void (*)(void))proc;
        sasl_secret_t *secret = NULL;

        r = getsecret(utils->conn, context, (int)id, &secret);
        if (r != SASL_OK)
            return r;
        /* The secret stays the application's; only our copy is ours to wipe. */
        if (secret != NULL) {
            *value_r = copy_bytes(secret->data, secret->len);
            if (*value_r == NULL)
                return SASL_NOMEM;
            *len_r = secret->len;
        }
    } else {
        sasl_getsimple_t *getsimple = (sasl_getsimple_t *)(void (*)(void))proc;
        const char *result = NULL;
        /*
         * libsasl2 2.1.28's own default for SASL_CB_AUTHNAME writes a size_t
         * through the unsigned length pointer, so the length gets room for a
         * size_t and is not used: the value is a C string.
         */
        union {
            unsigned u;
            size_t z;
        } len = {.z = 0};

        r = getsimple(context, (int)id, &result, &len.u);
        if (r != SASL_OK)
            return r;
        if (result != NULL) {
            size_t n = strlen(result);

            *value_r = copy_bytes(result, n);
            if (*value_r == NULL)
                return SASL_NOMEM;
            *len_r = n;
        }
    }
    return SASL_OK;
}

int
credentials_get(struct credentials *c, const sasl_utils_t *utils, enum credential which,
                char **value_r, size_t *len_r)
{
    *value_r = NULL;
    *len_r = 0;
    if (c->answered[which]) {
        if (c->value[which] != NULL) {
            *value_r = copy_bytes(c->value[which], c->len[which]);
            if (*value_r == NULL)
                return SASL_NOMEM;
            *len_r = c->len[which];
        }
        return SASL_OK;
    }
    return get_from_callback(utils, callback_ids[which], value_r, len_r);
}

int
credentials_prompt(struct credentials *c, const sasl_utils_t *utils,
                   sasl_interact_t **prompt_need, const enum credential *which, size_t n)
{
    sasl_interact_t *list;

    if (prompt_need == NULL)
        return SASL_BADPARAM;
    list = utils->malloc((n + 1) * sizeof(*list));
    if (list == NULL)
        return SASL_NOMEM;
    memset(list, 0, (n + 1) * sizeof(*list));
    for (size_t i = 0; i < n; i++) {
        list[i].id = callback_ids[which[i]];
        list[i].prompt = prompt_texts[which[i]];
    }
    list[n].id = SASL_CB_LIST_END;
    if (c->pending != NULL)
        utils->free(c->pending);
    c->pending = list;
    *prompt_need = list;
    return SASL_INTERACT;
}

void
credentials_clear(struct credentials *c, const sasl_utils_t *utils)
{
    for (int i = 0; i < CREDENTIAL_COUNT; i++)
        forget(c, (enum credential)i);
    if (c->pending != NULL)
        utils->free(c->pending);
    c->pending = NULL;
}
