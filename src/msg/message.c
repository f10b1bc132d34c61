/*
 * message.c — message intake (see message.h).
 *
 * One pass over the input, byte by byte, through three layers:
 *  1. line endings: CRLF, bare CR and bare LF each end a line (a bare CR is
 *     a line break: it can never reach the wire as a lone byte);
 *  2. the header block, held in memory up to max_header_bytes, until the
 *     blank line or the first line that cannot be a header field;
 *  3. the body, streamed to the spool through a fixed buffer: memory does
 *     not grow with the message.
 * When the header block is complete it is rewritten (-t recipients read,
 * Bcc dropped, From/Date/Message-ID added or From rewritten) and written
 * out before the first body byte.
 *
 * This file has the read loop, the line endings, the body and the spool
 * output; header.c the header block, envelope.c the sender and the
 * recipients, origin.c the added fields (their shared state: intake.h).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg/aliases.h"
#include "msg/intake.h"
#include "msg/message.h"
#include "msg/scan.h"
#include "store/spool.h"

#define MSG_READ_CHUNK 65536
#define MSG_HEADER_MAX (1024 * 1024) /* default bound of the header block */

static int msg_flush(struct msg_ctx *);
static size_t msg_body_run(struct msg_ctx *, const unsigned char *, size_t);
static int msg_byte(struct msg_ctx *, unsigned char);
static int msg_eof(struct msg_ctx *);
static int msg_keep(struct msg_ctx *, struct msg_envelope *, struct sx_err *);
static int msg_kept(struct msg_envelope *, struct sx_err *, const struct sx_err *);
static void msg_after_dot(struct msg_ctx *, int, unsigned char *, const unsigned char *, size_t);

/* Write the buffer out, counting what the session will send. */
static int
msg_flush(struct msg_ctx *c)
{
	const char *p = c->out, *end = c->out + c->outlen;
	unsigned long long lfs = 0;
	uint64_t high = 0;

	/* LFs (for SIZE) and any 8-bit byte, eight bytes at a time. */
	for (; end - p >= 8; p += 8) {
		uint64_t w, x, z;

		memcpy(&w, p, 8);
		high |= w;
		x = w ^ (SCAN_ONES * '\n'); /* LF bytes become zero bytes */
		z = ~(((x & ~SCAN_HIGHS) + ~SCAN_HIGHS) | x) & SCAN_HIGHS; /* one bit per LF */
		for (; z != 0; z &= z - 1)
			lfs++;
	}
	for (; p < end; p++) {
		lfs += *p == '\n';
		high |= (unsigned char)*p;
	}
	c->lfs += lfs;
	if (high & SCAN_HIGHS)
		c->env->body_8bit = 1;
	c->bytes += c->outlen;
	if (c->outlen > 0 && spool_write(&c->sp, c->out, c->outlen, c->err) == -1)
		return -1;
	c->outlen = 0;
	return 0;
}

int
msg_putc(struct msg_ctx *c, char ch)
{
	if (c->outlen == sizeof(c->out) && msg_flush(c) == -1)
		return -1;
	c->out[c->outlen++] = ch;
	return 0;
}

int
msg_put(struct msg_ctx *c, const char *s, size_t len)
{
	size_t n;

	while (len > 0) {
		if (c->outlen == sizeof(c->out) && msg_flush(c) == -1)
			return -1;
		n = sizeof(c->out) - c->outlen;
		if (n > len)
			n = len;
		memcpy(c->out + c->outlen, s, n);
		c->outlen += n;
		s += n;
		len -= n;
	}
	return 0;
}

int
msg_body_char(struct msg_ctx *c, unsigned char ch)
{
	if (c->at_bol) {
		c->at_bol = 0;
		if (ch == '.' && !c->pol->ignore_dots) {
			c->dot_pending = 1;
			c->linelen = 1;
			return 0;
		}
	}
	if (c->dot_pending) {
		c->dot_pending = 0;
		if (msg_putc(c, '.') == -1)
			return -1;
	}
	c->linelen++;
	return msg_putc(c, (char)ch);
}

int
msg_body_eol(struct msg_ctx *c)
{
	if (c->dot_pending) {
		/* sendmail's rule: a line of a single "." ends the message. */
		c->dot_pending = 0;
		c->ended = 1;
		return 0;
	}
	if (c->linelen > MSG_LINE_MAX) {
		if (c->pol->strict_line_length)
			return sx_fail(c->err, SX_DATA, STAGE_INTAKE,
			    "line %zu is longer than %d octets", c->lineno, MSG_LINE_MAX);
		c->env->long_lines++;
	}
	c->linelen = 0;
	c->at_bol = 1;
	return msg_putc(c, '\n');
}

