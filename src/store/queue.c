/* queue.c — the queue: metadata, listing, flushing, locking (see queue.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "store/queue.h"
#include "core/fsutil.h"
#include "store/spool.h"
#include "core/sigflag.h"

#define QUEUE_MAGIC     "smtps-send-queue 1"
#define QUEUE_META_MAX  (4L << 20) /* bytes: thousands of recipients, bounded */
#define QUEUE_ERR_MAX   1024       /* bytes of the one-line last error */
#define QUEUE_BACKOFF0  60L        /* first automatic retry after a minute */
#define QUEUE_BACKOFF_N (4L * 3600)

/* One queued message as seen by a directory scan. */
struct queue_entry {
	char id[QUEUE_ID_LEN + 1];
	time_t when; /* metadata's creation time, else the file's mtime */
	unsigned long long size;
};

static const char *const queue_state_names[] = {
    [QUEUE_DEFERRED] = "deferred",
    [QUEUE_FAILED] = "failed",
    [QUEUE_EXPIRED] = "expired",
};

/* Class names as stored in metadata (stable across versions). */
static const char *const queue_class_names[] = {
    [SX_OK] = "none",
    [SX_USAGE] = "usage",
    [SX_CONFIG] = "config",
    [SX_DATA] = "data",
    [SX_NOHOST] = "nohost",
    [SX_TEMP] = "temp",
    [SX_PERM] = "perm",
    [SX_NOUSER] = "nouser",
    [SX_PROTO] = "proto",
    [SX_AUTH] = "auth",
    [SX_TLS] = "tls",
    [SX_LOCALIO] = "localio",
    [SX_INTERNAL] = "internal",
};

static int
queue_syserr(struct sx_err *e, int errnum, const char *what, const char *path)
{
	if (e != NULL && e->cls == SX_OK) {
		sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "%s %s: %s", what, path, strerror(errnum));
		e->sys_errno = errnum;
	}
	return -1;
}

static int
queue_path(char *buf, size_t sz, const char *dir, const char *id, const char *suffix)
{
	int n = snprintf(buf, sz, "%s/%s%s", dir, id, suffix);

	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

int
queue_dir_path(const char *queue_dir, char *buf, size_t sz, struct sx_err *e)
{
	const char *base;
	int n;

	if (queue_dir != NULL && *queue_dir != '\0')
		n = snprintf(buf, sz, "%s", queue_dir);
	else if (geteuid() == 0)
		n = snprintf(buf, sz, "/var/spool/smtps-send");
	else if ((base = getenv("XDG_STATE_HOME")) != NULL && base[0] == '/')
		n = snprintf(buf, sz, "%s/smtps-send/queue", base);
	else if ((base = getenv("HOME")) != NULL && base[0] == '/')
		n = snprintf(buf, sz, "%s/.local/state/smtps-send/queue", base);
	else
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "no queue directory: set queue_dir (HOME is not set)");
	if (n < 0 || (size_t)n >= sz)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "queue_dir is too long");
	return 0;
}

int
queue_dir_prepare(const char *dir, struct sx_err *e)
{
	/* 0700: the queue holds other people's mail. */
	if (fs_mkdirs(dir, "queue", e, STAGE_QUEUE) == -1)
		return -1;
	if (access(dir, W_OK | X_OK) == -1)
		return queue_syserr(e, errno, "cannot write to queue directory", dir);
	return 0;
}

int
queue_id_valid(const char *id)
{
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return id[i] == '\0';
}

int
queue_id_of(const char *path, char *id)
{
	const char *b = strrchr(path, '/');
	size_t n;

	b = b == NULL ? path : b + 1;
	n = strlen(b);
	if (n != QUEUE_ID_LEN + 4 || strcmp(b + QUEUE_ID_LEN, ".msg") != 0)
		return -1;
	memcpy(id, b, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	return queue_id_valid(id) ? 0 : -1;
}

int
queue_lock(const char *dir, const char *id, int nowait, struct sx_err *e)
{
	char path[4200];
	struct stat sb;
	int fd;

	if (queue_path(path, sizeof(path), dir, id, ".msg") == -1)
		return sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT && nowait)
			return -2;
		return queue_syserr(e, errno, "cannot open", path);
	}
	while (flock(fd, LOCK_EX | (nowait ? LOCK_NB : 0)) == -1) {
		if (errno == EINTR && !nowait)
			continue;
		close(fd);
		if (errno == EWOULDBLOCK)
			return -2;
		return queue_syserr(e, errno, "cannot lock", path);
	}
	/*
	 * Whoever held the lock before us may have delivered and unlinked the
	 * file while we waited for it: a lock on a removed file means "done".
	 */
	if (fstat(fd, &sb) == -1 || sb.st_nlink == 0) {
		close(fd);
		return nowait ? -2 : sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "%s: removed", path);
	}
	return fd;
}

