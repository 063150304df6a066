/*
 * Client assertions signed with OpenSSL. Compiled into mailtoken-net.so
 * (and into the unit test), never into the program itself.
 */
#include "assertion.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "mt_base64.h"
#include "mt_io.h"
#include "mt_wipe.h"

/* Shorter RSA keys are disallowed for signatures by NIST SP 800-131A since 2014. */
#define RSA_MIN_BITS 2048
#define PSS_SALT_LEN 32

/* OpenSSL's callback for a key passphrase: never prompt, so an encrypted key fails. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Writes OpenSSL's first queued error into buf, clears the queue and returns buf. */
static const char *
openssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_get_error();

    if (e == 0)
        snprintf(buf, size, "no detail from OpenSSL");
    else
        ERR_error_string_n(e, buf, size);
    ERR_clear_error();
    return buf;
}

int
assertion_check_key_mode(int fd, const char *path, const char *key_name, struct mt_err *err)
{
    struct stat sb;

    if (fstat(fd, &sb) != 0)
        return err_set(err, EX_CONFIG, "cannot read %s %s: %s", key_name, path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return err_set(err, EX_CONFIG, "%s %s is not a regular file", key_name, path);
    if ((sb.st_mode & 077) != 0)
        return err_set(err, EX_CONFIG,
                       "%s %s holds a private key and other users can access it (mode %04o): "
                       "run chmod 600 %s", key_name, path, (unsigned)(sb.st_mode & 07777), path);
    return 0;
}

/* Reads a PEM file into buf; with key_mode set, refuses it unless only its owner can access it. */
static int
read_pem(const char *path, const char *key_name, int key_mode, struct mt_buf *buf,
         struct mt_err *err)
{
    struct stat sb;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return err_set(err, EX_CONFIG, "cannot open %s %s: %s", key_name, path, strerror(errno));
    if (key_mode) {
        if (assertion_check_key_mode(fd, path, key_name, err) != 0)
            goto done;
    } else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        err_set(err, EX_CONFIG, "%s %s is not a regular file", key_name, path);
        goto done;
    }
    if (mt_read_all(fd, buf) != 0) {
        if (errno == ENOSPC)
            err_set(err, EX_CONFIG, "%s %s is larger than %d KiB: is it a PEM file?", key_name,
                    path, ASSERTION_PEM_MAX / 1024);
        else
            err_set(err, EX_CONFIG, "cannot read %s %s: %s", key_name, path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    close(fd);
    return rc;
}

static int
load_certificate(const char *path, X509 **cert_r, struct mt_err *err)
{
    struct mt_buf pem;
    BIO *bio = NULL;
    char why[256];
    int rc = -1;

    mt_buf_init(&pem, ASSERTION_PEM_MAX);
    if (read_pem(path, "client_certificate", 0, &pem, err) != 0)
        goto done;
    bio = BIO_new_mem_buf(mt_buf_str(&pem), (int)pem.len);
    if (bio == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    *cert_r = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
    if (*cert_r == NULL) {
        err_set(err, EX_CONFIG,
                "client_certificate %s holds no PEM certificate (-----BEGIN CERTIFICATE-----): %s",
                path, openssl_reason(why, sizeof(why)));
        goto done;
    }
    rc = 0;
done:
    BIO_free(bio);
    mt_buf_free(&pem);
    return rc;
}

static int
load_key(const char *path, const char *key_name, EVP_PKEY **key_r, struct mt_err *err)
{
    struct mt_buf pem;
    BIO *bio = NULL;
    char why[256];
    int rc = -1;

    mt_buf_init(&pem, ASSERTION_PEM_MAX);
    if (read_pem(path, key_name, 1, &pem, err) != 0)
        goto done;
    bio = BIO_new_mem_buf(mt_buf_str(&pem), (int)pem.len);
    if (bio == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }
    *key_r = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (*key_r != NULL) {
        rc = 0;
    } else if (strstr(mt_buf_str(&pem), "ENCRYPTED") != NULL) {
        ERR_clear_error();
        err_set(err, EX_CONFIG,
                "the private key in %s %s is protected by a passphrase, which mailtoken cannot "
                "ask for: write it without one (openssl pkey -in OLD -out NEW), then chmod 600 "
                "NEW", key_name, path);
    } else {
        err_set(err, EX_CONFIG,
                "%s %s holds no PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA "
                "PRIVATE KEY-----): %s", key_name, path, openssl_reason(why, sizeof(why)));
    }
done:
    BIO_free(bio);
    mt_buf_free(&pem);
    return rc;
}

/* Checks that the key is RSA, long enough, and the certificate's own. */
static int
check_key(const struct assertion_request *req, const char *key_name, X509 *cert, EVP_PKEY *key,
          struct mt_err *err)
{
    const char *key_path = req->key_file != NULL ? req->key_file : req->certificate_file;

    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
        return err_set(err, EX_CONFIG,
                       "the private key in %s %s is not an RSA key, which %s needs: create an "
                       "RSA key and certificate (openssl req -x509 -newkey rsa:3072 ...)",
                       key_name, key_path, assertion_alg_name(req->alg));
    if (EVP_PKEY_get_bits(key) < RSA_MIN_BITS)
        return err_set(err, EX_CONFIG,
                       "the RSA key in %s %s has %d bits: create one of at least %d bits",
                       key_name, key_path, EVP_PKEY_get_bits(key), RSA_MIN_BITS);
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        return err_set(err, EX_CONFIG,
                       "the private key in %s %s does not belong to the certificate in "
                       "client_certificate %s", key_name, key_path, req->certificate_file);
    }
    return 0;
}

/* Appends the base64url SHA-1 (x5t) and SHA-256 (x5t#S256) thumbprints of cert's DER form. */
static int
thumbprints(X509 *cert, struct mt_buf *sha1, struct mt_buf *sha256, struct mt_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE], *der = NULL, *p;
    unsigned int mdlen;
    int len, rc = -1;

    len = i2d_X509(cert, NULL);
    if (len <= 0 || (der = OPENSSL_malloc((size_t)len)) == NULL)
        return err_set(err, EX_SOFTWARE, "cannot encode the certificate as DER");
    p = der;
    if (i2d_X509(cert, &p) != len)
        goto fail;
    if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mt_base64_encode(sha1, md, mdlen, MT_BASE64_URL_NOPAD) != 0)
        goto fail;
    if (EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        mt_base64_encode(sha256, md, mdlen, MT_BASE64_URL_NOPAD) != 0)
        goto fail;
    rc = 0;
    goto done;
fail:
    err_set(err, EX_SOFTWARE, "cannot compute the certificate's thumbprint");
done:
    OPENSSL_free(der);
    return rc;
}

