/*
 * Unit tests for certificate credentials: the client assertion's header,
 * claims and signature (checked with OpenSSL against the certificate's
 * public key), the thumbprints (checked against `openssl x509
 * -fingerprint`), the key file checks, the certificate's validity period
 * read without OpenSSL, the configuration keys, and the request that
 * oauth_post sends for an account with a certificate.
 *
 * The keys and certificates are made by the openssl command in a
 * temporary folder, so the expected values come from a tool other than
 * the code under test.
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "core/assertion.h"
#include "core/certinfo.h"
#include "core/config.h"
#include "core/form.h"
#include "core/net.h"
#include "core/oauth.h"
#include "mt_base64.h"
#include "mt_buf.h"

#define NOW 1800000000
#define CLIENT_ID "11111111-2222-3333-4444-555555555555"
#define AUDIENCE "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"

static char dir[64];
static char cert_path[128], key_path[128], combined_path[128], other_key_path[128];

/* ---- helpers ---- */

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void capture(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs a shell command in the test folder; fails the test when it fails. */
static void
run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    if (system(cmd) != 0)
        fail_msg("command failed (is the openssl command installed? Debian package openssl): %s",
                 cmd);
}

/* Runs a command and returns its first output line in out. */
static void
capture(char *out, size_t size, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    FILE *p;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(out, (int)size, p) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(pclose(p), 0);
}

/* Converts `openssl x509 -fingerprint` output ("sha1 Fingerprint=AB:CD:...") to base64url. */
static void
fingerprint_to_base64url(const char *line, char *out, size_t size)
{
    const char *hex = strchr(line, '=');
    unsigned char bytes[64];
    size_t n = 0;
    struct mt_buf b64;

    assert_non_null(hex);
    for (hex++; *hex != '\0' && n < sizeof(bytes); hex += 3) {
        unsigned int v;

        assert_int_equal(sscanf(hex, "%2x", &v), 1);
        bytes[n++] = (unsigned char)v;
        if (hex[2] != ':')
            break;
    }
    mt_buf_init(&b64, 256);
    assert_int_equal(mt_base64_encode(&b64, bytes, n, MT_BASE64_URL_NOPAD), 0);
    snprintf(out, size, "%s", mt_buf_str(&b64));
    mt_buf_free(&b64);
}

/* Decodes one base64url part of a JWT into a JSON object. */
static struct json_object *
decode_part(const char *start, size_t len)
{
    struct mt_buf json;
    struct json_object *o;

    mt_buf_init(&json, 64 * 1024);
    assert_int_equal(mt_base64_decode(&json, start, len, MT_BASE64_URL_NOPAD), 0);
    o = json_tokener_parse(mt_buf_str(&json));
    mt_buf_free(&json);
    assert_non_null(o);
    return o;
}

struct jwt {
    struct mt_buf text;
    struct json_object *header, *claims;
    size_t signed_len;              /* length of "header.claims" */
    struct mt_buf signature;
};

static void
jwt_free(struct jwt *j)
{
    mt_buf_free(&j->text);
    mt_buf_free(&j->signature);
    json_object_put(j->header);
    json_object_put(j->claims);
}

