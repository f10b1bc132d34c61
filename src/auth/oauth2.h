/*
 * oauth2.h — OAuth2 access tokens for XOAUTH2 and OAUTHBEARER (issue 17).
 *
 * Where a token comes from, simplest first: oauth2_token (the config or
 * SMTPS_SEND_OAUTH2_TOKEN), oauth2_token_file, oauth2_token_command (run
 * like passwordeval), or built-in management (oauth2_provider): a token
 * store per account under fs_state_dir("oauth2"), and the companion
 * program smtps-send-oauth2 (src/auth/helper/) for everything that speaks
 * HTTP: refresh (with rotation), client credentials, and the first
 * authorization (--oauth2-authorize: device code, RFC 8628, or browser with
 * PKCE and a loopback redirect, RFC 8252).
 *
 * Why a companion: linking libcurl costs every run of smtps-send ~2.2 ms
 * (35 shared objects instead of 14; measured interleaved, --version and a
 * 1 KiB send), jansson ~0.05 ms.  So smtps-send links jansson (it reads the
 * store and the server's JSON challenge) and runs the companion only when
 * a token must be fetched; a cached token costs one small file read.
 *
 * The companion speaks JSON on its stdin and stdout (oauth2_run.c and
 * helper/main.c): one request object, one answer object.  Tokens and
 * secrets cross only these pipes and the store, never argv, the
 * environment, a transcript or an error.
 *
 * Files: oauth2.c (the session's token source), oauth2_store.c (the store:
 * 0600 file in a 0700 directory, checked with fs_trust_fd, flock'd, written
 * with fs_write_atomic), oauth2_provider.c (endpoint and scope presets),
 * oauth2_run.c (running the companion).
 */
#ifndef SX_OAUTH2_H
#define SX_OAUTH2_H

#include <stddef.h>
#include <time.h>

#include "config/conf.h"
#include "core/err.h"
#include "smtp/oauthsasl.h"

/* A stored access token is used until this many seconds before it expires. */
#define OAUTH2_EXPIRY_MARGIN 60

/* Does the account take its AUTH from an OAuth2 token? */
int oauth2_configured(const struct account *);

/* The session's token source: oauth_token_source plus what refresh needs. */
struct oauth2 {
	struct oauth_token_source src; /* first: the session sees only this */
	const struct account *a;
	char *token;       /* owned, wiped */
	time_t expires_at; /* 0: unknown */
	const char *from;  /* where it came from, for --check and -v */
	char store[4096];  /* the store file (managed), or "" */
};

/*
 * Get the first token (state_dir: where state is kept instead of
 * fs_state_dir's rule, or NULL).  0, or -1 with e: SX_CONFIG (no token, no
 * authorization yet), SX_AUTH (the refresh token was refused), SX_TEMP
 * (the endpoint did not answer), SX_LOCALIO (the store).
 */
int oauth2_open(struct oauth2 *, const struct account *, const char *state_dir, struct sx_err *);

/* Wipe and free. */
void oauth2_close(struct oauth2 *);

/*
 * --oauth2-authorize: the first authorization of a managed account, with
 * the user at a terminal (the companion prints the URL or code and waits;
 * as d's JSON events when d is in JSON, like everything on stderr).
 * 0, or -1 with e.
 */
struct diag;
int oauth2_authorize(const struct account *, const char *state_dir, struct diag *, struct sx_err *);

/* oauth2_store.c: the store file of an account.  0, or -1 with SX_CONFIG/SX_LOCALIO. */
int oauth2_store_path(
    const struct account *, const char *state_dir, char *buf, size_t bufsz, struct sx_err *);

/* What a store file holds; strings owned (oauth2_tokens_free wipes them). */
struct oauth2_tokens {
	char *access_token;
	char *refresh_token;
	time_t expires_at; /* 0: unknown */
};

/*
 * Read the store: 0, 1 when there is none yet, -1 with e (untrusted file,
 * not our JSON).  Readers need no lock: writers replace it atomically.
 */
int oauth2_store_read(const char *path, struct oauth2_tokens *, struct sx_err *);

/* Replace the store atomically (0600; the directory made 0700). 0 or -1. */
int oauth2_store_write(const char *path, const struct oauth2_tokens *, struct sx_err *);

/*
 * Take the store's lock (PATH.lock, flock), waiting at most timeout_s:
 * one refresh at a time, the others wait and reuse its result.  The
 * descriptor, or -1 with e (SX_TEMP when the time ran out).
 */
int oauth2_store_lock(const char *path, int timeout_s, struct sx_err *);
void oauth2_store_unlock(int fd);

void oauth2_tokens_free(struct oauth2_tokens *);

/* oauth2_provider.c: an account's endpoints and scope, presets filled in. */
struct oauth2_endpoints {
	char token_url[1024];
	char auth_url[1024];
	char device_url[1024];
	char scope[1024];
	int flow; /* enum oauth2_flow, never DEFAULT */
};
int oauth2_endpoints(const struct account *, struct oauth2_endpoints *, struct sx_err *);

#endif
