/*
 * Certificate credentials: a client assertion (RFC 7523 section 2.2, a
 * JWT signed with the app's private key) sent in place of a client
 * secret. The signing code uses OpenSSL, so it lives in the network
 * module (mailtoken-net.so), which is loaded only when a request must go
 * out. The program reaches it through assertion_load.
 *
 * The JWT's header is {"alg","typ":"JWT","x5t","x5t#S256"}, the two
 * thumbprints being the base64url SHA-1 and SHA-256 of the certificate's
 * DER encoding, as Microsoft matches a registered certificate by them.
 * Its claims are {"aud","iss","sub","jti","nbf","iat","exp"}: aud is the
 * endpoint the request goes to, iss and sub the client ID, jti a random
 * UUID, nbf and iat the current time, exp ASSERTION_LIFETIME later.
 */
#ifndef CORE_ASSERTION_H
#define CORE_ASSERTION_H

#include <time.h>

#include "err.h"
#include "mt_buf.h"

/* The value of client_assertion_type (RFC 7523 section 2.2). */
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* Seconds between an assertion's nbf and its exp; Microsoft asks for 5 to 10 minutes at most. */
#define ASSERTION_LIFETIME 300

/* Largest PEM file read for a certificate or key. */
#define ASSERTION_PEM_MAX (64 * 1024)

#define ASSERTION_ABI_VERSION 1

enum assertion_alg {
    ASSERTION_ALG_DEFAULT,   /* PS256 for provider microsoft, RS256 otherwise */
    ASSERTION_ALG_RS256,     /* RSASSA-PKCS1-v1_5 with SHA-256 */
    ASSERTION_ALG_PS256      /* RSASSA-PSS with SHA-256, salt of 32 bytes (RFC 7518 section 3.5) */
};

struct assertion_request {
    const char *certificate_file;  /* PEM certificate, the first in the file is used */
    const char *key_file;          /* PEM private key without passphrase; NULL: in certificate_file */
    const char *client_id;         /* iss and sub */
    const char *audience;          /* aud: the endpoint the assertion is sent to */
    enum assertion_alg alg;        /* RS256 or PS256, not DEFAULT */
    time_t now;                    /* nbf and iat */
};

/*
 * Builds and signs a client assertion, appending it to out (compact JWS,
 * no secrets besides its one-time use). The key file is refused when it
 * is not a regular file or when group or others have any access to it.
 * Returns 0, or -1 with err set: EX_CONFIG for a file that is missing,
 * unreadable, too permissive, not PEM, encrypted, not RSA, or whose key
 * does not match the certificate; EX_SOFTWARE when OpenSSL fails;
 * EX_OSERR when out of memory. Messages name the file and the key
 * (client_certificate, client_key) but never the account.
 */
int assertion_build(const struct assertion_request *req, struct mt_buf *out,
                    struct mt_err *err);

/*
 * Checks that a private key file may be used: a regular file that only
 * its owner can access. fd is the open file. Returns 0, or -1 with err
 * set (EX_CONFIG) naming path and the chmod that fixes it.
 */
int assertion_check_key_mode(int fd, const char *path, const char *key_name,
                             struct mt_err *err);

/* Returns the JWS name of alg: "RS256" or "PS256" (DEFAULT gives "default"). */
static inline const char *
assertion_alg_name(enum assertion_alg alg)
{
    if (alg == ASSERTION_ALG_RS256)
        return "RS256";
    if (alg == ASSERTION_ALG_PS256)
        return "PS256";
    return "default";
}

struct assertion_ops {
    int abi_version;
    int (*build)(const struct assertion_request *req, struct mt_buf *out, struct mt_err *err);
};

/*
 * Returns the module's assertion operations, loading mailtoken-net.so
 * when needed, or NULL with err set (EX_SOFTWARE).
 */
const struct assertion_ops *assertion_load(struct mt_err *err);

/* Installs operations to use instead of the module's, for tests. */
void assertion_override(const struct assertion_ops *ops);

/* The module's entry point, looked up by name with dlsym. */
const struct assertion_ops *mailtoken_assertion_ops(void);

#endif