/* Appends s as a JSON string, quotes included. */
static int
json_string(struct mt_buf *out, const char *s)
{
    int r = mt_buf_append_byte(out, '"');

    for (const unsigned char *p = (const unsigned char *)s; r == 0 && *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            r = mt_buf_printf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            r = mt_buf_printf(out, "\\u%04x", *p);
        else
            r = mt_buf_append_byte(out, *p);
    }
    return r != 0 ? r : mt_buf_append_byte(out, '"');
}

/* Writes a random version 4 UUID: Microsoft's documentation gives a GUID as jti. */
static int
random_uuid(char out[37])
{
    unsigned char b[16];

    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

/* Appends header and claims, each as base64url JSON, joined by '.'. */
static int
signing_input(const struct assertion_request *req, X509 *cert, struct mt_buf *out,
              struct mt_err *err)
{
    struct mt_buf x5t, x5t256, json;
    char jti[37];
    long long now = (long long)req->now;
    int r, rc = -1;

    mt_buf_init(&x5t, 64);
    mt_buf_init(&x5t256, 64);
    mt_buf_init(&json, 8192);
    if (thumbprints(cert, &x5t, &x5t256, err) != 0)
        goto done;
    if (random_uuid(jti) != 0) {
        err_set(err, EX_SOFTWARE, "OpenSSL could not produce random bytes for the jti claim");
        goto done;
    }

    r = mt_buf_printf(&json, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"x5t\":\"%s\",\"x5t#S256\":\"%s\"}",
                      assertion_alg_name(req->alg), mt_buf_str(&x5t), mt_buf_str(&x5t256));
    r |= mt_base64_encode(out, json.data, json.len, MT_BASE64_URL_NOPAD);
    r |= mt_buf_append_byte(out, '.');
    mt_buf_reset(&json);
    r |= mt_buf_append_str(&json, "{\"aud\":");
    r |= json_string(&json, req->audience);
    r |= mt_buf_append_str(&json, ",\"iss\":");
    r |= json_string(&json, req->client_id);
    r |= mt_buf_append_str(&json, ",\"sub\":");
    r |= json_string(&json, req->client_id);
    r |= mt_buf_printf(&json, ",\"jti\":\"%s\",\"nbf\":%lld,\"iat\":%lld,\"exp\":%lld}", jti, now,
                       now, now + ASSERTION_LIFETIME);
    r |= mt_base64_encode(out, json.data, json.len, MT_BASE64_URL_NOPAD);
    if (r != 0) {
        err_set(err, EX_CONFIG, "client_id or the endpoint URL is too long for a client assertion");
        goto done;
    }
    rc = 0;
done:
    mt_buf_free(&x5t);
    mt_buf_free(&x5t256);
    mt_buf_free(&json);
    return rc;
}

/* Signs the signing input in out and appends '.' and the base64url signature. */
static int
sign(const struct assertion_request *req, EVP_PKEY *key, struct mt_buf *out, struct mt_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    char why[256];
    int rc = -1;

    if (ctx == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    if (EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1)
        goto fail;
    if (req->alg == ASSERTION_ALG_PS256 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, PSS_SALT_LEN) != 1))
        goto fail;
    if (EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)out->data, out->len) != 1 ||
        (sig = OPENSSL_malloc(siglen)) == NULL ||
        EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)out->data, out->len) != 1)
        goto fail;
    if (mt_buf_append_byte(out, '.') != 0 ||
        mt_base64_encode(out, sig, siglen, MT_BASE64_URL_NOPAD) != 0) {
        err_set(err, EX_SOFTWARE, "the client assertion does not fit its buffer");
        goto done;
    }
    rc = 0;
    goto done;
