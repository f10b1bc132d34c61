/*
 * sock_stream.c — the byte stream over the connected socket, as struct
 * conn's backend (sock_ops): plain TCP here, TLS in sock_tls.c.  Every wait
 * is a poll() bounded by the caller's deadline and woken by a caught
 * signal.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/sigflag.h"
#include "net/sock_io.h"

/* Wait until fd is ready for events or the deadline passes. 0, or -1 (timeout/error). */
int
sock_wait(int fd, short events, int64_t deadline, enum sx_stage st, struct sx_err *e)
{
	for (;;) {
		/* The second entry wakes us when a signal was caught (sigflag.h). */
		struct pollfd pfd[2] = {{fd, events, 0}, {sigflag_fd(), POLLIN, 0}};
		int64_t left = deadline - clock_now_ms();
		int n;

		if (sigflag_caught())
			return sx_fail_errno(
			    e, SX_TEMP, st, EINTR, "interrupted by signal %d", sigflag_caught());
		if (left <= 0)
			return sx_fail_errno(
			    e, SX_TEMP, st, ETIMEDOUT, "timed out waiting for the server");
		n = poll(pfd, 2, left > 600000 ? 600000 : (int)left);
		if (n > 0 && pfd[0].revents != 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return sx_fail_errno(e, SX_TEMP, st, errno, "poll: %s", strerror(errno));
	}
}

ssize_t
sock_plain_read(struct sock *sk, void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	ssize_t n;

	for (;;) {
		n = recv(sk->fd, buf, len, 0);
		if (n > 0 && sk->nfirst == 0) {
			/* Plaintext came first: a later handshake is STARTTLS. */
			sk->nfirst = (size_t)n < sizeof(sk->first) ? (size_t)n : sizeof(sk->first);
			memcpy(sk->first, buf, sk->nfirst);
		}
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			return sx_fail_errno(
			    e, SX_TEMP, STAGE_NONE, errno, "connection reset by the server");
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return sx_fail_errno(
			    e, SX_TEMP, STAGE_NONE, errno, "read: %s", strerror(errno));
		if (sock_wait(sk->fd, POLLIN, deadline, STAGE_NONE, e) == -1)
			return -1;
	}
}

int
sock_plain_write(struct sock *sk, const void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(sk->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (sock_wait(sk->fd, POLLOUT, deadline, STAGE_NONE, e) == -1)
				return -1;
			continue;
		}
		return sx_fail_errno(e, SX_TEMP, STAGE_NONE, errno, "write: %s", strerror(errno));
	}
	return 0;
}

static ssize_t
sock_read(void *ctx, void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	struct sock *sk = ctx;

	if (sk->tls != NULL)
		return sock_tls_read(sk, buf, len, deadline, e);
	return sock_plain_read(sk, buf, len, deadline, e);
}

static int
sock_write(void *ctx, const void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	struct sock *sk = ctx;

	if (sk->tls != NULL)
		return sock_tls_write(sk, buf, len, deadline, e);
	return sock_plain_write(sk, buf, len, deadline, e);
}

static int
sock_is_tls(void *ctx)
{
	const struct sock *sk = ctx;

	return sk->tls != NULL;
}

static void
sock_close(void *ctx, int graceful, int64_t deadline)
{
	struct sock *sk = ctx;

	if (sk->tls != NULL)
		sock_tls_close(sk, graceful, deadline);
	if (sk->fd != -1)
		close(sk->fd);
	sk->fd = -1;
}

const struct conn_ops sock_ops = {
    sock_read,
    sock_write,
    sock_tls_start,
    sock_is_tls,
    sock_close,
    sock_tls_verify,
    sock_tls_binding,
};
