/*
 * scramd.c — a scripted SMTP submission server for the SCRAM -PLUS tests
 * (t_sasl_plus.sh builds it).  Python's ssl module has no tls-exporter, so
 * this is C on GnuTLS: implicit TLS, the server side of SCRAM-SHA-1/-256
 * and their -PLUS variants written from RFC 5802 with GnuTLS' primitives
 * (nothing shared with smtps-send's client), PLAIN, and a log of what each
 * client did.  Tests only: one connection at a time, every run bounded.
 *
 *   scramd -P PORTFILE -c CERT -k KEY -l LOG [-m "MECH ..."] [-p PRIORITY]
 *          [-x MODE] [-i ITERATIONS] [-n CONNECTIONS] [-t SECONDS]
 *
 * MODE: ok (default); badbind (our own binding value is altered, as a
 * man in the middle's TLS session would make it: the client's cannot
 * match); badsig (a wrong server signature); nosig (235 without the
 * signature); binds (we support channel binding even when the list shows
 * no -PLUS, so a "y" flag is a downgrade: RFC 5802 section 6).
 * The account is alice / alice-secret-1.  Log lines:
 *   tls VERSION ems=0|1
 *   auth mech=NAME gs2=n|y|p binding=ok|mismatch|none result=ok|fail:WHY
 *   mail FROM / rcpt TO / data BYTES
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#define USER "alice"
#define PASS "alice-secret-1"

static gnutls_session_t ses;
static FILE *logf;
static const char *mode = "ok", *mechs = "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN";
static unsigned long iterations = 4096;
static char inbuf[8192];
static size_t inlen;

static void
logline(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(logf, fmt, ap);
	va_end(ap);
	fputc('\n', logf);
	fflush(logf);
}

static void
die(const char *what)
{
	logline("error %s", what);
	exit(2);
}

static void
say(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	buf[n++] = '\r';
	buf[n++] = '\n';
	if (gnutls_record_send(ses, buf, (size_t)n) != n)
		die("send");
}

/* One line without CRLF, or NULL at EOF. */
static char *
readline(void)
{
	static char line[8192];
	char *nl;
	ssize_t n;

	while ((nl = memchr(inbuf, '\n', inlen)) == NULL) {
		if (inlen == sizeof(inbuf))
			die("line too long");
		n = gnutls_record_recv(ses, inbuf + inlen, sizeof(inbuf) - inlen);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			return NULL;
		inlen += (size_t)n;
	}
	memcpy(line, inbuf, (size_t)(nl - inbuf));
	line[nl - inbuf] = '\0';
	if (nl > inbuf && nl[-1] == '\r')
		line[nl - inbuf - 1] = '\0';
	inlen -= (size_t)(nl - inbuf) + 1;
	memmove(inbuf, nl + 1, inlen);
	return line;
}

static int
b64dec(const char *s, unsigned char *out, size_t outsz, size_t *len)
{
	gnutls_datum_t in = {(unsigned char *)s, (unsigned)strlen(s)}, d = {NULL, 0};

	if (in.size == 0) {
		*len = 0;
		return 0;
	}
	if (gnutls_base64_decode2(&in, &d) < 0 || d.size >= outsz) {
		gnutls_free(d.data);
		return -1;
	}
	memcpy(out, d.data, d.size);
	out[d.size] = '\0';
	*len = d.size;
	gnutls_free(d.data);
	return 0;
}

static void
b64enc(const unsigned char *p, size_t len, char *out, size_t outsz)
{
	gnutls_datum_t in = {(unsigned char *)p, (unsigned)len}, d = {NULL, 0};

	if (gnutls_base64_encode2(&in, &d) < 0 || d.size >= outsz)
		die("base64");
	memcpy(out, d.data, d.size);
	out[d.size] = '\0';
	gnutls_free(d.data);
}

