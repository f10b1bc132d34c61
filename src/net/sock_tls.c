/*
 * sock_tls.c — GnuTLS over the connected socket: the transport callbacks,
 * the handshake, the peer check, records in and out, the ticket cache,
 * close_notify.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/diag.h"
#include "net/sock_io.h"
#include "net/tlscache.h"

/* GnuTLS transport: remember the first bytes for plaintext-vs-TLS hints. */
static ssize_t
sock_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct sock *sk = p;
	ssize_t n = recv(sk->fd, buf, len, 0);

	if (n > 0)
		sk->pulled += (size_t)n;
	if (n > 0 && sk->nfirst < sizeof(sk->first)) {
		size_t k = sizeof(sk->first) - sk->nfirst;

		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(sk->first + sk->nfirst, buf, k);
		sk->nfirst += k;
	}
	return n;
}

static ssize_t
sock_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	const struct sock *sk = p;

	return send(sk->fd, buf, len, MSG_NOSIGNAL);
}

static ssize_t
sock_vec_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
	const struct sock *sk = p;
	struct msghdr mh;

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

ssize_t
sock_tls_read(struct sock *sk, void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	ssize_t n;

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

int
sock_tls_write(struct sock *sk, const void *buf, size_t len, int64_t deadline, struct sx_err *e)
{
	const char *p = buf;
	ssize_t n;

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

/* Send close_notify when graceful (bounded by deadline), and drop the session. */
void
sock_tls_close(struct sock *sk, int graceful, int64_t deadline)
{
	if (graceful) {
		int rc;
		struct sx_err ignored;

		sock_save_ticket(sk);
		sx_clear(&ignored);
		do {
			rc = gnutls_bye(sk->tls, GNUTLS_SHUT_WR);
		} while ((rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) &&
			 sock_gnutls_wait(sk, deadline, STAGE_QUIT, &ignored) == 0);
	}
	gnutls_deinit(sk->tls);
	sk->tls = NULL;
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

/*
 * After a failed handshake: did the server speak SMTP where a TLS record
 * was expected?  A record starts with a content type byte (20-24, or a
 * high bit for SSLv2), never with an ASCII digit, so the first byte the
 * handshake read decides; the rest of the line, for the report, is peeked
 * from the socket without waiting.  Whatever the server said (a 220
 * greeting, a 421 because it is busy) and however much of it the handshake
 * had read, this port speaks plaintext SMTP first.  -1 with SX_TLS when it
 * did, else 0.
 */
static int
sock_plaintext_answer(struct sock *sk, int after_starttls, struct sx_err *e)
{
	char line[512], text[512];
	ssize_t n = 0;
	size_t len;
	int code = 0;

	if (sk->nfirst == 0 || sk->first[0] < '0' || sk->first[0] > '9')
		return 0;
	len = sk->nfirst < sizeof(sk->first) ? sk->nfirst : sizeof(sk->first);
	memcpy(line, sk->first, len);
	/* What the handshake did not read is still in the socket. */
	if (sk->pulled == sk->nfirst)
		n = recv(sk->fd, line + len, sizeof(line) - 1 - len, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		len += (size_t)n;
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strlen(line) >= 3 && line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
	    line[2] <= '9' && (line[3] == '\0' || line[3] == ' ' || line[3] == '-'))
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	strlcpy(text, code != 0 ? line + (line[3] != '\0' ? 4 : 3) : line, sizeof(text));
	if (after_starttls) {
		sx_fail_reply(e, SX_TLS, STAGE_TLS, code, NULL, text,
		    "the server answered in plaintext instead of the TLS handshake it agreed to");
		return -1;
	}
	sx_fail_reply(e, SX_TLS, STAGE_TLS, code, NULL, text,
	    "the server %s in plaintext instead of starting TLS",
	    code == 220 ? "greeted" : "answered");
	sx_hint(e, "this port expects STARTTLS (like 587): use tls starttls, or port 465 for "
		   "implicit TLS");
	return -1;
}

int
sock_tls_start(void *ctx, int64_t deadline, struct sx_err *e)
{
	struct sock *sk = ctx;
	int rc, after_starttls;

	if (sk->tc == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_TLS, "TLS is not configured");
	if (sock_tls_session(sk, &sk->tls, e) == -1)
		return -1;
	/* Plaintext already read from this server: this handshake follows STARTTLS. */
	after_starttls = sk->nfirst > 0;
	sk->nfirst = sk->pulled = 0;
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
	if (rc < 0 && sock_plaintext_answer(sk, after_starttls, e) == -1)
		return -1;
	return tls_check_handshake(sk->tls, rc, e);
}

/* The first -v line of a checked session; in JSON with its facts as fields. */
static void
sock_tls_summary(struct sock *sk)
{
	struct diag_field f[4];
	struct tm tm;
	char na[32];
	size_t n = 0;

	f[n++] = (struct diag_field){"tls_version", sk->info.version, 0};
	f[n++] = (struct diag_field){"cipher", sk->info.cipher, 0};
	if (sk->info.fingerprint[0] != '\0')
		f[n++] = (struct diag_field){"fingerprint", sk->info.fingerprint, 0};
	if (sk->info.not_after != (time_t)-1 && gmtime_r(&sk->info.not_after, &tm) != NULL &&
	    strftime(na, sizeof(na), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		f[n++] = (struct diag_field){"cert_not_after", na, 0};
	diag_stage_event(sk->diag, "stage", STAGE_TLS, f, n, "%s, %s, group %s%s", sk->info.version,
	    sk->info.cipher, sk->info.group,
	    gnutls_session_is_resumed(sk->tls) ? ", resumed (tls_resume)"
	    : sk->resume_offered               ? ", new session (the saved one was declined)"
					       : "");
}

int
sock_tls_verify(void *ctx, struct sx_err *e)
{
	struct sock *sk = ctx;

	if (tls_verify_peer(sk->tc, sk->tls, e) == -1) {
		/* Tell the server why we leave; it may be waiting for us. */
		gnutls_alert_send(sk->tls, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
		/* What was refused, at every verbosity: the facts to check it by. */
		tls_session_info(sk->tls, &sk->info);
		sx_note(e,
		    "the server's certificate: %s; issuer %s; names %s; expires %s; SHA-256 %s",
		    sk->info.subject, sk->info.issuer, sk->info.sans, sk->info.expiry,
		    sk->info.fingerprint[0] != '\0' ? sk->info.fingerprint : "?");
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
	sock_tls_summary(sk);
	diag_stage(sk->diag, STAGE_TLS, "certificate: %s", sk->info.subject);
	diag_stage(sk->diag, STAGE_TLS, "issuer: %s", sk->info.issuer);
	diag_stage(sk->diag, STAGE_TLS, "names: %s", sk->info.sans);
	diag_stage(sk->diag, STAGE_TLS, "SHA-256 fingerprint: %s", sk->info.fingerprint);
	diag_stage(sk->diag, STAGE_TLS, "expires %s (%ld days left); %s", sk->info.expiry,
	    sk->info.days_left, sk->info.verify);
	return 0;
}

/*
 * RFC 9266: tls-exporter binds to this TLS session.  On TLS 1.2 it is
 * unique only with the extended master secret (RFC 7627): without it a
 * man in the middle can make two sessions share it, so there is none.
 */
int
sock_tls_binding(void *ctx, unsigned char *buf, size_t bufsz, const char **why)
{
	struct sock *sk = ctx;
	gnutls_datum_t cb = {NULL, 0};
	gnutls_protocol_t v;
	int n;

	if (sk->tls == NULL) {
		*why = "no TLS";
		return -1;
	}
	v = gnutls_protocol_get_version(sk->tls);
	if (v != GNUTLS_TLS1_3 &&
	    (v != GNUTLS_TLS1_2 ||
		(gnutls_session_get_flags(sk->tls) & GNUTLS_SFLAGS_EXT_MASTER_SECRET) == 0)) {
		*why = v == GNUTLS_TLS1_2 ? "TLS 1.2 without extended master secret"
					  : "TLS older than 1.2";
		return -1;
	}
	if (gnutls_session_channel_binding(sk->tls, GNUTLS_CB_TLS_EXPORTER, &cb) < 0 ||
	    cb.size == 0 || cb.size > bufsz) {
		gnutls_free(cb.data);
		*why = "GnuTLS gives no tls-exporter value";
		return -1;
	}
	memcpy(buf, cb.data, cb.size);
	n = (int)cb.size;
	gnutls_free(cb.data);
	return n;
}
