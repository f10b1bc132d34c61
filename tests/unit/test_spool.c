/* test_spool.c — spool file creation, durability steps, naming and errors. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/fsutil.h"
#include "store/spool.h"

struct fixture {
	char root[64];
	char dir[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strlcpy(f->root, "/tmp/test_spool.XXXXXX", sizeof(f->root));
	if (mkdtemp(f->root) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->dir, sizeof(f->dir), "%s/a/b/queue", f->root);
	*state = f;
	return 0;
}

static int
rm_rf(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->root);
	free(f);
	return 0;
}

static size_t
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return (size_t)-1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
is_hex_name(const char *path, const char *dir, const char *suffix)
{
	size_t dl = strlen(dir), i;

	if (strncmp(path, dir, dl) != 0 || path[dl] != '/')
		return 0;
	path += dl + 1;
	for (i = 0; i < 32; i++)
		if (strchr("0123456789abcdef", path[i]) == NULL || path[i] == '\0')
			return 0;
	return strcmp(path + 32, suffix) == 0;
}

static void
test_create_write_commit_remove(void **state)
{
	struct fixture *f = *state;
	struct spool_file sp;
	struct sx_err e;
	struct stat sb;
	char buf[256], path[256];
	int fd;
	ssize_t n;

	sx_clear(&e);
	assert_int_equal(spool_create(f->dir, &sp, &e, STAGE_INTAKE), 0);
	assert_int_equal(stat(f->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	snprintf(buf, sizeof(buf), "%s/a", f->root);
	assert_int_equal(stat(buf, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	assert_true(is_hex_name(sp.tmp_path, f->dir, ".tmp"));
	assert_int_equal(strncmp(sp.tmp_path, sp.path, strlen(sp.path) - 4), 0);
	assert_int_equal(stat(sp.tmp_path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(spool_write(&sp, "hello\n", 6, &e), 0);
	assert_int_equal(spool_write(&sp, "", 0, &e), 0);
	assert_int_equal(spool_write(&sp, "world\n", 6, &e), 0);
	assert_int_equal(spool_commit(&sp, &e), 0);
	assert_true(sp.fd >= 0); /* kept open, and locked, until released */
	assert_null(sp.tmp_path);
	assert_true(is_hex_name(sp.path, f->dir, ".msg"));
	assert_int_equal(count_entries(f->dir), 1);
	assert_int_equal(stat(sp.path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, 12);
	fd = open(sp.path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 12);
	assert_memory_equal(buf, "hello\nworld\n", 12);
	strlcpy(path, sp.path, sizeof(path));
	spool_release(&sp);
	assert_int_equal(access(path, F_OK), 0); /* release keeps the file */
	assert_int_equal(spool_remove(path, &e, STAGE_INTAKE), 0);
	assert_int_equal(count_entries(f->dir), 0);
	assert_int_equal(e.cls, SX_OK);
	/* Removing twice is an error naming the file. */
	assert_int_equal(spool_remove(path, &e, STAGE_QUEUE), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(e.stage, STAGE_QUEUE);
	assert_int_equal(e.sys_errno, ENOENT);
	snprintf(buf, sizeof(buf), "cannot remove spool file %.30s", path);
	assert_int_equal(strncmp(e.detail, buf, strlen(buf)), 0);
	assert_string_equal(e.detail + strlen(e.detail) - 27, ": No such file or directory");
}

static void
test_abort_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct spool_file sp;
	struct sx_err e;

	sx_clear(&e);
	assert_int_equal(spool_create(f->dir, &sp, &e, STAGE_INTAKE), 0);
	assert_int_equal(spool_write(&sp, "x", 1, &e), 0);
	assert_int_equal(count_entries(f->dir), 1);
	spool_abort(&sp);
	assert_int_equal(count_entries(f->dir), 0);
	assert_int_equal(sp.fd, -1);
	assert_null(sp.path);
	assert_null(sp.tmp_path);
	assert_null(sp.dir);
}

