/*
 * scram.h — the client side of SCRAM (RFC 5802; SHA-256 from RFC 7677;
 * the -PLUS channel binding tls-exporter from RFC 9266) as pure functions
 * over the messages: no I/O, and the SASL layer's base64 stays with the
 * caller (sasl.c).  Every primitive is GnuTLS's: gnutls_pbkdf2,
 * gnutls_hmac_fast, gnutls_hash_fast, gnutls_rnd, its base64.
 *
 * One exchange: scram_first (client-first-message), scram_final (reads the
 * server-first-message, returns client-final-message with the proof),
 * scram_verify (checks the server's signature), scram_clear.  Errors: a
 * challenge that breaks the protocol (malformed, a nonce that does not
 * extend ours, an iteration count out of bounds, an extension we must
 * understand) is SX_PROTO; a server error (e=) or a wrong signature is
 * SX_AUTH; no memory or a failing primitive SX_INTERNAL.  Each has its own
 * words.
 */
#ifndef SX_SCRAM_H
#define SX_SCRAM_H

#include <stddef.h>

#include "core/err.h"

enum scram_hash { SCRAM_SHA_1, SCRAM_SHA_256 };

/* The gs2 channel-binding flag (RFC 5802 sections 6 and 7). */
enum scram_cbind {
	SCRAM_CB_NONE,    /* "n": we cannot bind on this connection */
	SCRAM_CB_UNUSED,  /* "y": we could, but the server's list showed no -PLUS */
	SCRAM_CB_EXPORTER /* "p=tls-exporter": a -PLUS mechanism with binding data */
};

/*
 * Iteration counts accepted from a server.  More than the maximum costs
 * seconds of CPU per attempt (a server slow on purpose, or hostile);
 * below one is no count at all.
 */
#define SCRAM_ITER_MIN 1UL
#define SCRAM_ITER_MAX 10000000UL

/* How the password was prepared (scram_final, SASLprep). */
enum scram_prep {
	SCRAM_PREP_ASCII,  /* ASCII: SASLprep leaves it as it is */
	SCRAM_PREP_OPAQUE, /* non-ASCII: RFC 8265 OpaqueString (GnuTLS) */
	SCRAM_PREP_RAW     /* non-ASCII that OpaqueString refuses: used as bytes */
};

#define SCRAM_HASH_MAX  32 /* SHA-256 */
#define SCRAM_CB_MAX    64 /* tls-exporter gives 32 bytes */
#define SCRAM_NONCE_MAX 64

struct scram {
	enum scram_hash hash;
	enum scram_cbind cb;
	unsigned char cbdata[SCRAM_CB_MAX];
	size_t cblen;
	char nonce[SCRAM_NONCE_MAX + 1]; /* ours */
	char *first_bare;                /* client-first-message-bare, for AuthMessage */
	unsigned char server_sig[SCRAM_HASH_MAX];
	unsigned long iterations; /* the server's count, for -v */
	enum scram_prep prep;     /* what was done to the password (for -v) */
	int state;                /* SCRAM_ST_* (scram.c) */
};

/*
 * The client-first-message "gs2-header n=user,r=nonce" (NUL-terminated,
 * malloc'd; free with scram_free_msg).  cb: the gs2 flag; with
 * SCRAM_CB_EXPORTER the binding data (cblen <= SCRAM_CB_MAX) goes into the
 * client-final-message.  user: '=' and ',' are escaped as the RFC says.
 * nonce: NULL for a fresh random one (tests pass the RFC's); printable
 * ASCII without ',', at most SCRAM_NONCE_MAX.  0, or -1 (SX_INTERNAL,
 * SX_CONFIG for a user name with control characters).
 */
int scram_first(struct scram *, enum scram_hash, enum scram_cbind cb, const unsigned char *cbdata,
    size_t cblen, const char *user, const char *nonce, char **out, struct sx_err *);

/*
 * Read the server-first-message (len bytes, any content) and return the
 * client-final-message with the proof (a secret: free with
 * scram_free_msg).  The password is prepared as SASLprep asks (see
 * scram.c: ASCII as is, else GnuTLS's RFC 8265 OpaqueString, else as
 * bytes).  The salted password and the keys derived from it are wiped
 * before this returns; only the expected server signature is kept.
 */
int scram_final(
    struct scram *, const char *password, const char *msg, size_t len, char **out, struct sx_err *);

/*
 * Check the server-final-message: 0 when its signature is the one only a
 * holder of the password could compute; -1 (SX_AUTH) for a wrong one or a
 * server error (e=...), SX_PROTO when malformed.
 */
int scram_verify(struct scram *, const char *msg, size_t len, struct sx_err *);

/* Longest salt accepted (servers use 16 to 32 bytes). */
#define SCRAM_SALT_MAX 256

/* What a server-first-message says (nonce points into it). */
struct scram_challenge {
	const char *nonce;
	size_t noncelen;
	unsigned char salt[SCRAM_SALT_MAX];
	size_t saltlen;
	unsigned long iterations;
};

/*
 * The parser scram_final uses, on its own for tests and the fuzzer:
 * r=nonce,s=salt,i=count[,extensions] with no mandatory extension (m=),
 * the nonce ours and more, the salt base64, the count within bounds.  0,
 * or -1 with SX_PROTO.
 */
int scram_parse_challenge(
    const struct scram *, const char *msg, size_t len, struct scram_challenge *, struct sx_err *);

/* Did scram_verify accept the server's signature? */
int scram_verified(const struct scram *);

/* Wipe and free everything the exchange holds. */
void scram_clear(struct scram *);

/* Wipe and free a message from scram_first or scram_final. */
void scram_free_msg(char *);

#endif