static int
msg_byte(struct msg_ctx *c, unsigned char ch)
{
	if (ch == '\n' && c->prev_cr) {
		c->prev_cr = 0;
		return 0;
	}
	c->prev_cr = ch == '\r';
	if (ch == '\r' || ch == '\n') {
		c->lineno++;
		return c->in_headers ? msg_hdr_eol(c) : msg_body_eol(c);
	}
	if (ch == '\0' && c->nul_line == 0)
		c->nul_line = c->lineno + 1;
	return c->in_headers ? msg_hdr_char(c, ch) : msg_body_char(c, ch);
}

/*
 * Fast path for the body: in the middle of a line, copy the run of
 * ordinary bytes up to the next CR, LF or NUL in one go (the byte-wise
 * state machine handles those and line starts).  Returns the bytes
 * consumed (0: take the slow path for the next byte), or (size_t)-1.
 */
static size_t
msg_body_run(struct msg_ctx *c, const unsigned char *p, size_t n)
{
	size_t k;

	if (c->in_headers || c->dumping || c->dot_pending || c->prev_cr)
		return 0;
	/* A line start is ordinary unless it is a "." or a control byte. */
	if (c->at_bol) {
		if (p[0] == '.' || p[0] < 0x0E)
			return 0;
		c->at_bol = 0;
	}
	k = scan_ordinary(p, n);
	c->linelen += k;
	if (k > 0 && msg_put(c, (const char *)p, k) == -1)
		return (size_t)-1;
	/* The usual line endings finish the line here too (LF, or CRLF seen whole). */
	if (k < n && p[k] == '\n') {
		c->lineno++;
		return msg_body_eol(c) == -1 ? (size_t)-1 : k + 1;
	}
	if (k + 1 < n && p[k] == '\r' && p[k + 1] == '\n') {
		c->lineno++;
		return msg_body_eol(c) == -1 ? (size_t)-1 : k + 2;
	}
	return k;
}

/* End of input: finish the last line (adding its LF) and the header block. */
static int
msg_eof(struct msg_ctx *c)
{
	if (!c->ended) {
		if (c->in_headers && c->hdrlen > c->line_start) {
			c->lineno++;
			if (msg_hdr_eol(c) == -1)
				return -1;
		} else if (!c->in_headers && (c->dot_pending || !c->at_bol)) {
			c->lineno++;
			if (msg_body_eol(c) == -1)
				return -1;
		}
	}
	if (c->in_headers && msg_end_headers(c, c->line_start) == -1)
		return -1;
	return msg_flush(c);
}

/*
 * The lone "." ended the message with rest (len bytes) of the last read
 * still unused: count what the caller gave after it, so that a file piped
 * without -i does not lose its end without a word.  The LF of the dot
 * line's CRLF is no content.  A regular file says how much is left; from a
 * pipe or terminal only what is there already is read (one read, never a
 * wait: an interactive sendmail ends at the "." and must not hang).
 */
static void
msg_after_dot(struct msg_ctx *c, int fd, unsigned char *buf, const unsigned char *rest, size_t len)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	struct stat st;
	off_t pos;
	ssize_t n;

	c->env->dot_line = c->lineno;
	if (len > 0 && c->prev_cr && rest[0] == '\n') {
		len--;
		c->prev_cr = 0;
	}
	c->env->after_dot = len;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((pos = lseek(fd, 0, SEEK_CUR)) != -1 && st.st_size > pos)
			c->env->after_dot += (unsigned long long)(st.st_size - pos);
		return;
	}
	if (len == 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) != 0 &&
	    (n = read(fd, buf, MSG_READ_CHUNK)) > 0) {
		if (c->prev_cr && buf[0] == '\n')
			n--;
		c->env->after_dot = (unsigned long long)n;
	}
	/* The writer may have more on its way. */
	c->env->after_dot_more = c->env->after_dot > 0;
}

/*
 * The whole message is read: make the spool durable and hand it to the
 * envelope, renamed into place, or (defer_commit) still .tmp, open and
 * locked.  0 or -1.
 */
static int
msg_keep(struct msg_ctx *c, struct msg_envelope *env, struct sx_err *e)
{
	env->wire_size = c->bytes + c->lfs;
	if (c->pol->defer_commit) {
		if (spool_sync(&c->sp, e) == -1)
			return -1; /* still open: removed on the way out */
		c->spool_open = 0;
		env->spool_path = c->sp.path;
		env->spool_tmp = c->sp.tmp_path;
		env->spool_fd = c->sp.fd;
		c->sp.path = c->sp.tmp_path = NULL;
		c->sp.fd = -1;
		return 0;
	}
	c->spool_open = 0; /* committed or removed by spool_commit either way */
	if (spool_commit(&c->sp, e) == -1)
		return -1;
	env->spool_path = c->sp.path;
	c->sp.path = NULL;
	return 0; /* the fd is closed on the way out, as before defer_commit */
}

/* Refused, but never lost: the spool keeps the message.  Always -1. */
static int
msg_kept(struct msg_envelope *env, struct sx_err *e, const struct sx_err *why)
{
	if (e == NULL || e->cls != SX_OK)
		return -1;
	sx_fail(e, why->cls, STAGE_INTAKE, "%s; kept in %s", why->detail, env->spool_path);
	if (why->hint[0] != '\0')
		sx_hint(e, "%s", why->hint);
	return -1;
}

