/*
 * test_deliver.c — one delivery attempt (deliver_attempt) with a scripted
 * transport: what the metadata keeps when the relay took the message for
 * some recipients only (a server that limits recipients per transaction,
 * then a later transaction failed), and the log line that says so.
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
#include <unistd.h>

#include <cmocka.h>

#include "store/deliver.h"
#include "store/queue.h"

#define ID1 "0123456789abcdef0123456789abcdef"

struct fixture {
	char dir[64];
	char log[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strlcpy(f->dir, "/tmp/test_deliver.XXXXXX", sizeof(f->dir));
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/*
 * The scripted relay: which recipients each attempt got, and for which it
 * says the message was delivered before failing with fail (SX_OK: none
 * failed).
 */
struct fake {
	unsigned attempts;
	size_t nseen;
	char seen[8][32];
	const int *delivered; /* per recipient of this attempt, or NULL: none */
	enum sx_class fail;
	enum sx_stage stage;
};

static int
fake_transmit(void *arg, const struct account *a, const struct queue_meta *m,
    const struct smtp_message *msg, struct smtp_result *res, struct sx_err *e)
{
	struct fake *fk = arg;
	size_t i;

	(void)a;
	(void)m;
	fk->attempts++;
	fk->nseen = msg->nrcpts;
	for (i = 0; i < msg->nrcpts; i++)
		strlcpy(fk->seen[i], msg->rcpts[i], sizeof(fk->seen[i]));
	res->rcpt = calloc(msg->nrcpts, sizeof(*res->rcpt));
	assert_non_null(res->rcpt);
	for (i = 0; fk->delivered != NULL && i < msg->nrcpts; i++)
		if (fk->delivered[i]) {
			res->rcpt[i].delivered = 1;
			res->rcpt[i].code = 250;
			res->ndelivered++;
		}
	if (fk->fail == SX_OK) {
		res->final.code = 250;
		strlcpy(res->final.text, "2.0.0 Ok: queued as Z9", sizeof(res->final.text));
		return 0;
	}
	return sx_fail(e, fk->fail, fk->stage, "scripted failure");
}

/* A queued message to r1..rN@example.org: body file and metadata. */
static void
make_msg(const char *dir, size_t n)
{
	static const char *const names[] = {"r1@example.org", "r2@example.org", "r3@example.org",
	    "r4@example.org", "r5@example.org"};
	char *rcpts[5];
	size_t i;
	struct queue_meta m;
	struct sx_err e;
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.msg", dir, ID1);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("Subject: t\n\nbody\n", fp);
	assert_int_equal(fclose(fp), 0);
	memset(&m, 0, sizeof(m));
	strlcpy(m.id, ID1, sizeof(m.id));
	m.from = (char[]){"alice@example.org"};
	for (i = 0; i < n; i++)
		rcpts[i] = (char *)(uintptr_t)names[i];
	m.rcpts = rcpts;
	m.nrcpts = n;
	m.size = 19;
	m.created = 1000;
	sx_clear(&e);
	assert_int_equal(queue_meta_write(dir, &m, &e), 0);
}

/* One attempt at time now, as send and -q make it. */
static int
attempt(struct fixture *f, struct fake *fk, time_t now, struct deliver_result *r)
{
	struct deliver_transport t = {fake_transmit, fk, NULL, NULL, NULL};
	struct deliver_ctx dc = {f->dir, NULL, now, 0, 0};
	struct account a;
	struct queue_meta m;
	struct sx_err e;
	int fd, rc;

	memset(&a, 0, sizeof(a));
	a.logfile = f->log;
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	fd = queue_lock(f->dir, ID1, 0, &e);
	assert_true(fd >= 0);
	rc = deliver_attempt(&dc, &m, fd, &a, &t, r);
	close(fd);
	queue_meta_free(&m);
	return rc;
}