static const char *
str_member(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int64_t
int_member(struct json_object *o, const char *key)
{
    struct json_object *v;

    assert_true(json_object_object_get_ex(o, key, &v));
    assert_true(json_object_is_type(v, json_type_int));
    return json_object_get_int64(v);
}

/* Builds an assertion and splits it into its three parts. */
static int
build(const char *certificate, const char *key, const char *client_id, enum assertion_alg alg,
      struct jwt *j, struct mt_err *err)
{
    struct assertion_request req = {
        .certificate_file = certificate,
        .key_file = key,
        .client_id = client_id,
        .audience = AUDIENCE,
        .alg = alg,
        .now = NOW,
    };
    const char *dot1, *dot2;

    memset(j, 0, sizeof(*j));
    mt_buf_init(&j->text, 32 * 1024);
    mt_buf_init(&j->signature, 4096);
    err_clear(err);
    if (assertion_build(&req, &j->text, err) != 0)
        return -1;
    dot1 = strchr(mt_buf_str(&j->text), '.');
    assert_non_null(dot1);
    dot2 = strchr(dot1 + 1, '.');
    assert_non_null(dot2);
    assert_null(strchr(dot2 + 1, '.'));
    j->header = decode_part(j->text.data, (size_t)(dot1 - j->text.data));
    j->claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    j->signed_len = (size_t)(dot2 - j->text.data);
    assert_int_equal(mt_base64_decode(&j->signature, dot2 + 1, strlen(dot2 + 1),
                                      MT_BASE64_URL_NOPAD), 0);
    return 0;
}

/* Verifies the JWT's signature with the certificate's public key; returns 1 when valid. */
static int
signature_valid(const struct jwt *j, const char *certificate, enum assertion_alg alg)
{
    FILE *f = fopen(certificate, "r");
    X509 *cert;
    EVP_PKEY *pub;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    assert_non_null(f);
    cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(cert);
    pub = X509_get_pubkey(cert);
    assert_non_null(pub);
    assert_int_equal(EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pub), 1);
    if (alg == ASSERTION_ALG_PS256) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32), 1);
    }
    ok = EVP_DigestVerify(ctx, (const unsigned char *)j->signature.data, j->signature.len,
                          (const unsigned char *)j->text.data, j->signed_len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pub);
    X509_free(cert);
    return ok;
}

/* ---- setup: keys and certificates made by the openssl command ---- */

static int
setup_files(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/mailtoken-assertion-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(cert_path, sizeof(cert_path), "%s/app.crt", dir);
    snprintf(key_path, sizeof(key_path), "%s/app.key", dir);
    snprintf(combined_path, sizeof(combined_path), "%s/combined.pem", dir);
    snprintf(other_key_path, sizeof(other_key_path), "%s/other.key", dir);
    run("cd %s && umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -keyout app.key "
        "-out app.crt -days 400 -subj /CN=mailtoken-unit 2>/dev/null", dir);
    run("cd %s && umask 077 && cat app.crt app.key > combined.pem", dir);
    run("cd %s && umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
        "-out other.key 2>/dev/null", dir);
    return 0;
}

static int
teardown_files(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the assertion ---- */

static void
header_has_alg_typ_and_thumbprints(void **state)
{
    char line[512], want_sha1[64], want_sha256[64];
    struct mt_err err;
    struct jwt j;

    (void)state;
    capture(line, sizeof(line), "openssl x509 -in %s -noout -fingerprint -sha1", cert_path);
    fingerprint_to_base64url(line, want_sha1, sizeof(want_sha1));
    capture(line, sizeof(line), "openssl x509 -in %s -noout -fingerprint -sha256", cert_path);
    fingerprint_to_base64url(line, want_sha256, sizeof(want_sha256));
    assert_int_equal(strlen(want_sha1), 27);
    assert_int_equal(strlen(want_sha256), 43);

    assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), 0);
    assert_string_equal(str_member(j.header, "alg"), "RS256");
    assert_string_equal(str_member(j.header, "typ"), "JWT");
    assert_string_equal(str_member(j.header, "x5t"), want_sha1);
    assert_string_equal(str_member(j.header, "x5t#S256"), want_sha256);
    assert_int_equal(json_object_object_length(j.header), 4);
    jwt_free(&j);

    assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_PS256, &j, &err), 0);
    assert_string_equal(str_member(j.header, "alg"), "PS256");
    assert_string_equal(str_member(j.header, "x5t"), want_sha1);
    jwt_free(&j);
}

