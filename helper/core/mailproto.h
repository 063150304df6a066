/*
 * The parts of IMAP (RFC 3501, RFC 4959), POP3 (RFC 1939, RFC 2449,
 * RFC 5034) and SMTP AUTH (RFC 4954) that an OAuth2 login needs, as pure
 * functions. They cover server targets, reply parsing, capability lists,
 * the XOAUTH2 and OAUTHBEARER (RFC 7628) messages and the servers' error
 * challenges. There is no I/O here: mailsession.h drives a connection.
 */
#ifndef CORE_MAILPROTO_H
#define CORE_MAILPROTO_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "mt_buf.h"

enum mail_protocol {
    MAIL_IMAP,
    MAIL_POP3,
    MAIL_SMTP
};

enum mail_tls {
    MAIL_TLS_IMPLICIT,   /* TLS from the first byte: 993, 995, 465 */
    MAIL_TLS_STARTTLS    /* plain greeting, then STARTTLS (required): 143, 110, 587, 25 */
};

enum mail_mech {
    MAIL_MECH_AUTO,      /* XOAUTH2 when offered, else OAUTHBEARER */
    MAIL_MECH_XOAUTH2,
    MAIL_MECH_OAUTHBEARER
};

#define MAIL_HOST_MAX 256

struct mail_target {
    enum mail_protocol protocol;
    enum mail_tls tls;
    char host[MAIL_HOST_MAX];   /* a name or an IP address; IPv6 without brackets */
    long port;
};

/* Returns "IMAP", "POP3" or "SMTP". */
const char *mail_protocol_name(enum mail_protocol p);

/* Parses "imap", "pop3" (or "pop") or "smtp", in any case. Returns 0 or -1. */
int mail_protocol_parse(const char *s, enum mail_protocol *p_r);

/* Returns "XOAUTH2" or "OAUTHBEARER" (AUTO: "XOAUTH2"). */
const char *mail_mech_name(enum mail_mech m);

/* Parses "xoauth2" or "oauthbearer", in any case. Returns 0 or -1. */
int mail_mech_parse(const char *s, enum mail_mech *m_r);

/*
 * Parses a server argument: HOST, HOST:PORT, [IPV6]:PORT, or a URL
 * SCHEME://HOST[:PORT][/] with scheme imaps, pop3s or smtps (implicit
 * TLS) or imap, pop3 or smtp (STARTTLS). Without a URL, the port decides
 * TLS: 993, 995 and 465 mean implicit TLS, 143, 110, 587 and 25 mean
 * STARTTLS, and any other port must be given as a URL. A missing port is
 * 993 (IMAP), 995 (POP3) or 587 (SMTP). When protocol_given is set,
 * protocol is what the user requested, and a port or scheme of another
 * protocol is an error. Otherwise the port or scheme chooses the protocol. Returns 0 and *t, or -1 with err set (EX_USAGE).
 */
int mail_target_parse(const char *arg, int protocol_given, enum mail_protocol protocol,
                      struct mail_target *t, struct mt_err *err);

/*
 * Fills the provider's server for a protocol: Microsoft
 * outlook.office365.com:993 and :995, smtp.office365.com:587; Google
 * imap.gmail.com:993, pop.gmail.com:995, smtp.gmail.com:587. Returns 0,
 * or -1 with err set (EX_USAGE) for the generic provider, which has none.
 */
/*
 * Fills t with the standard server of the account's provider for
 * protocol; for Microsoft, that of the account's cloud. Returns 0, or -1
 * with err set when the provider has none.
 */
int mail_target_for_account(const struct account *a, enum mail_protocol protocol,
                            struct mail_target *t, struct mt_err *err);

int mail_target_default(enum provider provider, enum mail_protocol protocol,
                        struct mail_target *t, struct mt_err *err);

/* Writes the libcurl URL for t ("imaps://HOST:PORT/"). Returns 0, or -1 when it does not fit. */
int mail_target_url(const struct mail_target *t, char *url, size_t size);

/*
 * Appends the raw XOAUTH2 initial response,
 * "user=" USER ^A "auth=Bearer " TOKEN ^A ^A. Returns 0, or -1 with
 * err set. The code is EX_CONFIG when user or token is empty or the user
 * contains a control byte, EX_PROTOCOL when the token contains a byte
 * that would break the message (control bytes, space, bytes over 0x7e),
 * and EX_OSERR when out of memory.
 */
int mail_sasl_xoauth2(struct mt_buf *out, const char *user, const char *token,
                      struct mt_err *err);