static void
test_unique_names(void **state)
{
	struct fixture *f = *state;
	struct spool_file a, b;
	struct sx_err e;

	sx_clear(&e);
	assert_int_equal(spool_create(f->dir, &a, &e, STAGE_INTAKE), 0);
	assert_int_equal(spool_create(f->dir, &b, &e, STAGE_INTAKE), 0);
	assert_string_not_equal(a.tmp_path, b.tmp_path);
	assert_int_equal(spool_commit(&a, &e), 0);
	assert_int_equal(spool_commit(&b, &e), 0);
	assert_string_not_equal(a.path, b.path);
	assert_int_equal(count_entries(f->dir), 2);
	assert_int_equal(spool_remove(a.path, &e, STAGE_INTAKE), 0);
	assert_int_equal(spool_remove(b.path, &e, STAGE_INTAKE), 0);
	spool_release(&a);
	spool_release(&b);
}

static void
test_mode_despite_umask(void **state)
{
	struct fixture *f = *state;
	struct spool_file sp;
	struct sx_err e;
	struct stat sb;
	mode_t old = umask(0277);

	sx_clear(&e);
	assert_int_equal(spool_create(f->dir, &sp, &e, STAGE_INTAKE), 0);
	umask(old);
	assert_int_equal(fstat(sp.fd, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	spool_abort(&sp);
}

static void
test_dir_errors(void **state)
{
	struct fixture *f = *state;
	struct spool_file sp;
	struct sx_err e;
	char file[160], want[512];
	int fd;

	snprintf(file, sizeof(file), "%s/plain", f->root);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	sx_clear(&e);
	assert_int_equal(spool_create(file, &sp, &e, STAGE_INTAKE), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(e.stage, STAGE_INTAKE);
	snprintf(want, sizeof(want), "spool directory %s is not a directory", file);
	assert_string_equal(e.detail, want);
	assert_int_equal(sp.fd, -1);

	sx_clear(&e);
	strlcat(file, "/sub", sizeof(file));
	assert_int_equal(spool_create(file, &sp, &e, STAGE_INTAKE), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(e.sys_errno, ENOTDIR);
	snprintf(want, sizeof(want), "cannot create spool directory %s: Not a directory", file);
	assert_string_equal(e.detail, want);

	sx_clear(&e);
	assert_int_equal(spool_create("", &sp, &e, STAGE_INTAKE), -1);
	assert_string_equal(e.detail, "no spool directory configured");
	sx_clear(&e);
	assert_int_equal(spool_create(NULL, &sp, &e, STAGE_INTAKE), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
}

/* A full disk: the write fails with the path and errno, abort cleans up. */
static void
test_write_enospc(void **state)
{
	struct fixture *f = *state;
	struct spool_file sp;
	struct sx_err e;
	char want[512];
	int full = open("/dev/full", O_WRONLY);

	if (full == -1)
		skip();
	sx_clear(&e);
	assert_int_equal(spool_create(f->dir, &sp, &e, STAGE_INTAKE), 0);
	close(sp.fd);
	sp.fd = full;
	assert_int_equal(spool_write(&sp, "data", 4, &e), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(e.sys_errno, ENOSPC);
	snprintf(
	    want, sizeof(want), "cannot write spool file %s: No space left on device", sp.tmp_path);
	assert_string_equal(e.detail, want);
	spool_abort(&sp);
	assert_int_equal(count_entries(f->dir), 0);
}

/* 1 when path is locked by someone else, 0 when it is free, -1 when it cannot be opened. */
static int
locked(const char *path)
{
	int fd = open(path, O_RDONLY), rc;

	if (fd == -1)
		return -1;
	rc = flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	close(fd);
	return rc;
}

/*
 * The writer holds flock(LOCK_EX) from creation, through the rename, until
 * it closes: a .tmp whose writer is alive is locked, one whose writer is
 * gone is not.  The descriptor is read-write: it reads the spool back.
 */
static void
test_lock_held(void **state)
{
	struct fixture *f = *state;
	struct spool_file sp;
	struct sx_err e;
	char buf[16], path[256];

	sx_clear(&e);
	assert_int_equal(spool_create(f->dir, &sp, &e, STAGE_INTAKE), 0);
	assert_int_equal(locked(sp.tmp_path), 1);
	assert_int_equal(spool_write(&sp, "hello\n", 6, &e), 0);
	assert_int_equal(spool_sync(&sp, &e), 0);
	assert_int_equal(access(sp.tmp_path, F_OK), 0); /* synced, still .tmp */
	assert_int_equal(access(sp.path, F_OK), -1);
	assert_int_equal(locked(sp.tmp_path), 1);
	assert_int_equal(spool_commit(&sp, &e), 0);
	assert_int_equal(locked(sp.path), 1);
	assert_int_equal(lseek(sp.fd, 0, SEEK_SET), 0);
	assert_int_equal(read(sp.fd, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "hello\n", 6);
	strlcpy(path, sp.path, sizeof(path));
	spool_release(&sp);
	assert_int_equal(locked(path), 0);
	assert_int_equal(unlink(path), 0);
	/* A writer that is gone leaves an unlocked .tmp. */
	assert_int_equal(spool_create(f->dir, &sp, &e, STAGE_INTAKE), 0);
	strlcpy(path, sp.tmp_path, sizeof(path));
	spool_release(&sp);
	assert_int_equal(locked(path), 0);
	assert_int_equal(count_entries(f->dir), 1);
	assert_int_equal(e.cls, SX_OK);
}

/* A rename that fails removes the file and closes (unlocks) it. */
static void
test_commit_rename_failure(void **state)
{
	struct fixture *f = *state;
	struct spool_file sp;
	struct sx_err e;
	char tmp[256], path[256];
	int other;

	sx_clear(&e);
	assert_int_equal(spool_create(f->dir, &sp, &e, STAGE_INTAKE), 0);
	strlcpy(tmp, sp.tmp_path, sizeof(tmp));
	strlcpy(path, sp.path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	other = open(tmp, O_RDONLY);
	assert_true(other >= 0);
	assert_int_equal(spool_commit(&sp, &e), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(e.sys_errno, EISDIR);
	assert_int_equal(sp.fd, -1);
	assert_null(sp.path);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(count_entries(f->dir), 0);
}

/* A failed commit (fsync on a closed fd) removes the temporary file. */
static void
test_commit_failure_removes(void **state)
{
	struct fixture *f = *state;
	struct spool_file sp;
	struct sx_err e;

	sx_clear(&e);
	assert_int_equal(spool_create(f->dir, &sp, &e, STAGE_INTAKE), 0);
	close(sp.fd);
	sp.fd = 999; /* not open */
	assert_int_equal(spool_commit(&sp, &e), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(e.sys_errno, EBADF);
	assert_int_equal(strncmp(e.detail, "cannot sync spool file ", 23), 0);
	assert_int_equal(count_entries(f->dir), 0);
	assert_null(sp.path);
}

/* Syncs deferred in a directory are owed, not made, and paid by one syncfs (-bs). */
static void
test_sync_deferred(void **state)
{
	struct fixture *f = *state;
	struct sx_err e;

	sx_clear(&e);
	assert_int_equal(fs_mkdirs(f->dir, "queue", &e, STAGE_QUEUE), 0);
	assert_int_equal(fs_sync_owed(&e, STAGE_QUEUE), 0); /* nothing deferred, nothing owed */
	fs_sync_defer(f->dir);
	/* fd 999 is not open: a sync attempted would fail. */
	assert_int_equal(fs_fsync_in(999, f->dir), 0);
	errno = 0;
	assert_int_equal(fs_fsync_in(999, f->root), -1); /* another directory: not deferred */
	assert_int_equal(errno, EBADF);
	assert_int_equal(fs_sync_owed(&e, STAGE_QUEUE), 0);
	assert_int_equal(e.cls, SX_OK);
	/* Owed again; the directory gone, the payment fails and says where. */
	assert_int_equal(fs_fsync_dir(f->dir, &e, STAGE_QUEUE), 0);
	rm_rf(f->root);
	assert_int_equal(fs_sync_owed(&e, STAGE_QUEUE), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_non_null(strstr(e.detail, f->dir));
	fs_sync_defer(NULL);
	sx_clear(&e);
	assert_int_equal(fs_sync_owed(&e, STAGE_QUEUE), 0);          /* stopped: nothing owed */
	assert_int_equal(fs_fsync_dir(f->dir, &e, STAGE_QUEUE), -1); /* made, and fails */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_write_commit_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unique_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mode_despite_umask, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_enospc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_failure_removes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_rename_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_deferred, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
