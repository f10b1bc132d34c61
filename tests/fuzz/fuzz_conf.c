/*
 * fuzz_conf.c — conf_load() on a system config file holding the fuzz
 * input (mode 0600, in a per-process temp dir removed at exit; the system
 * file's grammar is a superset: allowed_config_dirs), with no user file
 * and no SMTPS_SEND_* environment; then conf_dump() of the account to
 * /dev/null.  Inputs naming passwordeval/password_cmd are skipped so the
 * fuzzer never runs commands (conf_load does not, but stay safe).
 *
 * Checks: errors are SX_CONFIG or SX_INTERNAL with terminated texts; on
 * success tls and port are resolved and the strings that reach the SMTP
 * dialogue (host, user, from, domain, password) hold no CR or LF.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

extern char **environ;

static char fz_dir[64], fz_path[96];
static FILE *fz_null;

static void
fz_cleanup(void)
{
	if (fz_path[0] != '\0')
		unlink(fz_path);
	if (fz_dir[0] != '\0')
		rmdir(fz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t i;

	(void)argc, (void)argv;
	/* Only the file may configure: drop SMTPS_SEND_* (restart after each unsetenv). */
	for (i = 0; environ[i] != NULL;) {
		if (strncmp(environ[i], "SMTPS_SEND_", 11) == 0) {
			char name[256];
			size_t n = strcspn(environ[i], "=");

			if (n >= sizeof(name))
				abort();
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);
			i = 0;
			continue;
		}
		i++;
	}
	/* "~/" in paths expands against HOME: keep it inside our directory. */
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz_conf.XXXXXX");
	if (mkdtemp(fz_dir) == NULL)
		abort();
	snprintf(fz_path, sizeof(fz_path), "%s/config", fz_dir);
	setenv("HOME", fz_dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	if ((fz_null = fopen("/dev/null", "w")) == NULL)
		abort();
	atexit(fz_cleanup);
	return 0;
}

static void
fz_clean_value(const char *s)
{
	if (s != NULL && strpbrk(s, "\r\n") != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_request req;
	struct account a;
	struct sx_err e;
	int fd, rc;

	if (memmem(data, size, "passwordeval", 12) != NULL ||
	    memmem(data, size, "password_cmd", 12) != NULL || size > CONF_FILE_MAX + 16)
		return 0;
	fd = open(fz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) == -1)
		abort();

	memset(&req, 0, sizeof(req));
	req.system_file = fz_path;
	/* Exercises the account-by-sender match too (from patterns are globs). */
	req.envelope_from = "someone@example.org";
	sx_clear(&e);
	rc = conf_load(&req, &a, &e);
	if (rc == 0) {
		if (a.tls == TLS_MODE_DEFAULT || a.port == 0 || a.port > 65535 || a.name == NULL)
			abort();
		fz_clean_value(a.host);
		fz_clean_value(a.user);
		fz_clean_value(a.from);
		fz_clean_value(a.domain);
		fz_clean_value(a.password);
		if (conf_dump(fz_null, &a) != 0)
			abort();
	} else if (rc == -1) {
		if (e.cls != SX_CONFIG && e.cls != SX_INTERNAL)
			abort();
		if (memchr(e.detail, '\0', sizeof(e.detail)) == NULL ||
		    memchr(e.hint, '\0', sizeof(e.hint)) == NULL)
			abort();
	} else {
		abort();
	}
	conf_account_free(&a);
	unlink(fz_path);
	return 0;
}
