/*
 * test_flush.c — a queue run through a transport that keeps its session
 * (flush_queue with send/collect/end): messages go relay by relay, oldest
 * first, one session each; a refused message fails alone; a relay that
 * says "too many" ends its group, leaves the rest queued as they were and
 * is held off (also in the next run of a runner); a lost session ends its
 * group without a hold; an account's rate spaces its messages.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "store/flush.h"
#include "store/queue.h"

#define ID(n) "0000000000000000000000000000000" #n

struct fixture {
	char dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strlcpy(f->dir, "/tmp/test_flush.XXXXXX", sizeof(f->dir));
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
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

/* A queued message for account acct ("a" or "b"). */
static void
make_msg(const char *dir, const char *id, time_t created, const char *acct)
{
	struct queue_meta m;
	struct sx_err e;
	char path[256];
	char *rcpts[1] = {(char *)(uintptr_t) "r@example.org"};
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("Subject: t\n\nbody\n", fp);
	assert_int_equal(fclose(fp), 0);
	memset(&m, 0, sizeof(m));
	strlcpy(m.id, id, sizeof(m.id));
	m.account = (char *)(uintptr_t)acct;
	m.from = (char[]){"alice@example.org"};
	m.rcpts = rcpts;
	m.nrcpts = 1;
	m.size = 19;
	m.created = created;
	sx_clear(&e);
	assert_int_equal(queue_meta_write(dir, &m, &e), 0);
}

static int
exists(const char *dir, const char *id)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	return access(path, F_OK) == 0;
}

static struct queue_meta
meta(const char *dir, const char *id)
{
	struct queue_meta m;
	struct sx_err e;

	sx_clear(&e);
	assert_int_equal(queue_meta_read(dir, id, &m, &e), 0);
	return m;
}

/* A transport that keeps a "session": what it was sent, in order, and its scripted verdicts. */
struct fb {
	char sent[16][QUEUE_ID_LEN + 1];
	char acct[16][4];
	int nsent;
	int sessions, open;
	int fail_at; /* 1-based: this send fails with fail */
	struct sx_err fail;
	int lost_after; /* every send after fail_at fails as a lost session */
	struct deliver_job *done[16];
	int head, tail;
};

static struct account acct_a, acct_b;

static const struct account *
fb_account(void *arg, struct queue_meta *m, struct sx_err *e)
{
	(void)arg;
	(void)e;
	return m->account != NULL && strcmp(m->account, "b") == 0 ? &acct_b : &acct_a;
}

static int
fb_send(void *arg, struct deliver_job *j)
{
	struct fb *fb = arg;
	int n = ++fb->nsent;

	strlcpy(fb->sent[n - 1], j->m->id, QUEUE_ID_LEN + 1);
	strlcpy(fb->acct[n - 1], j->a == &acct_b ? "b" : "a", 4);
	fb->open = 1;
	sx_clear(&j->sj.err);
	memset(&j->sj.res, 0, sizeof(j->sj.res));
	if (n == fb->fail_at) {
		j->sj.err = fb->fail;
		j->sj.rc = -1;
	} else if (fb->lost_after && n > fb->fail_at && fb->fail_at > 0) {
		sx_fail(&j->sj.err, SX_TEMP, STAGE_MAIL, "connection closed by server");
		j->sj.rc = -1;
	} else {
		j->sj.rc = 0;
		j->sj.res.final.code = 250;
	}
	fb->done[fb->tail++ % 16] = j;
	return 0;
}

static struct deliver_job *
fb_collect(void *arg, int wait)
{
	struct fb *fb = arg;

	(void)wait;
	if (fb->head == fb->tail)
		return NULL;
	return fb->done[fb->head++ % 16];
}

static void
fb_end(void *arg)
{
	struct fb *fb = arg;

	if (fb->open)
		fb->sessions++;
	fb->open = 0;
	/* The session that failed is over: the next one is good. */
	if (fb->fail_at > 0 && fb->nsent >= fb->fail_at)
		fb->fail_at = 0;
}