static void
claims_name_client_audience_and_lifetime(void **state)
{
    regex_t uuid;
    struct mt_err err;
    struct jwt j;

    (void)state;
    assert_int_equal(regcomp(&uuid,
                             "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                             REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), 0);
    assert_string_equal(str_member(j.claims, "aud"), AUDIENCE);
    assert_string_equal(str_member(j.claims, "iss"), CLIENT_ID);
    assert_string_equal(str_member(j.claims, "sub"), CLIENT_ID);
    assert_int_equal(int_member(j.claims, "nbf"), NOW);
    assert_int_equal(int_member(j.claims, "iat"), NOW);
    assert_int_equal(int_member(j.claims, "exp"), NOW + ASSERTION_LIFETIME);
    assert_int_equal(ASSERTION_LIFETIME, 300);
    assert_non_null(str_member(j.claims, "jti"));
    assert_int_equal(regexec(&uuid, str_member(j.claims, "jti"), 0, NULL, 0), 0);
    assert_int_equal(json_object_object_length(j.claims), 7);
    jwt_free(&j);
    regfree(&uuid);
}

static void
jti_differs_every_time(void **state)
{
    char seen[20][40];
    struct mt_err err;
    struct jwt j;

    (void)state;
    for (int i = 0; i < 20; i++) {
        assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), 0);
        snprintf(seen[i], sizeof(seen[i]), "%s", str_member(j.claims, "jti"));
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[i], seen[k]);
        jwt_free(&j);
    }
}

static void
client_id_is_json_escaped(void **state)
{
    const char *odd = "app \"one\" \\ two\t";
    struct mt_err err;
    struct jwt j;

    (void)state;
    assert_int_equal(build(cert_path, key_path, odd, ASSERTION_ALG_RS256, &j, &err), 0);
    assert_string_equal(str_member(j.claims, "iss"), odd);
    assert_string_equal(str_member(j.claims, "sub"), odd);
    jwt_free(&j);
}

static void
rs256_signature_verifies_with_public_key(void **state)
{
    struct mt_err err;
    struct jwt j;

    (void)state;
    assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), 0);
    assert_int_equal(j.signature.len, 256);
    assert_true(signature_valid(&j, cert_path, ASSERTION_ALG_RS256));
    /* A PKCS#1 v1.5 signature is not a PSS one: the check must tell them apart. */
    assert_false(signature_valid(&j, cert_path, ASSERTION_ALG_PS256));
    j.text.data[5] ^= 0x01;
    assert_false(signature_valid(&j, cert_path, ASSERTION_ALG_RS256));
    jwt_free(&j);
}

static void
ps256_signature_verifies_with_public_key(void **state)
{
    struct mt_err err;
    struct jwt j;

    (void)state;
    assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_PS256, &j, &err), 0);
    assert_true(signature_valid(&j, cert_path, ASSERTION_ALG_PS256));
    assert_false(signature_valid(&j, cert_path, ASSERTION_ALG_RS256));
    j.signature.data[0] ^= 0x01;
    assert_false(signature_valid(&j, cert_path, ASSERTION_ALG_PS256));
    jwt_free(&j);
}

static void
key_in_certificate_file_is_used(void **state)
{
    struct mt_err err;
    struct jwt j;

    (void)state;
    assert_int_equal(build(combined_path, NULL, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), 0);
    assert_true(signature_valid(&j, cert_path, ASSERTION_ALG_RS256));
    jwt_free(&j);
}

/* ---- refused keys ---- */

static void
key_readable_by_others_is_refused(void **state)
{
    static const mode_t modes[] = {0640, 0604, 0660, 0644, 0700 | 0010};
    char want[256];
    struct mt_err err;
    struct jwt j;

    (void)state;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        assert_int_equal(chmod(key_path, modes[i]), 0);
        assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), -1);
        assert_int_equal(err.code, EX_CONFIG);
        snprintf(want, sizeof(want), "run chmod 600 %s", key_path);
        assert_non_null(strstr(err.msg, want));
        assert_non_null(strstr(err.msg, "client_key"));
        jwt_free(&j);
    }
    assert_int_equal(chmod(key_path, 0600), 0);
    assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), 0);
    jwt_free(&j);
    assert_int_equal(chmod(key_path, 0400), 0);
    assert_int_equal(build(cert_path, key_path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), 0);
    jwt_free(&j);
    assert_int_equal(chmod(key_path, 0600), 0);

    /* The same rule for a certificate file that also contains the key. */
    assert_int_equal(chmod(combined_path, 0644), 0);
    assert_int_equal(build(combined_path, NULL, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), -1);
    assert_non_null(strstr(err.msg, "client_certificate"));
    assert_non_null(strstr(err.msg, "chmod 600"));
    jwt_free(&j);
    assert_int_equal(chmod(combined_path, 0600), 0);
}

