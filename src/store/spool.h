/*
 * spool.h — spool files: the message as it will be sent, written once,
 * made durable, then renamed into place so a reader never sees half a file.
 * (The queue issue extends this with listing and flushing.)
 *
 * A spool file is created as DIR/<32 hex>.tmp (O_EXCL, mode 0600), written,
 * fsync'ed, renamed to DIR/<32 hex>.msg and the directory fsync'ed.  The
 * directory is created (0700) when missing.  Errors are SX_LOCALIO and name
 * the path.
 */
#ifndef SX_SPOOL_H
#define SX_SPOOL_H

#include <stddef.h>

#include "core/err.h"

struct spool_file {
	int fd; /* -1 when closed */
	char *dir;
	char *tmp_path;      /* while being written */
	char *path;          /* final name, set by spool_commit */
	enum sx_stage stage; /* for errors: intake or queue */
};

/*
 * Create a new, empty spool file in dir (made 0700 with its missing parents).
 * Errors on this file carry stage.  0, or -1 with SX_LOCALIO (or SX_INTERNAL); *sp needs no cleanup then.
 */
int spool_create(const char *dir, struct spool_file *sp, struct sx_err *, enum sx_stage);

/* Write all of buf.  0, or -1 with SX_LOCALIO. */
int spool_write(struct spool_file *sp, const void *buf, size_t len, struct sx_err *);

/*
 * Make the file durable and give it its final name (sp->path).  0, or -1
 * with SX_LOCALIO; the file is removed then.  Either way the fd is closed.
 */
int spool_commit(struct spool_file *sp, struct sx_err *);

/* Give up on an uncommitted file: close and unlink it.  Frees *sp. */
void spool_abort(struct spool_file *sp);

/* Free the names of a committed file (the file stays). */
void spool_release(struct spool_file *sp);

/* Remove a committed spool file.  0, or -1 with SX_LOCALIO. */
int spool_remove(const char *path, struct sx_err *, enum sx_stage);

#endif
