/*
 * fsutil.h — the file-system steps every store shares (spool, queue,
 * TLS tickets, tokens): mkdir -p with mode 0700, a directory fsync, and
 * the atomic replacement of a small file.  Errors are SX_LOCALIO at the
 * caller's stage and name the path (SX_INTERNAL on memory exhaustion).
 */
#ifndef SX_FSUTIL_H
#define SX_FSUTIL_H

#include <stddef.h>

#include "core/err.h"

/*
 * Record "WHAT PATH: strerror(errnum)" with the errno, unless an error is
 * already recorded.  Always returns -1.
 */
int fs_syserr(struct sx_err *, enum sx_stage, int errnum, const char *what, const char *path);

/*
 * mkdir -p with mode 0700 (the spool, the queue and the tickets are their
 * owner's alone); existing directories are left as they are.  what names
 * the directory in errors ("cannot create <what> directory …").  0 or -1.
 */
int fs_mkdirs(const char *dir, const char *what, struct sx_err *, enum sx_stage);

/* fsync a directory, so that a rename or unlink in it is durable.  0 or -1. */
int fs_fsync_dir(const char *dir, struct sx_err *, enum sx_stage);

/*
 * fsync a file of dir (fd), or owe it while dir's syncs are deferred.
 * 0 or -1 with errno.
 */
int fs_fsync_in(int fd, const char *dir);

/*
 * Defer the syncs of files in dir (exactly this path, as the callers
 * spell it; NULL: stop): fs_fsync_dir, fs_fsync_in and fs_write_atomic
 * there skip their fsync and owe it instead.  For a process that only
 * tells anyone a file is durable at a few points (-bs answers a message
 * after its relay's verdict), which pays what is owed there with
 * fs_sync_owed: one syncfs instead of four fsyncs per message.  A kill
 * loses nothing this way (the page cache stays); a power cut before the
 * payment loses only what nobody was told was kept.
 */
void fs_sync_defer(const char *dir);

/* Pay the deferred syncs: syncfs on dir's file system, if any is owed.  0 or -1. */
int fs_sync_owed(struct sx_err *, enum sx_stage);

/*
 * Replace path with len bytes of data, mode 0600, atomically and durably:
 * written to a temporary file beside it (PATH.<pid>.tmp, O_EXCL), fsync'd,
 * renamed over path, and the directory fsync'd.  A reader sees the old
 * file or the new one, never half of one.  0 or -1 (the temporary file is
 * removed).
 */
int fs_write_atomic(const char *path, const void *data, size_t len, struct sx_err *, enum sx_stage);

/*
 * May we trust what fd (opened from path) holds?  It must be of the kind
 * asked for (FS_TRUST_DIR, FS_TRUST_FILE), belong to the effective user
 * and not be writable by group or others; a file must also have one name
 * (no hard link elsewhere).  Otherwise another local user could plant or
 * swap what we read, or make us write where they choose.  0, or -1 with
 * SX_LOCALIO naming the path and what is wrong.
 */
enum fs_trust { FS_TRUST_DIR, FS_TRUST_FILE };
int fs_trust_fd(int fd, const char *path, enum fs_trust, struct sx_err *, enum sx_stage);

/*
 * Open a directory we keep state in (O_DIRECTORY | O_NOFOLLOW) and check it
 * with fs_trust_fd.  Returns the descriptor, or -1 (ENOENT: sys_errno set).
 */
int fs_open_trusted_dir(const char *dir, const char *what, struct sx_err *, enum sx_stage);

/*
 * Where smtps-send keeps state of one kind (sub: "queue", "tls",
 * "oauth2").  One rule for everything: for root, fixed system directories
 * that nothing in the environment can move (/var/spool/smtps-send for the
 * queue, /var/lib/smtps-send/<sub> otherwise); for anyone else
 * ${XDG_STATE_HOME:-$HOME/.local/state}/smtps-send/<sub>.  0, or -1 with
 * SX_CONFIG (no HOME, or too long).
 */
int fs_state_dir(const char *sub, char *buf, size_t bufsz, struct sx_err *);

#endif
