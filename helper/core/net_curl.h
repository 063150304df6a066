/*
 * Shared parts of the network module (mailtoken-net.so): libcurl's
 * one-time initialisation, error classification, and the mail
 * connection functions that net_mail.c implements for struct net_ops.
 */
#ifndef CORE_NET_CURL_H
#define CORE_NET_CURL_H

#include <curl/curl.h>

#include "net.h"

/* Initialises libcurl once per process, safely from threads. Returns 0 or -1 with err set. */
int net_curl_init(struct mt_err *err);

/*
 * Sets err for a failed transfer to url: EX_TEMPFAIL for timeouts, DNS,
 * connection and TLS failures, EX_CONFIG for a scheme that is not
 * allowed. detail is libcurl's error buffer (may be empty). Returns -1.
 */
int net_curl_classify(CURLcode code, const char *detail, const char *url, long timeout_s,
                      struct mt_err *err);

/* The mail operations of struct net_ops; see net.h for their contracts. */
int net_mail_open(const struct net_mail_request *req, struct net_mail **conn_r,
                  struct net_mail_info *info_r, struct mt_err *err);
int net_mail_send(struct net_mail *conn, const void *p, size_t n, long timeout_s,
                  struct mt_err *err);
long net_mail_recv(struct net_mail *conn, void *p, size_t size, int timeout_ms,
                   struct mt_err *err);
int net_mail_socket(struct net_mail *conn);
void net_mail_close(struct net_mail *conn);

#endif
