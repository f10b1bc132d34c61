/*
 * queue_meta.c — the metadata file (see queue_meta.h).  One key table
 * drives both the writer and the reader, so a field cannot be written in
 * one format and read in another.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "core/fsutil.h"
#include "store/queue_meta.h"

#define QUEUE_MAGIC     "smtps-send-queue 1"
#define QUEUE_META_MAX  (4L << 20) /* bytes: thousands of recipients, bounded */
#define QUEUE_ERR_MAX   1024       /* bytes of the one-line last error */
#define QUEUE_RELAY_MAX 64         /* pairs in a relay record */

enum qk_type {
	QK_ID,    /* the fixed-size id */
	QK_STR,   /* char *, %-escaped; absent when NULL */
	QK_TEXT,  /* char *, always written ("" for NULL) */
	QK_LIST,  /* the recipients: one line each */
	QK_PAIRS, /* the relay record: "key value", one line each */
	QK_ULL,   /* unsigned long long */
	QK_FLAG,  /* int, 0 or 1 */
	QK_TIME,  /* time_t, >= 0 */
	QK_COUNT, /* unsigned */
	QK_CODE,  /* int, 0..999 */
	QK_STATE, /* enum queue_state by name */
	QK_CLASS, /* enum sx_class by name */
	QK_STAGE  /* enum sx_stage by name */
};

#define QK_REQUIRED 0x01 /* a file without it is refused */
#define QK_ERROR    0x02 /* written only when an error is recorded */

struct qkey {
	const char *name;
	enum qk_type type;
	size_t off;
	int flags;
};

#define QK(name, type, field, flags)                                                               \
	{                                                                                          \
		name, type, offsetof(struct queue_meta, field), flags                              \
	}
static const struct qkey queue_keys[] = {
    QK("id", QK_ID, id, QK_REQUIRED),
    QK("state", QK_STATE, state, 0),
    QK("account", QK_STR, account, 0),
    QK("from", QK_TEXT, from, QK_REQUIRED),
    QK("rcpt", QK_LIST, rcpts, 0),
    QK("size", QK_ULL, size, 0),
    QK("8bit", QK_FLAG, body_8bit, 0),
    QK("smtputf8", QK_FLAG, needs_smtputf8, 0),
    QK("relay", QK_PAIRS, relay, 0),
    QK("dsn_notify", QK_STR, dsn_notify, 0),
    QK("dsn_ret", QK_STR, dsn_ret, 0),
    QK("dsn_envid", QK_STR, dsn_envid, 0),
    QK("created", QK_TIME, created, 0),
    QK("first_attempt", QK_TIME, first_attempt, 0),
    QK("last_attempt", QK_TIME, last_attempt, 0),
    QK("attempts", QK_COUNT, attempts, 0),
    QK("error_class", QK_CLASS, err_class, QK_ERROR),
    QK("error_stage", QK_STAGE, err_stage, QK_ERROR),
    QK("error_exit", QK_CODE, err_exit, QK_ERROR),
    QK("error_code", QK_CODE, err_code, QK_ERROR),
    QK("error", QK_TEXT, err_text, QK_ERROR),
    QK("error_enhanced", QK_STR, err_enhanced, QK_ERROR),
    QK("dsn", QK_STR, dsn, 0),
};
#define QUEUE_NKEYS (sizeof(queue_keys) / sizeof(queue_keys[0]))

static const char *const queue_state_names[QUEUE_STATE_LAST] = {
    [QUEUE_DEFERRED] = "deferred",
    [QUEUE_FAILED] = "failed",
    [QUEUE_EXPIRED] = "expired",
    [QUEUE_HELD] = "held",
};

