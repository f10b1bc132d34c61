/*
 * conn.h — the byte stream the SMTP session talks to.  A small vtable
 * (socket with optional GnuTLS, or the scripted fake in the unit tests)
 * under a bounded line reader and an output buffer that both live here, so
 * line-length caps, the STARTTLS leftover check and write batching are the
 * same code for TCP, TLS and the tests.
 *
 * Every wait has a deadline: the backend gets an absolute time in
 * milliseconds (clock_now_ms(), core/clock.h) and fails with
 * SX_TEMP/ETIMEDOUT when it passes.
 */
#ifndef SX_CONN_H
#define SX_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/clock.h"
#include "core/err.h"

struct diag;

/* Longest reply line accepted (RFC 5321 says 512; real servers exceed it). */
#define CONN_LINE_MAX 4096
/* Read buffer: one maximal line plus room for what follows it. */
#define CONN_INBUF_SIZE (2 * CONN_LINE_MAX)
/* Output is written in records of at least this size when streaming. */
#define CONN_OUTBUF_SIZE (64 * 1024)

/*
 * A backend's e is always a fresh error of its own (conn records it in the
 * caller's, see sx_adopt); its stage may be STAGE_NONE.
 */
struct conn_ops {
	/* > 0 bytes read, 0 on orderly EOF, -1 on error (e filled). */
	ssize_t (*read)(void *ctx, void *buf, size_t len, int64_t deadline, struct sx_err *e);
	/* Write all len bytes or fail: 0 or -1 (e filled). */
	int (*write)(void *ctx, const void *buf, size_t len, int64_t deadline, struct sx_err *e);
	/* Start TLS on the stream (implicit TLS or after STARTTLS): 0 or -1. */
	int (*tls_start)(void *ctx, int64_t deadline, struct sx_err *e);
	int (*is_tls)(void *ctx);
	/* Close; graceful sends a TLS close_notify first (bounded by deadline). */
	void (*close)(void *ctx, int graceful, int64_t deadline);
	/*
	 * Check the peer of a started TLS session (chain, name, dates, pin): 0,
	 * or -1 with SX_TLS.  NULL: tls_start checked it already.
	 */
	int (*tls_verify)(void *ctx, struct sx_err *e);
	/*
	 * Optional: the session's tls-exporter channel binding (RFC 9266)
	 * into buf: its length, or -1 with *why (static words) when it has
	 * none (TLS 1.2 without extended master secret).
	 */
	int (*tls_binding)(void *ctx, unsigned char *buf, size_t bufsz, const char **why);
};

struct conn {
	const struct conn_ops *ops;
	void *ctx;
	int timeout_ms;         /* per wait */
	int64_t reply_deadline; /* while reading one reply: its deadline, else 0 */
	struct diag *diag;      /* transcript (may be NULL) */
	int eof;                /* peer closed the stream */
	int broken;             /* I/O failed: nothing more may be sent */
	int tls_unverified;     /* TLS up, peer not checked yet: see conn_tls_start */
	int mask_in;            /* the transcript masks what arrives (conn_mask_input) */
	int failed;             /* the session failed: closing was no choice (diagnostics) */
	char in[CONN_INBUF_SIZE];
	size_t in_start, in_end;
	size_t in_shown; /* in[] before this is in the transcript (lines shown when read) */
	char *out;
	size_t out_len, out_cap;
	size_t bytes_written; /* for diagnostics */
	unsigned writes;      /* backend write calls, for diagnostics */
};

/* timeout_ms <= 0: CLOCK_DEFAULT_TIMEOUT_S. */
void conn_init(struct conn *, const struct conn_ops *, void *ctx, int timeout_ms, struct diag *);

/*
 * The stage belongs to the caller (the session): every call that can fail
 * is given the stage its errors are to name.
 */

/*
 * Read one line (without CRLF; a bare LF also ends it) into line (size
 * linesz > CONN_LINE_MAX), NUL-terminated.  -1: SX_TEMP on EOF or timeout,
 * SX_PROTO when the line is longer than CONN_LINE_MAX or holds a NUL.
 */
int conn_readline(
    struct conn *, enum sx_stage, char *line, size_t linesz, size_t *len, struct sx_err *);

/*
 * One deadline for all the lines of a reply, so a server trickling
 * continuation lines cannot hold us for a timeout per line.
 */
void conn_reply_begin(struct conn *);
void conn_reply_end(struct conn *);

/* Bytes received but not yet consumed by conn_readline(). */
size_t conn_pending(const struct conn *);

/* How queued bytes appear in the -vv transcript. */
enum conn_wire {
	CONN_WIRE_SHOW,   /* as they are */
	CONN_WIRE_SECRET, /* masked (AUTH) */
	CONN_WIRE_QUIET   /* not at all (the message body) */
};

/*
 * Queue bytes for sending (nothing is written until conn_flush, or the
 * buffer exceeds CONN_OUTBUF_SIZE).
 */
int conn_queue(struct conn *, enum sx_stage, const void *, size_t, enum conn_wire, struct sx_err *);
int conn_flush(struct conn *, enum sx_stage, struct sx_err *);

/* Drop (and wipe) queued bytes not yet written: the session gives up. */
void conn_discard(struct conn *);

/*
 * Start TLS (errors name STAGE_TLS).  Refuses (SX_PROTO) when the server
 * already sent bytes we have not read: after STARTTLS they would be
 * cleartext injected ahead of the handshake (CVE-2011-0411 class).
 *
 * The peer check (ops->tls_verify) runs before the first byte is read from
 * or written to the new session (RFC 3207 4.1): with implicit TLS its CPU
 * time overlaps the wait for the greeting; after STARTTLS it runs before
 * the EHLO.  After a failed check the stream is broken: not even QUIT
 * goes out.
 */
int conn_tls_start(struct conn *, struct sx_err *);

int conn_is_tls(const struct conn *);

/*
 * The channel binding of the TLS session (conn_ops.tls_binding): its
 * length, or -1 with *why when there is none (no TLS, or none to be had).
 */
int conn_tls_binding(struct conn *, unsigned char *buf, size_t bufsz, const char **why);

/* While on, the -vv transcript masks received lines (proof-like AUTH data). */
void conn_mask_input(struct conn *, int on);

/* Nothing failed on the stream and the peer did not close: more may be said. */
int conn_is_open(const struct conn *);

/* Change the time each wait may take (e.g. a short one for QUIT after an error). */
void conn_set_timeout(struct conn *, int timeout_ms);

/* Where stage lines and the transcript go (NULL: nowhere). */
struct diag *conn_diag(const struct conn *);

/* Close and release the output buffer. */
void conn_close(struct conn *, int graceful);

#endif
