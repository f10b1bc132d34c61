/* sink — a minimal SMTP submission sink with TLS (GnuTLS), for benchmarks.
 *
 *   sink --cert leaf.pem --key leaf.key [--addr 127.0.0.1] [--port 2587]
 *        [--mode starttls|implicit] [--chunking] [--tickets] [--fork] [--count N]
 *        [--max-seconds S] [--idle-seconds S] [--log FILE]
 *
 * Keeps the server out of the measurement: sets TCP_NODELAY, answers a batch
 * of pipelined commands with one write (replies are collected while complete
 * input lines are buffered and written when the sink would otherwise block),
 * discards message bodies with a memchr-driven scan.  Advertises PIPELINING,
 * 8BITMIME, SIZE, STARTTLS (starttls mode, before TLS), AUTH PLAIN LOGIN
 * (after TLS; any credentials are accepted) and, with --chunking, CHUNKING.
 * With --tickets it issues TLS 1.3 session tickets (as Postfix does), so a
 * client that keeps them can resume; without, no ticket work on either side.
 * MAIL requires TLS and AUTH, so every counted message went through both.
 *
 * Serves connections one after another (--count N, 0 = unlimited), or each
 * in a process of its own with --fork (for a client with parallel
 * connections, Postfix); exits on
 * SIGTERM/SIGINT and after --max-seconds.  Log lines (flushed at once):
 *   ready PORT
 *   msg SEQ conn CONN bytes BYTES bare_lf N via data|bdat    (before the 250)
 *   conn CONN closed MSGS
 * Bytes are the DATA/BDAT payload as received (dot-stuffed, CRLF, without
 * the terminating ".").
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#define IN_SIZE  (64 * 1024)    /* input buffer: longest command line */
#define OUT_SIZE (16 * 1024)    /* reply buffer: one TLS record */
#define SIZE_LIMIT 1073741824ULL

enum tls_mode { MODE_STARTTLS, MODE_IMPLICIT };
enum state { ST_CMD, ST_DATA, ST_BDAT, ST_AUTH_PLAIN, ST_AUTH_USER, ST_AUTH_PASS };
enum dstate { D_BOL, D_MID, D_DOT, D_DOTCR };

struct opts {
	const char *addr, *cert, *key, *log;
	int port;
	enum tls_mode mode;
	int chunking, tickets, fork;
	long count;
	unsigned max_seconds, idle_seconds;
};

struct conn {
	int fd;
	gnutls_session_t s;     /* NULL before TLS */
	char in[IN_SIZE];
	size_t inoff, inlen;
	char out[OUT_SIZE];
	size_t outlen;
	enum state st;
	enum dstate ds;
	char lastch;
	int ehlo, authed, mail, nrcpt, quit, starttls, failed;
	unsigned long long bytes, bare_lf, bdat_left;
	unsigned long long bdat_chunk;
	int in_bdat, bdat_last, bdat_ok;
	unsigned long id, msgs;
};

static struct opts opt = {
	"127.0.0.1", NULL, NULL, NULL, 2587, MODE_STARTTLS, 0, 0, 0, 0, 600, 120
};
static gnutls_certificate_credentials_t cred;
static gnutls_priority_t prio;
static gnutls_datum_t ticket_key; /* TLS 1.3 session tickets, as real servers issue */
static FILE *logfp;
static unsigned long msg_seq;

static void on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

static void fatal(const char *what, const char *why)
{
	fprintf(stderr, "sink: %s: %s\n", what, why);
	exit(1);
}

/* ---- output: replies are collected and written in one go ---- */

