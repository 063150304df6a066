/*
 * mailtoken-net.so: TLS connections to mail servers. libcurl's IMAP,
 * POP3 and SMTP support connects, verifies the certificate, reads the
 * greeting and capabilities and performs STARTTLS; CURLOPT_CONNECT_ONLY
 * makes it stop there, before any login, and the caller speaks the rest
 * of the protocol through curl_easy_send and curl_easy_recv.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "net.h"
#include "net_curl.h"

struct net_mail {
    CURL *curl;
    curl_socket_t sock;
};

struct setup {
    const struct net_mail_request *req;
    struct net_mail_info *info;
};

static void
observe(const struct setup *s, enum net_mail_event event, const char *text, size_t len)
{
    if (s->req->observe != NULL)
        s->req->observe(s->req->observe_ctx, event, text, len);
}

/* Hands each line libcurl exchanged with the server to the observer. */
static void
observe_lines(const struct setup *s, enum net_mail_event event, const char *data, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t len = nl != NULL ? (size_t)(nl - data) : n;
        size_t next = nl != NULL ? len + 1 : n;

        if (len > 0 && data[len - 1] == '\r')
            len--;
        observe(s, event, data, len);
        data += next;
        n -= next;
    }
}

static int
on_debug(CURL *curl, curl_infotype type, char *data, size_t n, void *userdata)
{
    static const char tls_prefix[] = "SSL connection using ";
    struct setup *s = userdata;

    (void)curl;
    switch (type) {
    case CURLINFO_HEADER_IN:
        observe_lines(s, NET_MAIL_SERVER_LINE, data, n);
        break;
    case CURLINFO_HEADER_OUT:
        /* libcurl has no credentials here: only CAPABILITY, EHLO, CAPA, STARTTLS, STLS. */
        observe_lines(s, NET_MAIL_CLIENT_LINE, data, n);
        break;
    case CURLINFO_TEXT:
        if (n > sizeof(tls_prefix) - 1 && memcmp(data, tls_prefix, sizeof(tls_prefix) - 1) == 0) {
            size_t len = n - (sizeof(tls_prefix) - 1);
            const char *text = data + sizeof(tls_prefix) - 1;

            while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
                len--;
            if (len >= sizeof(s->info->tls))
                len = sizeof(s->info->tls) - 1;
            memcpy(s->info->tls, text, len);
            s->info->tls[len] = '\0';
            observe(s, NET_MAIL_TLS, s->info->tls, len);
        }
        break;
    default:
        /* Never TLS records or data: after setup they carry tokens. */
        break;
    }
    return 0;
}

static int
classify_open(CURLcode code, const char *detail, const struct net_mail_request *req,
              struct mt_err *err)
{
    const char *what = detail[0] != '\0' ? detail : curl_easy_strerror(code);

    switch (code) {
    case CURLE_USE_SSL_FAILED:
        return err_set(err, EX_PROTOCOL,
                       "%s does not offer STARTTLS, and mailtoken never logs in without TLS: "
                       "use the server's implicit-TLS port (993, 995 or 465) if it has one",
                       req->url);
    case CURLE_SSL_CACERT_BADFILE:
        return err_set(err, EX_CONFIG, "cannot use the CA file %s (%s): check ca_file",
                       req->ca_file != NULL ? req->ca_file : "(system default)", what);
    case CURLE_WEIRD_SERVER_REPLY:
        return err_set(err, EX_PROTOCOL,
                       "%s answered in a way that is not IMAP, POP3 or SMTP (%s): check the "
                       "port", req->url, what);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return err_set(err, EX_SOFTWARE, "this libcurl cannot speak %s (%s)", req->url, what);
    case CURLE_OPERATION_TIMEDOUT:
        if (strstr(req->url, "s://") == NULL)
            return err_set(err, EX_TEMPFAIL,
                           "%s sent no greeting within %ld s: if that port expects TLS from "
                           "the first byte, use imaps://, pop3s:// or smtps://; else try again "
                           "later", req->url, req->timeout_s);
        return net_curl_classify(code, detail, req->url, req->timeout_s, err);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        return net_curl_classify(code, detail, req->url, req->timeout_s, err);
    default:
        return err_set(err, EX_TEMPFAIL, "the connection to %s failed: %s", req->url, what);
    }
}

int
net_mail_open(const struct net_mail_request *req, struct net_mail **conn_r,
              struct net_mail_info *info_r, struct mt_err *err)
{
    char detail[CURL_ERROR_SIZE];
    struct setup s = {.req = req, .info = info_r};
    struct net_mail *conn = NULL;
    curl_socket_t sock = CURL_SOCKET_BAD;
    char *ip = NULL;
    CURLcode code;
    long connect_timeout = req->timeout_s < 15 ? req->timeout_s : 15;
    int rc = -1;

    *conn_r = NULL;
    memset(info_r, 0, sizeof(*info_r));
    detail[0] = '\0';
    if (net_curl_init(err) != 0)
        return -1;
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return err_set(err, EX_OSERR, "out of memory");
    conn->curl = curl_easy_init();
    if (conn->curl == NULL) {
        free(conn);
        return err_set(err, EX_OSERR, "libcurl failed to initialise (out of memory?)");
    }

