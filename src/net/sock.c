/* sock.c — TCP connect and the plain/TLS byte stream (see sock.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/diag.h"
#include "core/sigflag.h"
#include "net/sock.h"
#include "net/tlscache.h"

/* Wait until fd is ready for events or the deadline passes. 0, or -1 (timeout/error). */
static int
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

/*
 * Send the next address's connect without waiting: sk->fd set when one is
 * under way (or done); -1 when no address is left.
 */
static int
sock_attempt_next(struct sock *sk)
{
	const struct addrinfo *ai;
	int one = 1;

	while ((ai = sk->next_addr) != NULL) {
		int fd;

		sk->next_addr = ai->ai_next;
		sk->attempts++;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, sk->addr, sizeof(sk->addr), NULL, 0,
			NI_NUMERICHOST) != 0)
			strlcpy(sk->addr, "?", sizeof(sk->addr));
		sk->started = clock_now_ms();
		fd = socket(
		    ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1) {
			sk->last_err = errno;
			continue;
		}
		/* Our writes are already batched; Nagle would only add a delayed-ACK stall. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			sk->fd = fd;
			return 0;
		}
		sk->last_err = errno;
		diag_stage(sk->diag, STAGE_CONNECT, "%s port %u: %s", sk->addr, sk->port,
		    strerror(sk->last_err));
		close(fd);
	}
	return -1;
}

/* Wait for the attempt under way: 0 connected, else -1 with sk->last_err. */
static int
sock_attempt_wait(struct sock *sk, int timeout_ms)
{
	int64_t deadline = sk->started + timeout_ms;
	int soerr = 0;
	socklen_t slen = sizeof(soerr);

	for (;;) {
		struct pollfd pfd[2] = {{sk->fd, POLLOUT, 0}, {sigflag_fd(), POLLIN, 0}};
		int64_t left = deadline - clock_now_ms();
		int n;

		if (sigflag_caught() || left <= 0) {
			sk->last_err = sigflag_caught() ? EINTR : ETIMEDOUT;
			return -1;
		}
		n = poll(pfd, 2, (int)(left > 600000 ? 600000 : left));
		if (n > 0 && pfd[0].revents != 0)
			break;
		if (n < 0 && errno != EINTR) {
			sk->last_err = errno;
			return -1;
		}
	}
	if (getsockopt(sk->fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) == -1 || soerr != 0) {
		sk->last_err = soerr != 0 ? soerr : errno;
		return -1;
	}
	return 0;
}

int
sock_connect_start(
    struct sock *sk, const char *host, unsigned port, struct diag *d, struct sx_err *e)
{
	struct addrinfo hints, *ai;
	char portstr[8], addr[80], list[256] = "";
	int rc;

	memset(sk, 0, sizeof(*sk));
	sk->fd = -1;
	sk->diag = d;
	sk->host = host;
	sk->port = port;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* An address literal needs no resolver (nor AI_ADDRCONFIG's netlink query). */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &sk->addrs);
	if (rc != 0) {
		hints.ai_flags = AI_ADDRCONFIG;
		rc = getaddrinfo(host, portstr, &hints, &sk->addrs);
	}
	if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL) {
		/* AI_ADDRCONFIG hides ::1/127.0.0.1 on hosts with no other address. */
		hints.ai_flags = 0;
		rc = getaddrinfo(host, portstr, &hints, &sk->addrs);
	}
	if (rc != 0) {
		sk->addrs = NULL;
		if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL)
			return sx_fail(e, SX_NOHOST, STAGE_RESOLVE, "unknown host %s: %s", host,
			    gai_strerror(rc));
		return sx_fail(
		    e, SX_TEMP, STAGE_RESOLVE, "cannot resolve %s: %s", host, gai_strerror(rc));
	}
	for (ai = sk->addrs; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0,
			NI_NUMERICHOST) != 0)
			continue;
		if (list[0] != '\0')
			strlcat(list, ", ", sizeof(list));
		strlcat(list, addr, sizeof(list));
	}
	diag_stage(d, STAGE_RESOLVE, "%s has %s", host, list);
	sk->next_addr = sk->addrs;
	sock_attempt_next(sk);
	return 0;
}

