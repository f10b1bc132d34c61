/*
 * spool.h — spool files: the message as it will be sent, written once,
 * made durable, then renamed into place so a reader never sees half a file.
 * (The queue issue extends this with listing and flushing.)
 *
 * A spool file is created as DIR/<32 hex>.tmp (O_EXCL, mode 0600), written,
 * fsync'ed, renamed to DIR/<32 hex>.msg and the directory fsync'ed.  The
 * directory is created (0700) when missing.  Errors are SX_LOCALIO and name
 * the path.
 *
 * Its writer holds flock(LOCK_EX) on it from creation until it closes sp->fd
 * (a rename keeps the lock): a .tmp whose writer is alive is locked, one
 * whose writer is gone is not.  Whoever removes a stale .tmp must do so
 * while holding its lock; spool_create checks, once it has the lock, that
 * its file was not removed in the moment before (and starts again if so).
 */
#ifndef SX_SPOOL_H
#define SX_SPOOL_H

#include <stddef.h>

#include "core/err.h"

struct spool_file {
	int fd; /* O_RDWR, flock(LOCK_EX) held; -1 when closed */
	char *dir;
	char *tmp_path;      /* its name until committed, then NULL */
	char *path;          /* its final name (DIR/<id>.msg), set at creation */
	enum sx_stage stage; /* for errors: intake or queue */
};

/*
 * Create a new, empty spool file in dir (made 0700 with its missing parents),
 * open and locked.  Errors on this file carry stage.  0, or -1 with
 * SX_LOCALIO (or SX_INTERNAL); *sp needs no cleanup then.
 */
int spool_create(const char *dir, struct spool_file *sp, struct sx_err *, enum sx_stage);

/* Write all of buf.  0, or -1 with SX_LOCALIO. */
int spool_write(struct spool_file *sp, const void *buf, size_t len, struct sx_err *);

/* fsync the file (still named .tmp).  0, or -1 with SX_LOCALIO; the file stays. */
int spool_sync(struct spool_file *sp, struct sx_err *);

/*
 * Make the file durable and give it its final name (sp->path); sp->fd stays
 * open and locked (spool_release closes it).  0, or -1 with SX_LOCALIO: the
 * file is removed and the fd closed then.
 */
int spool_commit(struct spool_file *sp, struct sx_err *);

/* Give up on an uncommitted file: close (unlocking) and unlink it.  Frees *sp. */
void spool_abort(struct spool_file *sp);

/* Close the fd (unlocking) and free the names; the file stays as it is. */
void spool_release(struct spool_file *sp);

/* Remove a committed spool file.  0, or -1 with SX_LOCALIO. */
int spool_remove(const char *path, struct sx_err *, enum sx_stage);

#endif