static void
key_mode_check_rejects_non_regular_file(void **state)
{
    struct mt_err err;
    FILE *f = fopen(dir, "r");

    (void)state;
    assert_non_null(f);
    err_clear(&err);
    assert_int_equal(assertion_check_key_mode(fileno(f), dir, "client_key", &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    fclose(f);
}

static void
unusable_keys_are_refused(void **state)
{
    struct {
        const char *make;    /* shell command run in the folder, or NULL */
        const char *key;     /* file name in the folder */
        const char *message;
    } cases[] = {
        {.make = NULL, .key = "other.key", .message = "does not belong to the certificate"},
        {.make = "openssl pkey -in app.key -aes256 -passout pass:secret -out encrypted.key",
         .key = "encrypted.key", .message = "passphrase"},
        {.make = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key",
         .key = "ec.key", .message = "not an RSA key"},
        {.make = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out short.key",
         .key = "short.key", .message = "1024 bits"},
        {.make = "printf 'not a key\\n' > junk.key", .key = "junk.key",
         .message = "holds no PEM private key"},
        {.make = NULL, .key = "missing.key", .message = "cannot open client_key"},
    };
    char path[192];
    struct mt_err err;
    struct jwt j;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].make != NULL)
            run("cd %s && umask 077 && %s 2>/dev/null", dir, cases[i].make);
        snprintf(path, sizeof(path), "%s/%s", dir, cases[i].key);
        assert_int_equal(build(cert_path, path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), -1);
        assert_int_equal(err.code, EX_CONFIG);
        if (strstr(err.msg, cases[i].message) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].message);
        jwt_free(&j);
    }
}

static void
certificate_file_without_certificate_is_refused(void **state)
{
    struct mt_err err;
    struct jwt j;

    (void)state;
    assert_int_equal(build(key_path, key_path, CLIENT_ID, ASSERTION_ALG_RS256, &j, &err), -1);
    assert_int_equal(err.code, EX_CONFIG);
    assert_non_null(strstr(err.msg, "holds no PEM certificate"));
    jwt_free(&j);
}

/* ---- the certificate's validity period, without OpenSSL ---- */

/* Parses `openssl x509 -enddate` style output: "notAfter=Jan  3 21:30:00 2027 GMT". */
static time_t
openssl_date(const char *line)
{
    struct tm tm;
    const char *value = strchr(line, '=');

    assert_non_null(value);
    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(value + 1, "%b %d %H:%M:%S %Y GMT", &tm));
    return timegm(&tm);
}

static void
validity_matches_openssl(void **state)
{
    struct cert_validity v;
    struct mt_err err;
    char line[256], path[192];

    (void)state;
    err_clear(&err);
    assert_int_equal(certinfo_pem_validity(cert_path, &v, &err), 0);
    capture(line, sizeof(line), "openssl x509 -in %s -noout -enddate", cert_path);
    assert_int_equal(v.not_after, openssl_date(line));
    capture(line, sizeof(line), "openssl x509 -in %s -noout -startdate", cert_path);
    assert_int_equal(v.not_before, openssl_date(line));
    assert_int_equal(v.not_after - v.not_before, 400L * 86400);

    /* After 2049 a certificate carries GeneralizedTime instead of UTCTime. */
    run("cd %s && umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -keyout far.key "
        "-out far.crt -days 36500 -subj /CN=far 2>/dev/null", dir);
    snprintf(path, sizeof(path), "%s/far.crt", dir);
    assert_int_equal(certinfo_pem_validity(path, &v, &err), 0);
    capture(line, sizeof(line), "openssl x509 -in %s -noout -enddate", path);
    assert_int_equal(v.not_after, openssl_date(line));
    assert_true(v.not_after > (time_t)2524608000);   /* 2050-01-01 */

    /* The certificate comes first or after the key in a combined file. */
    run("cd %s && umask 077 && cat app.key app.crt > keyfirst.pem", dir);
    snprintf(path, sizeof(path), "%s/keyfirst.pem", dir);
    assert_int_equal(certinfo_pem_validity(path, &v, &err), 0);
    capture(line, sizeof(line), "openssl x509 -in %s -noout -enddate", cert_path);
    assert_int_equal(v.not_after, openssl_date(line));

    assert_int_equal(certinfo_pem_validity(key_path, &v, &err), -1);
    assert_non_null(strstr(err.msg, "holds no PEM certificate"));
}