    curl_easy_setopt(conn->curl, CURLOPT_URL, req->url);
    curl_easy_setopt(conn->curl, CURLOPT_PROTOCOLS_STR, "imap,imaps,pop3,pop3s,smtp,smtps");
    curl_easy_setopt(conn->curl, CURLOPT_CONNECT_ONLY, 1L);
    /* STARTTLS on the plain schemes, and failure when the server has none. */
    curl_easy_setopt(conn->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    curl_easy_setopt(conn->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(conn->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(conn->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(conn->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(conn->curl, CURLOPT_CONNECTTIMEOUT, connect_timeout);
    curl_easy_setopt(conn->curl, CURLOPT_TIMEOUT, req->timeout_s);
    curl_easy_setopt(conn->curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, req->timeout_s);
    curl_easy_setopt(conn->curl, CURLOPT_ERRORBUFFER, detail);
    /* The transcript comes through the debug callback, which needs VERBOSE. */
    curl_easy_setopt(conn->curl, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(conn->curl, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(conn->curl, CURLOPT_DEBUGDATA, &s);
    if (req->ca_file != NULL)
        curl_easy_setopt(conn->curl, CURLOPT_CAINFO, req->ca_file);
    if (req->proxy != NULL)
        curl_easy_setopt(conn->curl, CURLOPT_PROXY, req->proxy);

    code = curl_easy_perform(conn->curl);
    /* From here on every byte may carry a token: no more debug output. */
    curl_easy_setopt(conn->curl, CURLOPT_VERBOSE, 0L);
    curl_easy_setopt(conn->curl, CURLOPT_DEBUGFUNCTION, NULL);
    curl_easy_setopt(conn->curl, CURLOPT_DEBUGDATA, NULL);
    curl_easy_setopt(conn->curl, CURLOPT_ERRORBUFFER, NULL);
    if (code != CURLE_OK) {
        classify_open(code, detail, req, err);
        goto done;
    }
    if (curl_easy_getinfo(conn->curl, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK ||
        sock == CURL_SOCKET_BAD) {
        err_set(err, EX_SOFTWARE, "libcurl kept no connection to %s", req->url);
        goto done;
    }
    conn->sock = sock;
    if (curl_easy_getinfo(conn->curl, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL)
        snprintf(info_r->ip, sizeof(info_r->ip), "%s", ip);
    curl_easy_getinfo(conn->curl, CURLINFO_PRIMARY_PORT, &info_r->port);
    *conn_r = conn;
    conn = NULL;
    rc = 0;
done:
    if (conn != NULL) {
        curl_easy_cleanup(conn->curl);
        free(conn);
    }
    return rc;
}

static long
remaining_ms(const struct timespec *deadline)
{
    struct timespec now;
    long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    if (ms > INT_MAX)
        return INT_MAX;
    return ms > 0 ? ms : 0;
}

/* Waits for events on the socket until the deadline. Returns 1 when ready, 0 on timeout. */
static int
wait_socket(struct net_mail *conn, short events, const struct timespec *deadline)
{
    struct pollfd p = {.fd = conn->sock, .events = events};
    int r;

    do {
        r = poll(&p, 1, (int)remaining_ms(deadline));
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

static void
deadline_in(struct timespec *deadline, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, deadline);
    deadline->tv_sec += ms / 1000;
    deadline->tv_nsec += (ms % 1000) * 1000000;
    if (deadline->tv_nsec >= 1000000000) {
        deadline->tv_sec++;
        deadline->tv_nsec -= 1000000000;
    }
}

int
net_mail_send(struct net_mail *conn, const void *p, size_t n, long timeout_s, struct mt_err *err)
{
    const char *data = p;
    struct timespec deadline;

    deadline_in(&deadline, timeout_s * 1000);
    while (n > 0) {
        size_t sent = 0;
        CURLcode code = curl_easy_send(conn->curl, data, n, &sent);

        if (code == CURLE_AGAIN) {
            if (!wait_socket(conn, POLLOUT, &deadline))
                return err_set(err, EX_TEMPFAIL,
                               "the mail server took nothing for %ld s: try again later",
                               timeout_s);
            continue;
        }
        if (code != CURLE_OK)
            return err_set(err, EX_TEMPFAIL, "sending to the mail server failed: %s",
                           curl_easy_strerror(code));
        data += sent;
        n -= sent;
    }
    return 0;
}

long
net_mail_recv(struct net_mail *conn, void *p, size_t size, int timeout_ms, struct mt_err *err)
{
    struct timespec deadline;

    deadline_in(&deadline, timeout_ms);
    for (;;) {
        size_t n = 0;
        CURLcode code = curl_easy_recv(conn->curl, p, size, &n);

        if (code == CURLE_OK)
            return (long)n;
        if (code != CURLE_AGAIN) {
            err_set(err, EX_TEMPFAIL, "receiving from the mail server failed: %s",
                    curl_easy_strerror(code));
            return -1;
        }
        if (timeout_ms == 0 || !wait_socket(conn, POLLIN, &deadline))
            return NET_MAIL_AGAIN;
    }
}

int
net_mail_socket(struct net_mail *conn)
{
    return (int)conn->sock;
}

void
net_mail_close(struct net_mail *conn)
{
    if (conn == NULL)
        return;
    /*
     * libcurl sends LOGOUT or QUIT itself when it closes the connection
     * and waits for the reply. The caller has already done that, so the
     * socket goes down first and libcurl's attempt fails without delay.
     */
    shutdown(conn->sock, SHUT_RDWR);
    curl_easy_cleanup(conn->curl);
    free(conn);
}
