/*
 * fuzz_msmtprc.c — msmtprc_import() on the fuzz input as an msmtprc, then
 * conf_load() of what it wrote (mode 0600, in a per-process temp dir
 * removed at exit), as -C by root, every account in turn.
 *
 * Checks: the import fails only with SX_CONFIG or SX_INTERNAL, its texts
 * terminated; what it writes holds no NUL; and smtps-send's grammar takes
 * every line of it: loading the result finds no error in the file (an
 * account may still be refused as a whole, e.g. AUTH without TLS, which
 * the import leaves for the user to allow).  No command is run: the
 * import runs none, and neither does conf_load.
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/conf.h"
#include "config/msmtprc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

extern char **environ;

static char fz_dir[64], fz_path[96];
static struct conf_errors fz_errs;

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
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz_msmtprc.XXXXXX");
	if (mkdtemp(fz_dir) == NULL)
		abort();
	snprintf(fz_path, sizeof(fz_path), "%s/config", fz_dir);
	setenv("HOME", fz_dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	atexit(fz_cleanup);
	return 0;
}

/* Load account name (NULL: the default choice) from fz_path; no error may be in the file. */
static void
fz_load(const char *name)
{
	static const uid_t root = 0;
	struct conf_request req;
	struct account a;
	struct sx_err e;

	memset(&req, 0, sizeof(req));
	memset(&fz_errs, 0, sizeof(fz_errs));
	req.config_file = fz_path;
	req.system_file = "/nonexistent/system.conf";
	req.caller_uid = &root;
	req.account = name;
	req.relay_optional = 1;
	req.errors = &fz_errs;
	sx_clear(&e);
	if (conf_load(&req, &a, &e) == 0)
		conf_account_free(&a);
	else if (e.cls != SX_CONFIG && e.cls != SX_INTERNAL)
		abort();
	if (fz_errs.total > 0) {
		fprintf(stderr, "imported file refused: %s\n", fz_errs.err[0].detail);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msmtprc_result res;
	struct sx_err e;
	char *out = NULL;
	const char *p;
	size_t len = 0, k;
	FILE *fp;
	int fd, rc;

	if (size > CONF_FILE_MAX)
		return 0;
	if ((fp = open_memstream(&out, &len)) == NULL)
		abort();
	sx_clear(&e);
	rc = msmtprc_import((const char *)data, size, "fuzz", fp, NULL, NULL, &res, &e);
	if (fclose(fp) != 0)
		abort();
	if (rc == -1) {
		if ((e.cls != SX_CONFIG && e.cls != SX_INTERNAL) ||
		    memchr(e.detail, '\0', sizeof(e.detail)) == NULL)
			abort();
		free(out);
		return 0;
	}
	if (rc != 0 || memchr(out, '\0', len) != NULL)
		abort();
	fd = open(fz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (len > 0 && write(fd, out, len) != (ssize_t)len) || close(fd) == -1)
		abort();
	fz_load(NULL);
	/* The accounts the import wrote (the first few: each load reads the file). */
	for (p = out, k = 0; k < 8 && (p = strstr(p, "\naccount ")) != NULL; k++) {
		char name[160];
		size_t n;

		p += 9;
		n = strcspn(p, " \n");
		if (n == 0 || n >= sizeof(name))
			abort();
		memcpy(name, p, n);
		name[n] = '\0';
		fz_load(name);
	}
	free(out);
	unlink(fz_path);
	return 0;
}