static void
validity_rejects_truncated_der(void **state)
{
    struct cert_validity v;
    struct mt_buf der;
    unsigned char *copy;
    FILE *f = fopen(cert_path, "r");
    X509 *cert;
    unsigned char *p;
    int len;

    (void)state;
    assert_non_null(f);
    cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(cert);
    len = i2d_X509(cert, NULL);
    assert_true(len > 0);
    mt_buf_init(&der, (size_t)len + 1);
    copy = malloc((size_t)len);
    p = copy;
    assert_int_equal(i2d_X509(cert, &p), len);
    assert_int_equal(certinfo_der_validity(copy, (size_t)len, &v), 0);
    /* Every prefix, copied to its own allocation so that ASan reports any read past it. */
    for (int n = 0; n < len; n += n < 300 ? 1 : 97) {
        unsigned char *prefix = malloc(n > 0 ? (size_t)n : 1);

        memcpy(prefix, copy, (size_t)n);
        assert_int_equal(certinfo_der_validity(prefix, (size_t)n, &v), -1);
        free(prefix);
    }
    /* A damaged time: the year's first digit becomes a letter. */
    for (int i = 0; i + 13 < len; i++)
        if (copy[i] == 0x17 && copy[i + 1] == 13) {
            copy[i + 2] = 'x';
            break;
        }
    assert_int_equal(certinfo_der_validity(copy, (size_t)len, &v), -1);
    free(copy);
    mt_buf_free(&der);
    X509_free(cert);
}

/* ---- configuration keys ---- */

static void
config_keys_for_certificates(void **state)
{
    struct {
        const char *body;       /* account lines after [a] */
        const char *error;      /* NULL: loads */
        enum assertion_alg alg;
    } cases[] = {
        {.body = "provider = microsoft\nclient_id = x\nclient_certificate = /c.pem\n"
                 "client_key = /k.pem\n", .alg = ASSERTION_ALG_PS256},
        {.body = "provider = generic\ntoken_endpoint = https://as.example/token\nscope = mail\n"
                 "client_id = x\nclient_certificate = /c.pem\n", .alg = ASSERTION_ALG_RS256},
        {.body = "provider = microsoft\nclient_id = x\nclient_certificate = /c.pem\n"
                 "client_assertion_alg = RS256\n", .alg = ASSERTION_ALG_RS256},
        {.body = "provider = microsoft\ntenant = contoso.com\nclient_id = x\n"
                 "grant = client_credentials\nclient_certificate = /c.pem\n",
         .alg = ASSERTION_ALG_PS256},
        {.body = "provider = microsoft\nclient_id = x\ngrant = client_credentials\n"
                 "client_certificate = /c.pem\n", .error = "not \"common\""},
        {.body = "provider = microsoft\ntenant = organizations\nclient_id = x\n"
                 "grant = client_credentials\nclient_certificate = /c.pem\n",
         .error = "tenant's domain or ID"},
        {.body = "client_id = x\nclient_certificate = c.pem\n", .error = "absolute path"},
        {.body = "client_id = x\nclient_key = /k.pem\n", .error = "client_key needs client_certificate"},
        {.body = "client_id = x\nclient_certificate = /c.pem\nclient_secret_file = /s\n",
         .error = "either a client secret or client_certificate"},
        {.body = "client_id = x\nclient_certificate = /c.pem\nclient_assertion_alg = ES256\n",
         .error = "expected RS256 or PS256"},
        {.body = "client_id = x\ngrant = client_credentials\n",
         .error = "needs a client secret or a certificate"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config cfg;
        struct mt_err err;
        char text[1024];
        int r;

        snprintf(text, sizeof(text), "[defaults]\nstore = /tmp/none\n[a]\n%s", cases[i].body);
        err_clear(&err);
        r = config_load_string(&cfg, "unit.conf", text, &err);
        if (cases[i].error == NULL) {
            if (r != 0)
                fail_msg("case %zu: %s", i, err.msg);
            assert_int_equal(cfg.accounts[0].client_assertion_alg, cases[i].alg);
            assert_string_equal(cfg.accounts[0].client_certificate, "/c.pem");
        } else {
            assert_int_equal(r, -1);
            assert_int_equal(err.code, EX_CONFIG);
            if (strstr(err.msg, cases[i].error) == NULL)
                fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].error);
        }
        config_free(&cfg);
    }
}

