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

#include "core/fsutil.h"
#include "store/spool.h"

#define SPOOL_ID_BYTES 16

static char *spool_join(const char *, const char *, const char *);

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
	gnutls_datum_t rd;
	size_t idlen;
	int rc;

	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->stage = st;
	if (dir == NULL || *dir == '\0')
		return sx_fail(e, SX_LOCALIO, st, "no spool directory configured");
	if (fs_mkdirs(dir, "spool", e, st) == -1)
		return -1;
	if ((rc = gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd))) < 0) {
		sx_fail(e, SX_INTERNAL, st, "random number generator: %s", gnutls_strerror(rc));
		if (e != NULL)
			e->gnutls_rc = rc;
		return -1;
	}
	rd.data = rnd;
	rd.size = sizeof(rnd);
	idlen = sizeof(id);
	if (gnutls_hex_encode(&rd, id, &idlen) < 0)
		return sx_fail(e, SX_INTERNAL, st, "cannot encode the spool id");
	if ((sp->dir = strdup(dir)) == NULL ||
	    (sp->tmp_path = spool_join(dir, id, ".tmp")) == NULL ||
	    (sp->path = spool_join(dir, id, ".msg")) == NULL) {
		spool_abort(sp);
		return sx_fail(e, SX_INTERNAL, st, "out of memory");
	}
	sp->fd = open(sp->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (sp->fd == -1) {
		fs_syserr(e, st, errno, "cannot create spool file", sp->tmp_path);
		free(sp->tmp_path);
		sp->tmp_path = NULL; /* not ours: do not unlink */
		spool_abort(sp);
		return -1;
	}
	/* Exactly 0600 whatever the umask. */
	if (fchmod(sp->fd, 0600) == -1) {
		fs_syserr(e, st, errno, "cannot chmod spool file", sp->tmp_path);
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
			return fs_syserr(
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
		fs_syserr(e, sp->stage, errno, "cannot sync spool file", sp->tmp_path);
		close(fd);
		goto fail;
	}
	/* close() can report a deferred write error (NFS). */
	if (close(fd) == -1) {
		fs_syserr(e, sp->stage, errno, "cannot close spool file", sp->tmp_path);
		goto fail;
	}
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
		return fs_syserr(e, st, errno, "cannot remove spool file", path);
	return 0;
}
