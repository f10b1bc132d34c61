/*
 * sock.h — the network backend of struct conn: resolve and connect with a
 * deadline (every address in turn), then plain TCP or GnuTLS over the same
 * non-blocking descriptor, every wait bounded by poll().
 */
#ifndef SX_SOCK_H
#define SX_SOCK_H

#include <gnutls/gnutls.h>

#include "conn.h"
#include "tls.h"

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
};

extern const struct conn_ops sock_ops;

/*
 * Resolve host and connect to each address in turn until one answers.
 * -1 with SX_NOHOST (unknown host) or SX_TEMP (refused, unreachable, timed
 * out on all), naming the port (and a hint for port 25).
 */
int sock_connect(
    struct sock *, const char *host, unsigned port, int timeout_ms, struct diag *, struct sx_err *);

#endif
