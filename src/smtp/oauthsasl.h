/*
 * oauthsasl.h — the OAuth2 SASL mechanisms as pure functions over bytes:
 * XOAUTH2 (Google's and Microsoft's) and OAUTHBEARER (RFC 7628), the
 * server's error challenge (base64 JSON) read with jansson, and which of
 * the two to use.  The AUTH exchange itself is in oauth.c; the tokens come
 * from src/auth/oauth2.h.
 */
#ifndef SX_OAUTHSASL_H
#define SX_OAUTHSASL_H

#include <stddef.h>

#include "core/err.h"
#include "smtp/sasl.h"

/* Longest access token accepted: an AUTH line stays within RFC 4954's 12288 octets. */
#define OAUTH_TOKEN_MAX 8192

/*
 * Where the session's access token comes from.  refresh (NULL: none can
 * be had) replaces token after the server refused it: 1 with a new token,
 * 0 when there is no other, -1 with e filled.
 */
struct oauth_token_source {
	const char *token;
	int (*refresh)(struct oauth_token_source *, struct sx_err *);
	void *arg;
};

/* base64("user=" user ^A "auth=Bearer " token ^A ^A).  0 or -1. */
int oauth_xoauth2(const char *user, const char *token, char **b64, struct sx_err *);

/*
 * base64 of RFC 7628's client response: "n,a=" user (',' and '=' escaped)
 * "," ^A ["host=" host ^A] ["port=" port ^A] "auth=Bearer " token ^A ^A.
 * host NULL or port 0 leave those out.  0 or -1.
 */
int oauth_bearer(const char *user, const char *token, const char *host, unsigned port, char **b64,
    struct sx_err *);

/* The error challenge of RFC 7628 3.2.2 (also sent for XOAUTH2). */
struct oauth_challenge {
	char status[64];   /* "invalid_token", "401", …; printable, or "" */
	char scope[256];   /* the scope the server wants, or "" */
	int token_refused; /* the token is expired or invalid: a new one may work */
};

/*
 * Decode a 334 challenge's text: base64 of a JSON object.  0 with ch
 * filled, -1 when it is not that (ch then says nothing).
 */
int oauth_challenge_parse(const char *b64, struct oauth_challenge *ch);

/* Is name among the mechanisms the server offered (caps.auth_list)? */
int oauth_offered(const char *auth_list, const char *name);

/*
 * The OAuth2 mechanism to use: the one asked for when offered; else
 * OAUTHBEARER (the standard), then XOAUTH2.  SASL_NONE when neither is.
 */
enum sasl_mech oauth_pick(enum sasl_mech wanted, const char *auth_list);

/* Is m one of these two mechanisms? */
int oauth_is_mech(enum sasl_mech m);

#endif