/* Class names as stored (stable across versions, unlike the enum's values). */
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
#define QUEUE_NCLASSES (sizeof(queue_class_names) / sizeof(queue_class_names[0]))

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
queue_path(char *buf, size_t sz, const char *dir, const char *id, const char *suffix)
{
	int n = snprintf(buf, sz, "%s/%s%s", dir, id, suffix);

	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

const char *
queue_state_name(enum queue_state s)
{
	if ((int)s < 0 || s >= QUEUE_STATE_LAST)
		return "?";
	return queue_state_names[s];
}

/* Stored strings: '%', control bytes and DEL as %XX; UTF-8 kept as is. */
static void
queue_put(FILE *f, const char *key, const char *v)
{
	const unsigned char *p;

	fprintf(f, "%s ", key);
	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '%')
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
	fputc('\n', f);
}

/* Two hex digits at s into *out.  0 or -1. */
static int
queue_hexbyte(const char *s, unsigned char *out)
{
	char two[3] = {s[0], s[1], '\0'};
	gnutls_datum_t in = {(unsigned char *)two, 2};
	size_t n = 1;

	return gnutls_hex_decode(&in, out, &n) == 0 && n == 1 ? 0 : -1;
}

/* Decode a stored value (len bytes) into a new string; NULL on bad escapes or NUL. */
static char *
queue_unescape(const char *s, size_t len)
{
	unsigned char c;
	char *out, *o;
	size_t i;

	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= len || queue_hexbyte(s + i + 1, &c) == -1 || c == 0)
			goto bad;
		*o++ = (char)c;
		i += 2;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
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

	if (len == 0 || len >= sizeof(buf) || v[0] == '-' || v[0] == '+' || v[0] == ' ')
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

