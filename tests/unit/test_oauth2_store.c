/*
 * test_oauth2_store.c — the OAuth2 token store: where it is, what it
 * keeps, its modes, that it refuses a file another user could have
 * written, that the lock serialises refreshes, and that a reader never
 * sees half a file while a writer replaces it.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/oauth2.h"

static char dir[64], path[256];

static int
setup(void **state)
{
	struct account a;
	struct sx_err e;

	(void)state;
	strcpy(dir, "/tmp/test_oauth2_store.XXXXXX");
	assert_non_null(mkdtemp(dir));
	memset(&a, 0, sizeof(a));
	a.name = (char *)(uintptr_t) "work/../x y";
	sx_clear(&e);
	assert_int_equal(oauth2_store_path(&a, dir, path, sizeof(path), &e), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void
test_path_and_round_trip(void **state)
{
	struct oauth2_tokens t = {NULL, NULL, 0}, r;
	char want[256];
	struct stat st;
	struct sx_err e;

	(void)state;
	/* The account's name cannot leave the directory. */
	snprintf(want, sizeof(want), "%s/oauth2/work_.._x_y.json", dir);
	assert_string_equal(path, want);
	sx_clear(&e);
	assert_int_equal(oauth2_store_read(path, &r, &e), 1); /* none yet */
	t.access_token = strdup("at-1");
	t.refresh_token = strdup("rt-1");
	t.expires_at = 1234567890;
	assert_int_equal(oauth2_store_write(path, &t, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(want, sizeof(want), "%s/oauth2", dir);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(oauth2_store_read(path, &r, &e), 0);
	assert_string_equal(r.access_token, "at-1");
	assert_string_equal(r.refresh_token, "rt-1");
	assert_int_equal(r.expires_at, 1234567890);
	oauth2_tokens_free(&r);
	oauth2_tokens_free(&t);
}

static void
test_untrusted(void **state)
{
	struct oauth2_tokens t = {NULL, NULL, 0}, r;
	struct sx_err e;
	FILE *fp;

	(void)state;
	sx_clear(&e);
	t.access_token = strdup("at");
	assert_int_equal(oauth2_store_write(path, &t, &e), 0);
	oauth2_tokens_free(&t);
	/* Writable by others: someone else could have planted the token. */
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(oauth2_store_read(path, &r, &e), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(chmod(path, 0600), 0);
	/* Not our JSON. */
	sx_clear(&e);
	assert_non_null(fp = fopen(path, "w"));
	fputs("[1, 2", fp);
	fclose(fp);
	assert_int_equal(oauth2_store_read(path, &r, &e), -1);
	assert_non_null(strstr(e.detail, "not a token store"));
}

static void
test_lock_serialises(void **state)
{
	struct sx_err e;
	int fd, p[2], status;
	char c;
	pid_t pid;

	(void)state;
	sx_clear(&e);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		int lfd = oauth2_store_lock(path, 5, &e);

		(void)!write(p[1], "x", 1);
		sleep(2);
		oauth2_store_unlock(lfd);
		_exit(lfd == -1);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	/* Held by the child: one second is not enough... */
	assert_int_equal(oauth2_store_lock(path, 1, &e), -1);
	assert_int_equal(e.cls, SX_TEMP);
	/* ...but waiting for its end is. */
	sx_clear(&e);
	fd = oauth2_store_lock(path, 10, &e);
	assert_true(fd >= 0);
	oauth2_store_unlock(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(p[0]);
	close(p[1]);
}

static void
test_atomic_replace(void **state)
{
	struct oauth2_tokens t = {NULL, NULL, 0}, r;
	char big[20000];
	struct sx_err e;
	int i, status;
	pid_t pid;

	(void)state;
	sx_clear(&e);
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	t.access_token = strdup("first");
	assert_int_equal(oauth2_store_write(path, &t, &e), 0);
	oauth2_tokens_free(&t);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		/* A writer replacing a large file over and over. */
		for (i = 0; i < 200; i++) {
			struct oauth2_tokens w = {NULL, NULL, 0};

			w.access_token = strdup(i % 2 ? "odd" : "even");
			w.refresh_token = strdup(big);
			w.expires_at = i;
			if (oauth2_store_write(path, &w, &e) == -1)
				_exit(1);
			oauth2_tokens_free(&w);
		}
		_exit(0);
	}
	for (i = 0; i < 400; i++) {
		assert_int_equal(oauth2_store_read(path, &r, &e), 0);
		assert_non_null(r.access_token);
		oauth2_tokens_free(&r);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_path_and_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_untrusted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lock_serialises, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_replace, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