/* Stored strings: '%', control bytes and DEL as %XX; UTF-8 kept as is. */
static void
queue_put(FILE *f, const char *key, const char *v)
{
	const unsigned char *p;

	if (v == NULL)
		return;
	fprintf(f, "%s ", key);
	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '%')
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	fputc('\n', f);
}

static int
queue_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode a stored value (len bytes) into a new string; NULL on bad escapes or NUL. */
static char *
queue_unescape(const char *s, size_t len)
{
	char *out, *o;
	size_t i;
	int hi, lo;

	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= len || (hi = queue_hexval(s[i + 1])) < 0 ||
		    (lo = queue_hexval(s[i + 2])) < 0 || (hi == 0 && lo == 0))
			goto bad;
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

char *
queue_meta_format(const struct queue_meta *m)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "%s\n", QUEUE_MAGIC);
	fprintf(f, "id %s\n", m->id);
	fprintf(f, "state %s\n", queue_state_name(m->state));
	queue_put(f, "account", m->account);
	queue_put(f, "from", m->from != NULL ? m->from : "");
	for (i = 0; i < m->nrcpts; i++)
		queue_put(f, "rcpt", m->rcpts[i]);
	fprintf(f, "size %llu\n", m->size);
	fprintf(f, "8bit %d\nsmtputf8 %d\n", m->body_8bit ? 1 : 0, m->needs_smtputf8 ? 1 : 0);
	queue_put(f, "dsn_notify", m->dsn_notify);
	queue_put(f, "dsn_ret", m->dsn_ret);
	queue_put(f, "dsn_envid", m->dsn_envid);
	fprintf(f, "created %lld\nfirst_attempt %lld\nlast_attempt %lld\nattempts %u\n",
	    (long long)m->created, (long long)m->first_attempt, (long long)m->last_attempt,
	    m->attempts);
	if (m->err_class != SX_OK) {
		fprintf(f, "error_class %s\nerror_stage %s\nerror_exit %d\nerror_code %d\n",
		    queue_class_names[m->err_class], sx_stage_name(m->err_stage), m->err_exit,
		    m->err_code);
		queue_put(f, "error", m->err_text != NULL ? m->err_text : "");
	}
	/* A file without this line was cut short (disk full, crash mid-write). */
	fprintf(f, "end\n");
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int
queue_lookup(const char *const *names, size_t n, const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL && strlen(names[i]) == len && memcmp(names[i], v, len) == 0)
			return (int)i;
	return -1;
}

static int
queue_stage_lookup(const char *v, size_t len)
{
	int st;

	for (st = STAGE_NONE; st < STAGE_LAST; st++)
		if (strlen(sx_stage_name(st)) == len && memcmp(sx_stage_name(st), v, len) == 0)
			return st;
	return -1;
}

