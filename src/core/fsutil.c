/* fsutil.c — shared file-system steps (see fsutil.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"

int
fs_syserr(struct sx_err *e, enum sx_stage st, int errnum, const char *what, const char *path)
{
	return sx_fail_errno(e, SX_LOCALIO, st, errnum, "%s %s: %s", what, path, strerror(errnum));
}

int
fs_mkdirs(const char *dir, const char *what, struct sx_err *e, enum sx_stage st)
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
			fs_syserr(e, st, errno, msg, p);
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

/* The directory whose syncs are deferred ("" none), and whether any is owed. */
static char fs_lazy_dir[4200];
static int fs_lazy_owed;

void
fs_sync_defer(const char *dir)
{
	/* What was owed is the caller's to pay first (fs_sync_owed). */
	fs_lazy_owed = 0;
	if (dir == NULL || strlcpy(fs_lazy_dir, dir, sizeof(fs_lazy_dir)) >= sizeof(fs_lazy_dir))
		fs_lazy_dir[0] = '\0';
}

/* Is a sync in dir deferred?  Then it is owed. */
static int
fs_lazy(const char *dir)
{
	if (fs_lazy_dir[0] == '\0' || strcmp(dir, fs_lazy_dir) != 0)
		return 0;
	fs_lazy_owed = 1;
	return 1;
}

int
fs_sync_owed(struct sx_err *e, enum sx_stage st)
{
	int fd, rc = 0;

	if (!fs_lazy_owed)
		return 0;
	if ((fd = open(fs_lazy_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return fs_syserr(e, st, errno, "cannot open directory", fs_lazy_dir);
	/* Linux reports the file system's write-back errors since the last syncfs. */
	if (syncfs(fd) == -1)
		rc = fs_syserr(e, st, errno, "cannot sync the file system of", fs_lazy_dir);
	else
		fs_lazy_owed = 0;
	close(fd);
	return rc;
}

int
fs_fsync_in(int fd, const char *dir)
{
	if (fs_lazy(dir))
		return 0;
	return fsync(fd);
}

int
fs_fsync_dir(const char *dir, struct sx_err *e, enum sx_stage st)
{
	int fd, rc = 0;

	if (fs_lazy(dir))
		return 0;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return fs_syserr(e, st, errno, "cannot open directory", dir);
	/* EINVAL: the file system cannot sync directories; nothing more to do. */
	if (fsync(fd) == -1 && errno != EINVAL)
		rc = fs_syserr(e, st, errno, "cannot sync directory", dir);
	close(fd);
	return rc;
}

int
fs_write_atomic(const char *path, const void *data, size_t len, struct sx_err *e, enum sx_stage st)
{
	char tmp[4200], dir[4200], *slash;
	const char *p = data;
	ssize_t n;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp) ||
	    strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
		return sx_fail(e, SX_LOCALIO, st, "path too long: %.200s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	/* A stale file of an earlier process with our pid: not being written. */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return fs_syserr(e, st, errno, "cannot create", tmp);
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			fs_syserr(e, st, errno, "cannot write", tmp);
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	/* Exactly 0600 whatever the umask. */
	if (fchmod(fd, 0600) == -1 || fs_fsync_in(fd, dir) == -1) {
		fs_syserr(e, st, errno, "cannot sync", tmp);
		goto fail;
	}
	/* close() can report a deferred write error (NFS). */
	if (close(fd) == -1) {
		fd = -1;
		fs_syserr(e, st, errno, "cannot close", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		fs_syserr(e, st, errno, "cannot rename", tmp);
		goto fail;
	}
	return fs_fsync_dir(dir, e, st);
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

int
fs_trust_fd(int fd, const char *path, enum fs_trust kind, struct sx_err *e, enum sx_stage st)
{
	struct stat sb;

	if (fstat(fd, &sb) == -1)
		return fs_syserr(e, st, errno, "cannot stat", path);
	if (kind == FS_TRUST_DIR && !S_ISDIR(sb.st_mode))
		return sx_fail(e, SX_LOCALIO, st, "%s is not a directory", path);
	if (kind == FS_TRUST_FILE && !S_ISREG(sb.st_mode))
		return sx_fail(e, SX_LOCALIO, st, "%s is not a regular file", path);
	if (sb.st_uid != geteuid())
		return sx_fail(e, SX_LOCALIO, st,
		    "%s belongs to uid %ld, not to us (uid %ld): not trusted", path,
		    (long)sb.st_uid, (long)geteuid());
	if ((sb.st_mode & 022) != 0)
		return sx_fail(e, SX_LOCALIO, st,
		    "%s is writable by %s (mode %04o): not trusted; chmod go-w it", path,
		    (sb.st_mode & 002) ? "others" : "its group", (unsigned)(sb.st_mode & 07777));
	if (kind == FS_TRUST_FILE && sb.st_nlink > 1)
		return sx_fail(e, SX_LOCALIO, st, "%s has %lu names (hard links): not trusted",
		    path, (unsigned long)sb.st_nlink);
	return 0;
}

int
fs_open_trusted_dir(const char *dir, const char *what, struct sx_err *e, enum sx_stage st)
{
	char msg[64];
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(msg, sizeof(msg), "cannot open %s directory", what);
		return fs_syserr(e, st, errno, msg, dir);
	}
	if (fs_trust_fd(fd, dir, FS_TRUST_DIR, e, st) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
fs_state_dir(const char *sub, char *buf, size_t sz, struct sx_err *e)
{
	const char *base;
	int n;

	/* Root's state is the system's: XDG_STATE_HOME or HOME may be a user's (sudo -E). */
	if (geteuid() == 0 && strcmp(sub, "queue") == 0)
		n = snprintf(buf, sz, "/var/spool/smtps-send");
	else if (geteuid() == 0)
		n = snprintf(buf, sz, "/var/lib/smtps-send/%s", sub);
	else if ((base = getenv("XDG_STATE_HOME")) != NULL && base[0] == '/')
		n = snprintf(buf, sz, "%s/smtps-send/%s", base, sub);
	else if ((base = getenv("HOME")) != NULL && base[0] == '/')
		n = snprintf(buf, sz, "%s/.local/state/smtps-send/%s", base, sub);
	else
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "no %s directory: HOME is not set (set %s_dir)", sub, sub);
	if (n < 0 || (size_t)n >= sz)
		return sx_fail(
		    e, SX_CONFIG, STAGE_CONFIG, "the %s directory path is too long", sub);
	return 0;
}
