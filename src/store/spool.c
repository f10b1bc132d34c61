/* spool.c — spool files (see spool.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "store/spool.h"

#define SPOOL_ID_BYTES 16

static int spool_syserr(struct sx_err *, enum sx_stage, int, const char *, const char *);
static int spool_fsync_dir(const char *, struct sx_err *, enum sx_stage);
static char *spool_join(const char *, const char *, const char *);

/* Record "what path: strerror" with the errno, unless an error is recorded. */
static int
spool_syserr(struct sx_err *e, enum sx_stage st, int errnum, const char *what, const char *path)
{
	if (e != NULL && e->cls == SX_OK) {
		sx_fail(e, SX_LOCALIO, st, "%s %s: %s", what, path, strerror(errnum));
		e->sys_errno = errnum;
	}
	return -1;
}

int
spool_mkdirs(const char *dir, const char *what, struct sx_err *e, enum sx_stage st)
{
	char msg[64];

	struct stat sb;
	char *p, *s, c;
	int rc = -1;

	if (stat(dir, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode))
			return sx_fail(
			    e, SX_LOCALIO, st, "%s directory %s is not a directory", what, dir);
		return 0;
	}
	if ((p = strdup(dir)) == NULL)
		return sx_fail(e, SX_INTERNAL, st, "out of memory");
	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST) {
			snprintf(msg, sizeof(msg), "cannot create %s directory", what);
			spool_syserr(e, st, errno, msg, p);
			goto out;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		sx_fail(e, SX_LOCALIO, st, "%s directory %s is not a directory", what, dir);
		goto out;
	}
	rc = 0;
out:
	free(p);
	return rc;
}

/* The rename is durable only once the directory entry is on disk. */
static int
spool_fsync_dir(const char *dir, struct sx_err *e, enum sx_stage st)
{
	int fd, rc = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return spool_syserr(e, st, errno, "cannot open spool directory", dir);
	/* EINVAL: the file system cannot sync directories; nothing more to do. */
	if (fsync(fd) == -1 && errno != EINVAL)
		rc = spool_syserr(e, st, errno, "cannot sync spool directory", dir);
	close(fd);
	return rc;
}

static char *
spool_join(const char *dir, const char *name, const char *suffix)
{
	char *s;

	if (asprintf(&s, "%s/%s%s", dir, name, suffix) == -1)
		return NULL;
	return s;
}

int
spool_create(const char *dir, struct spool_file *sp, struct sx_err *e, enum sx_stage st)
{
	unsigned char rnd[SPOOL_ID_BYTES];
	char id[2 * SPOOL_ID_BYTES + 1];
	size_t i;
	int rc;

	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->stage = st;
	if (dir == NULL || *dir == '\0')
		return sx_fail(e, SX_LOCALIO, st, "no spool directory configured");
	if (spool_mkdirs(dir, "spool", e, st) == -1)
		return -1;
	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd))) < 0) {
		sx_fail(e, SX_INTERNAL, st, "random number generator: %s", gnutls_strerror(rc));
		if (e != NULL)
			e->gnutls_rc = rc;
		return -1;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	if ((sp->dir = strdup(dir)) == NULL ||
	    (sp->tmp_path = spool_join(dir, id, ".tmp")) == NULL ||
	    (sp->path = spool_join(dir, id, ".msg")) == NULL) {
		spool_abort(sp);
		return sx_fail(e, SX_INTERNAL, st, "out of memory");
	}
	sp->fd = open(sp->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (sp->fd == -1) {
		spool_syserr(e, st, errno, "cannot create spool file", sp->tmp_path);
		free(sp->tmp_path);
		sp->tmp_path = NULL; /* not ours: do not unlink */
		spool_abort(sp);
		return -1;
	}
	/* Exactly 0600 whatever the umask. */
	if (fchmod(sp->fd, 0600) == -1) {
		spool_syserr(e, st, errno, "cannot chmod spool file", sp->tmp_path);
		spool_abort(sp);
		return -1;
	}
	return 0;
}

int
spool_write(struct spool_file *sp, const void *buf, size_t len, struct sx_err *e)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(sp->fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return spool_syserr(
			    e, sp->stage, errno, "cannot write spool file", sp->tmp_path);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
spool_commit(struct spool_file *sp, struct sx_err *e)
{
	int fd = sp->fd;

	sp->fd = -1;
	if (fsync(fd) == -1) {
		spool_syserr(e, sp->stage, errno, "cannot sync spool file", sp->tmp_path);
		close(fd);
		goto fail;
	}
	/* close() can report a deferred write error (NFS). */
	if (close(fd) == -1) {
		spool_syserr(e, sp->stage, errno, "cannot close spool file", sp->tmp_path);
		goto fail;
	}
	/*
	 * The final name comes from the same 128 random bits as the O_EXCL
	 * temporary name, so the rename cannot replace another message.
	 */
	if (rename(sp->tmp_path, sp->path) == -1) {
		spool_syserr(e, sp->stage, errno, "cannot rename spool file", sp->tmp_path);
		goto fail;
	}
	free(sp->tmp_path);
	sp->tmp_path = NULL;
	if (spool_fsync_dir(sp->dir, e, sp->stage) == -1) {
		unlink(sp->path);
		spool_release(sp);
		return -1;
	}
	return 0;
fail:
	spool_abort(sp);
	return -1;
}

void
spool_abort(struct spool_file *sp)
{
	if (sp->fd != -1)
		close(sp->fd);
	sp->fd = -1;
	if (sp->tmp_path != NULL)
		unlink(sp->tmp_path);
	spool_release(sp);
}

void
spool_release(struct spool_file *sp)
{
	if (sp->fd != -1)
		close(sp->fd);
	free(sp->dir);
	free(sp->tmp_path);
	free(sp->path);
	sp->dir = sp->tmp_path = sp->path = NULL;
	sp->fd = -1;
}

int
spool_remove(const char *path, struct sx_err *e, enum sx_stage st)
{
	if (unlink(path) == -1)
		return spool_syserr(e, st, errno, "cannot remove spool file", path);
	return 0;
}
