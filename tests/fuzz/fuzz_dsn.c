/*
 * fuzz_dsn.c — dsn_create() with a queue entry whose every string is
 * hostile, then the report read back: whatever the input, it is one
 * multipart/report of two or three parts, every line at most 998 octets,
 * no CR, NUL or control byte, 8-bit bytes only in the To: line, and every
 * line of the delivery-status part a known field or a continuation.
 *
 * Input: byte 0 flags (bit 0: expired, bit 1: the sender is the fuzzed
 * address too, bit 2: a -N value), bytes 1..2 the reply code (mod 1000),
 * then NUL-separated: error text, recipient, envelope id, relay host,
 * reporting host, and the rest is the original message.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/dsn.h"
#include "store/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fz_dir[64];

/* The next NUL-terminated field of the input (a copy), or "" at the end. */
static char *
fz_field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
	size_t n = z != NULL ? (size_t)(z - *p) : (size_t)(end - *p);
	char *s = strndup((const char *)*p, n);

	if (s == NULL)
		abort();
	*p += z != NULL ? n + 1 : n;
	return s;
}

static int
fz_is_field(const char *line, size_t len)
{
	static const char *const names[] = {
	    "Original-Envelope-Id:", "Reporting-MTA:", "Arrival-Date:", "X-Smtps-Send-Queue-ID:",
	    "Final-Recipient:", "Action:", "Status:", "Remote-MTA:", "Diagnostic-Code:",
	    "Last-Attempt-Date:", "Content-Type:", "Content-Description:"};
	size_t i;

	if (len == 0 || line[0] == ' ')
		return 1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (len >= strlen(names[i]) && strncmp(line, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

/* The report's invariants; abort() on any violation. */
static void
fz_check(const char *text, size_t len)
{
	const char *p = text, *end = text + len, *b;
	char delim[128];
	size_t l, i, delims = 0, part = 0;
	int in_hdr = 1, closed = 0;

	if (len == 0 || text[len - 1] != '\n' || (b = strstr(text, "boundary=\"")) == NULL)
		abort();
	b += 10;
	l = strcspn(b, "\"");
	if (l == 0 || l > 70 || (size_t)snprintf(delim, sizeof(delim), "--%.*s", (int)l, b) >= 128)
		abort();
	for (; p < end; p += l + 1) {
		l = strcspn(p, "\n");
		if (l > 998 || closed)
			abort();
		for (i = 0; i < l; i++) {
			unsigned char c = (unsigned char)p[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				abort();
			if (c >= 0x80 && !(in_hdr && strncmp(p, "To: <", 5) == 0))
				abort();
		}
		if (in_hdr && l == 0)
			in_hdr = 0;
		if (!in_hdr && l >= strlen(delim) && strncmp(p, delim, strlen(delim)) == 0) {
			if (l == strlen(delim) + 2 && strncmp(p + l - 2, "--", 2) == 0)
				closed = 1;
			else if (l != strlen(delim))
				abort();
			delims++;
			part++;
			continue;
		}
		if (part == 2 && !fz_is_field(p, l))
			abort();
	}
	if (!closed || (delims != 3 && delims != 4))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *err, *rcpt, *envid, *relay, *host, path[128], *text;
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct sx_err e;
	FILE *f;
	long n;
	int fd, rc;

	if (size < 3)
		return 0;
	if (fz_dir[0] == '\0') {
		snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_dsn.XXXXXX",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (mkdtemp(fz_dir) == NULL)
			abort();
	}
	memset(&m, 0, sizeof(m));
	strlcpy(m.id, "0123456789abcdef0123456789abcdef", sizeof(m.id));
	m.state = (data[0] & 1) ? QUEUE_EXPIRED : QUEUE_FAILED;
	m.err_code = ((data[1] << 8) | data[2]) % 1000;
	p += 3;
	err = fz_field(&p, end);
	rcpt = fz_field(&p, end);
	envid = fz_field(&p, end);
	relay = fz_field(&p, end);
	host = fz_field(&p, end);
	m.err_text = err;
	m.rcpts = &rcpt;
	m.nrcpts = 1;
	m.dsn_envid = envid;
	m.from = (data[0] & 2) ? rcpt : (char *)(uintptr_t) "alice@example.org";
	m.dsn_notify = (data[0] & 4) ? envid : NULL;
	m.created = 1000000000;
	m.last_attempt = 1000003600;
	m.attempts = 2;
	memset(&in, 0, sizeof(in));
	in.reporting_host = host;
	in.relay_host = relay;
	in.from = relay;
	in.now = 1000007200;

	snprintf(path, sizeof(path), "%s/orig", fz_dir);
	if ((f = fopen(path, "w")) == NULL ||
	    fwrite(p, 1, (size_t)(end - p), f) != (size_t)(end - p) || fclose(f) != 0 ||
	    (fd = open(path, O_RDONLY)) == -1)
		abort();
	sx_clear(&e);
	rc = dsn_create(fz_dir, &m, fd, &in, &dsn, &e);
	close(fd);
	if (rc == 0) {
		snprintf(path, sizeof(path), "%s/%s.msg", fz_dir, dsn.id);
		if ((f = fopen(path, "r")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
		    (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
		    (text = malloc((size_t)n + 1)) == NULL ||
		    fread(text, 1, (size_t)n, f) != (size_t)n)
			abort();
		fclose(f);
		text[n] = '\0';
		if (strlen(text) != (size_t)n)
			abort();
		fz_check(text, (size_t)n);
		free(text);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.meta", fz_dir, dsn.id);
		unlink(path);
		queue_meta_free(&dsn);
	} else if (rc == -1 && e.cls != SX_DATA) {
		abort(); /* nothing else can go wrong here */
	}
	free(err);
	free(rcpt);
	free(envid);
	free(relay);
	free(host);
	return 0;
}