static void flush_out(struct conn *c)
{
	size_t off = 0;
	while (off < c->outlen && !c->failed) {
		ssize_t n;
		if (c->s) {
			n = gnutls_record_send(c->s, c->out + off, c->outlen - off);
			if (n == GNUTLS_E_INTERRUPTED)
				continue;   /* GNUTLS_E_AGAIN: SO_SNDTIMEO expired */
		} else {
			n = send(c->fd, c->out + off, c->outlen - off, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
		}
		if (n <= 0)
			c->failed = 1;
		else
			off += (size_t)n;
	}
	c->outlen = 0;
}

static void reply(struct conn *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 3)
		n = (int)(sizeof line - 3);
	line[n++] = '\r';
	line[n++] = '\n';
	if (c->outlen + (size_t)n > sizeof c->out)
		flush_out(c);
	memcpy(c->out + c->outlen, line, (size_t)n);
	c->outlen += (size_t)n;
}

/* ---- input ---- */

/* Read more input; returns bytes read, 0 on EOF or error. */
static size_t read_more(struct conn *c)
{
	if (c->inoff == c->inlen) {
		c->inoff = c->inlen = 0;
	} else if (c->inoff > 0) {
		memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
		c->inlen -= c->inoff;
		c->inoff = 0;
	}
	size_t room = sizeof c->in - c->inlen;
	if (room == 0)
		return 0;
	for (;;) {
		ssize_t n;
		if (c->s) {
			n = gnutls_record_recv(c->s, c->in + c->inlen, room);
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n == GNUTLS_E_REHANDSHAKE || n == GNUTLS_E_WARNING_ALERT_RECEIVED)
				continue;
		} else {
			n = recv(c->fd, c->in + c->inlen, room, 0);
			if (n < 0 && errno == EINTR)
				continue;
		}
		if (n <= 0)
			return 0;
		c->inlen += (size_t)n;
		return (size_t)n;
	}
}

static void reset_tx(struct conn *c)
{
	c->mail = 0;
	c->nrcpt = 0;
	c->in_bdat = 0;
}

static void message_done(struct conn *c, const char *via)
{
	msg_seq++;
	c->msgs++;
	fprintf(logfp, "msg %lu conn %lu bytes %llu bare_lf %llu via %s\n",
		msg_seq, c->id, c->bytes, c->bare_lf, via);
	fflush(logfp);
	reply(c, "250 2.0.0 Ok: queued as %lu", msg_seq);
	reset_tx(c);
}

/* Discard DATA payload up to and including CRLF.CRLF. */
static void scan_data(struct conn *c)
{
	const char *p = c->in + c->inoff, *end = c->in + c->inlen;
	const char *start = p;

	while (p < end) {
		switch (c->ds) {
		case D_MID: {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl) {
				c->lastch = end[-1];
				p = end;
				break;
			}
			if ((nl > p ? nl[-1] : c->lastch) != '\r')
				c->bare_lf++;
			c->lastch = '\n';
			p = nl + 1;
			c->ds = D_BOL;
			break;
		}
		case D_BOL:
			if (*p == '.') {
				c->lastch = *p++;
				c->ds = D_DOT;
			} else {
				c->ds = D_MID;
			}
			break;
		case D_DOT:
			if (*p == '\r') {
				c->lastch = *p++;
				c->ds = D_DOTCR;
			} else {
				c->ds = D_MID;
			}
			break;
		case D_DOTCR:
			if (*p == '\n') {
				p++;
				/* payload without the final ".\r\n" */
				c->bytes += (unsigned long long)(p - start) - 3;
				c->inoff = (size_t)(p - c->in);
				c->st = ST_CMD;
				message_done(c, "data");
				return;
			}
			c->ds = D_MID;
			break;
		}
	}
	c->bytes += (unsigned long long)(p - start);
	c->inoff = c->inlen;
}

static void scan_bdat(struct conn *c)
{
	size_t avail = c->inlen - c->inoff;
	size_t take = c->bdat_left < avail ? (size_t)c->bdat_left : avail;
	c->inoff += take;
	c->bdat_left -= take;
	c->bytes += take;
	if (c->bdat_left > 0)
		return;
	c->st = ST_CMD;
	if (!c->bdat_ok) {
		reply(c, "554 5.5.1 No valid recipients");
		reset_tx(c);
	} else if (c->bdat_last) {
		message_done(c, "bdat");
	} else {
		reply(c, "250 2.0.0 %llu octets received", c->bdat_chunk);
	}
}

