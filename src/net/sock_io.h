/*
 * sock_io.h — inside sock: what sock_stream.c (plain TCP, the conn
 * backend) and sock_tls.c share.  Not for other modules: they use sock.h.
 */
#ifndef SX_SOCK_IO_H
#define SX_SOCK_IO_H

#include <stdint.h>
#include <sys/types.h>

#include "net/sock.h"

/*
 * Wait until fd is ready for events or the deadline passes.  0, or -1
 * with SX_TEMP: ETIMEDOUT, EINTR (a caught signal), or poll's errno.
 */
int sock_wait(int fd, short events, int64_t deadline, enum sx_stage, struct sx_err *);

/* The plain stream: as conn_ops.read and .write. */
ssize_t sock_plain_read(struct sock *, void *, size_t, int64_t deadline, struct sx_err *);
int sock_plain_write(struct sock *, const void *, size_t, int64_t deadline, struct sx_err *);

/* The TLS stream (sk->tls set): as conn_ops.read, .write and .close. */
ssize_t sock_tls_read(struct sock *, void *, size_t, int64_t deadline, struct sx_err *);
int sock_tls_write(struct sock *, const void *, size_t, int64_t deadline, struct sx_err *);
void sock_tls_close(struct sock *, int graceful, int64_t deadline);

/* conn_ops.tls_start and .tls_verify (ctx: struct sock). */
int sock_tls_start(void *ctx, int64_t deadline, struct sx_err *);
int sock_tls_verify(void *ctx, struct sx_err *);

/* conn_ops.tls_binding: tls-exporter (RFC 9266), never on TLS 1.2 without EMS. */
int sock_tls_binding(void *ctx, unsigned char *buf, size_t bufsz, const char **why);

#endif