/*
 * Appends the raw OAUTHBEARER initial response (RFC 7628 section 3.1)
 * with the GS2 header "n,a=USER," (',' and '=' escaped as =2C and =3D),
 * host and port when host is not NULL, and "auth=Bearer TOKEN". Returns
 * 0 or -1 as mail_sasl_xoauth2.
 */
int mail_sasl_oauthbearer(struct mt_buf *out, const char *user, const char *host, long port,
                          const char *token, struct mt_err *err);

/* The content of a server's error challenge, decoded and sanitized for display. */
struct mail_challenge {
    char text[512];      /* the decoded challenge, or the raw base64 when it is not */
    char status[64];     /* "status" of the JSON: "400", "401", "invalid_token"; or "" */
    char scope[256];     /* "scope" of the JSON, or "" */
    int is_json;
};

/*
 * Decodes an error challenge: base64 (strict), then JSON with status,
 * scope and schemes (XOAUTH2, RFC 7628 section 3.2.2). Anything that
 * does not decode is kept as text. Never fails; control bytes in the
 * result are replaced by '?'.
 */
void mail_challenge_parse(const char *b64, size_t len, struct mail_challenge *c);

/* Copies at most size - 1 bytes of s for display, control bytes replaced by '?'. */
void mail_sanitize(char *dst, size_t size, const char *s, size_t len);

/*
 * Returns 1 when the space-separated list caps contains word (ASCII case
 * ignored), else 0.
 */
int mail_caps_has(const char *caps, const char *word);

/* ---- IMAP ---- */

enum imap_kind {
    IMAP_UNTAGGED,       /* "* ..." */
    IMAP_CONTINUATION,   /* "+ ..." or "+" */
    IMAP_TAGGED,         /* "TAG OK|NO|BAD ..." */
    IMAP_MALFORMED
};

enum imap_cond {
    IMAP_OK,
    IMAP_NO,
    IMAP_BAD,
    IMAP_PREAUTH,
    IMAP_BYE,
    IMAP_OTHER           /* an untagged line that is not a status response */
};

struct imap_reply {
    enum imap_kind kind;
    char tag[32];        /* IMAP_TAGGED only */
    enum imap_cond cond;
    char code[64];       /* the response code's name, e.g. "CAPABILITY", "UNAVAILABLE"; or "" */
    const char *text;    /* points into the line: after the tag and condition (and code) */
};

/* Parses one response line (without CRLF). Never fails: odd lines are IMAP_MALFORMED. */
void imap_reply_parse(const char *line, struct imap_reply *r);

/*
 * Finds a capability list in an IMAP line: "* CAPABILITY a b" or a
 * "[CAPABILITY a b]" response code on a status line. Replaces the
 * contents of caps with the list ("a b"). Returns 1 when found, 0 when
 * not, -1 when caps is full.
 */
int imap_capability_parse(const char *line, struct mt_buf *caps);

/*
 * Writes into out the capabilities to show a client on a PREAUTH
 * greeting: caps without the words that make no sense after login or on
 * a tunnel's plain pipe (STARTTLS, LOGINDISABLED, AUTH=..., SASL-IR).
 * Returns 0 or -1 (errno).
 */
int imap_caps_for_preauth(const char *caps, struct mt_buf *out);

/* ---- SMTP ---- */

/*
 * Parses one SMTP reply line "NNN-text", "NNN text" or "NNN". Sets
 * *code_r and *last_r (0 for a continued line). Returns the offset of
 * the text, or -1 for a malformed line.
 */
int smtp_reply_line(const char *line, int *code_r, int *last_r);

/*
 * Finds the mechanisms of the AUTH keyword (or the old "AUTH=" form) in
 * an EHLO reply, given as lines joined with '\n' without the codes.
 * Replaces the contents of mechs with a space-separated list. Returns 1
 * when AUTH was found, 0 when not, -1 when mechs is full.
 */
int smtp_ehlo_auth(const char *ehlo, struct mt_buf *mechs);

/* Copies the enhanced status code ("5.7.139") at the start of text into out, or "". */
void smtp_enhanced_code(const char *text, char *out, size_t size);

/* ---- POP3 ---- */

/*
 * Finds the "SASL" line of a CAPA reply, given as lines joined with '\n',
 * and replaces mechs with its mechanisms. Returns 1 when found, 0 when
 * not, -1 when mechs is full.
 */
int pop3_capa_sasl(const char *capa, struct mt_buf *mechs);

/*
 * Copies the RFC 2449 response code of a "-ERR [CODE] text" line
 * ("SYS/TEMP", "AUTH", "IN-USE") into out, or "".
 */
void pop3_resp_code(const char *line, char *out, size_t size);

#endif