int
sock_connect_finish(struct sock *sk, int timeout_ms, struct sx_err *e)
{
	while (sk->fd != -1 || sock_attempt_next(sk) == 0) {
		if (sock_attempt_wait(sk, timeout_ms) == 0) {
			snprintf(sk->peer, sizeof(sk->peer), "%s port %u", sk->addr, sk->port);
			diag_stage(sk->diag, STAGE_CONNECT, "connected to %s", sk->peer);
			freeaddrinfo(sk->addrs);
			sk->addrs = sk->next_addr = NULL;
			return 0;
		}
		diag_stage(sk->diag, STAGE_CONNECT, "%s port %u: %s", sk->addr, sk->port,
		    strerror(sk->last_err));
		close(sk->fd);
		sk->fd = -1;
	}
	sock_connect_abandon(sk);
	sx_fail_errno(e, SX_TEMP, STAGE_CONNECT, sk->last_err, "cannot connect to %s port %u%s: %s",
	    sk->host, sk->port, sk->attempts > 1 ? " (all addresses)" : "", strerror(sk->last_err));
	if (sk->port == 25)
		sx_hint(e, "port 25 is often blocked by providers; submission uses port 587 "
			   "(STARTTLS) or 465 (implicit TLS)");
	else if (sk->last_err == ECONNREFUSED)
		sx_hint(e, "nothing listens on port %u there; check host and port", sk->port);
	return -1;
}

void
sock_connect_abandon(struct sock *sk)
{
	if (sk->primed != NULL)
		gnutls_deinit(sk->primed);
	sk->primed = NULL;
	if (sk->addrs != NULL)
		freeaddrinfo(sk->addrs);
	sk->addrs = sk->next_addr = NULL;
	if (sk->fd != -1)
		close(sk->fd);
	sk->fd = -1;
}

int
sock_connect(struct sock *sk, const char *host, unsigned port, int timeout_ms, struct diag *d,
    struct sx_err *e)
{
	if (sock_connect_start(sk, host, port, d, e) == -1)
		return -1;
	return sock_connect_finish(sk, timeout_ms, e);
}

/* GnuTLS transport: remember the first bytes for plaintext-vs-TLS hints. */
static ssize_t
sock_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct sock *sk = p;
	ssize_t n = recv(sk->fd, buf, len, 0);

	if (n > 0 && sk->nfirst < sizeof(sk->first)) {
		size_t k = sizeof(sk->first) - sk->nfirst;

		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(sk->first + sk->nfirst, buf, k);
		sk->nfirst += k;
	}
	return n;
}

/* A primed handshake waits here (sock_tls_prime); GnuTLS keeps the bytes. */
static int
sock_held(const struct sock *sk)
{
	if (!sk->hold)
		return 0;
	errno = EAGAIN;
	return 1;
}

static ssize_t
sock_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct sock *sk = p;

	if (sock_held(sk))
		return -1;
	return send(sk->fd, buf, len, MSG_NOSIGNAL);
}

static ssize_t
sock_vec_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	struct sock *sk = p;
	struct msghdr mh;

	if (sock_held(sk))
		return -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)(uintptr_t)iov;
	mh.msg_iovlen = (size_t)iovcnt;
	return sendmsg(sk->fd, &mh, MSG_NOSIGNAL);
}

static int
sock_gnutls_wait(struct sock *sk, int64_t deadline, enum sx_stage st, struct sx_err *e)
{
	return sock_wait(
	    sk->fd, gnutls_record_get_direction(sk->tls) ? POLLOUT : POLLIN, deadline, st, e);
}

/* tls_resume: keep a ticket of a checked session once one arrived (tlscache.h). */
static void
sock_save_ticket(struct sock *sk)
{
	if (sk->ticket_saved || !sk->verified || sk->tc == NULL || sk->tc->p.session_file == NULL ||
	    (gnutls_session_get_flags(sk->tls) & GNUTLS_SFLAGS_SESSION_TICKET) == 0)
		return;
	sk->ticket_saved = 1;
	tlscache_store(sk->tc->p.session_file, sk->tls);
}