/* ---- the request oauth_post sends ---- */

static char sent_body[16384];
static char sent_url[512];
static int sent_basic;

static int
capture_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    (void)err;
    snprintf(sent_url, sizeof(sent_url), "%s", req->url);
    snprintf(sent_body, sizeof(sent_body), "%.*s", (int)req->body_len, req->body);
    sent_basic = req->basic_user != NULL;
    mt_buf_init(&resp->body, NET_MAX_BODY);
    resp->status = 200;
    snprintf(resp->content_type, sizeof(resp->content_type), "application/json");
    resp->retry_after = -1;
    resp->location[0] = '\0';
    mt_buf_append_str(&resp->body, "{\"access_token\":\"AT\",\"token_type\":\"Bearer\","
                                   "\"expires_in\":3599}");
    return 0;
}

static const struct net_ops capture_ops = {
    .abi_version = NET_ABI_VERSION,
    .http = capture_http,
};

static const struct assertion_ops direct_ops = {
    .abi_version = ASSERTION_ABI_VERSION,
    .build = assertion_build,
};

/* Returns the decoded value of form field key in body, in out. */
static int
form_value(const char *body, const char *key, struct mt_buf *out)
{
    mt_buf_reset(out);
    return form_lookup(body, key, out);
}

static void
token_request_sends_client_assertion(void **state)
{
    struct config cfg;
    struct token_reply reply;
    struct mt_buf value;
    struct mt_err err;
    struct form f;
    struct jwt j;
    char text[1024];
    const char *dot2;

    (void)state;
    snprintf(text, sizeof(text),
             "[defaults]\nstore = %s/store\n"
             "[app]\nprovider = microsoft\ntenant = contoso.onmicrosoft.com\n"
             "client_id = " CLIENT_ID "\ngrant = client_credentials\nclient_auth = basic\n"
             "client_certificate = %s\nclient_key = %s\n", dir, cert_path, key_path);
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "unit.conf", text, &err), 0);
    net_override(&capture_ops);
    assertion_override(&direct_ops);

    form_init(&f);
    form_add(&f, "grant_type", "client_credentials", 0);
    form_add(&f, "scope", cfg.accounts[0].scope, 0);
    assert_int_equal(oauth_token_request(&cfg.accounts[0], "requesting a token",
                                         cfg.accounts[0].token_endpoint, &f, NULL, &reply, &err),
                     0);
    assert_string_equal(reply.access_token, "AT");
    token_reply_free(&reply);

    assert_string_equal(sent_url, AUDIENCE);
    assert_false(sent_basic);
    mt_buf_init(&value, sizeof(sent_body));
    assert_int_equal(form_value(sent_body, "client_secret", &value), 0);
    assert_int_equal(form_value(sent_body, "client_id", &value), 1);
    assert_string_equal(mt_buf_str(&value), CLIENT_ID);
    assert_int_equal(form_value(sent_body, "client_assertion_type", &value), 1);
    assert_string_equal(mt_buf_str(&value),
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    assert_int_equal(form_value(sent_body, "scope", &value), 1);
    assert_string_equal(mt_buf_str(&value), "https://outlook.office365.com/.default");
    assert_int_equal(form_value(sent_body, "client_assertion", &value), 1);

    /* The assertion sent is a valid PS256 JWT for the token endpoint. */
    memset(&j, 0, sizeof(j));
    mt_buf_init(&j.text, 32 * 1024);
    mt_buf_init(&j.signature, 4096);
    mt_buf_append_str(&j.text, mt_buf_str(&value));
    dot2 = strrchr(j.text.data, '.');
    j.header = decode_part(j.text.data, strcspn(j.text.data, "."));
    j.claims = decode_part(strchr(j.text.data, '.') + 1,
                           (size_t)(dot2 - strchr(j.text.data, '.') - 1));
    j.signed_len = (size_t)(dot2 - j.text.data);
    assert_int_equal(mt_base64_decode(&j.signature, dot2 + 1, strlen(dot2 + 1),
                                      MT_BASE64_URL_NOPAD), 0);
    assert_string_equal(str_member(j.header, "alg"), "PS256");
    assert_string_equal(str_member(j.claims, "aud"), AUDIENCE);
    assert_true(signature_valid(&j, cert_path, ASSERTION_ALG_PS256));
    assert_true(llabs((long long)int_member(j.claims, "iat") - (long long)time(NULL)) < 60);
    jwt_free(&j);

    mt_buf_free(&value);
    net_override(NULL);
    assertion_override(NULL);
    config_free(&cfg);
}