static char *
read_text(const char *path)
{
	static char buf[8192];
	FILE *fp = fopen(path, "r");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void
test_partly_delivered_requeued(void **state)
{
	static const int first_two[] = {1, 1, 0, 0, 0};
	struct fixture *f = *state;
	struct fake fk;
	struct deliver_result r;
	struct queue_meta m;
	struct sx_err e;
	char path[256];

	make_msg(f->dir, 5);

	/* Two delivered, then the connection was lost: deferred, for the other three. */
	memset(&fk, 0, sizeof(fk));
	fk.delivered = first_two;
	fk.fail = SX_TEMP;
	fk.stage = STAGE_RCPT;
	assert_int_equal(attempt(f, &fk, 2000, &r), -1);
	assert_int_equal(r.outcome, DELIVER_DEFERRED);
	assert_int_equal(r.ndelivered, 2);
	assert_int_equal(r.nrcpts, 5);
	assert_non_null(strstr(r.err.detail, "delivered to 2 of 5 recipients"));
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	assert_int_equal(m.state, QUEUE_DEFERRED);
	assert_int_equal(m.nrcpts, 3);
	assert_string_equal(m.rcpts[0], "r3@example.org");
	assert_string_equal(m.rcpts[1], "r4@example.org");
	assert_string_equal(m.rcpts[2], "r5@example.org");
	assert_int_equal(m.attempts, 1);
	assert_non_null(strstr(m.err_text, "only the other 3 are kept"));
	queue_meta_free(&m);
	/* The log line names every recipient of the attempt and says how many have it. */
	assert_non_null(strstr(read_text(f->log), "recipients=r1@example.org,r2@example.org,"
						  "r3@example.org,r4@example.org,r5@example.org"));
	assert_non_null(strstr(read_text(f->log), "result=queued"));
	assert_non_null(strstr(read_text(f->log), "delivered to 2 of 5 recipients"));

	/* The retry goes to those three only, and then the message is gone. */
	memset(&fk, 0, sizeof(fk));
	assert_int_equal(attempt(f, &fk, 3000, &r), 0);
	assert_int_equal(r.outcome, DELIVER_SENT);
	assert_int_equal(fk.nseen, 3);
	assert_string_equal(fk.seen[0], "r3@example.org");
	assert_string_equal(fk.seen[2], "r5@example.org");
	snprintf(path, sizeof(path), "%s/%s.meta", f->dir, ID1);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_partly_delivered_then_refused(void **state)
{
	static const int middle[] = {0, 1, 0};
	struct fixture *f = *state;
	struct fake fk;
	struct deliver_result r;
	struct queue_meta m;
	struct sx_err e;

	make_msg(f->dir, 3);
	memset(&fk, 0, sizeof(fk));
	fk.delivered = middle;
	fk.fail = SX_NOUSER;
	fk.stage = STAGE_RCPT;
	assert_int_equal(attempt(f, &fk, 2000, &r), -1);
	assert_int_equal(r.outcome, DELIVER_FAILED);
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	assert_int_equal(m.state, QUEUE_FAILED);
	assert_int_equal(m.nrcpts, 2);
	assert_string_equal(m.rcpts[0], "r1@example.org");
	assert_string_equal(m.rcpts[1], "r3@example.org");
	queue_meta_free(&m);
	assert_int_equal(queue_remove(f->dir, ID1, &e), 0);
}

static void
test_nothing_delivered_keeps_all(void **state)
{
	struct fixture *f = *state;
	struct fake fk;
	struct deliver_result r;
	struct queue_meta m;
	struct sx_err e;

	make_msg(f->dir, 3);
	memset(&fk, 0, sizeof(fk));
	fk.fail = SX_TEMP;
	fk.stage = STAGE_CONNECT;
	assert_int_equal(attempt(f, &fk, 2000, &r), -1);
	assert_int_equal(r.outcome, DELIVER_DEFERRED);
	assert_int_equal(r.ndelivered, 0);
	assert_null(strstr(r.err.detail, "delivered to"));
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	assert_int_equal(m.nrcpts, 3);
	queue_meta_free(&m);
	assert_int_equal(queue_remove(f->dir, ID1, &e), 0);
}

static void
test_all_delivered_is_sent(void **state)
{
	/* Every recipient has it: what failed after that makes no retry. */
	static const int all[] = {1, 1};
	struct fixture *f = *state;
	struct fake fk;
	struct deliver_result r;

	make_msg(f->dir, 2);
	memset(&fk, 0, sizeof(fk));
	fk.delivered = all;
	fk.fail = SX_TEMP;
	fk.stage = STAGE_QUIT;
	assert_int_equal(attempt(f, &fk, 2000, &r), 0);
	assert_int_equal(r.outcome, DELIVER_SENT);
}

/*
 * What ends a batch: 421, a 4.7.x (or Microsoft's 4.3.2) that says too
 * many or too much, a provider's sending quota; nothing else.
 */
static void
test_limit_replies(void **state)
{
	static const struct {
		int code;
		const char *enh, *text;
		int limit;
	} v[] = {
	    {421, "4.7.0", "4.7.0 too many messages in this connection", 1},
	    {421, "", "Service not available, closing channel", 1},
	    {450, "4.7.1", "4.7.1 Error: too much mail from 127.0.0.1", 1},
	    {451, "4.7.0", "4.7.0 Temporary server error. Please try again later. PRX4", 0},
	    {451, "4.7.500", "4.7.500 Server busy. Please try again later (rate limit)", 1},
	    {454, "4.7.0", "4.7.0 TLS not available due to local problem", 0},
	    {452, "4.5.3", "4.5.3 Error: too many recipients", 0},
	    {550, "5.7.1", "5.7.1 too many messages", 0},
	    /* Microsoft 365's throttle, and the providers' sending quotas (5xx in code only). */
	    {432, "4.3.2", "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", 1},
	    {451, "4.3.2", "4.3.2 System not accepting network messages", 0},
	    {554, "5.2.0",
		"5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
		"process message due to a permanent exception",
		1},
	    {550, "5.4.5", "5.4.5 Daily user sending limit exceeded.", 1},
	    {550, "5.4.5", "5.4.5 Daily user sending quota exceeded.", 1},
	    {550, "5.1.1", "5.1.1 The email account that you tried to reach does not exist", 0},
	    {0, "", "", 0},
	};
	struct sx_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sx_clear(&e);
		if (v[i].code != 0)
			sx_fail_reply(&e, v[i].code >= 500 ? SX_PERM : SX_TEMP, STAGE_MAIL,
			    v[i].code, v[i].enh, v[i].text, "refused (%d)", v[i].code);
		else
			sx_fail(&e, SX_TEMP, STAGE_CONNECT, "connection refused");
		assert_int_equal(deliver_is_limit(&e), v[i].limit);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_partly_delivered_requeued, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partly_delivered_then_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_delivered_keeps_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_all_delivered_is_sent, setup, teardown),
	    cmocka_unit_test(test_limit_replies),
	};

	return cmocka_run_group_tests_name("deliver", tests, NULL, NULL);
}
