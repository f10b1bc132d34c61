/* spool.c — spool files (see spool.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "core/fsutil.h"
#include "store/spool.h"

#define SPOOL_ID_BYTES     16
#define SPOOL_CREATE_TRIES 5

static char *spool_join(const char *, const char *, const char *);
static int spool_try_create(struct spool_file *, struct sx_err *);

static char *
spool_join(const char *dir, const char *name, const char *suffix)
{
	char *s;

	if (asprintf(&s, "%s/%s%s", dir, name, suffix) == -1)
		return NULL;
	return s;
}

/*
 * One attempt at DIR/<random>.tmp: 1 when it was taken from us before we
 * could lock it (try another name), 0 done, -1 failed.
 */
static int
spool_try_create(struct spool_file *sp, struct sx_err *e)
{
	unsigned char rnd[SPOOL_ID_BYTES];
	char id[2 * SPOOL_ID_BYTES + 1];
	gnutls_datum_t rd;
	struct stat sb;
	size_t idlen;
	int rc;

	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd))) < 0) {
		sx_fail(
		    e, SX_INTERNAL, sp->stage, "random number generator: %s", gnutls_strerror(rc));
		if (e != NULL)
			e->gnutls_rc = rc;
		return -1;
	}
	rd.data = rnd;
	rd.size = sizeof(rnd);
	idlen = sizeof(id);
	if (gnutls_hex_encode(&rd, id, &idlen) < 0)
		return sx_fail(e, SX_INTERNAL, sp->stage, "cannot encode the spool id");
	if ((sp->tmp_path = spool_join(sp->dir, id, ".tmp")) == NULL ||
	    (sp->path = spool_join(sp->dir, id, ".msg")) == NULL)
		return sx_fail(e, SX_INTERNAL, sp->stage, "out of memory");
	sp->fd = open(sp->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (sp->fd == -1) {
		fs_syserr(e, sp->stage, errno, "cannot create spool file", sp->tmp_path);
		free(sp->tmp_path);
		sp->tmp_path = NULL; /* not ours: do not unlink */
		return -1;
	}
	/*
	 * Between open and flock the file is unlocked, so a cleaner looking
	 * for the .tmp of a dead writer may take it: then it is not ours
	 * any more (someone holds it, or it was removed), and we start again.
	 */
	if (flock(sp->fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			return fs_syserr(
			    e, sp->stage, errno, "cannot lock spool file", sp->tmp_path);
		unlink(sp->tmp_path);
		return 1;
	}
	if (fstat(sp->fd, &sb) == -1)
		return fs_syserr(e, sp->stage, errno, "cannot stat spool file", sp->tmp_path);
	if (sb.st_nlink == 0)
		return 1;
	/* Exactly 0600 whatever the umask. */
	if (fchmod(sp->fd, 0600) == -1)
		return fs_syserr(e, sp->stage, errno, "cannot chmod spool file", sp->tmp_path);
	return 0;
}

int
spool_create(const char *dir, struct spool_file *sp, struct sx_err *e, enum sx_stage st)
{
	int tries, rc;

	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->stage = st;
	if (dir == NULL || *dir == '\0')
		return sx_fail(e, SX_LOCALIO, st, "no spool directory configured");
	if (fs_mkdirs(dir, "spool", e, st) == -1)
		return -1;
	if ((sp->dir = strdup(dir)) == NULL)
		return sx_fail(e, SX_INTERNAL, st, "out of memory");
	for (tries = 0; tries < SPOOL_CREATE_TRIES; tries++) {
		if ((rc = spool_try_create(sp, e)) == 0)
			return 0;
		if (rc == -1)
			break;
		/* Taken from us: forget it, it is not ours to unlink. */
		close(sp->fd);
		sp->fd = -1;
		free(sp->tmp_path);
		free(sp->path);
		sp->tmp_path = sp->path = NULL;
	}
	if (rc == 1)
		sx_fail(e, SX_LOCALIO, st,
		    "cannot create a spool file in %s: each one was taken "
		    "before it could be locked",
		    dir);
	spool_abort(sp);
	return -1;
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
			return fs_syserr(
			    e, sp->stage, errno, "cannot write spool file", sp->tmp_path);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
spool_sync(struct spool_file *sp, struct sx_err *e)
{
	if (fs_fsync_in(sp->fd, sp->dir) == -1)
		return fs_syserr(e, sp->stage, errno, "cannot sync spool file", sp->tmp_path);
	return 0;
}

int
spool_commit(struct spool_file *sp, struct sx_err *e)
{
	/*
	 * The fd stays open (the lock goes with it), so a deferred write
	 * error that only close() would report (NFS) is not seen; fsync
	 * reports what matters on local file systems.
	 */
	if (spool_sync(sp, e) == -1)
		goto fail;
	/*
	 * The final name comes from the same 128 random bits as the O_EXCL
	 * temporary name, so the rename cannot replace another message.
	 */
	if (rename(sp->tmp_path, sp->path) == -1) {
		fs_syserr(e, sp->stage, errno, "cannot rename spool file", sp->tmp_path);
		goto fail;
	}
	free(sp->tmp_path);
	sp->tmp_path = NULL;
	if (fs_fsync_dir(sp->dir, e, sp->stage) == -1) {
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
	/* Removed while still locked: no one can mistake it for a stale .tmp. */
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
		return fs_syserr(e, st, errno, "cannot remove spool file", path);
	return 0;
}
