/*
 * fuzz_queue_meta.c — queue_meta_parse() on arbitrary bytes (a queue
 * directory's .meta file, which a crash, a full disk or another version
 * may have left in any state).
 *
 * Checks: a refusal is SX_LOCALIO or SX_INTERNAL with terminated texts
 * and leaves the struct empty; what parses is written back
 * (queue_meta_format), that text parses again to the same struct, and
 * formatting that gives the same text (a fixed point).  Equality allows
 * what the format defines away: error fields are written only with an
 * error class, and an absent text field is written empty.
 *
 * The relay record pairs: an account rebuilt from them (conf_from_record)
 * is recorded again (conf_record), and that record rebuilds an account
 * whose record is the same again: what conf_record writes is always read
 * back.  No SMTPS_SEND_* variable is set, so a record never finds a
 * password in the environment.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/conf.h"
#include "store/queue_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

extern char **environ;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t i;

	(void)argc, (void)argv;
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
	return 0;
}

static void
fz_terminated(const struct sx_err *e)
{
	if (memchr(e->detail, '\0', sizeof(e->detail)) == NULL ||
	    memchr(e->hint, '\0', sizeof(e->hint)) == NULL ||
	    memchr(e->reply, '\0', sizeof(e->reply)) == NULL)
		abort();
}

/* Same string, NULL and "" being the same when text (always written). */
static void
fz_same_str(const char *a, const char *b, int text)
{
	if (text) {
		a = a != NULL ? a : "";
		b = b != NULL ? b : "";
	}
	if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
		abort();
}

static void
fz_same_meta(const struct queue_meta *a, const struct queue_meta *b)
{
	size_t i;

	if (strcmp(a->id, b->id) != 0 || a->state != b->state || a->nrcpts != b->nrcpts ||
	    a->size != b->size || a->body_8bit != b->body_8bit ||
	    a->needs_smtputf8 != b->needs_smtputf8 || a->nrelay != b->nrelay ||
	    a->created != b->created || a->first_attempt != b->first_attempt ||
	    a->last_attempt != b->last_attempt || a->attempts != b->attempts ||
	    a->err_class != b->err_class)
		abort();
	fz_same_str(a->account, b->account, 0);
	fz_same_str(a->from, b->from, 1);
	for (i = 0; i < a->nrcpts; i++)
		fz_same_str(a->rcpts[i], b->rcpts[i], 0);
	for (i = 0; i < 2 * a->nrelay; i++)
		fz_same_str(a->relay[i], b->relay[i], 0);
	fz_same_str(a->dsn_notify, b->dsn_notify, 0);
	fz_same_str(a->dsn_ret, b->dsn_ret, 0);
	fz_same_str(a->dsn_envid, b->dsn_envid, 0);
	fz_same_str(a->dsn, b->dsn, 0);
	if (a->err_class == SX_OK) {
		/* Nothing of an error is written without its class. */
		if (b->err_stage != STAGE_NONE || b->err_exit != 0 || b->err_code != 0 ||
		    b->err_text != NULL || b->err_enhanced != NULL)
			abort();
		return;
	}
	if (a->err_stage != b->err_stage || a->err_exit != b->err_exit ||
	    a->err_code != b->err_code)
		abort();
	fz_same_str(a->err_text, b->err_text, 1);
	fz_same_str(a->err_enhanced, b->err_enhanced, 0);
}

/* conf_record's put(): collect the pairs into a queue_meta's relay record. */
static void
fz_put(void *arg, const char *key, const char *value)
{
	if (queue_meta_add_relay(arg, key, value) == -1)
		abort();
}

/* An account from the pairs, recorded again into out.  0, or -1 when refused. */
static int
fz_rerecord(char *const *kv, size_t n, struct queue_meta *out)
{
	struct account a;
	struct sx_err e;

	memset(out, 0, sizeof(*out));
	sx_clear(&e);
	if (conf_from_record(&a, kv, n, &e) == -1) {
		if (e.cls != SX_CONFIG && e.cls != SX_INTERNAL)
			abort();
		fz_terminated(&e);
		return -1;
	}
	if (a.host == NULL || a.port == 0 || a.tls == TLS_MODE_DEFAULT || a.name == NULL)
		abort();
	conf_record(&a, fz_put, out);
	conf_account_free(&a);
	return 0;
}

static void
fz_relay(const struct queue_meta *m)
{
	struct queue_meta r1, r2;
	size_t i;

	if (fz_rerecord(m->relay, m->nrelay, &r1) == -1)
		return;
	/*
	 * conf_record never writes the password itself, and only ever records
	 * an account conf_load made; one rebuilt from a record that has it
	 * (hand-made) is recorded with a password_origin no run can follow.
	 */
	for (i = 0; i < m->nrelay; i++)
		if (strcmp(m->relay[2 * i], "password") == 0) {
			queue_meta_free(&r1);
			return;
		}
	/* What conf_record wrote must be read back, and to the same record. */
	if (fz_rerecord(r1.relay, r1.nrelay, &r2) == -1 || r1.nrelay != r2.nrelay) {
		fprintf(stderr, "fuzz_queue_meta: conf_record's own record is refused\n");
		abort();
	}
	for (i = 0; i < 2 * r1.nrelay; i++)
		fz_same_str(r1.relay[i], r2.relay[i], 0);
	queue_meta_free(&r1);
	queue_meta_free(&r2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct queue_meta zero;
	struct queue_meta m, m2;
	struct sx_err e;
	char *t1, *t2;

	sx_clear(&e);
	if (queue_meta_parse((const char *)data, size, &m, &e) == -1) {
		if (e.cls != SX_LOCALIO && e.cls != SX_INTERNAL)
			abort();
		fz_terminated(&e);
		if (memcmp(&m, &zero, sizeof(m)) != 0)
			abort();
		return 0;
	}
	if (e.cls != SX_OK || !queue_id_valid(m.id) || m.from == NULL)
		abort();
	if ((t1 = queue_meta_format(&m)) == NULL)
		abort();
	sx_clear(&e);
	if (queue_meta_parse(t1, strlen(t1), &m2, &e) == -1)
		abort();
	fz_same_meta(&m, &m2);
	if ((t2 = queue_meta_format(&m2)) == NULL || strcmp(t1, t2) != 0)
		abort();
	if (m.nrelay > 0)
		fz_relay(&m);
	free(t1);
	free(t2);
	queue_meta_free(&m);
	queue_meta_free(&m2);
	return 0;
}