static ssize_t
sock_read(void *ctx, void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	struct sock *sk = ctx;
	ssize_t n;

	if (sk->tls == NULL) {
		for (;;) {
			n = recv(sk->fd, buf, len, 0);
			if (n > 0 && sk->nfirst == 0) {
				/* Plaintext came first: a later handshake is STARTTLS. */
				sk->nfirst =
				    (size_t)n < sizeof(sk->first) ? (size_t)n : sizeof(sk->first);
				memcpy(sk->first, buf, sk->nfirst);
			}
			if (n >= 0)
				return n;
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				return sx_fail_errno(e, SX_TEMP, STAGE_NONE, errno,
				    "connection reset by the server");
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return sx_fail_errno(
				    e, SX_TEMP, STAGE_NONE, errno, "read: %s", strerror(errno));
			if (sock_wait(sk->fd, POLLIN, deadline, STAGE_NONE, e) == -1)
				return -1;
		}
	}
	for (;;) {
		if (gnutls_record_check_pending(sk->tls) == 0) {
			sock_save_ticket(sk); /* while the server's reply is on its way */
			if (sock_wait(sk->fd, POLLIN, deadline, STAGE_NONE, e) == -1)
				return -1;
		}
		n = gnutls_record_recv(sk->tls, buf, len);
		if (n >= 0)
			return n;
		switch (n) {
		case GNUTLS_E_AGAIN:
		case GNUTLS_E_INTERRUPTED:
			if (sock_gnutls_wait(sk, deadline, STAGE_NONE, e) == -1)
				return -1;
			continue;
		case GNUTLS_E_REHANDSHAKE:
			/* We never renegotiate; say so and keep reading. */
			gnutls_alert_send(sk->tls, GNUTLS_AL_WARNING, GNUTLS_A_NO_RENEGOTIATION);
			continue;
		case GNUTLS_E_PREMATURE_TERMINATION:
			sx_fail(e, SX_TEMP, STAGE_NONE,
			    "connection closed by server without a TLS close_notify");
			return -1;
		case GNUTLS_E_PULL_ERROR:
			/* recv() failed under GnuTLS; errno is still its errno. */
			if (errno == ECONNRESET)
				return sx_fail_errno(e, SX_TEMP, STAGE_NONE, ECONNRESET,
				    "connection reset by the server");
			/* FALLTHROUGH */
		default:
			if (!gnutls_error_is_fatal((int)n))
				continue;
			return sx_fail_gnutls(e, SX_TEMP, STAGE_NONE, (int)n, "TLS read: %s",
			    gnutls_strerror((int)n));
		}
	}
}

static int
sock_write(void *ctx, const void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	struct sock *sk = ctx;
	const char *p = buf;
	ssize_t n;

	if (sk->tls == NULL) {
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
			return sx_fail_errno(
			    e, SX_TEMP, STAGE_NONE, errno, "write: %s", strerror(errno));
		}
		return 0;
	}
	/* Cork so a large buffer leaves as full records in as few writes as possible. */
	gnutls_record_cork(sk->tls);
	while (len > 0) {
		n = gnutls_record_send(sk->tls, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			if (sock_gnutls_wait(sk, deadline, STAGE_NONE, e) == -1)
				return -1;
			continue;
		}
		if (n == GNUTLS_E_PUSH_ERROR && (errno == ECONNRESET || errno == EPIPE))
			return sx_fail_errno(
			    e, SX_TEMP, STAGE_NONE, errno, "connection reset by the server");
		return sx_fail_gnutls(
		    e, SX_TEMP, STAGE_NONE, (int)n, "TLS write: %s", gnutls_strerror((int)n));
	}
	for (;;) {
		int rc = gnutls_record_uncork(sk->tls, 0);

		if (rc >= 0)
			return 0;
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			if (sock_wait(sk->fd, POLLOUT, deadline, STAGE_NONE, e) == -1)
				return -1;
			continue;
		}
		return sx_fail_gnutls(
		    e, SX_TEMP, STAGE_NONE, rc, "TLS write: %s", gnutls_strerror(rc));
	}
}

static int
sock_tls_session(struct sock *sk, gnutls_session_t *sp, struct sx_err *e)
{
	if (tls_session_new(sk->tc, sp, e) == -1)
		return -1;
	if (sk->tc->p.session_file != NULL)
		sk->resume_offered = tlscache_load(sk->tc->p.session_file, *sp);
	gnutls_transport_set_ptr(*sp, sk);
	gnutls_transport_set_pull_function(*sp, sock_pull);
	gnutls_transport_set_push_function(*sp, sock_push);
	gnutls_transport_set_vec_push_function(*sp, sock_vec_push);
	return 0;
}

void
sock_tls_prime(struct sock *sk)
{
	struct sx_err ignored;

	if (sk->tc == NULL || sk->tls != NULL || sk->primed != NULL || sk->fd == -1)
		return;
	sx_clear(&ignored);
	if (sock_tls_session(sk, &sk->primed, &ignored) == -1) {
		sk->primed = NULL;
		return;
	}
	sk->hold = 1;
	/* Builds the ClientHello (key shares included) and stops at the held push. */
	if (gnutls_handshake(sk->primed) != GNUTLS_E_AGAIN) {
		gnutls_deinit(sk->primed);
		sk->primed = NULL;
	}
	sk->hold = 0;
}