/* Write one key of m. */
static void
queue_format_key(FILE *f, const struct qkey *k, const struct queue_meta *m)
{
	const char *base = (const char *)m + k->off, *str = NULL;
	size_t i;

	if (k->type == QK_STR || k->type == QK_TEXT)
		str = *(const char *const *)(const void *)base;

	switch (k->type) {
	case QK_ID:
		fprintf(f, "%s %s\n", k->name, m->id);
		break;
	case QK_STR:
		if (str != NULL)
			queue_put(f, k->name, str);
		break;
	case QK_TEXT:
		queue_put(f, k->name, str != NULL ? str : "");
		break;
	case QK_LIST:
		for (i = 0; i < m->nrcpts; i++)
			queue_put(f, k->name, m->rcpts[i]);
		break;
	case QK_PAIRS:
		for (i = 0; i < m->nrelay; i++) {
			/* The key is one of conf's names: no space, nothing to escape. */
			fprintf(f, "%s %s", k->name, m->relay[2 * i]);
			queue_put(f, "", m->relay[2 * i + 1]);
		}
		break;
	case QK_ULL:
		fprintf(f, "%s %llu\n", k->name, *(const unsigned long long *)(const void *)base);
		break;
	case QK_FLAG:
		fprintf(f, "%s %d\n", k->name, *(const int *)(const void *)base ? 1 : 0);
		break;
	case QK_TIME:
		fprintf(f, "%s %lld\n", k->name, (long long)*(const time_t *)(const void *)base);
		break;
	case QK_COUNT:
		fprintf(f, "%s %u\n", k->name, *(const unsigned *)(const void *)base);
		break;
	case QK_CODE:
		fprintf(f, "%s %d\n", k->name, *(const int *)(const void *)base);
		break;
	case QK_STATE:
		fprintf(f, "%s %s\n", k->name, queue_state_name(m->state));
		break;
	case QK_CLASS:
		fprintf(f, "%s %s\n", k->name,
		    (size_t)m->err_class < QUEUE_NCLASSES ? queue_class_names[m->err_class]
							  : "internal");
		break;
	case QK_STAGE:
		fprintf(f, "%s %s\n", k->name, sx_stage_name(m->err_stage));
		break;
	}
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
	for (i = 0; i < QUEUE_NKEYS; i++)
		if (!(queue_keys[i].flags & QK_ERROR) || m->err_class != SX_OK)
			queue_format_key(f, &queue_keys[i], m);
	/* A file without this line was cut short (disk full, crash mid-write). */
	fprintf(f, "end\n");
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Append a pair whose strings m takes over.  0 or -1. */
static int
queue_meta_take_relay(struct queue_meta *m, char *key, char *value)
{
	char **nv;

	/* A key is one of conf's names; anything else could not be written back safely. */
	if (key[0] == '\0' || key[strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_")] != '\0')
		return -1;
	if (m->nrelay >= QUEUE_RELAY_MAX ||
	    (nv = reallocarray(m->relay, 2 * (m->nrelay + 1), sizeof(*nv))) == NULL)
		return -1;
	m->relay = nv;
	m->relay[2 * m->nrelay] = key;
	m->relay[2 * m->nrelay + 1] = value;
	m->nrelay++;
	return 0;
}

int
queue_meta_add_relay(struct queue_meta *m, const char *key, const char *value)
{
	char *k = strdup(key), *v = strdup(value);

	if (k == NULL || v == NULL || queue_meta_take_relay(m, k, v) == -1) {
		free(k);
		free(v);
		return -1;
	}
	return 0;
}

/* Take one "key value" line into m.  0, or -1 when the value is bad. */
static int
queue_parse_key(const struct qkey *k, const char *v, size_t len, struct queue_meta *m)
{
	char *base = (char *)m + k->off, **str = (char **)(void *)base, *s, *val, **nv;
	const char *sp;
	long long n;
	int x;

	switch (k->type) {
	case QK_ID:
		if (len != QUEUE_ID_LEN)
			return -1;
		memcpy(m->id, v, QUEUE_ID_LEN);
		m->id[QUEUE_ID_LEN] = '\0';
		return queue_id_valid(m->id) ? 0 : -1;
	case QK_STR:
	case QK_TEXT:
		if ((s = queue_unescape(v, len)) == NULL)
			return -1;
		free(*str);
		*str = s;
		return 0;
	case QK_LIST:
		if (len == 0 || (nv = reallocarray(m->rcpts, m->nrcpts + 1, sizeof(*nv))) == NULL)
			return -1;
		m->rcpts = nv;
		if ((m->rcpts[m->nrcpts] = queue_unescape(v, len)) == NULL)
			return -1;
		m->nrcpts++;
		return 0;
	case QK_PAIRS:
		if ((sp = memchr(v, ' ', len)) == NULL || sp == v)
			return -1;
		if ((s = queue_unescape(v, (size_t)(sp - v))) == NULL)
			return -1;
		if ((val = queue_unescape(sp + 1, len - (size_t)(sp - v) - 1)) == NULL ||
		    queue_meta_take_relay(m, s, val) == -1) {
			free(s);
			free(val);
			return -1;
		}
		return 0;
	case QK_ULL:
	case QK_TIME:
		if (queue_num(v, len, 0, INT64_MAX, &n) == -1)
			return -1;
		if (k->type == QK_ULL)
			*(unsigned long long *)(void *)base = (unsigned long long)n;
		else
			*(time_t *)(void *)base = (time_t)n;
		return 0;
	case QK_FLAG:
	case QK_CODE:
		if (queue_num(v, len, 0, k->type == QK_FLAG ? 1 : 999, &n) == -1)
			return -1;
		*(int *)(void *)base = (int)n;
		return 0;
	case QK_COUNT:
		if (queue_num(v, len, 0, UINT32_MAX, &n) == -1)
			return -1;
		*(unsigned *)(void *)base = (unsigned)n;
		return 0;
	case QK_STATE:
		if ((x = queue_lookup(queue_state_names, QUEUE_STATE_LAST, v, len)) < 0)
			return -1;
		m->state = (enum queue_state)x;
		return 0;
	case QK_CLASS:
		if ((x = queue_lookup(queue_class_names, QUEUE_NCLASSES, v, len)) < 0)
			return -1;
		m->err_class = (enum sx_class)x;
		return 0;
	case QK_STAGE:
		if ((x = queue_stage_lookup(v, len)) < 0)
			return -1;
		m->err_stage = (enum sx_stage)x;
		return 0;
	}
	return -1;
}

int
queue_meta_parse(const char *text, size_t len, struct queue_meta *m, struct sx_err *e)
{
	const char *p = text, *end = text + len, *nl, *sp;
	unsigned seen = 0; /* bit i: queue_keys[i] was present */
	size_t lineno = 0, i;
	int ended = 0;

	memset(m, 0, sizeof(*m));
	for (; p < end; p = nl + 1) {
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
			continue;
		}
		if ((size_t)(nl - p) == 3 && memcmp(p, "end", 3) == 0) {
			ended = 1;
			break;
		}
		if ((sp = memchr(p, ' ', (size_t)(nl - p))) == NULL)
			goto bad;
		for (i = 0; i < QUEUE_NKEYS; i++)
			if (strlen(queue_keys[i].name) == (size_t)(sp - p) &&
			    memcmp(queue_keys[i].name, p, (size_t)(sp - p)) == 0)
				break;
		/* Unknown keys: written by a newer version; ignore them. */
		if (i == QUEUE_NKEYS)
			continue;
		if (queue_parse_key(&queue_keys[i], sp + 1, (size_t)(nl - sp - 1), m) == -1)
			goto bad;
		seen |= 1u << i;
	}
	if (lineno <= 1 && !ended) {
		sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "empty metadata file");
		goto fail;
	}
	if (!ended) {
		sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "metadata file is truncated (no end line)");
		goto fail;
	}
	/* No recipients is possible: a refused message kept as failed. */
	for (i = 0; i < QUEUE_NKEYS; i++)
		if ((queue_keys[i].flags & QK_REQUIRED) && !(seen & (1u << i))) {
			sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "metadata file lacks its %s",
			    queue_keys[i].name);
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
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot open", path);
	if (fs_trust_fd(fd, path, FS_TRUST_FILE, e, STAGE_QUEUE) == -1 || fstat(fd, &sb) == -1) {
		fs_syserr(e, STAGE_QUEUE, errno, "cannot stat", path);
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
			fs_syserr(e, STAGE_QUEUE, errno, "cannot read", path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (queue_meta_parse(buf, got, m, e) == -1) {
		/* Say which file; a cut-off detail is still worth showing. */
		if (e != NULL && strstr(e->detail, path) == NULL) {
			char d[SX_DETAIL_MAX];

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

int
queue_meta_write(const char *dir, const struct queue_meta *m, struct sx_err *e)
{
	char path[4200], *text;
	int rc;

	if (queue_path(path, sizeof(path), dir, m->id, ".meta") == -1)
		return sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
	if ((text = queue_meta_format(m)) == NULL)
		return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
	rc = fs_write_atomic(path, text, strlen(text), e, STAGE_QUEUE);
	free(text);
	return rc;
}

void
queue_meta_free(struct queue_meta *m)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	for (i = 0; i < 2 * m->nrelay; i++)
		free(m->relay[i]);
	free(m->relay);
	free(m->account);
	free(m->from);
	free(m->dsn_notify);
	free(m->dsn_ret);
	free(m->dsn_envid);
	free(m->err_text);
	free(m->err_enhanced);
	free(m->dsn);
	memset(m, 0, sizeof(*m));
}

int
queue_meta_fail(struct queue_meta *m, const struct sx_err *err, time_t now, int hold)
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
	free(m->err_enhanced);
	m->err_enhanced = NULL;
	if ((m->err_text = strdup(text)) == NULL ||
	    (err->enhanced[0] != '\0' && (m->err_enhanced = strdup(err->enhanced)) == NULL))
		return -1;
	m->state = sx_about_message(err) ? QUEUE_FAILED : hold ? QUEUE_HELD : QUEUE_DEFERRED;
	return 0;
}