static int
queue_num(const char *v, size_t len, long long min, long long max, long long *out)
{
	char buf[32], *end;
	long long n;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	errno = 0;
	n = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* Take the decoded value of a string key. */
static int
queue_take(char **dst, const char *v, size_t len)
{
	char *s = queue_unescape(v, len);

	if (s == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

int
queue_meta_parse(const char *text, size_t len, struct queue_meta *m, struct sx_err *e)
{
	const char *p = text, *end = text + len, *nl, *sp, *v;
	size_t klen, vlen, lineno = 0;
	long long n;
	int got_id = 0, got_from = 0, ended = 0, x;
	char **nv;

	memset(m, 0, sizeof(*m));
	while (p < end && !ended) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break; /* a last line without its newline: truncated */
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			goto bad;
		if (lineno == 1) {
			if ((size_t)(nl - p) != strlen(QUEUE_MAGIC) ||
			    memcmp(p, QUEUE_MAGIC, strlen(QUEUE_MAGIC)) != 0) {
				sx_fail(e, SX_LOCALIO, STAGE_QUEUE,
				    "not a smtps-send metadata file (first line)");
				goto fail;
			}
			p = nl + 1;
			continue;
		}
		if ((size_t)(nl - p) == 3 && memcmp(p, "end", 3) == 0) {
			ended = 1;
			break;
		}
		if ((sp = memchr(p, ' ', (size_t)(nl - p))) == NULL)
			goto bad;
		klen = (size_t)(sp - p);
		v = sp + 1;
		vlen = (size_t)(nl - v);
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(p, k, klen) == 0)
		if (KEY("id")) {
			if (vlen != QUEUE_ID_LEN)
				goto bad;
			memcpy(m->id, v, QUEUE_ID_LEN);
			m->id[QUEUE_ID_LEN] = '\0';
			if (!queue_id_valid(m->id))
				goto bad;
			got_id = 1;
		} else if (KEY("state")) {
			if ((x = queue_lookup(queue_state_names, 3, v, vlen)) < 0)
				goto bad;
			m->state = (enum queue_state)x;
		} else if (KEY("account")) {
			if (queue_take(&m->account, v, vlen) == -1)
				goto bad;
		} else if (KEY("from")) {
			if (queue_take(&m->from, v, vlen) == -1)
				goto bad;
			got_from = 1;
		} else if (KEY("rcpt")) {
			if (vlen == 0 ||
			    (nv = reallocarray(m->rcpts, m->nrcpts + 1, sizeof(*nv))) == NULL)
				goto bad;
			m->rcpts = nv;
			if ((m->rcpts[m->nrcpts] = queue_unescape(v, vlen)) == NULL)
				goto bad;
			m->nrcpts++;
		} else if (KEY("size")) {
			if (queue_num(v, vlen, 0, INT64_MAX, &n) == -1)
				goto bad;
			m->size = (unsigned long long)n;
		} else if (KEY("8bit") || KEY("smtputf8")) {
			if (queue_num(v, vlen, 0, 1, &n) == -1)
				goto bad;
			*(KEY("8bit") ? &m->body_8bit : &m->needs_smtputf8) = (int)n;
		} else if (KEY("dsn_notify")) {
			if (queue_take(&m->dsn_notify, v, vlen) == -1)
				goto bad;
		} else if (KEY("dsn_ret")) {
			if (queue_take(&m->dsn_ret, v, vlen) == -1)
				goto bad;
		} else if (KEY("dsn_envid")) {
			if (queue_take(&m->dsn_envid, v, vlen) == -1)
				goto bad;
		} else if (KEY("created") || KEY("first_attempt") || KEY("last_attempt")) {
			if (queue_num(v, vlen, 0, INT64_MAX, &n) == -1)
				goto bad;
			*(KEY("created")           ? &m->created
			    : KEY("first_attempt") ? &m->first_attempt
						   : &m->last_attempt) = (time_t)n;
		} else if (KEY("attempts")) {
			if (queue_num(v, vlen, 0, UINT32_MAX, &n) == -1)
				goto bad;
			m->attempts = (unsigned)n;
		} else if (KEY("error_class")) {
			if ((x = queue_lookup(queue_class_names,
				 sizeof(queue_class_names) / sizeof(queue_class_names[0]), v,
				 vlen)) < 0)
				goto bad;
			m->err_class = (enum sx_class)x;
		} else if (KEY("error_stage")) {
			if ((x = queue_stage_lookup(v, vlen)) < 0)
				goto bad;
			m->err_stage = (enum sx_stage)x;
		} else if (KEY("error_exit") || KEY("error_code")) {
			if (queue_num(v, vlen, 0, 999, &n) == -1)
				goto bad;
			*(KEY("error_exit") ? &m->err_exit : &m->err_code) = (int)n;
		} else if (KEY("error")) {
			if (queue_take(&m->err_text, v, vlen) == -1)
				goto bad;
		}
		/* Unknown keys: written by a newer version; ignore them. */
#undef KEY
		p = nl + 1;
	}
	if (lineno == 0 || (!ended && lineno <= 1)) {
		sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "empty metadata file");
		goto fail;
	}
	if (!ended) {
		sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "metadata file is truncated (no end line)");
		goto fail;
	}
	/* No recipients is possible: a refused message kept as failed. */
	if (!got_id || !got_from) {
		sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "metadata file lacks %s",
		    !got_id ? "the id" : "the sender");
		goto fail;
	}
	return 0;