static int verb(const char *line, const char *v)
{
	size_t n = strlen(v);
	return strncasecmp(line, v, n) == 0 && (line[n] == '\0' || line[n] == ' ');
}

static void ehlo(struct conn *c)
{
	c->ehlo = 1;
	reset_tx(c);
	reply(c, "250-sink.test");
	reply(c, "250-PIPELINING");
	reply(c, "250-SIZE %llu", SIZE_LIMIT);
	if (opt.mode == MODE_STARTTLS && !c->s)
		reply(c, "250-STARTTLS");
	if (c->s)
		reply(c, "250-AUTH PLAIN LOGIN");
	if (opt.chunking)
		reply(c, "250-CHUNKING");
	reply(c, "250-ENHANCEDSTATUSCODES");
	reply(c, "250 8BITMIME");
}

static void command(struct conn *c, char *line)
{
	switch (c->st) {
	case ST_AUTH_PLAIN:
	case ST_AUTH_PASS:
		c->st = ST_CMD;
		if (!strcmp(line, "*")) {
			reply(c, "501 5.7.0 Authentication cancelled");
		} else {
			c->authed = 1;
			reply(c, "235 2.7.0 Authentication successful");
		}
		return;
	case ST_AUTH_USER:
		c->st = ST_AUTH_PASS;
		reply(c, "334 UGFzc3dvcmQ6");
		return;
	default:
		break;
	}

	if (verb(line, "EHLO")) {
		ehlo(c);
	} else if (verb(line, "HELO")) {
		c->ehlo = 1;
		reset_tx(c);
		reply(c, "250 sink.test");
	} else if (verb(line, "STARTTLS")) {
		if (opt.mode != MODE_STARTTLS || c->s)
			reply(c, "503 5.5.1 TLS already active");
		else {
			reply(c, "220 2.0.0 Ready to start TLS");
			c->starttls = 1;
		}
	} else if (verb(line, "AUTH")) {
		const char *mech = line + 4;
		while (*mech == ' ')
			mech++;
		const char *arg = strchr(mech, ' ');
		if (!c->s)
			reply(c, "538 5.7.11 Encryption required");
		else if (c->authed)
			reply(c, "503 5.5.1 Already authenticated");
		else if (!strncasecmp(mech, "PLAIN", 5) && (mech[5] == ' ' || !mech[5])) {
			if (arg && arg[1]) {
				c->authed = 1;
				reply(c, "235 2.7.0 Authentication successful");
			} else {
				c->st = ST_AUTH_PLAIN;
				reply(c, "334 ");
			}
		} else if (!strncasecmp(mech, "LOGIN", 5) && (mech[5] == ' ' || !mech[5])) {
			if (arg && arg[1]) {
				c->st = ST_AUTH_PASS;
				reply(c, "334 UGFzc3dvcmQ6");
			} else {
				c->st = ST_AUTH_USER;
				reply(c, "334 VXNlcm5hbWU6");
			}
		} else {
			reply(c, "504 5.5.4 Unrecognized authentication type");
		}
	} else if (verb(line, "MAIL")) {
		if (!c->s)
			reply(c, "530 5.7.0 Must issue a STARTTLS command first");
		else if (!c->authed)
			reply(c, "530 5.7.0 Authentication required");
		else if (c->mail)
			reply(c, "503 5.5.1 Nested MAIL command");
		else {
			c->mail = 1;
			reply(c, "250 2.1.0 Ok");
		}
	} else if (verb(line, "RCPT")) {
		if (!c->mail)
			reply(c, "503 5.5.1 Need MAIL command");
		else {
			c->nrcpt++;
			reply(c, "250 2.1.5 Ok");
		}
	} else if (verb(line, "DATA")) {
		if (!c->nrcpt) {
			reply(c, "554 5.5.1 No valid recipients");
		} else {
			reply(c, "354 End data with <CR><LF>.<CR><LF>");
			c->st = ST_DATA;
			c->ds = D_BOL;
			c->lastch = '\n';
			c->bytes = c->bare_lf = 0;
		}
	} else if (verb(line, "BDAT")) {
		char *end;
		const char *p = line + 4;
		errno = 0;
		unsigned long long n = strtoull(p, &end, 10);
		if (end == p || errno || (*end && *end != ' ')) {
			reply(c, "501 5.5.4 Syntax: BDAT size [LAST]");
			return;
		}
		while (*end == ' ')
			end++;
		if (!c->in_bdat) {   /* first chunk of a message */
			c->in_bdat = 1;
			c->bdat_ok = c->mail && c->nrcpt > 0;
			c->bytes = c->bare_lf = 0;
		}
		c->bdat_last = !strcasecmp(end, "LAST");
		c->bdat_chunk = n;
		c->bdat_left = n;
		c->st = ST_BDAT;
		scan_bdat(c);
	} else if (verb(line, "RSET")) {
		reset_tx(c);
		reply(c, "250 2.0.0 Ok");
	} else if (verb(line, "NOOP")) {
		reply(c, "250 2.0.0 Ok");
	} else if (verb(line, "QUIT")) {
		reply(c, "221 2.0.0 Bye");
		c->quit = 1;
	} else {
		reply(c, "502 5.5.2 Command not recognized");
	}
}

