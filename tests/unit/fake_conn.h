/*
 * fake_conn.h — a scripted in-memory transport for struct conn: plays the
 * server from a table and checks every byte the client writes, so every
 * protocol branch can be tested without sockets.  Replies are handed out in
 * chunks of a chosen size (1 byte up to everything) to test reassembly.
 * After TLS starts, it fails the test when the client reads or writes
 * anything before the peer check (conn.h, conn_tls_start).
 */
#ifndef FAKE_CONN_H
#define FAKE_CONN_H

#include <stddef.h>

#include "net/conn.h"

enum fk_op {
	FK_REPLY,       /* server sends data */
	FK_EXPECT,      /* client must have written exactly data (concatenated with neighbours) */
	FK_EOF,         /* server closes */
	FK_TIMEOUT,     /* the next read times out */
	FK_TLS,         /* client starts TLS here */
	FK_TLS_FAIL,    /* client starts TLS here and the handshake fails */
	FK_TLS_BADCERT, /* client starts TLS here; the handshake works, the peer check fails */
	FK_END
};

struct fk_step {
	enum fk_op op;
	const char *data;
};

struct fake_conn {
	const struct fk_step *steps;
	size_t nsteps, cur, off;
	size_t chunk;
	int tls, closed, graceful;
	int verified, badcert; /* the TLS peer check ran; it is to fail */
	char *written;
	size_t wlen, wcap, wchecked;
	size_t nwrites, min_write; /* backend write calls and the smallest one */
	size_t fail_write;         /* this backend write call (1-based) fails: reset by the peer */
};

extern const struct conn_ops fake_conn_ops;

/* steps ends with FK_END. chunk 0: whole replies. */
void fake_conn_setup(struct fake_conn *, struct conn *, const struct fk_step *, size_t chunk);

/* Fail the test unless every step was used and every written byte expected. */
void fake_conn_assert_done(struct fake_conn *);

/* Everything the client wrote, NUL-terminated. */
const char *fake_conn_written(struct fake_conn *);

void fake_conn_free(struct fake_conn *);

#endif
