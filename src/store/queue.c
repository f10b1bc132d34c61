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
#include <time.h>
#include <unistd.h>

#include "store/queue.h"
#include "core/fsutil.h"
#include "store/spool.h"
#include "core/sigflag.h"

#define QUEUE_BACKOFF0  60L /* first automatic retry after a minute */
#define QUEUE_BACKOFF_N (4L * 3600)

int
queue_dir_path(const char *queue_dir, char *buf, size_t sz, struct sx_err *e)
{
	if (queue_dir == NULL || *queue_dir == '\0')
		return fs_state_dir("queue", buf, sz, e);
	if (strlcpy(buf, queue_dir, sz) >= sz)
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG, "queue_dir is too long");
	return 0;
}

int
queue_dir_check(const char *dir, struct sx_err *e)
{
	struct sx_err oe;
	int fd;

	sx_clear(&oe);
	if ((fd = fs_open_trusted_dir(dir, "queue", &oe, STAGE_QUEUE)) >= 0) {
		close(fd);
		return 0;
	}
	if (oe.sys_errno == ENOENT)
		return 0; /* never created: nothing was ever queued */
	return sx_adopt(e, &oe, STAGE_QUEUE);
}

int
queue_dir_prepare(const char *dir, struct sx_err *e)
{
	/* 0700: the queue holds other people's mail. */
	if (fs_mkdirs(dir, "queue", e, STAGE_QUEUE) == -1 || queue_dir_check(dir, e) == -1)
		return -1;
	if (access(dir, W_OK | X_OK) == -1)
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot write to queue directory", dir);
	return 0;
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
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot open", path);
	}
	/* Planted by someone else, or a second name of another file: not ours to send. */
	if (fs_trust_fd(fd, path, FS_TRUST_FILE, e, STAGE_QUEUE) == -1) {
		close(fd);
		return -1;
	}
	while (flock(fd, LOCK_EX | (nowait ? LOCK_NB : 0)) == -1) {
		if (errno == EINTR && !nowait)
			continue;
		close(fd);
		if (errno == EWOULDBLOCK)
			return -2;
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot lock", path);
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

enum queue_state
queue_state_at(const struct queue_meta *m, time_t now, long max_age)
{
	if (m->state == QUEUE_DEFERRED && max_age > 0 && now - m->created > max_age)
		return QUEUE_EXPIRED;
	return m->state;
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

time_t
queue_due_at(const struct queue_meta *m, long max_backoff)
{
	long b = queue_backoff(m->attempts);

	if (max_backoff > 0 && b > max_backoff)
		b = max_backoff;
	return m->last_attempt + b;
}

int
queue_remove_files(const char *dir, const char *id, struct sx_err *e)
{
	char path[4200];

	if (queue_path(path, sizeof(path), dir, id, ".msg") == -1)
		return sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
	if (unlink(path) == -1 && errno != ENOENT)
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot remove", path);
	/* Gone first, so a crash here leaves metadata without a message: ignored. */
	queue_path(path, sizeof(path), dir, id, ".meta");
	if (unlink(path) == -1 && errno != ENOENT)
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot remove", path);
	return 0;
}

int
queue_remove(const char *dir, const char *id, struct sx_err *e)
{
	int fd, rc;

	if (!queue_id_valid(id))
		return sx_fail(e, SX_USAGE, STAGE_ARGS,
		    "%s is not a message id (32 hex digits, as -bp lists them)", id);
	if (queue_dir_check(dir, e) == -1)
		return -1;
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
		rc = fs_fsync_dir(dir, e, STAGE_QUEUE);
	close(fd);
	return rc;
}

/* FNV-1a over the account name and the relay record: which messages share a relay. */
static uint64_t
queue_group_of(const struct queue_meta *m)
{
	uint64_t h = 14695981039346656037ULL;
	const char *p;
	size_t i;

	for (i = 0; i <= 2 * m->nrelay; i++) {
		p = i == 0 ? (m->account != NULL ? m->account : "") : m->relay[i - 1];
		for (; *p != '\0'; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL; /* a separator no text holds */
	}
	return h != 0 ? h : 1;
}

static int
queue_entry_cmp(const void *a, const void *b)
{
	const struct queue_entry *x = a, *y = b;

	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	return strcmp(x->id, y->id);
}

int
queue_scan(const char *dir, struct queue_entry **out, size_t *n, struct sx_err *e)
{
	struct queue_entry *v = NULL, *nv;
	struct queue_meta m;
	struct dirent *de;
	struct stat sb;
	char path[4200];
	size_t cap = 0;
	struct sx_err oe;
	DIR *d;
	int fd;

	*out = NULL;
	*n = 0;
	sx_clear(&oe);
	if ((fd = fs_open_trusted_dir(dir, "queue", &oe, STAGE_QUEUE)) == -1) {
		if (oe.sys_errno == ENOENT)
			return 0; /* never created: nothing was ever queued */
		return sx_adopt(e, &oe, STAGE_QUEUE);
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot read queue directory", dir);
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
		ent.group = 0;
		if (queue_meta_read(dir, ent.id, &m, NULL) == 0) {
			ent.when = m.created;
			ent.group = queue_group_of(&m);
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

/* "<32 hex>.tmp": its id into id.  0 or -1. */
static int
queue_tmp_id(const char *name, char *id)
{
	if (strlen(name) != QUEUE_ID_LEN + 4 || strcmp(name + QUEUE_ID_LEN, ".tmp") != 0)
		return -1;
	memcpy(id, name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	return queue_id_valid(id) ? 0 : -1;
}

/*
 * Open and try to lock DIR/<id>.tmp.  Returns the locked descriptor (its
 * writer is gone), -2 when its writer holds it or it went away meanwhile,
 * or -1 (not ours to trust: e names why).
 */
static int
queue_tmp_lock(const char *dir, const char *id, struct stat *sb, struct sx_err *e)
{
	char path[4200];
	int fd;

	if (queue_path(path, sizeof(path), dir, id, ".tmp") == -1)
		return sx_fail(e, SX_LOCALIO, STAGE_QUEUE, "queue path too long");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return errno == ENOENT ? -2 : fs_syserr(e, STAGE_QUEUE, errno, "cannot open", path);
	if (fs_trust_fd(fd, path, FS_TRUST_FILE, e, STAGE_QUEUE) == -1) {
		close(fd);
		return -1;
	}
	/* Renamed or removed under us: a lock on it would settle nothing. */
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 || fstat(fd, sb) == -1 || sb->st_nlink == 0) {
		close(fd);
		return -2;
	}
	return fd;
}

int
queue_scan_tmp(const char *dir, struct queue_tmp **out, size_t *n, struct sx_err *e)
{
	struct queue_tmp *v = NULL, *nv, t;
	struct dirent *de;
	struct stat sb;
	char path[4200];
	size_t cap = 0;
	DIR *d;
	int fd;

	*out = NULL;
	*n = 0;
	if ((fd = fs_open_trusted_dir(dir, "queue", NULL, STAGE_QUEUE)) == -1)
		return 0; /* queue_scan reports what is wrong with the directory */
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot read queue directory", dir);
	}
	while ((de = readdir(d)) != NULL) {
		if (queue_tmp_id(de->d_name, t.id) == -1)
			continue;
		if ((fd = queue_tmp_lock(dir, t.id, &sb, NULL)) == -1)
			continue;
		if (fd == -2) {
			t.state = QUEUE_TMP_RECEIVING;
			if (queue_path(path, sizeof(path), dir, t.id, ".tmp") == -1 ||
			    stat(path, &sb) == -1)
				continue;
		} else {
			queue_path(path, sizeof(path), dir, t.id, ".meta");
			t.state = access(path, F_OK) == 0 ? QUEUE_TMP_WHOLE : QUEUE_TMP_PARTIAL;
			close(fd);
		}
		t.size = (unsigned long long)sb.st_size;
		t.mtime = sb.st_mtime;
		if (*n == cap) {
			cap = cap == 0 ? 8 : 2 * cap;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				free(v);
				closedir(d);
				return sx_fail(e, SX_INTERNAL, STAGE_QUEUE, "out of memory");
			}
			v = nv;
		}
		v[(*n)++] = t;
	}
	closedir(d);
	*out = v;
	return 0;
}

/*
 * An envelope's temporary file (fs_write_atomic: ID.meta.PID.tmp) lives
 * for a write and a rename; one this old was left by a killed writer.
 * Age, not the pid: a writer in another pid namespace (a container on
 * the same volume) would look dead.
 */
#define QUEUE_STALE_META_TMP_S 3600

/* Is name ID.meta.PID.tmp? */
static int
queue_is_meta_tmp(const char *name)
{
	char id[QUEUE_ID_LEN + 1];
	const char *p;

	if (strlen(name) <= QUEUE_ID_LEN || strncmp(name + QUEUE_ID_LEN, ".meta.", 6) != 0)
		return 0;
	memcpy(id, name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	if (!queue_id_valid(id))
		return 0;
	for (p = name + QUEUE_ID_LEN + 6; *p >= '0' && *p <= '9'; p++)
		;
	return p > name + QUEUE_ID_LEN + 6 && strcmp(p, ".tmp") == 0;
}

/* Remove the envelope temporaries killed writers left (queue_is_meta_tmp). */
static void
queue_sweep_meta_tmp(const char *dir, time_t now)
{
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd;

	if ((fd = fs_open_trusted_dir(dir, "queue", NULL, STAGE_QUEUE)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (queue_is_meta_tmp(de->d_name) &&
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) && sb.st_mtime + QUEUE_STALE_META_TMP_S < now)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

int
queue_settle_tmp(const char *dir, unsigned *whole, unsigned *partial, struct sx_err *e)
{
	struct queue_tmp *v;
	struct stat sb;
	char tmp[4200], msg[4200];
	size_t n, i;
	int fd, rc = 0;

	*whole = *partial = 0;
	queue_sweep_meta_tmp(dir, time(NULL));
	if (queue_scan_tmp(dir, &v, &n, e) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i].state == QUEUE_TMP_RECEIVING ||
		    (fd = queue_tmp_lock(dir, v[i].id, &sb, NULL)) < 0)
			continue;
		queue_path(tmp, sizeof(tmp), dir, v[i].id, ".tmp");
		queue_path(msg, sizeof(msg), dir, v[i].id, ".meta");
		/* Decided again under the lock: the first look was without it. */
		if (access(msg, F_OK) == 0) {
			queue_path(msg, sizeof(msg), dir, v[i].id, ".msg");
			if (rename(tmp, msg) == 0)
				(*whole)++;
			else
				rc = fs_syserr(e, STAGE_QUEUE, errno, "cannot rename", tmp);
		} else if (unlink(tmp) == 0) {
			/* Removed while we hold its lock: spool_create checks for this race. */
			(*partial)++;
		}
		close(fd);
	}
	free(v);
	if (*whole + *partial > 0 && fs_fsync_dir(dir, e, STAGE_QUEUE) == -1)
		rc = -1;
	return rc;
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

	sx_sanitize_text(buf, sizeof(buf), s, strlen(s), 0);
	fputs(buf, f);
}

int
queue_list(FILE *f, const char *dir, time_t now, long max_age, struct sx_err *e)
{
	struct queue_tmp *t;
	size_t nt;
	struct queue_entry *v;
	struct queue_meta m;
	struct sx_err me;
	char age[32];
	size_t n, i, j;
	int fd;

	if (queue_scan(dir, &v, &n, e) == -1)
		return -1;
	if (queue_scan_tmp(dir, &t, &nt, e) == -1) {
		free(v);
		return -1;
	}
	if (n + nt == 0) {
		fprintf(f, "queue is empty (%s)\n", dir);
		free(v);
		free(t);
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
		/* A live process holds the lock of a message it is sending. */
		fd = queue_lock(dir, v[i].id, 1, NULL);
		if (fd >= 0)
			close(fd);
		fprintf(f, "%s attempts=%u <",
		    fd == -2 ? "sending" : queue_state_name(queue_state_at(&m, now, max_age)),
		    m.attempts);
		queue_print_safe(f, m.from);
		fputs("> ->", f);
		for (j = 0; j < m.nrcpts; j++) {
			fputs(j == 0 ? " " : ",", f);
			queue_print_safe(f, m.rcpts[j]);
		}
		if (fd == -2) {
			fputs(" | being sent by a running process", f);
		} else if (m.err_class != SX_OK) {
			fprintf(f, " | %s: ", sx_stage_name(m.err_stage));
			queue_print_safe(f, m.err_text != NULL ? m.err_text : "");
		} else if (m.attempts == 0)
			fputs(" | not tried yet", f);
		fputc('\n', f);
		queue_meta_free(&m);
	}
	/* Intakes that did not finish: nothing is hidden, not even these. */
	for (i = 0; i < nt; i++)
		fprintf(f, "%s %7s %9llu %s\n", t[i].id,
		    queue_age(age, sizeof(age), (long long)(now - t[i].mtime)), t[i].size,
		    t[i].state == QUEUE_TMP_RECEIVING ? "receiving (its message is being read)"
		    : t[i].state == QUEUE_TMP_WHOLE
			? "incomplete (the sender died before queuing it; -q queues and sends it)"
			: "partial (the sender died while the message was read; -q removes it)");
	free(t);
	free(v);
	if (fflush(f) != 0)
		return fs_syserr(e, STAGE_QUEUE, errno, "cannot write", "the listing");
	return (int)n;
}
