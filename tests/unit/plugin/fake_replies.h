/*
 * The canned replies of the fake token source that the plugin tests talk
 * to, both as the fake helper program and as the fake daemon socket.
 * The account name picks the reply.
 */
#ifndef FAKE_REPLIES_H
#define FAKE_REPLIES_H

#include "mt_buf.h"

/* Test vectors: Google's and Microsoft's XOAUTH2 samples, RFC 7628 section 4.1. */
#define FAKE_GOOGLE_USER "someuser@example.com"
#define FAKE_GOOGLE_TOKEN "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
#define FAKE_MICROSOFT_USER "test@contoso.onmicrosoft.com"
#define FAKE_MICROSOFT_TOKEN "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA"
#define FAKE_RFC7628_USER "user@example.com"
#define FAKE_RFC7628_TOKEN "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
/* The account "plain" and most others. */
#define FAKE_PLAIN_USER "alice@example.com"
#define FAKE_PLAIN_TOKEN "TOKEN"
#define FAKE_SHARED_MAILBOX "shared@example.com"
/* The accounts "len-N": a token of N characters for this user. */
#define FAKE_LEN_USER "u@example.com"

/* The exit code and kind the fake source gives for an account it does not know. */
#define FAKE_UNKNOWN_CODE 67

/*
 * Appends to out the reply to "TOKEN account", or to "REJECTED account"
 * when rejected is 1. Returns the exit code the helper should use.
 */
int fake_reply(const char *account, int rejected, struct mt_buf *out);

/* Writes the token of an account "len-N" (N characters) into out. */
void fake_len_token(long n, struct mt_buf *out);

/* Appends one line to dir/name. */
void fake_record(const char *dir, const char *name, const char *line);

#endif