bad:
	sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "metadata file: bad line %zu", lineno);
fail:
	queue_meta_free(m);
	return -1;
}

int
queue_meta_read(const char *dir, const char *id, struct queue_meta *m, struct sx_err *e)
{
	char path[4200], *buf = NULL;
	struct stat sb;
	ssize_t n;
	size_t got = 0;
	int fd, rc = -1;

	memset(m, 0, sizeof(*m));
	if (queue_path(path, sizeof(path), dir, id, ".meta") == -1)
		return sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return queue_syserr(e, errno, "cannot open", path);
	if (fstat(fd, &sb) == -1) {
		queue_syserr(e, errno, "cannot stat", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > QUEUE_META_MAX) {
		sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "%s: not a metadata file (type or size)", path);
		goto out;
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			queue_syserr(e, errno, "cannot read", path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (queue_meta_parse(buf, got, m, e) == -1) {
		/* Say which file. */
		if (e != NULL && strstr(e->detail, path) == NULL) {
			char d[SX_DETAIL_MAX];

			/* A cut-off detail is still worth showing. */
			if (snprintf(d, sizeof(d), "%s: %s", path, e->detail) >= 0)
				strlcpy(e->detail, d, sizeof(e->detail));
		}
		goto out;
	}
	if (strcmp(m->id, id) != 0) {
		queue_meta_free(m);
		sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "%s: belongs to another message", path);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int
queue_fsync_dir(const char *dir, struct sx_err *e)
{
	int fd, rc = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return queue_syserr(e, errno, "cannot open queue directory", dir);
	if (fsync(fd) == -1 && errno != EINVAL)
		rc = queue_syserr(e, errno, "cannot sync queue directory", dir);
	close(fd);
	return rc;
}

int
queue_meta_write(const char *dir, const struct queue_meta *m, struct sx_err *e)
{
	char tmp[4200], path[4200], *text;
	size_t len, off = 0;
	ssize_t n;
	int fd;

	if (queue_path(tmp, sizeof(tmp), dir, m->id, ".meta.tmp") == -1 ||
	    queue_path(path, sizeof(path), dir, m->id, ".meta") == -1)
		return sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
	if ((text = queue_meta_format(m)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
	len = strlen(text);
	/* Fixed tmp name: only the holder of the message's lock writes it. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		free(text);
		return queue_syserr(e, errno, "cannot create", tmp);
	}
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			queue_syserr(e, errno, "cannot write", tmp);
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0600) == -1 || fsync(fd) == -1) {
		queue_syserr(e, errno, "cannot sync", tmp);
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		queue_syserr(e, errno, "cannot close", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		queue_syserr(e, errno, "cannot rename", tmp);
		goto fail;
	}
	free(text);
	return queue_fsync_dir(dir, e);
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(text);
	return -1;
}

void
queue_meta_free(struct queue_meta *m)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->account);
	free(m->from);
	free(m->dsn_notify);
	free(m->dsn_ret);
	free(m->dsn_envid);
	free(m->err_text);
	memset(m, 0, sizeof(*m));
}

int
queue_meta_fail(struct queue_meta *m, const struct sx_err *err, time_t now)
{
	char text[QUEUE_ERR_MAX], reply[SX_REPLY_MAX];
	char *p;

	m->attempts++;
	if (m->first_attempt == 0)
		m->first_attempt = now;
	m->last_attempt = now;
	m->err_class = err->cls != SX_OK ? err->cls : SX_INTERNAL;
	m->err_stage = err->stage;
	m->err_exit = sx_exitcode(err);
	m->err_code = err->reply_code;
	/* One line: the reply's lines joined by " / ". */
	strlcpy(reply, err->reply, sizeof(reply));
	for (p = reply; (p = strchr(p, '\n')) != NULL;)
		*p = '/';
	/* Cut to QUEUE_ERR_MAX: the listing shows one line. */
	if (snprintf(text, sizeof(text), "%s%s%s", err->detail,
		reply[0] != '\0' ? "; server said: " : "", reply) < 0)
		text[0] = '\0';
	sx_sanitize(text, sizeof(text), text, strlen(text), 0);
	free(m->err_text);
	if ((m->err_text = strdup(text)) == NULL)
		return -1;
	m->state = queue_is_permanent(err) ? QUEUE_FAILED : QUEUE_DEFERRED;
	return 0;
}

int
queue_is_permanent(const struct sx_err *err)
{
	switch (err->cls) {
	case SX_PERM:
	case SX_NOUSER:
	case SX_DATA:
	case SX_USAGE:
		return 1;
	default:
		/* Server down, TLS or AUTH trouble: not the message's fault; -q retries. */
		return 0;
	}
}

enum queue_state
queue_state_at(const struct queue_meta *m, time_t now, long max_age)
{
	if (m->state == QUEUE_DEFERRED && max_age > 0 && now - m->created > max_age)
		return QUEUE_EXPIRED;
	return m->state;
}

const char *
queue_state_name(enum queue_state s)
{
	if ((int)s < 0 || s > QUEUE_EXPIRED)
		return "?";
	return queue_state_names[s];
}

long
queue_backoff(unsigned attempts)
{
	long s = QUEUE_BACKOFF0;

	if (attempts == 0)
		return 0;
	while (--attempts > 0 && s < QUEUE_BACKOFF_N)
		s *= 2;
	return s < QUEUE_BACKOFF_N ? s : QUEUE_BACKOFF_N;
}

int
queue_due(const struct queue_meta *m, time_t now, long max_age)
{
	if (queue_state_at(m, now, max_age) != QUEUE_DEFERRED)
		return 0;
	return now >= m->last_attempt + queue_backoff(m->attempts);
}

int
queue_remove_files(const char *dir, const char *id, struct sx_err *e)
{
	char path[4200];

	if (queue_path(path, sizeof(path), dir, id, ".msg") == -1)
		return sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
	if (unlink(path) == -1 && errno != ENOENT)
		return queue_syserr(e, errno, "cannot remove", path);
	/* Gone first, so a crash here leaves metadata without a message: ignored. */
	queue_path(path, sizeof(path), dir, id, ".meta");
	if (unlink(path) == -1 && errno != ENOENT)
		return queue_syserr(e, errno, "cannot remove", path);
	return 0;
}

int
queue_remove(const char *dir, const char *id, struct sx_err *e)
{
	int fd, rc;

	if (!queue_id_valid(id))
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "%s is not a message id (32 hex digits, as -bp lists them)", id);
	if ((fd = queue_lock(dir, id, 1, e)) == -1)
		return -1;
	if (fd == -2) {
		char path[4200];

		queue_path(path, sizeof(path), dir, id, ".msg");
		if (access(path, F_OK) == -1)
			return sx_fail(e, SX_USAGE, STAGE_QUEUE, "no message %s in %s", id, dir);
		return sx_fail(e, SX_TEMP, STAGE_QUEUE,
		    "message %s is being delivered right now; not removed", id);
	}
	rc = queue_remove_files(dir, id, e);
	if (rc == 0)
		rc = queue_fsync_dir(dir, e);
	close(fd);
	return rc;
}

static int
queue_entry_cmp(const void *a, const void *b)
{
	const struct queue_entry *x = a, *y = b;

	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Every DIR/<id>.msg, oldest first.  *out is malloc'ed.  0 or -1. */
static int
queue_scan(const char *dir, struct queue_entry **out, size_t *n, struct sx_err *e)
{
	struct queue_entry *v = NULL, *nv;
	struct queue_meta m;
	struct dirent *de;
	struct stat sb;
	char path[4200];
	size_t cap = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0; /* never created: nothing was ever queued */
		return queue_syserr(e, errno, "cannot read queue directory", dir);
	}
	while ((de = readdir(d)) != NULL) {
		struct queue_entry ent;

		if (queue_id_of(de->d_name, ent.id) == -1)
			continue;
		if (queue_path(path, sizeof(path), dir, ent.id, ".msg") == -1 ||
		    stat(path, &sb) == -1)
			continue; /* delivered meanwhile */
		ent.when = sb.st_mtime;
		ent.size = (unsigned long long)sb.st_size;
		if (queue_meta_read(dir, ent.id, &m, NULL) == 0) {
			ent.when = m.created;
			queue_meta_free(&m);
		}
		if (*n == cap) {
			cap = cap == 0 ? 64 : 2 * cap;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				free(v);
				closedir(d);
				return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
			}
			v = nv;
		}
		v[(*n)++] = ent;
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), queue_entry_cmp);
	*out = v;
	return 0;
}

/* "42s", "17m", "3h05m", "2d04h". */
static const char *
queue_age(char *buf, size_t sz, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, sz, "%llds", s);
	else if (s < 3600)
		snprintf(buf, sz, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(buf, sz, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(buf, sz, "%lldd%02lldh", s / 86400, s / 3600 % 24);
	return buf;
}

/* Print an address without letting it drive the terminal. */
static void
queue_print_safe(FILE *f, const char *s)
{
	char buf[1024];

	sx_sanitize(buf, sizeof(buf), s, strlen(s), 0);
	fputs(buf, f);
}

int
queue_list(FILE *f, const char *dir, time_t now, long max_age, struct sx_err *e)
{
	struct queue_entry *v;
	struct queue_meta m;
	struct sx_err me;
	char age[32];
	size_t n, i, j;
	int fd;

	if (queue_scan(dir, &v, &n, e) == -1)
		return -1;
	if (n == 0) {
		fprintf(f, "queue is empty (%s)\n", dir);
		free(v);
		return 0;
	}
	for (i = 0; i < n; i++) {
		sx_clear(&me);
		fprintf(f, "%s %7s %9llu ", v[i].id,
		    queue_age(age, sizeof(age), (long long)(now - v[i].when)), v[i].size);
		if (queue_meta_read(dir, v[i].id, &m, &me) == -1) {
			/* Being taken in right now, or its sender died before the envelope was written. */
			if (me.sys_errno == ENOENT) {
				fd = queue_lock(dir, v[i].id, 1, NULL);
				if (fd >= 0)
					close(fd);
				fprintf(
				    f, "%s (no envelope)\n", fd == -2 ? "sending" : "incomplete");
			} else
				fprintf(f, "bad-metadata %s\n", me.detail);
			continue;
		}
		fprintf(f, "%s attempts=%u <", queue_state_name(queue_state_at(&m, now, max_age)),
		    m.attempts);
		queue_print_safe(f, m.from);
		fputs("> ->", f);
		for (j = 0; j < m.nrcpts; j++) {
			fputs(j == 0 ? " " : ",", f);
			queue_print_safe(f, m.rcpts[j]);
		}
		if (m.err_class != SX_OK) {
			fprintf(f, " | %s: ", sx_stage_name(m.err_stage));
			queue_print_safe(f, m.err_text != NULL ? m.err_text : "");
		} else if (m.attempts == 0)
			fputs(" | not tried yet", f);
		fputc('\n', f);
		queue_meta_free(&m);
	}
	free(v);
	if (fflush(f) != 0)
		return queue_syserr(e, errno, "cannot write", "the listing");
	return (int)n;
}

/* Is this failure about the server or setup rather than the message? */
static int
queue_not_message_fault(const struct sx_err *err)
{
	return err->cls != SX_PERM && err->cls != SX_NOUSER && err->cls != SX_DATA &&
	       err->cls != SX_USAGE;
}

/* Try one message: lock, re-read, decide, deliver, record.  1 when tried. */
static int
queue_flush_one(const char *dir, const char *id, const struct queue_flush_opts *o,
    const struct queue_flush_ops *ops, struct queue_stats *st, struct sx_err *lasterr)
{
	struct queue_meta m;
	struct sx_err e, we;
	enum queue_state s;
	enum queue_outcome out;
	int fd, rc;

	sx_clear(&e);
	sx_clear(lasterr);
	if ((fd = queue_lock(dir, id, 1, &e)) == -2) {
		st->locked++;
		return 0;
	}
	if (fd == -1)
		goto bad;
	/* Read only now: whoever held the lock before may have changed it. */
	if (queue_meta_read(dir, id, &m, &e) == -1) {
		close(fd);
		if (e.sys_errno == ENOENT)
			return 0; /* incomplete: no envelope to send with */
		goto bad;
	}
	s = queue_state_at(&m, o->now, o->max_age);
	if (o->only_id == NULL) {
		if (s == QUEUE_EXPIRED && m.state != QUEUE_EXPIRED) {
			/* Mark it once, so -bp and the log agree; never deleted. */
			m.state = QUEUE_EXPIRED;
			sx_clear(&we);
			queue_meta_write(dir, &m, &we);
			st->expired++;
			if (ops->report != NULL)
				ops->report(ops->ctx, &m, QUEUE_NOW_EXPIRED, NULL);
		}
		if (s != QUEUE_DEFERRED ||
		    (o->respect_backoff && !queue_due(&m, o->now, o->max_age))) {
			queue_meta_free(&m);
			close(fd);
			return 0;
		}
	} else if (m.nrcpts == 0 || (m.err_stage == STAGE_INTAKE && m.err_class == SX_DATA)) {
		/* The message itself cannot be sent (a NUL byte): trying again cannot help. */
		sx_fail(lasterr, SX_DATA, STAGE_QUEUE,
		    "message %s was refused at intake (%s) and cannot be sent; remove it with "
		    "--queue-remove",
		    id, m.err_text != NULL ? m.err_text : "bad message");
		if (ops->report != NULL)
			ops->report(ops->ctx, &m, QUEUE_NOW_FAILED, lasterr);
		queue_meta_free(&m);
		close(fd);
		st->failed++;
		return 1;
	}
	rc = ops->deliver(ops->ctx, &m, fd, &e);
	if (rc == 0) {
		sx_clear(&we);
		if (queue_remove_files(dir, id, &we) == -1 && ops->report != NULL)
			ops->report(ops->ctx, &m, QUEUE_SENT, &we);
		else if (ops->report != NULL)
			ops->report(ops->ctx, &m, QUEUE_SENT, NULL);
		st->sent++;
		queue_meta_free(&m);
		close(fd);
		return 1;
	}
	queue_meta_fail(&m, &e, o->now);
	out = m.state == QUEUE_FAILED ? QUEUE_NOW_FAILED : QUEUE_STILL_DEFERRED;
	sx_clear(&we);
	if (queue_meta_write(dir, &m, &we) == -1 && ops->report != NULL)
		ops->report(ops->ctx, &m, QUEUE_BAD_META, &we);
	if (out == QUEUE_NOW_FAILED)
		st->failed++;
	else
		st->deferred++;
	if (ops->report != NULL)
		ops->report(ops->ctx, &m, out, &e);
	*lasterr = e;
	queue_meta_free(&m);
	close(fd);
	return 1;
bad:
	st->bad++;
	if (ops->report != NULL) {
		memset(&m, 0, sizeof(m));
		strlcpy(m.id, id, sizeof(m.id));
		ops->report(ops->ctx, &m, QUEUE_BAD_META, &e);
	}
	*lasterr = e;
	return 0;
}

int
queue_flush(const char *dir, const struct queue_flush_opts *o, const struct queue_flush_ops *ops,
    struct queue_stats *st, struct sx_err *e)
{
	struct queue_entry *v;
	struct sx_err last;
	size_t n, i;
	unsigned tried = 0;
	int found = 0;

	memset(st, 0, sizeof(*st));
	if (o->only_id != NULL && !queue_id_valid(o->only_id))
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "%s is not a message id (32 hex digits, as -bp lists them)", o->only_id);
	if (queue_scan(dir, &v, &n, e) == -1)
		return -1;
	for (i = 0; i < n && !sigflag_caught(); i++) {
		if (o->only_id != NULL && strcmp(v[i].id, o->only_id) != 0)
			continue;
		found = 1;
		if (o->max_msgs > 0 && tried >= o->max_msgs)
			break;
		tried += (unsigned)queue_flush_one(dir, v[i].id, o, ops, st, &last);
		if (last.cls != SX_OK && st->first.cls == SX_OK)
			st->first = last;
		if (o->stop_on_tempfail && last.cls != SX_OK && queue_not_message_fault(&last))
			break;
		/* Each further message would wait out the same connect time-out. */
		if (o->stop_on_unreachable && (last.cls == SX_TEMP || last.cls == SX_NOHOST) &&
		    (last.stage == STAGE_RESOLVE || last.stage == STAGE_CONNECT))
			break;
	}
	free(v);
	if (o->only_id != NULL && !found)
		return sx_fail(e, SX_USAGE, STAGE_QUEUE, "no message %s in %s", o->only_id, dir);
	if (o->only_id != NULL && st->locked > 0)
		return sx_fail(e, SX_TEMP, STAGE_QUEUE,
		    "message %s is being delivered by another process", o->only_id);
	if (st->first.cls != SX_OK) {
		if (e != NULL && e->cls == SX_OK)
			*e = st->first;
		return -1;
	}
	return 0;
}
