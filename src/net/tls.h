/*
 * tls.h — GnuTLS client credentials, verification policy and the peer
 * summary shown under -v.  The TLS byte stream itself is in sock_tls.c.
 */
#ifndef SX_TLS_H
#define SX_TLS_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <time.h>

#include "core/err.h"

struct tls_params {
	const char *host;        /* server name: SNI (names only) and verification */
	const char *trust_file;  /* PEM CA file; NULL: the system trust store */
	int certcheck;           /* verify chain, name, dates (default on) */
	const char *fingerprint; /* SHA-256 of the server certificate (hex), or NULL */
	const char *cert_file;   /* client certificate, or NULL */
	const char *key_file;
	const char *priorities;   /* GnuTLS priority string, or NULL */
	const char *session_file; /* saved session ticket (tls_resume), or NULL */
};

struct tls_client {
	gnutls_certificate_credentials_t cred;
	struct tls_params p;
	char *priorities; /* what tls_priority_string made of p.priorities */
	gnutls_certificate_verification_profiles_t profile;
	unsigned char pin[32];
	int has_pin;
	int host_is_ip;
};

/* What -v shows about the established session. */
struct tls_info {
	char version[16];
	char cipher[96];
	char group[48];
	char subject[256];
	char issuer[256];
	char sans[512];
	char expiry[32];
	long days_left;
	char verify[64];
	time_t not_after;     /* the leaf's expiry, or (time_t)-1 */
	char fingerprint[96]; /* SHA-256 of the leaf, "AB:CD:…", or "" */
};

/*
 * The priority string a session gets for tls_priorities (NULL: the
 * defaults), and the verification profile it sets.  Certificates are
 * checked with at least GnuTLS' "medium" profile (keys of 112-bit strength:
 * RSA 2048, ECDSA 224), which ":%PROFILE_MEDIUM" appended to the string
 * asks for, unless the string names a profile itself (%PROFILE_LOW lowers
 * it on purpose) or a level that sets a stronger one (SECURE192,
 * SECURE256, SUITEB128, SUITEB192).  *out is NULL for the defaults (then
 * TLS_DEFAULT_APPEND goes with the system's priorities), else malloc'd.
 * -1 when out of memory.
 */
int tls_priority_string(
    const char *priorities, char **out, gnutls_certificate_verification_profiles_t *profile);

/*
 * Load trust anchors and the optional client certificate.  -1 with
 * SX_CONFIG (unreadable trust file, no anchors, bad fingerprint syntax, bad
 * key) at STAGE_TLS.
 */
int tls_client_init(struct tls_client *, const struct tls_params *, struct sx_err *);
void tls_client_free(struct tls_client *);

/* A new client session on fd with SNI, priorities and verification set. */
int tls_session_new(struct tls_client *, gnutls_session_t *, struct sx_err *);

/* After a failed handshake: the error in words (SX_TLS).  0 when rc >= 0. */
int tls_check_handshake(gnutls_session_t, int handshake_rc, struct sx_err *);

/*
 * After the handshake, before the session is used: chain, dates, name and
 * purpose (unless tls_certcheck is off), and the pin.  -1 with SX_TLS in
 * words naming dates and names.
 */
int tls_verify_peer(struct tls_client *, gnutls_session_t, struct sx_err *);

/* Fill the -v summary of an established session (all but .verify). */
void tls_session_info(gnutls_session_t, struct tls_info *);

/* Is s an IPv4 or IPv6 literal (no SNI for those, RFC 6066)? */
int tls_is_ip_literal(const char *s);

/* Parse a SHA-256 fingerprint "AB:CD:…" or "abcd…" into 32 bytes; 0 or -1. */
int tls_parse_fingerprint(const char *s, unsigned char out[32]);

#endif
