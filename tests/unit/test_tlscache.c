/*
 * test_tlscache.c — the ticket cache's file names, directory choice and the
 * checks before a saved ticket is offered.  Saving and resuming against a
 * real server: tests/e2e/t_tls_resume.sh.
 */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>

#include "net/tlscache.h"

static struct tls_params
params(void)
{
	struct tls_params p;

	memset(&p, 0, sizeof(p));
	p.host = "smtp.example.com";
	p.trust_file = "/etc/ssl/ca.pem";
	p.certcheck = 1;
	return p;
}

static void
name_of(const struct tls_params *p, unsigned port, char *buf, size_t sz)
{
	assert_int_equal(tlscache_path("/d", p, port, buf, sz), 0);
}

/* Every setting that decides whether a certificate passes gives another file. */
static void
test_path_depends_on_every_setting(void **state)
{
	struct tls_params p = params(), q;
	char base[256], other[256];
	size_t i;

	(void)state;
	name_of(&p, 465, base, sizeof(base));
	assert_int_equal(strlen(base), 3 + 64);
	assert_int_equal(strncmp(base, "/d/", 3), 0);
	for (i = 3; base[i] != '\0'; i++)
		assert_non_null(strchr("0123456789abcdef", base[i]));
	name_of(&p, 465, other, sizeof(other));
	assert_string_equal(base, other);

	name_of(&p, 587, other, sizeof(other));
	assert_string_not_equal(base, other);
	for (i = 0; i < 7; i++) {
		q = p;
		switch (i) {
		case 0:
			q.host = "smtp.example.org";
			break;
		case 1:
			q.trust_file = NULL;
			break;
		case 2:
			q.certcheck = 0;
			break;
		case 3:
			q.fingerprint = "AB:CD";
			break;
		case 4:
			q.cert_file = "/c.pem";
			break;
		case 5:
			q.key_file = "/k.pem";
			break;
		case 6:
			q.priorities = "NORMAL:-VERS-TLS1.2";
			break;
		}
		name_of(&q, 465, other, sizeof(other));
		assert_string_not_equal(base, other);
	}
	/* Field boundaries count: "ab"+"c" is not "a"+"bc". */
	p.cert_file = "ab";
	p.key_file = "c";
	name_of(&p, 465, base, sizeof(base));
	p.cert_file = "a";
	p.key_file = "bc";
	name_of(&p, 465, other, sizeof(other));
	assert_string_not_equal(base, other);
	assert_int_equal(tlscache_path("/d", &p, 465, other, 40), -1);
}

/*
 * An explicit state directory wins; else the one state rule: root's tickets
 * are the system's whatever XDG_STATE_HOME says (issue 21), anyone else's
 * follow XDG_STATE_HOME when it is absolute.
 */
static void
test_dir_choice(void **state)
{
	char buf[256];
	char *saved = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;

	(void)state;
	assert_int_equal(tlscache_dir("/run/sx", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/run/sx/tls");
	assert_int_equal(tlscache_dir("/run/sx", buf, 8), -1);
	setenv("XDG_STATE_HOME", "/x/state", 1);
	assert_int_equal(tlscache_dir(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(
	    buf, geteuid() == 0 ? "/var/lib/smtps-send/tls" : "/x/state/smtps-send/tls");
	assert_int_equal(tlscache_dir(NULL, buf, 10), -1);
	/* A relative XDG_STATE_HOME is ignored, as the XDG spec says. */
	setenv("XDG_STATE_HOME", "rel", 1);
	assert_int_equal(
	    tlscache_dir(NULL, buf, sizeof(buf)), geteuid() == 0 || getenv("HOME") ? 0 : -1);
	if (geteuid() == 0)
		assert_string_equal(buf, "/var/lib/smtps-send/tls");
	else if (getenv("HOME") != NULL)
		assert_null(strstr(buf, "rel/"));
	if (saved != NULL)
		setenv("XDG_STATE_HOME", saved, 1);
	else
		unsetenv("XDG_STATE_HOME");
	free(saved);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Nothing is offered from a missing, shared, linked, empty or garbage file. */
static void
test_load_refuses(void **state)
{
	char dir[] = "/tmp/test_tlscache.XXXXXX", path[128], link[128];
	gnutls_session_t s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t", dir);
	snprintf(link, sizeof(link), "%s/l", dir);
	assert_int_equal(gnutls_init(&s, GNUTLS_CLIENT), 0);

	assert_int_equal(tlscache_load(path, s), 0);
	write_file(path, "not session data", 0600);
	assert_int_equal(tlscache_load(path, s), 0);
	/* A ticket lets its holder resume as us: group/world access disqualifies. */
	write_file(path, "not session data", 0640);
	assert_int_equal(tlscache_load(path, s), 0);
	write_file(path, "", 0600);
	assert_int_equal(tlscache_load(path, s), 0);
	write_file(path, "x", 0600);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(tlscache_load(link, s), 0);
	assert_int_equal(truncate(path, TLSCACHE_MAX + 1), 0);
	assert_int_equal(tlscache_load(path, s), 0);
	/* None of these is removed by loading; forget does. */
	assert_int_equal(access(path, F_OK), 0);
	tlscache_forget(path);
	assert_int_equal(access(path, F_OK), -1);

	/* A session that never shook hands has no ticket: nothing is written. */
	tlscache_store(path, s);
	assert_int_equal(access(path, F_OK), -1);
	gnutls_deinit(s);
	unlink(link);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_depends_on_every_setting),
	    cmocka_unit_test(test_dir_choice),
	    cmocka_unit_test(test_load_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
