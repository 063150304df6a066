/* Fuzz target: the configuration file parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    struct mt_err err;
    char *text = malloc(size + 1);

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    err_clear(&err);
    config_load_string(&cfg, "fuzz.conf", text, &err);
    if (cfg.naccounts > 0) {
        int as_mailbox;

        config_find_account(&cfg, cfg.accounts[0].name, &as_mailbox, &err);
        config_find_account(&cfg, "someone@example.com", &as_mailbox, &err);
    }
    config_free(&cfg);
    free(text);
    return 0;
}