static int
offered(const char *mech)
{
	char list[512], *t, *save = NULL;

	snprintf(list, sizeof(list), "%s", mechs);
	for (t = strtok_r(list, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		if (strcasecmp(t, mech) == 0)
			return 1;
	return 0;
}

/* The server's final word on a failed SCRAM exchange: e=WHY as a challenge, then 535. */
static int
scram_refuse(const char *mech, char gs2, const char *binding, const char *why)
{
	char msg[128], b64[256];

	logline("auth mech=%s gs2=%c binding=%s result=fail:%s", mech, gs2, binding, why);
	snprintf(msg, sizeof(msg), "e=%s", why);
	b64enc((const unsigned char *)msg, strlen(msg), b64, sizeof(b64));
	say("334 %s", b64);
	(void)readline();
	say("535 5.7.8 Authentication failed: %s", why);
	return -1;
}

static int
scram(const char *mech, const char *ir)
{
	int sha1 = strncasecmp(mech, "SCRAM-SHA-1", 11) == 0;
	int plus = strstr(mech, "-PLUS") != NULL || strstr(mech, "-plus") != NULL;
	gnutls_mac_algorithm_t mac = sha1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
	size_t hl = sha1 ? 20 : 32, len, gs2len, cblen = 0, i, plen;
	unsigned char first[2048], fin[2048], cbin[256], want[256], cb[64], rnd[18];
	unsigned char salted[32], ckey[32], stored[32], skey[32], csig[32], ssig[32], proof[64];
	unsigned char check[32], salt[16];
	char *bare, *p, *line, snonce[64], sfirst[1024], am[4096], b64[512], saltb64[64];
	const char *binding = "none";
	char *cnonce;
	char gs2;
	gnutls_datum_t key = {(unsigned char *)PASS, (unsigned)strlen(PASS)};
	gnutls_datum_t sd = {salt, sizeof(salt)};
	gnutls_datum_t cbd = {NULL, 0};

	if (ir == NULL) {
		say("334 ");
		if ((ir = readline()) == NULL)
			return -1;
	}
	if (b64dec(ir, first, sizeof(first), &len) == -1)
		return say("501 5.5.2 bad base64"), -1;
	/* gs2-header: flag ',' [authzid] ',' */
	gs2 = (char)first[0];
	if (gs2 == 'p') {
		if (strncmp((char *)first, "p=tls-exporter,", 15) != 0)
			return scram_refuse(mech, gs2, binding, "unsupported-channel-binding-type");
		p = (char *)first + 15;
	} else if ((gs2 == 'n' || gs2 == 'y') && first[1] == ',') {
		p = (char *)first + 2;
	} else {
		return scram_refuse(mech, '?', binding, "invalid-encoding");
	}
	if ((p = strchr(p, ',')) == NULL)
		return scram_refuse(mech, gs2, binding, "invalid-encoding");
	bare = p + 1;
	gs2len = (size_t)(bare - (char *)first);
	if (plus && gs2 != 'p')
		return scram_refuse(mech, gs2, binding, "channel-binding-not-supported");
	if (!plus && gs2 == 'p')
		return scram_refuse(mech, gs2, binding, "channel-binding-not-supported");
	/* "y": the client thinks we cannot bind; if we can, the list was stripped. */
	if (gs2 == 'y' && strcmp(mode, "binds") == 0)
		return scram_refuse(mech, gs2, binding, "server-does-support-channel-binding");
	if (strncmp(bare, "n=" USER ",r=", strlen("n=" USER ",r=")) != 0)
		return scram_refuse(mech, gs2, binding, "unknown-user");
	cnonce = bare + strlen("n=" USER ",r=");
	if ((p = strchr(cnonce, ',')) != NULL)
		*p = '\0'; /* extensions: none we know */
	gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
	b64enc(rnd, sizeof(rnd), snonce, sizeof(snonce));
	gnutls_rnd(GNUTLS_RND_NONCE, salt, sizeof(salt));
	b64enc(salt, sizeof(salt), saltb64, sizeof(saltb64));
	snprintf(sfirst, sizeof(sfirst), "r=%s%s,s=%s,i=%lu", cnonce, snonce, saltb64, iterations);
	b64enc((unsigned char *)sfirst, strlen(sfirst), b64, sizeof(b64));
	say("334 %s", b64);
	if ((line = readline()) == NULL)
		return -1;
	if (strcmp(line, "*") == 0) {
		logline("auth mech=%s gs2=%c binding=none result=cancelled", mech, gs2);
		return say("501 5.7.0 Authentication cancelled"), -1;
	}
	if (b64dec(line, fin, sizeof(fin), &len) == -1)
		return say("501 5.5.2 bad base64"), -1;
	/* c= must be the gs2 header again, with our own binding data after it for p. */
	memcpy(cbin, first, gs2len);
	if (gs2 == 'p') {
		if (gnutls_session_channel_binding(ses, GNUTLS_CB_TLS_EXPORTER, &cbd) < 0)
			return scram_refuse(
			    mech, gs2, "unavailable", "channel-bindings-dont-match");
		cblen = cbd.size < sizeof(cb) ? cbd.size : sizeof(cb);
		memcpy(cb, cbd.data, cblen);
		gnutls_free(cbd.data);
		if (strcmp(mode, "badbind") == 0)
			cb[0] ^= 0x5a;
		memcpy(cbin + gs2len, cb, cblen);
	}
	b64enc(cbin, gs2len + cblen, (char *)want, sizeof(want));
	if (strncmp((char *)fin, "c=", 2) != 0 || (p = strchr((char *)fin, ',')) == NULL)
		return scram_refuse(mech, gs2, binding, "invalid-encoding");
	if ((size_t)(p - (char *)fin - 2) != strlen((char *)want) ||
	    memcmp(fin + 2, want, strlen((char *)want)) != 0)
		return scram_refuse(mech, gs2, gs2 == 'p' ? "mismatch" : "none",
		    gs2 == 'p' ? "channel-bindings-dont-match" : "invalid-encoding");
	binding = gs2 == 'p' ? "ok" : "none";
	if ((p = strstr((char *)fin, ",p=")) == NULL)
		return scram_refuse(mech, gs2, binding, "invalid-encoding");
	*p = '\0';
	if (b64dec(p + 3, proof, sizeof(proof), &plen) == -1 || plen != hl)
		return scram_refuse(mech, gs2, binding, "invalid-proof");
	{
		char rr[256];

		snprintf(rr, sizeof(rr), ",r=%s%s", cnonce, snonce);
		if (strcmp(strchr((char *)fin, ','), rr) != 0)
			return scram_refuse(mech, gs2, binding, "invalid-encoding");
	}
	/* Restore the bare message (the extensions cut above were not in it). */
	snprintf(am, sizeof(am), "n=" USER ",r=%s,%s,%s", cnonce, sfirst, (char *)fin);
	if (gnutls_pbkdf2(mac, &key, &sd, (unsigned)iterations, salted, hl) < 0 ||
	    gnutls_hmac_fast(mac, salted, hl, "Client Key", 10, ckey) < 0 ||
	    gnutls_hash_fast(sha1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256, ckey, hl, stored) < 0 ||
	    gnutls_hmac_fast(mac, stored, hl, am, strlen(am), csig) < 0 ||
	    gnutls_hmac_fast(mac, salted, hl, "Server Key", 10, skey) < 0 ||
	    gnutls_hmac_fast(mac, skey, hl, am, strlen(am), ssig) < 0)
		die("crypto");
	for (i = 0; i < hl; i++)
		proof[i] ^= csig[i];
	gnutls_hash_fast(sha1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256, proof, hl, check);
	if (memcmp(check, stored, hl) != 0)
		return scram_refuse(mech, gs2, binding, "invalid-proof");
	logline("auth mech=%s gs2=%c binding=%s result=ok", mech, gs2, binding);
	if (strcmp(mode, "nosig") == 0) {
		say("235 2.7.0 Authentication successful");
		return 0;
	}
	if (strcmp(mode, "badsig") == 0)
		ssig[3] ^= 0x01;
	{
		char v[128], sig64[64];

		b64enc(ssig, hl, sig64, sizeof(sig64));
		snprintf(v, sizeof(v), "v=%s", sig64);
		b64enc((unsigned char *)v, strlen(v), b64, sizeof(b64));
	}
	say("334 %s", b64);
	if ((line = readline()) == NULL)
		return -1;
	if (strcmp(line, "*") == 0) {
		logline("auth client-cancelled-after-signature");
		return say("501 5.7.0 Authentication cancelled"), -1;
	}
	say("235 2.7.0 Authentication successful");
	return 0;
}

static int
plain(const char *ir)
{
	unsigned char buf[1024];
	size_t len;

	if (ir == NULL) {
		say("334 ");
		if ((ir = readline()) == NULL)
			return -1;
	}
	if (b64dec(ir, buf, sizeof(buf), &len) == -1 || len != 2 + strlen(USER) + strlen(PASS) ||
	    memcmp(buf, "\0" USER "\0" PASS, len) != 0) {
		logline("auth mech=PLAIN gs2=- binding=none result=fail:invalid");
		say("535 5.7.8 Authentication failed");
		return -1;
	}
	logline("auth mech=PLAIN gs2=- binding=none result=ok");
	say("235 2.7.0 Authentication successful");
	return 0;
}

static void
session(void)
{
	char *line, *arg;
	int authed = 0, data = 0;
	size_t bytes = 0;

	say("220 scramd ESMTP");
	while ((line = readline()) != NULL) {
		if (data) {
			if (strcmp(line, ".") == 0) {
				data = 0;
				logline("data %zu", bytes);
				say("250 2.0.0 Ok: queued as SCRAMD");
			} else {
				bytes += strlen(line) + 2;
			}
			continue;
		}
		if (strncasecmp(line, "EHLO ", 5) == 0) {
			say("250-scramd\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH %s", mechs);
		} else if (strncasecmp(line, "AUTH ", 5) == 0) {
			arg = strchr(line + 5, ' ');
			if (arg != NULL)
				*arg++ = '\0';
			if (authed || !offered(line + 5)) {
				say("504 5.5.4 Unrecognized authentication type");
			} else if (strncasecmp(line + 5, "SCRAM-", 6) == 0) {
				/* readline() reuses line: keep copies. */
				char mech[64], ir[4096];

				snprintf(mech, sizeof(mech), "%s", line + 5);
				snprintf(ir, sizeof(ir), "%s", arg != NULL ? arg : "");
				authed = scram(mech, arg != NULL ? ir : NULL) == 0;
			} else if (strcasecmp(line + 5, "PLAIN") == 0) {
				authed = plain(arg) == 0;
			} else {
				say("504 5.5.4 Unrecognized authentication type");
			}
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			if (!authed) {
				say("530 5.7.0 Authentication required");
				continue;
			}
			logline("mail %s", line + 10);
			say("250 2.1.0 Ok");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			logline("rcpt %s", line + 8);
			say("250 2.1.5 Ok");
		} else if (strcasecmp(line, "DATA") == 0) {
			data = 1;
			bytes = 0;
			say("354 End data with <CR><LF>.<CR><LF>");
		} else if (strcasecmp(line, "QUIT") == 0) {
			say("221 2.0.0 Bye");
			break;
		} else if (strcasecmp(line, "RSET") == 0 || strcasecmp(line, "NOOP") == 0) {
			say("250 2.0.0 Ok");
		} else {
			say("502 5.5.2 Error: command not recognized");
		}
	}
}

int
main(int argc, char **argv)
{
	const char *portfile = NULL, *cert = NULL, *key = NULL, *logpath = NULL;
	const char *prio = "NORMAL";
	gnutls_certificate_credentials_t cred;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int c, ls, fd, conns = 1, secs = 20, rc;
	FILE *pf;
	char tmp[4096];

	while ((c = getopt(argc, argv, "P:c:k:l:m:p:x:i:n:t:")) != -1) {
		switch (c) {
		case 'P':
			portfile = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'm':
			mechs = optarg;
			break;
		case 'p':
			prio = optarg;
			break;
		case 'x':
			mode = optarg;
			break;
		case 'i':
			iterations = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			conns = atoi(optarg);
			break;
		case 't':
			secs = atoi(optarg);
			break;
		default:
			return 64;
		}
	}
	if (portfile == NULL || cert == NULL || key == NULL || logpath == NULL)
		return 64;
	if ((logf = fopen(logpath, "a")) == NULL)
		return 1;
	alarm((unsigned)secs); /* whatever happens, this server ends */
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file(cred, cert, key, GNUTLS_X509_FMT_PEM) < 0)
		die("credentials");
	if ((ls = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(ls, 4) == -1 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) == -1)
		die("listen");
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	if ((pf = fopen(tmp, "w")) == NULL)
		die("portfile");
	fprintf(pf, "%u\n", ntohs(sa.sin_port));
	fclose(pf);
	rename(tmp, portfile);
	while (conns-- > 0) {
		if ((fd = accept(ls, NULL, NULL)) == -1)
			die("accept");
		gnutls_init(&ses, GNUTLS_SERVER);
		if (gnutls_priority_set_direct(ses, prio, NULL) < 0)
			die("priority");
		gnutls_credentials_set(ses, GNUTLS_CRD_CERTIFICATE, cred);
		gnutls_transport_set_int(ses, fd);
		gnutls_handshake_set_timeout(ses, GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
		do
			rc = gnutls_handshake(ses);
		while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
		if (rc < 0) {
			logline("tls handshake failed: %s", gnutls_strerror(rc));
		} else {
			logline("tls %s ems=%d",
			    gnutls_protocol_get_name(gnutls_protocol_get_version(ses)),
			    (gnutls_session_get_flags(ses) & GNUTLS_SFLAGS_EXT_MASTER_SECRET) != 0);
			inlen = 0;
			session();
			gnutls_bye(ses, GNUTLS_SHUT_WR);
		}
		gnutls_deinit(ses);
		close(fd);
	}
	logline("done");
	return 0;
}
