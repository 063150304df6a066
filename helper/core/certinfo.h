/*
 * The validity period of an X.509 certificate, read from its PEM file
 * with a small DER walker instead of OpenSSL, so that `mailtoken status`
 * and the daemon need not load the network module to warn about expiry.
 */
#ifndef CORE_CERTINFO_H
#define CORE_CERTINFO_H

#include <stddef.h>
#include <time.h>

#include "err.h"

struct cert_validity {
    time_t not_before;
    time_t not_after;
};

/*
 * Reads notBefore and notAfter (RFC 5280 section 4.1.2.5, UTCTime or
 * GeneralizedTime) from a DER certificate of len bytes. Reads nothing
 * past len. Returns 0, or -1 when the bytes are not a certificate.
 */
int certinfo_der_validity(const unsigned char *der, size_t len, struct cert_validity *out);

/*
 * Reads the validity of the first certificate in PEM file path
 * (-----BEGIN CERTIFICATE-----). Returns 0, or -1 with err set
 * (EX_CONFIG) naming path.
 */
int certinfo_pem_validity(const char *path, struct cert_validity *out, struct mt_err *err);

#endif