static int
fb_flush(const char *dir, struct fb *fb, struct flush_opts *o, struct flush_stats *st)
{
	struct deliver_transport t = {NULL, fb, fb_send, fb_collect, fb_end};
	struct flush_ops ops = {fb_account, NULL, NULL};
	struct deliver_ctx dc = {dir, NULL, o->now, 0, 0};
	struct sx_err e;

	sx_clear(&e);
	return flush_queue(&dc, o, &t, &ops, st, &e);
}

static void
accounts(void)
{
	static char host_a[] = "a.example", host_b[] = "b.example";

	memset(&acct_a, 0, sizeof(acct_a));
	memset(&acct_b, 0, sizeof(acct_b));
	acct_a.host = host_a;
	acct_a.port = 587;
	acct_b.host = host_b;
	acct_b.port = 587;
}

static void
test_relay_by_relay(void **state)
{
	struct fixture *f = *state;
	struct flush_opts o;
	struct flush_stats st;
	struct fb fb;

	accounts();
	make_msg(f->dir, ID(1), 1000, "a");
	make_msg(f->dir, ID(2), 1500, "b");
	make_msg(f->dir, ID(3), 2000, "a");
	make_msg(f->dir, ID(4), 2500, "b");
	make_msg(f->dir, ID(5), 3000, "a");
	memset(&o, 0, sizeof(o));
	memset(&fb, 0, sizeof(fb));
	o.now = 4000;
	assert_int_equal(fb_flush(f->dir, &fb, &o, &st), 0);
	/* Relay a's three, oldest first, then b's two: a session each. */
	assert_int_equal(fb.nsent, 5);
	assert_string_equal(fb.sent[0], ID(1));
	assert_string_equal(fb.sent[1], ID(3));
	assert_string_equal(fb.sent[2], ID(5));
	assert_string_equal(fb.sent[3], ID(2));
	assert_string_equal(fb.sent[4], ID(4));
	assert_string_equal(fb.acct[3], "b");
	assert_int_equal(fb.sessions, 2);
	assert_int_equal(st.sent, 5);
	assert_false(exists(f->dir, ID(1)));
	assert_false(exists(f->dir, ID(4)));
}

static void
test_refused_fails_alone(void **state)
{
	struct fixture *f = *state;
	struct flush_opts o;
	struct flush_stats st;
	struct queue_meta m;
	struct fb fb;
	int i;

	accounts();
	for (i = 1; i <= 5; i++) {
		char id[QUEUE_ID_LEN + 1];

		snprintf(id, sizeof(id), "%032d", i);
		make_msg(f->dir, id, 1000 + i, "a");
	}
	memset(&o, 0, sizeof(o));
	memset(&fb, 0, sizeof(fb));
	o.now = 4000;
	fb.fail_at = 2;
	sx_fail_reply(&fb.fail, SX_NOUSER, STAGE_RCPT, 550, "5.1.1", "no such user",
	    "recipient refused (550)");
	assert_int_equal(fb_flush(f->dir, &fb, &o, &st), -1);
	assert_int_equal(fb.nsent, 5);
	assert_int_equal(st.sent, 4);
	assert_int_equal(st.failed, 1);
	assert_int_equal(fb.sessions, 1);
	m = meta(f->dir, ID(2));
	assert_int_equal(m.state, QUEUE_FAILED);
	assert_int_equal(m.attempts, 1);
	queue_meta_free(&m);
	assert_false(exists(f->dir, ID(3)));
}

