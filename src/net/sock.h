/*
 * sock.h — the network backend of struct conn: resolve and connect with a
 * deadline (every address in turn), then plain TCP or GnuTLS over the same
 * non-blocking descriptor, every wait bounded by poll().
 */
#ifndef SX_SOCK_H
#define SX_SOCK_H

#include <gnutls/gnutls.h>

#include "net/conn.h"
#include "net/tls.h"

struct addrinfo;
struct diag;

struct sock {
	int fd;
	gnutls_session_t tls; /* NULL until TLS is started */
	struct tls_client *tc;
	struct tls_info info;
	struct diag *diag;
	char peer[96];          /* "127.0.0.1 port 587" */
	unsigned char first[8]; /* first bytes the server sent (plaintext-vs-TLS hints) */
	size_t nfirst;
	size_t pulled;      /* bytes the TLS session read so far */
	int resume_offered; /* a saved session was offered (tlscache.h) */
	int verified;       /* the peer passed sock_ops.tls_verify */
	int ticket_saved;   /* this session's ticket is in the cache */
	/* Connection set-up: the resolved addresses and the attempt under way. */
	struct addrinfo *addrs, *next_addr;
	const char *host;
	unsigned port;
	char addr[80];   /* numeric address being tried */
	int64_t started; /* when that attempt began (clock_now_ms) */
	int attempts, last_err;
};

extern const struct conn_ops sock_ops;

/*
 * Resolve host and connect to each address in turn until one answers.
 * -1 with SX_NOHOST (unknown host) or SX_TEMP (refused, unreachable, timed
 * out on all), naming the port (and a hint for port 25).
 */
int sock_connect(
    struct sock *, const char *host, unsigned port, int timeout_ms, struct diag *, struct sx_err *);

/*
 * sock_connect in two halves, so the caller can work while the SYN is in
 * flight: start resolves and sends the first connect without waiting (-1
 * only when the name does not resolve); finish waits for it, trying the
 * remaining addresses in turn, each attempt bounded by timeout_ms from its
 * start.  host must outlive the set-up.
 */
int sock_connect_start(
    struct sock *, const char *host, unsigned port, struct diag *, struct sx_err *);
int sock_connect_finish(struct sock *, int timeout_ms, struct sx_err *);

/* Give up a set-up under way (or done): close the socket, free the addresses. */
void sock_connect_abandon(struct sock *);

#endif