/* Consume everything complete in the input buffer. */
static void process(struct conn *c)
{
	while (!c->quit && !c->starttls && !c->failed && c->inoff < c->inlen) {
		if (c->st == ST_DATA) {
			scan_data(c);
			continue;
		}
		if (c->st == ST_BDAT) {
			scan_bdat(c);
			continue;
		}
		char *line = c->in + c->inoff;
		char *nl = memchr(line, '\n', c->inlen - c->inoff);
		if (!nl) {
			if (c->inoff == 0 && c->inlen == sizeof c->in) {
				reply(c, "500 5.5.2 Line too long");
				c->inoff = c->inlen;   /* drop it */
			}
			return;
		}
		c->inoff = (size_t)(nl + 1 - c->in);
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		command(c, line);
	}
}

static int handshake(struct conn *c)
{
	if (gnutls_init(&c->s, GNUTLS_SERVER) < 0)
		return -1;
	gnutls_priority_set(c->s, prio);
	gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, cred);
	if (opt.tickets)
		gnutls_session_ticket_enable_server(c->s, &ticket_key);
	gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(c->s, c->fd);
	gnutls_handshake_set_timeout(c->s, opt.idle_seconds * 1000);
	int r;
	do {
		r = gnutls_handshake(c->s);
	} while (r == GNUTLS_E_INTERRUPTED || r == GNUTLS_E_WARNING_ALERT_RECEIVED);
	if (r < 0) {
		fprintf(stderr, "sink: handshake: %s\n", gnutls_strerror(r));
		return -1;
	}
	return 0;
}

static void serve(int fd, unsigned long id)
{
	static struct conn c;   /* 80 KiB: not on the stack */
	memset(&c, 0, sizeof c);
	c.fd = fd;
	c.id = id;

	if (opt.mode == MODE_IMPLICIT && handshake(&c) < 0)
		goto out;
	reply(&c, "220 sink.test ESMTP");
	for (;;) {
		process(&c);
		if (c.failed)
			break;
		if (c.quit) {
			flush_out(&c);
			break;
		}
		if (c.starttls) {
			flush_out(&c);
			c.starttls = 0;
			c.inoff = c.inlen = 0;   /* no plaintext injection */
			c.ehlo = c.authed = 0;
			reset_tx(&c);
			if (handshake(&c) < 0)
				break;
			continue;
		}
		/* About to wait for the client: send the batch of replies. */
		if (!(c.s && gnutls_record_check_pending(c.s) > 0))
			flush_out(&c);
		if (c.failed || read_more(&c) == 0)
			break;
	}
	if (c.s && !c.failed)
		gnutls_bye(c.s, GNUTLS_SHUT_WR);
out:
	fprintf(logfp, "conn %lu closed %lu\n", id, c.msgs);
	fflush(logfp);
	if (c.s)
		gnutls_deinit(c.s);
	close(fd);
}