static void
test_limit_ends_group_and_holds(void **state)
{
	struct fixture *f = *state;
	struct flush_pace pace = {NULL, 0};
	struct flush_opts o;
	struct flush_stats st;
	struct queue_meta m;
	struct fb fb;
	int i;

	accounts();
	for (i = 1; i <= 5; i++) {
		char id[QUEUE_ID_LEN + 1];

		snprintf(id, sizeof(id), "%032d", i);
		make_msg(f->dir, id, 1000 + i, "a");
	}
	make_msg(f->dir, ID(9), 1100, "b");
	memset(&o, 0, sizeof(o));
	memset(&fb, 0, sizeof(fb));
	o.now = time(NULL);
	o.pace = &pace;
	fb.fail_at = 2;
	fb.lost_after = 1;
	sx_fail_reply(&fb.fail, SX_TEMP, STAGE_MAIL, 421, "4.7.0",
	    "4.7.0 too many messages in this connection", "refused sender (421)");
	assert_int_equal(fb_flush(f->dir, &fb, &o, &st), -1);
	/* 1 sent, 2 refused with the 421; 3-5 not sent; relay b not affected. */
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.deferred, 1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.limited, 1);
	assert_int_equal(st.skipped, 3);
	assert_true(st.next_due >= o.now + 60);
	assert_int_equal(fb.nsent, 3);
	assert_string_equal(fb.sent[2], ID(9));
	m = meta(f->dir, ID(2));
	assert_int_equal(m.state, QUEUE_DEFERRED);
	assert_int_equal(m.err_code, 421);
	queue_meta_free(&m);
	/* Not their fault: left as they were, not even counted as an attempt. */
	m = meta(f->dir, ID(4));
	assert_int_equal(m.state, QUEUE_DEFERRED);
	assert_int_equal(m.attempts, 0);
	assert_int_equal(m.err_class, SX_OK);
	queue_meta_free(&m);

	/* The runner's next pass: the relay is held off, nothing goes. */
	memset(&fb, 0, sizeof(fb));
	assert_int_equal(fb_flush(f->dir, &fb, &o, &st), 0);
	assert_int_equal(fb.nsent, 0);
	assert_true(st.next_due >= o.now + 60);
	/* After the back-off: the rest go. */
	pace.v[0].hold_until = 0;
	assert_int_equal(fb_flush(f->dir, &fb, &o, &st), 0);
	assert_int_equal(st.sent, 4);
	flush_pace_free(&pace);
}

static void
test_lost_session_ends_group(void **state)
{
	struct fixture *f = *state;
	struct flush_opts o;
	struct flush_stats st;
	struct queue_meta m;
	struct fb fb;
	int i;

	accounts();
	for (i = 1; i <= 5; i++) {
		char id[QUEUE_ID_LEN + 1];

		snprintf(id, sizeof(id), "%032d", i);
		make_msg(f->dir, id, 1000 + i, "a");
	}
	memset(&o, 0, sizeof(o));
	memset(&fb, 0, sizeof(fb));
	o.now = time(NULL);
	fb.fail_at = 2;
	fb.lost_after = 1;
	sx_fail(&fb.fail, SX_TEMP, STAGE_EOM, "connection closed by server");
	assert_int_equal(fb_flush(f->dir, &fb, &o, &st), -1);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.deferred, 1);
	assert_int_equal(st.limited, 0);
	assert_int_equal(st.skipped, 3);
	m = meta(f->dir, ID(3));
	assert_int_equal(m.attempts, 0);
	queue_meta_free(&m);
	/* No hold: the next run sends them. */
	memset(&fb, 0, sizeof(fb));
	assert_int_equal(fb_flush(f->dir, &fb, &o, &st), 0);
	assert_int_equal(st.sent, 4);
}

static void
test_rate_spaces_messages(void **state)
{
	struct fixture *f = *state;
	struct flush_opts o;
	struct flush_stats st;
	struct fb fb;
	int64_t t0;

	accounts();
	acct_a.rate = 1200; /* 50 ms apart */
	make_msg(f->dir, ID(1), 1000, "a");
	make_msg(f->dir, ID(2), 1001, "a");
	make_msg(f->dir, ID(3), 1002, "a");
	memset(&o, 0, sizeof(o));
	memset(&fb, 0, sizeof(fb));
	o.now = 4000;
	t0 = clock_now_ms();
	assert_int_equal(fb_flush(f->dir, &fb, &o, &st), 0);
	/* Two gaps at least: the first goes at once. */
	assert_true(clock_now_ms() - t0 >= 100);
	assert_int_equal(st.sent, 3);
	assert_int_equal(fb.sessions, 1);
	acct_a.rate = 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_relay_by_relay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_fails_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_ends_group_and_holds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_session_ends_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_spaces_messages, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
