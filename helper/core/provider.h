/* Provider presets (endpoints, client authentication) and scope expansion. */
#ifndef CORE_PROVIDER_H
#define CORE_PROVIDER_H

#include "config.h"
#include "err.h"

/*
 * Fills the endpoints, scope, client authentication and authorization
 * parameters that the account did not set, from its provider preset, and
 * expands scope short names. scope_spec is the account's scope value or
 * NULL. Returns 0, or -1 with err set (EX_CONFIG) naming the value.
 */
int provider_apply(struct account *a, const char *scope_spec, struct mt_err *err);

/*
 * Expands scope short names for provider p ("imap", "pop", "smtp") and
 * returns the space-separated result in a new string, without repeated
 * words. Adds offline_access for Microsoft user accounts. Returns NULL
 * with err set when a word is not a known short name or a scope URL.
 */
char *provider_expand_scope(enum provider p, enum grant g, const char *spec,
                            struct mt_err *err);

/*
 * The same for Microsoft cloud c: short names use the cloud's resource
 * host, and with grant client_credentials each stands for the app-only
 * scope RESOURCE/.default. provider_expand_scope uses CLOUD_GLOBAL.
 */
char *provider_expand_scope_cloud(enum provider p, enum grant g, enum cloud c, const char *spec,
                                  struct mt_err *err);

/* Returns 1 when t can be a Microsoft tenant: letters, digits, '-' and '.'. */
int provider_tenant_valid(const char *t);

#endif
