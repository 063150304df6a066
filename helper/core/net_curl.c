/*
 * mailtoken-net.so: HTTP through libcurl. Certificates are always
 * verified, redirects never followed, bodies capped.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "net.h"
#include "net_curl.h"

#ifndef MAILTOKEN_VERSION
#define MAILTOKEN_VERSION "0"
#endif

struct transfer {
    struct net_response *resp;
    int over_cap;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;

    if (mt_buf_append(&t->resp->body, data, n) != 0) {
        t->over_cap = 1;
        return 0;   /* makes libcurl stop with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Copies a header's value without surrounding white space. */
static void
copy_value(char *dst, size_t size, const char *value, size_t n)
{
    while (n > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    if (n >= size)
        n = size - 1;
    memcpy(dst, value, n);
    dst[n] = '\0';
}

static int
header_is(const char *line, size_t n, const char *name)
{
    size_t len = strlen(name);

    return n > len && strncasecmp(line, name, len) == 0 && line[len] == ':';
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t n = size * nmemb;

    if (header_is(data, n, "content-type")) {
        copy_value(t->resp->content_type, sizeof(t->resp->content_type), data + 13, n - 13);
    } else if (header_is(data, n, "location")) {
        copy_value(t->resp->location, sizeof(t->resp->location), data + 9, n - 9);
    } else if (header_is(data, n, "retry-after")) {
        char value[32], *end;
        long seconds;

        copy_value(value, sizeof(value), data + 12, n - 12);
        seconds = strtol(value, &end, 10);
        /* An HTTP date instead of seconds counts as "some time later". */
        t->resp->retry_after = (*end == '\0' && seconds >= 0) ? seconds : 60;
    } else if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new status line: forget the headers of an interim reply. */
        t->resp->content_type[0] = '\0';
        t->resp->location[0] = '\0';
        t->resp->retry_after = -1;
    }
    return n;
}

int
net_curl_classify(CURLcode code, const char *detail, const char *url, long timeout_s,
                  struct mt_err *err)
{
    const char *what = detail[0] != '\0' ? detail : curl_easy_strerror(code);

    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(err, EX_TEMPFAIL, "%s timed out after %ld s: try again later", url,
                       timeout_s);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return err_set(err, EX_TEMPFAIL,
                       "cannot resolve the host of %s (%s): check the network and DNS", url,
                       what);
    case CURLE_COULDNT_CONNECT:
        return err_set(err, EX_TEMPFAIL,
                       "cannot connect to %s (%s): check that the server runs and the address "
                       "is right, or try again later", url, what);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        return err_set(err, EX_TEMPFAIL,
                       "TLS with %s failed (%s): the server's certificate is not trusted or "
                       "does not match its name; add its CA with ca_file = FILE if it is yours",
                       url, what);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return err_set(err, EX_CONFIG, "%s: the URL's scheme is not allowed (%s)", url,
                       what);
    default:
        return err_set(err, EX_TEMPFAIL, "HTTP request to %s failed: %s", url, what);
    }
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_result;

/* curl_global_init is not thread-safe: the daemon's threads share one call. */
static void
init_curl(void)
{
    init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
net_curl_init(struct mt_err *err)
{
    pthread_once(&init_once, init_curl);
    if (init_result != CURLE_OK)
        return err_set(err, EX_SOFTWARE, "libcurl failed to initialise");
    return 0;
}

static int
net_http(const struct net_request *req, struct net_response *resp, struct mt_err *err)
{
    char detail[CURL_ERROR_SIZE];
    struct transfer t = {.resp = resp};
    struct curl_slist *headers = NULL;
    CURLcode code;
    CURL *curl;
    int rc = -1;

    resp->status = 0;
    resp->content_type[0] = '\0';
    resp->location[0] = '\0';
    resp->retry_after = -1;
    mt_buf_init(&resp->body, NET_MAX_BODY);
    detail[0] = '\0';

    if (net_curl_init(err) != 0)
        return -1;
    curl = curl_easy_init();
    if (curl == NULL)
        return err_set(err, EX_OSERR, "libcurl failed to initialise (out of memory?)");

    headers = curl_slist_append(headers, "Accept: application/json");
    if (strcmp(req->method, "POST") == 0)
        headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
    if (headers == NULL) {
        err_set(err, EX_OSERR, "out of memory");
        goto done;
    }

    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout_s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, req->timeout_s < 15 ? req->timeout_s : 15L);
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "mailtoken/" MAILTOKEN_VERSION);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    if (req->ca_file != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, req->ca_file);
    if (req->proxy != NULL)
        curl_easy_setopt(curl, CURLOPT_PROXY, req->proxy);
    if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (req->basic_user != NULL) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, req->basic_user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD,
                         req->basic_password != NULL ? req->basic_password : "");
    }

    code = curl_easy_perform(curl);
    if (code == CURLE_WRITE_ERROR && t.over_cap) {
        err_set(err, EX_PROTOCOL, "the reply from %s is larger than %d bytes", req->url,
                NET_MAX_BODY);
        goto done;
    }
    if (code != CURLE_OK) {
        net_curl_classify(code, detail, req->url, req->timeout_s, err);
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    rc = 0;
done:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

static const struct net_ops ops = {
    .abi_version = NET_ABI_VERSION,
    .http = net_http,
    .mail_open = net_mail_open,
    .mail_send = net_mail_send,
    .mail_recv = net_mail_recv,
    .mail_socket = net_mail_socket,
    .mail_close = net_mail_close,
};

__attribute__((visibility("default"))) const struct net_ops *
mailtoken_net_ops(void)
{
    return &ops;
}
