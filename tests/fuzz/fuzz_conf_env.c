/*
 * fuzz_conf_env.c — the configuration from the environment alone (a
 * container, a CI job): the input is split into NAME=VALUE entries (at
 * NUL bytes when it has any, so values may hold CR and LF, else at
 * newlines), each NAME upper-cased and put under SMTPS_SEND_ when it is
 * not already, and set; then conf_load() with relay_optional, a system
 * file that does not exist and HOME in an empty directory, so only the
 * variables configure.  The variables are unset after every run.
 * SMTPS_SEND_CONFIG (it would read a file) and passwordeval/password_cmd
 * (it names a command; conf_load does not run it, but stay safe) are
 * skipped.
 *
 * Checks: errors are SX_CONFIG or SX_INTERNAL with terminated texts; on
 * success tls and port are resolved and the strings that reach the SMTP
 * dialogue hold no CR or LF; with a host, the account's record for the
 * queue (conf_record) rebuilds an account (conf_from_record) with the
 * same relay, password included, whose record is the same again.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

extern char **environ;

#define FZ_VARS     64
#define FZ_NAME_MAX 64

static char fz_dir[64], fz_sys[96];
/*
 * The variables set: putenv() on strings of our own, freed after unsetenv()
 * (glibc's setenv() keeps every value it was ever given: millions of runs).
 */
static char fz_names[FZ_VARS][FZ_NAME_MAX + 16];
static char *fz_strs[FZ_VARS];
static size_t fz_nnames;

/* Every SMTPS_SEND_* variable gone (restart after each unsetenv). */
static void
fz_clear_env(void)
{
	size_t i;

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
}

static void
fz_cleanup(void)
{
	if (fz_dir[0] != '\0')
		rmdir(fz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_clear_env();
	snprintf(fz_dir, sizeof(fz_dir), "/tmp/fuzz_conf_env.XXXXXX");
	if (mkdtemp(fz_dir) == NULL)
		abort();
	/* Never created: the system file is missing, the user file too (HOME). */
	snprintf(fz_sys, sizeof(fz_sys), "%s/no-such-system-file", fz_dir);
	setenv("HOME", fz_dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	atexit(fz_cleanup);
	return 0;
}

/* Set one NAME=VALUE entry (len bytes, no NUL) under SMTPS_SEND_. */
static void
fz_setvar(const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);
	char name[FZ_NAME_MAX + 16], *str;
	size_t n, off = 0, i;

	if (eq == NULL || eq == s || (size_t)(eq - s) > FZ_NAME_MAX || fz_nnames >= FZ_VARS)
		return;
	n = (size_t)(eq - s);
	if (n < 11 || strncasecmp(s, "SMTPS_SEND_", 11) != 0) {
		memcpy(name, "SMTPS_SEND_", 11);
		off = 11;
	}
	for (i = 0; i < n; i++)
		name[off + i] = (char)toupper((unsigned char)s[i]);
	name[off + n] = '\0';
	if (strcmp(name, "SMTPS_SEND_") == 0 || strcmp(name, "SMTPS_SEND_CONFIG") == 0 ||
	    strstr(name, "PASSWORDEVAL") != NULL || strstr(name, "PASSWORD_CMD") != NULL)
		return;
	if (asprintf(&str, "%s=%.*s", name, (int)(len - n - 1), eq + 1) == -1)
		abort();
	if (putenv(str) != 0) {
		free(str);
		return;
	}
	strlcpy(fz_names[fz_nnames], name, sizeof(fz_names[0]));
	fz_strs[fz_nnames++] = str;
}

static void
fz_clean_value(const char *s)
{
	if (s != NULL && strpbrk(s, "\r\n") != NULL)
		abort();
}

static void
fz_same_str(const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
		abort();
}

/* conf_record's pairs, collected. */
struct fz_pairs {
	char *kv[2 * 128];
	size_t n;
};

static void
fz_put(void *arg, const char *key, const char *value)
{
	struct fz_pairs *p = arg;

	if (p->n >= 128 || (p->kv[2 * p->n] = strdup(key)) == NULL ||
	    (p->kv[2 * p->n + 1] = strdup(value)) == NULL)
		abort();
	p->n++;
}

static void
fz_pairs_free(struct fz_pairs *p)
{
	size_t i;

	for (i = 0; i < 2 * p->n; i++)
		free(p->kv[i]);
	p->n = 0;
}

/* The account a queued message would be sent with: the same relay, the same record. */
static void
fz_round_trip(const struct account *a)
{
	struct fz_pairs p1, p2;
	struct account b;
	struct sx_err e;
	size_t i;

	memset(&p1, 0, sizeof(p1));
	memset(&p2, 0, sizeof(p2));
	conf_record(a, fz_put, &p1);
	sx_clear(&e);
	if (conf_from_record(&b, p1.kv, p1.n, &e) == -1) {
		fprintf(stderr, "fuzz_conf_env: the record is refused: %s\n", e.detail);
		abort();
	}
	fz_same_str(a->name, b.name);
	fz_same_str(a->host, b.host);
	fz_same_str(a->user, b.user);
	fz_same_str(a->from, b.from);
	fz_same_str(a->domain, b.domain);
	fz_same_str(a->password, b.password);
	fz_same_str(a->password_file, b.password_file);
	fz_same_str(a->passwordeval, b.passwordeval);
	fz_same_str(a->tls_trust_file, b.tls_trust_file);
	fz_same_str(a->tls_fingerprint, b.tls_fingerprint);
	fz_same_str(a->logfile, b.logfile);
	if (a->port != b.port || a->tls != b.tls || a->auth != b.auth ||
	    a->tls_certcheck != b.tls_certcheck || a->timeout != b.timeout || a->queue != b.queue ||
	    a->queue_max_age != b.queue_max_age || a->queue_keep_failed != b.queue_keep_failed ||
	    a->bounce != b.bounce)
		abort();
	conf_record(&b, fz_put, &p2);
	/* The password's origin differs (environment, then the record); nothing else. */
	for (i = 0; i < p1.n && i < p2.n; i++) {
		if (strncmp(p1.kv[2 * i], "password_", 9) == 0)
			continue;
		fz_same_str(p1.kv[2 * i], p2.kv[2 * i]);
		fz_same_str(p1.kv[2 * i + 1], p2.kv[2 * i + 1]);
	}
	if (p1.n != p2.n)
		abort();
	conf_account_free(&b);
	fz_pairs_free(&p1);
	fz_pairs_free(&p2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_request req;
	struct account a;
	struct sx_err e;
	const char *p = (const char *)data, *end = p + size, *sep;
	char delim = memchr(data, '\0', size) != NULL ? '\0' : '\n';
	size_t i;
	int rc;

	for (fz_nnames = 0; p < end; p = sep + 1) {
		if ((sep = memchr(p, delim, (size_t)(end - p))) == NULL)
			sep = end;
		fz_setvar(p, (size_t)(sep - p));
	}

	memset(&req, 0, sizeof(req));
	req.system_file = fz_sys;
	req.relay_optional = 1;
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
		if (a.host != NULL)
			fz_round_trip(&a);
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
	for (i = 0; i < fz_nnames; i++)
		unsetenv(fz_names[i]);
	for (i = 0; i < fz_nnames; i++)
		free(fz_strs[i]);
	fz_nnames = 0;
	return 0;
}