fail:
    err_set(err, EX_SOFTWARE, "OpenSSL failed to sign the client assertion with %s: %s",
            assertion_alg_name(req->alg), openssl_reason(why, sizeof(why)));
done:
    OPENSSL_free(sig);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int
assertion_build(const struct assertion_request *req, struct mt_buf *out, struct mt_err *err)
{
    const char *key_name = req->key_file != NULL ? "client_key" : "client_certificate";
    const char *key_path = req->key_file != NULL ? req->key_file : req->certificate_file;
    struct mt_buf jwt;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int rc = -1;

    mt_buf_init(&jwt, 32 * 1024);
    if (req->alg != ASSERTION_ALG_RS256 && req->alg != ASSERTION_ALG_PS256) {
        err_set(err, EX_SOFTWARE, "no signature algorithm chosen for the client assertion");
        goto done;
    }
    if (load_certificate(req->certificate_file, &cert, err) != 0 ||
        load_key(key_path, key_name, &key, err) != 0 || check_key(req, key_name, cert, key, err) != 0)
        goto done;
    if (signing_input(req, cert, &jwt, err) != 0 || sign(req, key, &jwt, err) != 0)
        goto done;
    if (mt_buf_append(out, jwt.data, jwt.len) != 0) {
        err_set(err, EX_SOFTWARE, "the client assertion does not fit its buffer");
        goto done;
    }
    rc = 0;
done:
    EVP_PKEY_free(key);
    X509_free(cert);
    mt_buf_free(&jwt);
    ERR_clear_error();
    return rc;
}

static const struct assertion_ops ops = {
    .abi_version = ASSERTION_ABI_VERSION,
    .build = assertion_build,
};

__attribute__((visibility("default"))) const struct assertion_ops *
mailtoken_assertion_ops(void)
{
    return &ops;
}
