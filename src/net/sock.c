/*
 * sock.c — resolving and connecting with a deadline, every address in
 * turn (see sock.h).  The stream itself: sock_stream.c (plain) and
 * sock_tls.c.
 */
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
		if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL) {
			sx_fail(e, SX_NOHOST, STAGE_RESOLVE, "unknown host %s: %s", host,
			    gai_strerror(rc));
			sx_hint(e,
			    "check the spelling of host (%s), and that this machine's DNS "
			    "works: getent hosts %s",
			    host, host);
			return -1;
		}
		sx_fail(e, SX_TEMP, STAGE_RESOLVE, "cannot resolve %s: %s", host, gai_strerror(rc));
		sx_hint(e,
		    "the DNS server did not answer: check the network and /etc/resolv.conf "
		    "(getent hosts %s)",
		    host);
		return -1;
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
			struct diag_field f[3] = {
			    {"host", sk->host, 0}, {"port", NULL, sk->port}, {"addr", sk->addr, 0}};

			snprintf(sk->peer, sizeof(sk->peer), "%s port %u", sk->addr, sk->port);
			diag_stage_event(
			    sk->diag, "stage", STAGE_CONNECT, f, 3, "connected to %s", sk->peer);
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
	else if (sk->last_err == ETIMEDOUT)
		/* No answer at all: something drops the packets on the way. */
		sx_hint(e,
		    "a firewall or the provider may block port %u; try %s, or another network",
		    sk->port,
		    sk->port == 587   ? "465 (implicit TLS)"
		    : sk->port == 465 ? "587 (STARTTLS)"
				      : "587 (STARTTLS) or 465 (implicit TLS)");
	return -1;
}

void
sock_connect_abandon(struct sock *sk)
{
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