int
msg_commit(struct msg_envelope *env, struct sx_err *e)
{
	struct spool_file sp;
	const char *slash;

	if (env->spool_tmp == NULL) {
		if (env->spool_path == NULL)
			return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "no spool file to commit");
		return 0;
	}
	memset(&sp, 0, sizeof(sp));
	sp.stage = STAGE_INTAKE;
	slash = strrchr(env->spool_path, '/');
	if ((sp.dir = slash == NULL
			  ? strdup(".")
			  : strndup(env->spool_path, (size_t)(slash - env->spool_path))) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	/* The spool_file takes the names and the fd over: spool_commit cleans up on failure. */
	sp.fd = env->spool_fd;
	sp.tmp_path = env->spool_tmp;
	sp.path = env->spool_path;
	env->spool_fd = -1;
	env->spool_tmp = env->spool_path = NULL;
	if (spool_commit(&sp, e) == -1)
		return -1;
	env->spool_path = sp.path;
	env->spool_fd = sp.fd;
	sp.path = NULL;
	sp.fd = -1;
	spool_release(&sp);
	return 0;
}

int
msg_intake(int fd, const struct msg_policy *p, struct msg_envelope *env, struct sx_err *e)
{
	struct msg_ctx *c;
	unsigned char *buf = NULL;
	size_t i;
	ssize_t n;
	int rc = -1;

	memset(env, 0, sizeof(*env));
	env->spool_fd = -1;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	c->pol = p;
	c->env = env;
	c->err = e;
	c->in_headers = 1;
	c->hdrmax = p->max_header_bytes != 0 ? p->max_header_bytes : MSG_HEADER_MAX;

	/* Everything that can be checked without the message, first. */
	if (msg_envelope_begin(c) == -1)
		goto out;
	if (spool_create(p->spool_dir, &c->sp, e, STAGE_INTAKE) == -1)
		goto out;
	c->spool_open = 1;
	if ((buf = malloc(MSG_READ_CHUNK)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		goto out;
	}
	while (!c->ended) {
		if ((n = read(fd, buf, MSG_READ_CHUNK)) == -1) {
			int saved = errno;

			if (saved == EINTR)
				continue;
			sx_fail(e, SX_LOCALIO, STAGE_INTAKE, "cannot read the message: %s",
			    strerror(saved));
			if (e != NULL)
				e->sys_errno = saved;
			goto out;
		}
		if (n == 0)
			break;
		for (i = 0; i < (size_t)n && !c->ended;) {
			size_t run = msg_body_run(c, buf + i, (size_t)n - i);

			if (run == (size_t)-1)
				goto out;
			if (run > 0) {
				i += run;
				continue;
			}
			if (msg_byte(c, buf[i++]) == -1)
				goto out;
		}
		if (c->ended)
			msg_after_dot(c, fd, buf, buf + i, (size_t)n - i);
	}
	if (msg_eof(c) == -1)
		goto out;
	if (c->nul_line != 0) {
		struct sx_err why;

		sx_clear(&why);
		sx_fail(
		    &why, SX_DATA, STAGE_INTAKE, "NUL byte in the message (line %zu)", c->nul_line);
		if (msg_keep(c, env, e) == 0)
			msg_kept(env, e, &why);
		goto out;
	}
	/* Whatever the message, a configuration problem must not lose it. */
	if (c->held.cls != SX_OK) {
		if (msg_keep(c, env, e) == 0)
			msg_kept(env, e, &c->held);
		goto out;
	}
	if (env->nrcpts == 0) {
		sx_fail(e, SX_DATA, STAGE_INTAKE,
		    "no recipients: none given and none in the To, Cc or Bcc headers");
		goto out;
	}
	if (p->on_accepted != NULL)
		p->on_accepted(p->on_accepted_arg);
	if (msg_keep(c, env, e) == -1)
		goto out;
	rc = 0;
out:
	if (c->spool_open)
		spool_abort(&c->sp);
	else
		spool_release(&c->sp);
	if (c->have_aliases)
		alias_free(&c->aliases);
	qualify_free(&c->q);
	free(c->hdr);
	free(c);
	free(buf);
	/* A message kept on failure keeps its envelope too: it says who it was for. */
	if (rc == -1 && env->spool_path == NULL)
		msg_envelope_free(env);
	return rc;
}

void
msg_envelope_free(struct msg_envelope *env)
{
	size_t i;

	if (env == NULL)
		return;
	free(env->from);
	for (i = 0; i < env->nrcpts; i++)
		free(env->rcpts[i]);
	free(env->rcpts);
	if (env->spool_path != NULL && env->spool_fd >= 0)
		close(env->spool_fd);
	free(env->spool_path);
	free(env->spool_tmp);
	memset(env, 0, sizeof(*env));
	env->spool_fd = -1;
}