static void
sock_tls_prepare(void *ctx)
{
	sock_tls_prime(ctx);
}

static int
sock_tls_start(void *ctx, int64_t deadline, struct sx_err *e)
{
	struct sock *sk = ctx;
	int rc, after_starttls;

	if (sk->tc == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_TLS, "TLS is not configured");
	sk->hold = 0;
	if (sk->primed != NULL) {
		sk->tls = sk->primed;
		sk->primed = NULL;
	} else if (sock_tls_session(sk, &sk->tls, e) == -1) {
		return -1;
	}
	/* Plaintext already read from this server: this handshake follows STARTTLS. */
	after_starttls = sk->nfirst > 0;
	sk->nfirst = 0;
	do {
		rc = gnutls_handshake(sk->tls);
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			if (sock_gnutls_wait(sk, deadline, STAGE_TLS, e) == -1) {
				if (after_starttls)
					sx_hint(e,
					    "the server accepted STARTTLS but did not answer "
					    "the TLS handshake; try again later, or use "
					    "implicit TLS (port 465) if the provider offers it");
				else
					sx_hint(e,
					    "the server did not answer the TLS handshake; if "
					    "this port expects STARTTLS (like 587), use tls "
					    "starttls");
				return -1;
			}
		}
	} while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
	if (rc < 0 && sk->nfirst >= 4 && memcmp(sk->first, "220", 3) == 0) {
		sx_fail(e, SX_TLS, STAGE_TLS,
		    "the server greeted in plaintext instead of starting TLS");
		sx_hint(e, "this port expects STARTTLS (like 587): use tls starttls, or port 465 "
			   "for implicit TLS");
		return -1;
	}
	return tls_check_handshake(sk->tls, rc, e);
}

static int
sock_tls_verify(void *ctx, struct sx_err *e)
{
	struct sock *sk = ctx;

	if (tls_verify_peer(sk->tc, sk->tls, e) == -1) {
		/* Tell the server why we leave; it may be waiting for us. */
		gnutls_alert_send(sk->tls, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
		/* The saved chain no longer passes: the next run starts afresh. */
		if (gnutls_session_is_resumed(sk->tls) && sk->tc->p.session_file != NULL) {
			tlscache_forget(sk->tc->p.session_file);
			sx_append(e, " (resumed session; its saved ticket was dropped)");
		}
		return -1;
	}
	sk->verified = 1;
	if (sk->diag == NULL || sk->diag->verbose == 0)
		return 0;
	tls_session_info(sk->tls, &sk->info);
	strlcpy(sk->info.verify,
	    !sk->tc->p.certcheck ? (sk->tc->has_pin ? "fingerprint matched (chain not checked)"
						    : "NOT verified (tls_certcheck off)")
	    : sk->tc->has_pin    ? "verified, fingerprint matched"
				 : "verified",
	    sizeof(sk->info.verify));
	diag_stage(sk->diag, STAGE_TLS, "%s, %s, group %s%s", sk->info.version, sk->info.cipher,
	    sk->info.group,
	    gnutls_session_is_resumed(sk->tls) ? ", resumed (tls_resume)"
	    : sk->resume_offered               ? ", new session (the saved one was declined)"
					       : "");
	diag_stage(sk->diag, STAGE_TLS, "certificate: %s", sk->info.subject);
	diag_stage(sk->diag, STAGE_TLS, "issuer: %s", sk->info.issuer);
	diag_stage(sk->diag, STAGE_TLS, "names: %s", sk->info.sans);
	diag_stage(sk->diag, STAGE_TLS, "expires %s (%ld days left); %s", sk->info.expiry,
	    sk->info.days_left, sk->info.verify);
	return 0;
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

	if (sk->tls != NULL) {
		if (graceful)
			sock_save_ticket(sk);
		if (graceful) {
			int rc;
			struct sx_err ignored;

			memset(&ignored, 0, sizeof(ignored));
			do {
				rc = gnutls_bye(sk->tls, GNUTLS_SHUT_WR);
			} while ((rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) &&
				 sock_gnutls_wait(sk, deadline, STAGE_QUIT, &ignored) == 0);
		}
		gnutls_deinit(sk->tls);
		sk->tls = NULL;
	}
	if (sk->primed != NULL)
		gnutls_deinit(sk->primed);
	sk->primed = NULL;
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
    sock_tls_prepare,
};
