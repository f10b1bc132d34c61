/*
 * sasl.h — SASL mechanisms as pure functions over bytes, and the choice of
 * mechanism.  The session (setup.c) runs one exchange: sasl_begin gives the
 * initial response, sasl_step answers each 334 challenge, sasl_end says
 * whether the mechanism finished (SCRAM: the server proved it knows the
 * password).  Texts in and out are the base64 of the AUTH lines; results
 * are secrets: the caller wipes them with sasl_free().
 */
#ifndef SX_SASL_H
#define SX_SASL_H

#include <stddef.h>

#include "config/modes.h"
#include "core/err.h"
#include "smtp/scram.h"

/*
 * Every mechanism smtps-send knows, by name.  The order here is not the
 * preference: that is the table in sasl.c.
 */
enum sasl_mech {
	SASL_NONE = 0,
	SASL_PLAIN,
	SASL_LOGIN,
	SASL_CRAM_MD5,
	SASL_SCRAM_SHA_1,
	SASL_SCRAM_SHA_256,
	SASL_SCRAM_SHA_1_PLUS,
	SASL_SCRAM_SHA_256_PLUS,
	SASL_EXTERNAL,
	/*
	 * OAuth2 (RFC 7628 OAUTHBEARER, Google's XOAUTH2): the OAuth2 work
	 * fills these in.  They rank between SCRAM and PLAIN and are chosen
	 * only with SASL_HAVE_TOKEN, which nothing sets yet.
	 */
	SASL_XOAUTH2,
	SASL_OAUTHBEARER,
	SASL_NMECH
};

/* What a session has for a mechanism to use (sasl_pick's have). */
#define SASL_HAVE_TLS      0x01u /* the connection is TLS */
#define SASL_HAVE_BINDING  0x02u /* and has tls-exporter channel binding (-PLUS) */
#define SASL_HAVE_PASSWORD 0x04u /* a user is set (the password may be empty) */
#define SASL_HAVE_CERT     0x08u /* a TLS client certificate is configured (EXTERNAL) */
#define SASL_HAVE_TOKEN    0x10u /* an OAuth2 access token is configured (OAuth2 work) */

/* The mechanism's bit in a set (sasl_offered). */
#define SASL_BIT(m) (1u << (unsigned)(m))

const char *sasl_name(enum sasl_mech);

/* SCRAM-SHA-1, SCRAM-SHA-256 or a -PLUS one? */
int sasl_is_scram(enum sasl_mech);

/* The mechanism an auth setting pins; SASL_NONE for on (best offered) and off. */
enum sasl_mech sasl_from_auth_mode(enum auth_mode);

/* The mechanisms of a space-separated list (the server's AUTH line) that we know. */
unsigned sasl_offered(const char *list);

/*
 * Pick the mechanism.  wanted SASL_NONE: the strongest offered that this
 * session can use (SCRAM-SHA-256-PLUS > SCRAM-SHA-1-PLUS > SCRAM-SHA-256
 * > SCRAM-SHA-1 > OAuth2 > PLAIN > LOGIN > CRAM-MD5; CRAM-MD5 only over
 * TLS; never EXTERNAL); else wanted if offered and usable.  nobind: why
 * the connection has no channel binding (or NULL).  why (size whysz) says
 * in words why it was chosen, or why nothing was: for -v and for the
 * error.  SASL_NONE when nothing fits.
 */
enum sasl_mech sasl_pick(enum sasl_mech wanted, unsigned offered, unsigned have, const char *nobind,
    char *why, size_t whysz);

/*
 * The gs2 flag for a SCRAM mechanism (RFC 5802 sections 6, 7): "p" for
 * -PLUS; "y" when we could bind but the server offers no -PLUS at all (a
 * server that does bind then sees the list was stripped); else "n".
 */
enum scram_cbind sasl_cbind(enum sasl_mech, unsigned offered, unsigned have);

/* One exchange. */
struct sasl_exchange {
	enum sasl_mech mech;
	const char *user;   /* "" when none (EXTERNAL without one) */
	const char *secret; /* password, or (OAuth2) token; "" when none */
	enum scram_cbind cb;
	const unsigned char *cbdata; /* channel binding data (SCRAM -PLUS) */
	size_t cblen;
	unsigned step; /* challenges answered */
	char *ir;      /* the initial response (base64), sent again if asked for */
	struct scram scram;
};

/*
 * Start an exchange: *ir is the initial response for the AUTH command
 * (base64; "" means an empty one, sent as "="), or NULL when the
 * mechanism has none.  cb/cbdata: the gs2 flag and binding data for SCRAM.
 * 0, or -1 (SX_CONFIG for credentials that cannot be encoded, SX_INTERNAL).
 */
int sasl_begin(struct sasl_exchange *, enum sasl_mech, const char *user, const char *secret,
    enum scram_cbind cb, const unsigned char *cbdata, size_t cblen, char **ir, struct sx_err *);

/*
 * Answer one 334 challenge (its base64 text): *resp is the base64 response
 * ("" for an empty line).  -1 when the challenge is not base64 or not what
 * the mechanism expects at this step (SX_PROTO), or the mechanism refuses
 * it (scram.h); the caller then cancels the exchange with "*".
 */
int sasl_step(struct sasl_exchange *, const char *challenge, char **resp, struct sx_err *);

/*
 * After 235: 0 when the mechanism is complete, -1 (SX_AUTH) when the
 * server ended it too early (SCRAM without the server's signature).
 */
int sasl_end(struct sasl_exchange *, struct sx_err *);

/* Wipe and free what the exchange holds. */
void sasl_exchange_clear(struct sasl_exchange *);

/* base64("" NUL user NUL pass) (RFC 4616; empty authzid).  0 or -1 (SX_INTERNAL/SX_CONFIG). */
int sasl_plain(const char *user, const char *pass, char **b64, struct sx_err *);

/* base64 of s, for each LOGIN step.  0 or -1. */
int sasl_base64(const char *s, char **b64, struct sx_err *);

/*
 * CRAM-MD5 (RFC 2195): base64 of "user " + lowercase hex of
 * HMAC-MD5(pass, challenge), challenge already decoded.  0 or -1.
 */
int sasl_cram_md5(const char *user, const char *pass, const unsigned char *challenge, size_t len,
    char **b64, struct sx_err *);

/* Wipe and free a result. */
void sasl_free(char *);

#endif