static void usage(void)
{
	fputs("usage: sink --cert PEM --key PEM [--addr IP] [--port N]\n"
	      "            [--mode starttls|implicit] [--chunking] [--tickets] [--fork] [--count N]\n"
	      "            [--max-seconds S] [--idle-seconds S] [--log FILE]\n",
	      stderr);
	exit(2);
}

static long num_arg(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		fatal("bad number", s);
	return v;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--chunking")) {
			opt.chunking = 1;
			continue;
		}
		if (!strcmp(o, "--tickets")) {
			opt.tickets = 1;
			continue;
		}
		if (!strcmp(o, "--fork")) {
			opt.fork = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(o, "--addr"))
			opt.addr = v;
		else if (!strcmp(o, "--port"))
			opt.port = (int)num_arg(v, 1, 65535);
		else if (!strcmp(o, "--cert"))
			opt.cert = v;
		else if (!strcmp(o, "--key"))
			opt.key = v;
		else if (!strcmp(o, "--log"))
			opt.log = v;
		else if (!strcmp(o, "--count"))
			opt.count = num_arg(v, 0, 1000000000);
		else if (!strcmp(o, "--max-seconds"))
			opt.max_seconds = (unsigned)num_arg(v, 1, 86400);
		else if (!strcmp(o, "--idle-seconds"))
			opt.idle_seconds = (unsigned)num_arg(v, 1, 86400);
		else if (!strcmp(o, "--mode")) {
			if (!strcmp(v, "starttls"))
				opt.mode = MODE_STARTTLS;
			else if (!strcmp(v, "implicit"))
				opt.mode = MODE_IMPLICIT;
			else
				usage();
		} else
			usage();
	}
	if (!opt.cert || !opt.key)
		usage();

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* --fork: children reaped by the kernel */
	alarm(opt.max_seconds);

	logfp = stdout;
	if (opt.log && !(logfp = fopen(opt.log, "a")))
		fatal(opt.log, strerror(errno));

	int r = gnutls_global_init();
	if (r >= 0)
		r = gnutls_certificate_allocate_credentials(&cred);
	if (r >= 0)
		r = gnutls_certificate_set_x509_key_file(cred, opt.cert, opt.key,
							 GNUTLS_X509_FMT_PEM);
	if (r >= 0)
		r = gnutls_priority_init(&prio, "NORMAL", NULL);
	if (r >= 0)
		r = gnutls_session_ticket_key_generate(&ticket_key);
	if (r < 0)
		fatal("gnutls", gnutls_strerror(r));

	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		fatal("socket", strerror(errno));
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)opt.port);
	if (inet_pton(AF_INET, opt.addr, &sin.sin_addr) != 1)
		fatal("bad address", opt.addr);
	if (bind(ls, (struct sockaddr *)&sin, sizeof sin) < 0)
		fatal("bind", strerror(errno));
	if (listen(ls, 16) < 0)
		fatal("listen", strerror(errno));
	fprintf(logfp, "ready %d\n", opt.port);
	fflush(logfp);

	struct timeval tv = { (time_t)opt.idle_seconds, 0 };
	for (unsigned long id = 1; opt.count == 0 || (long)id <= opt.count; id++) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fatal("accept", strerror(errno));
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (opt.fork) {
			/* Connections at once, each in its own process (a parallel client). */
			pid_t pid = fork();
			if (pid == 0) {
				close(ls);
				alarm(opt.max_seconds);
				serve(fd, id);
				_exit(0);
			}
			close(fd);
			continue;
		}
		serve(fd, id);
	}
	close(ls);
	gnutls_priority_deinit(prio);
	gnutls_certificate_free_credentials(cred);
	gnutls_global_deinit();
	return 0;
}