static void
unreadable_key_stops_request_before_network(void **state)
{
    struct config cfg;
    struct token_reply reply;
    struct mt_err err;
    struct form f;
    char text[1024];

    (void)state;
    snprintf(text, sizeof(text),
             "[defaults]\nstore = %s/store\n"
             "[app]\nprovider = microsoft\ntenant = contoso.com\nclient_id = x\n"
             "grant = client_credentials\n"
             "client_certificate = %s\nclient_key = %s/missing.key\n", dir, cert_path, dir);
    err_clear(&err);
    assert_int_equal(config_load_string(&cfg, "unit.conf", text, &err), 0);
    net_override(&capture_ops);
    assertion_override(&direct_ops);
    sent_url[0] = '\0';
    form_init(&f);
    form_add(&f, "grant_type", "client_credentials", 0);
    assert_int_equal(oauth_token_request(&cfg.accounts[0], "requesting a token",
                                         cfg.accounts[0].token_endpoint, &f, NULL, &reply, &err),
                     -1);
    assert_int_equal(err.code, EX_CONFIG);
    assert_non_null(strstr(err.msg, "app: cannot sign a client assertion"));
    assert_string_equal(sent_url, "");
    net_override(NULL);
    assertion_override(NULL);
    config_free(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_has_alg_typ_and_thumbprints),
        cmocka_unit_test(claims_name_client_audience_and_lifetime),
        cmocka_unit_test(jti_differs_every_time),
        cmocka_unit_test(client_id_is_json_escaped),
        cmocka_unit_test(rs256_signature_verifies_with_public_key),
        cmocka_unit_test(ps256_signature_verifies_with_public_key),
        cmocka_unit_test(key_in_certificate_file_is_used),
        cmocka_unit_test(key_readable_by_others_is_refused),
        cmocka_unit_test(key_mode_check_rejects_non_regular_file),
        cmocka_unit_test(unusable_keys_are_refused),
        cmocka_unit_test(certificate_file_without_certificate_is_refused),
        cmocka_unit_test(validity_matches_openssl),
        cmocka_unit_test(validity_rejects_truncated_der),
        cmocka_unit_test(config_keys_for_certificates),
        cmocka_unit_test(token_request_sends_client_assertion),
        cmocka_unit_test(unreadable_key_stops_request_before_network),
    };

    return cmocka_run_group_tests(tests, setup_files, teardown_files);
}
