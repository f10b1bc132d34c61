/* test_queue.c — queue metadata, listing, states, expiry, back-off, locks, flush. */
#include "config.h"

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
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/flush.h"
#include "store/queue.h"

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"
#define ID3 "00000000000000000000000000000003"

struct fixture {
	char dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strlcpy(f->dir, "/tmp/test_queue.XXXXXX", sizeof(f->dir));
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

static void
put_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* A queued message: body file and metadata. */
static void
make_msg(const char *dir, const char *id, time_t created, const char *rcpt)
{
	struct queue_meta m;
	struct sx_err e;
	char name[64];
	char *rcpts[1];

	snprintf(name, sizeof(name), "%s.msg", id);
	put_file(dir, name, "Subject: t\n\nbody\n", 17);
	memset(&m, 0, sizeof(m));
	strlcpy(m.id, id, sizeof(m.id));
	m.from = (char[]){"alice@example.org"};
	rcpts[0] = (char *)(uintptr_t)rcpt;
	m.rcpts = rcpts;
	m.nrcpts = 1;
	m.size = 19;
	m.created = created;
	sx_clear(&e);
	assert_int_equal(queue_meta_write(dir, &m, &e), 0);
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, r;
	struct sx_err e, fail;
	char *rcpts[] = {(char[]){"bob@example.org"}, (char[]){"\"odd name\"@xn--b.example"},
	    (char[]){"u\xc3\xa9@example.org"}};
	char path[256];
	struct stat sb;

	memset(&m, 0, sizeof(m));
	strlcpy(m.id, ID1, sizeof(m.id));
	m.account = (char[]){"work"};
	m.from = (char[]){"alice%x@example.org"};
	m.rcpts = rcpts;
	m.nrcpts = 3;
	m.size = 12345;
	m.body_8bit = 1;
	m.needs_smtputf8 = 1;
	m.dsn_notify = (char[]){"SUCCESS,DELAY"};
	m.dsn_envid = (char[]){"env-1"};
	m.created = 1000;
	sx_clear(&fail);
	sx_fail(&fail, SX_TEMP, STAGE_RCPT, "recipient refused\r\nfor now");
	sx_set_reply(&fail, 450, "4.2.0", "450 4.2.0 busy\n450 try later\x1b[31m");
	assert_int_equal(queue_meta_fail(&m, &fail, 2000, 0), 0);
	sx_clear(&e);
	assert_int_equal(queue_meta_write(f->dir, &m, &e), 0);
	snprintf(path, sizeof(path), "%s/%s.meta", f->dir, ID1);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/%s.meta.tmp", f->dir, ID1);
	assert_int_equal(access(path, F_OK), -1);

	assert_int_equal(queue_meta_read(f->dir, ID1, &r, &e), 0);
	assert_string_equal(r.id, ID1);
	assert_string_equal(r.account, "work");
	assert_string_equal(r.from, "alice%x@example.org");
	assert_int_equal(r.nrcpts, 3);
	assert_string_equal(r.rcpts[1], "\"odd name\"@xn--b.example");
	assert_string_equal(r.rcpts[2], "u\xc3\xa9@example.org");
	assert_int_equal(r.size, 12345);
	assert_int_equal(r.body_8bit, 1);
	assert_int_equal(r.needs_smtputf8, 1);
	assert_string_equal(r.dsn_notify, "SUCCESS,DELAY");
	assert_null(r.dsn_ret);
	assert_string_equal(r.dsn_envid, "env-1");
	assert_int_equal(r.state, QUEUE_DEFERRED);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(r.created, 1000);
	assert_int_equal(r.first_attempt, 2000);
	assert_int_equal(r.last_attempt, 2000);
	assert_int_equal(r.err_class, SX_TEMP);
	assert_int_equal(r.err_stage, STAGE_RCPT);
	assert_int_equal(r.err_exit, EX_TEMPFAIL);
	assert_int_equal(r.err_code, 450);
	/* One printable line, the reply's lines joined. */
	assert_null(strpbrk(r.err_text, "\r\n\x1b"));
	assert_non_null(strstr(r.err_text, "server said: 450 4.2.0 busy/450 try later"));
	assert_string_equal(r.err_enhanced, "4.2.0");
	free(m.err_text);
	free(m.err_enhanced);
	queue_meta_free(&r);
}

static void
test_state_transitions(void **state)
{
	struct queue_meta m;
	struct sx_err e;
	/* One classification (sx_about_message): about the message, or not its fault. */
	static const struct {
		enum sx_class cls;
		enum sx_stage stage;
		enum queue_state want;
	} cases[] = {
	    {SX_TEMP, STAGE_CONNECT, QUEUE_DEFERRED},
	    {SX_NOHOST, STAGE_RESOLVE, QUEUE_DEFERRED},
	    {SX_AUTH, STAGE_AUTH, QUEUE_DEFERRED},
	    {SX_TLS, STAGE_TLS, QUEUE_DEFERRED},
	    {SX_CONFIG, STAGE_CONFIG, QUEUE_DEFERRED},
	    {SX_PROTO, STAGE_MAIL, QUEUE_DEFERRED},
	    {SX_TEMP, STAGE_RCPT, QUEUE_DEFERRED},
	    /* A 5xx or a missing feature before MAIL is the relay's or the set-up's. */
	    {SX_PERM, STAGE_AUTH, QUEUE_DEFERRED}, /* e.g. only CRAM-MD5 offered */
	    {SX_PERM, STAGE_GREETING, QUEUE_DEFERRED},
	    {SX_PERM, STAGE_EHLO, QUEUE_DEFERRED},
	    {SX_PERM, STAGE_MAIL, QUEUE_FAILED},
	    {SX_NOUSER, STAGE_RCPT, QUEUE_FAILED},
	    {SX_PERM, STAGE_EOM, QUEUE_FAILED},
	    {SX_DATA, STAGE_INTAKE, QUEUE_FAILED},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&m, 0, sizeof(m));
		sx_clear(&e);
		sx_fail(&e, cases[i].cls, cases[i].stage, "x");
		assert_int_equal(queue_meta_fail(&m, &e, 50, 0), 0);
		assert_int_equal(m.state, cases[i].want);
		assert_int_equal(m.attempts, 1);
		assert_int_equal(m.err_exit, sx_exitcode(&e));
		/* A second failure keeps the first attempt's time. */
		assert_int_equal(queue_meta_fail(&m, &e, 90, 0), 0);
		assert_int_equal(m.attempts, 2);
		assert_int_equal(m.first_attempt, 50);
		assert_int_equal(m.last_attempt, 90);
		/* queue off: what is not the message's fault is held, the rest as before. */
		assert_int_equal(queue_meta_fail(&m, &e, 95, 1), 0);
		assert_int_equal(
		    m.state, cases[i].want == QUEUE_FAILED ? QUEUE_FAILED : QUEUE_HELD);
		free(m.err_text);
	}
}

static void
test_expiry_and_backoff(void **state)
{
	struct queue_meta m;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.created = 1000;
	assert_int_equal(queue_state_at(&m, 1000 + 3600, 3600), QUEUE_DEFERRED);
	assert_int_equal(queue_state_at(&m, 1000 + 3601, 3600), QUEUE_EXPIRED);
	assert_int_equal(queue_state_at(&m, 1000 + 99999999, 0), QUEUE_DEFERRED);
	m.state = QUEUE_FAILED;
	assert_int_equal(queue_state_at(&m, 1000 + 3601, 3600), QUEUE_FAILED);

	assert_int_equal(queue_backoff(0), 0);
	assert_int_equal(queue_backoff(1), 60);
	assert_int_equal(queue_backoff(2), 120);
	assert_int_equal(queue_backoff(3), 240);
	assert_int_equal(queue_backoff(8), 7680);
	assert_int_equal(queue_backoff(9), 4 * 3600);
	assert_int_equal(queue_backoff(4000000000u), 4 * 3600);

	m.state = QUEUE_DEFERRED;
	m.attempts = 0;
	m.last_attempt = 0;
	assert_true(queue_due_at(&m, 0) <= 1000); /* -odq: never tried, due at once */
	m.attempts = 2;
	m.last_attempt = 5000;
	assert_int_equal(queue_due_at(&m, 0), 5120);
	m.attempts = 9; /* 4 h back-off, capped by a runner's -q30m */
	assert_int_equal(queue_due_at(&m, 0), 5000 + 4 * 3600);
	assert_int_equal(queue_due_at(&m, 1800), 5000 + 1800);
}

static void
test_lock_exclusion(void **state)
{
	struct fixture *f = *state;
	struct sx_err e;
	char path[256];
	int a, b;

	make_msg(f->dir, ID1, 10, "bob@example.org");
	sx_clear(&e);
	a = queue_lock(f->dir, ID1, 1, &e);
	assert_true(a >= 0);
	/* A second open file description: flock excludes it even in one process. */
	assert_int_equal(queue_lock(f->dir, ID1, 1, &e), -2);
	assert_int_equal(e.cls, SX_OK);
	/* The holder delivers and removes it; a waiter then sees "gone". */
	assert_int_equal(queue_remove_files(f->dir, ID1, &e), 0);
	close(a);
	assert_int_equal(queue_lock(f->dir, ID1, 1, &e), -2);
	/* A lock on a file unlinked after opening is refused too. */
	make_msg(f->dir, ID2, 10, "bob@example.org");
	snprintf(path, sizeof(path), "%s/%s.msg", f->dir, ID2);
	b = queue_lock(f->dir, ID2, 0, &e);
	assert_true(b >= 0);
	close(b);
	assert_int_equal(queue_remove(f->dir, ID2, &e), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(queue_remove(f->dir, ID2, &e), -1);
	assert_int_equal(e.cls, SX_USAGE);
	sx_clear(&e);
	assert_int_equal(queue_remove(f->dir, "../etc/passwd", &e), -1);
	assert_int_equal(e.cls, SX_USAGE);
}

static void
test_bad_metadata(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "", "garbage\n",
	    "\x7f"
	    "ELF\x01\x02\x00\x00",
	    "smtps-send-queue 1\nid " ID1 "\nfrom a@b\nrcpt c@d\n",        /* no end */
	    "smtps-send-queue 1\nid " ID1 "\nfrom a@b\nrcpt c@d\nend",     /* cut */
	    "smtps-send-queue 1\nid " ID1 "\nstate bogus\nfrom a\nend\n",  /* state */
	    "smtps-send-queue 1\nid " ID1 "\nfrom a%0\nrcpt b\nend\n",     /* escape */
	    "smtps-send-queue 1\nid " ID1 "\nfrom a%00\nrcpt b\nend\n",    /* NUL */
	    "smtps-send-queue 1\nid " ID1 "\nsize -1\nfrom a\nend\n",      /* number */
	    "smtps-send-queue 1\nid " ID1 "\nrcpt b\nend\n",               /* no from */
	    "smtps-send-queue 1\nid " ID2 "\nfrom a\nrcpt b\nend\n",       /* other id */
	    "smtps-send-queue 1\nid " ID1 "\nerror_stage nowhere\nend\n",  /* stage */
	    "smtps-send-queue 1\nid " ID1 "\nattempts 99999999999\nend\n", /* range */
	};
	struct queue_meta m;
	struct sx_err e;
	char name[64], *out = NULL;
	const char *want;
	size_t i, len = 0;
	FILE *fp;

	make_msg(f->dir, ID1, 10, "bob@example.org");
	snprintf(name, sizeof(name), "%s.meta", ID1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_file(f->dir, name, bad[i], i == 2 ? 8 : strlen(bad[i]));
		sx_clear(&e);
		assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), -1);
		assert_int_equal(e.cls, SX_LOCALIO);
		assert_non_null(strstr(e.detail, name));
		/* The listing reports it on its line and goes on. */
		fp = open_memstream(&out, &len);
		assert_non_null(fp);
		sx_clear(&e);
		assert_int_equal(queue_list(fp, f->dir, 100, 0, &e), 1);
		fclose(fp);
		assert_non_null(strstr(out, ID1 " "));
		assert_non_null(strstr(out, "bad-metadata"));
		free(out);
		out = NULL;
	}
	/* Unknown keys from a newer version are ignored. */
	want = "smtps-send-queue 1\nid " ID1 "\nfrom a\nrcpt b\nfuture_key x y\nend\n";
	put_file(f->dir, name, want, strlen(want));
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	queue_meta_free(&m);
}

static void
test_listing(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m;
	struct sx_err e;
	char *out = NULL, *second;
	const char *want;
	size_t len = 0;
	FILE *fp;
	int fd;

	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	sx_clear(&e);
	assert_int_equal(queue_list(fp, f->dir, 100, 0, &e), 0);
	fclose(fp);
	assert_non_null(strstr(out, "queue is empty"));
	free(out);

	make_msg(f->dir, ID2, 1000, "second@example.org");
	make_msg(f->dir, ID1, 500, "first@example.org");
	/* A failed one, with its reply. */
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, ID2, &m, &e), 0);
	sx_fail(&e, SX_NOUSER, STAGE_RCPT, "every recipient was refused");
	sx_set_reply(&e, 550, "5.1.1", "550 5.1.1 no such user");
	queue_meta_fail(&m, &e, 1100, 0);
	sx_clear(&e);
	assert_int_equal(queue_meta_write(f->dir, &m, &e), 0);
	queue_meta_free(&m);
	/* A .msg without metadata and a .tmp: incomplete, and not listed. */
	put_file(f->dir, ID3 ".msg", "x\n", 2);
	put_file(f->dir, "11111111111111111111111111111111.tmp", "partial", 7);

	out = NULL;
	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	assert_int_equal(queue_list(fp, f->dir, 500 + 3 * 3600 + 120, 5 * 3600, &e), 3);
	fclose(fp);
	/* Oldest first: ID1 (500), then ID2 (1000); the incomplete by mtime (now) last. */
	want = ID1 "   3h02m        17 deferred attempts=0 <alice@example.org> -> "
		   "first@example.org | not tried yet\n";
	assert_memory_equal(out, want, strlen(want));
	second = strchr(out, '\n') + 1;
	assert_memory_equal(second, ID2, strlen(ID2));
	assert_non_null(strstr(second, " failed attempts=1 <alice@example.org> -> "
				       "second@example.org | rcpt: every recipient was refused; "
				       "server said: 550 5.1.1 no such user\n"));
	assert_non_null(strstr(out, ID3 " "));
	assert_non_null(strstr(out, "incomplete (no envelope)"));
	/* Nothing is hidden: an intake whose writer died is listed as such. */
	assert_non_null(strstr(out, "11111111111111111111111111111111 "));
	assert_non_null(strstr(out, " partial (the sender died while the message was read"));
	free(out);

	/* Expired once older than max_age. */
	out = NULL;
	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	assert_int_equal(queue_list(fp, f->dir, 500 + 7200, 3600, &e), 3);
	fclose(fp);
	assert_non_null(strstr(out, " expired attempts=0"));
	free(out);

	/* A message whose lock a live process holds is being sent, not stuck. */
	fd = queue_lock(f->dir, ID1, 1, &e);
	assert_true(fd >= 0);
	out = NULL;
	fp = open_memstream(&out, &len);
	assert_non_null(fp);
	assert_int_equal(queue_list(fp, f->dir, 600, 0, &e), 3);
	fclose(fp);
	close(fd);
	want = ID1 "      1m        17 sending attempts=0 <alice@example.org> -> "
		   "first@example.org | being sent by a running process\n";
	assert_memory_equal(out, want, strlen(want));
	free(out);
}

/* A scripted deliverer: which ids it saw, what it answers. */
struct fake {
	char seen[8][QUEUE_ID_LEN + 1];
	int n;
	enum sx_class fail; /* SX_OK: accept */
	enum sx_stage stage;
};

static const struct account *
fake_account(void *ctx, struct queue_meta *m, struct sx_err *e)
{
	static struct account a; /* no log file, no syslog */

	(void)ctx;
	(void)m;
	(void)e;
	return &a;
}

static int
fake_transmit(void *ctx, const struct account *a, const struct queue_meta *m,
    const struct smtp_message *msg, struct smtp_result *res, struct sx_err *e)
{
	struct fake *fk = ctx;
	char buf[4];

	(void)a;
	(void)res;
	/* The body descriptor is at the start of the spool. */
	assert_int_equal(read(msg->body_fd, buf, 4), 4);
	assert_memory_equal(buf, "Subj", 4);
	assert_string_equal(msg->from, m->from);
	strlcpy(fk->seen[fk->n++], m->id, QUEUE_ID_LEN + 1);
	if (fk->fail == SX_OK)
		return 0;
	return sx_fail(e, fk->fail, fk->stage, "scripted failure");
}

/* Run the queue with the fake at time o->now. */
static int
fake_flush(const char *dir, struct fake *fk, const struct flush_opts *o, struct flush_stats *st,
    struct sx_err *e)
{
	struct deliver_transport t = {fake_transmit, fk, NULL, NULL, NULL};
	struct flush_ops ops = {fake_account, NULL, NULL};
	struct deliver_ctx dc = {dir, NULL, o->now, 0, 0};

	return flush_queue(&dc, o, &t, &ops, st, e);
}

static void
test_flush(void **state)
{
	struct fixture *f = *state;
	struct fake fk;
	struct flush_opts o;
	struct flush_stats st;
	struct queue_meta m;
	struct sx_err e;
	char path[256];
	int held;

	make_msg(f->dir, ID2, 2000, "b@example.org");
	make_msg(f->dir, ID1, 1000, "a@example.org");
	make_msg(f->dir, ID3, 3000, "c@example.org");
	memset(&o, 0, sizeof(o));
	o.now = 4000;

	/* Temporary failure: both tried, oldest first, still deferred, attempts counted. */
	memset(&fk, 0, sizeof(fk));
	fk.fail = SX_TEMP;
	fk.stage = STAGE_GREETING;
	sx_clear(&e);
	held = queue_lock(f->dir, ID3, 1, &e); /* "another process" is sending it */
	assert_true(held >= 0);
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), -1);
	assert_int_equal(fk.n, 2);
	assert_string_equal(fk.seen[0], ID1);
	assert_string_equal(fk.seen[1], ID2);
	assert_int_equal(st.deferred, 2);
	assert_int_equal(st.locked, 1);
	assert_int_equal(e.cls, SX_TEMP);
	close(held);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	assert_int_equal(m.attempts, 1);
	assert_int_equal(m.last_attempt, 4000);
	queue_meta_free(&m);

	/* The automatic flush respects the back-off: nothing due at 4030. */
	memset(&fk, 0, sizeof(fk));
	o.now = 4030;
	o.respect_backoff = 1;
	sx_clear(&e);
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), 0);
	assert_int_equal(fk.n, 1); /* ID3 never tried: due */
	assert_string_equal(fk.seen[0], ID3);
	assert_int_equal(st.sent, 1);
	o.respect_backoff = 0;

	/* Unreachable: -q stops after the first. */
	memset(&fk, 0, sizeof(fk));
	fk.fail = SX_TEMP;
	fk.stage = STAGE_CONNECT;
	o.stop_on_unreachable = 1;
	sx_clear(&e);
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), -1);
	assert_int_equal(fk.n, 1);
	o.stop_on_unreachable = 0;

	/* A permanent refusal turns failed; -q then leaves it alone. */
	memset(&fk, 0, sizeof(fk));
	fk.fail = SX_PERM;
	fk.stage = STAGE_EOM;
	o.only_id = ID1;
	sx_clear(&e);
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), -1);
	assert_int_equal(st.failed, 1);
	o.only_id = NULL;
	memset(&fk, 0, sizeof(fk));
	sx_clear(&e);
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), 0);
	assert_int_equal(fk.n, 1);
	assert_string_equal(fk.seen[0], ID2);
	snprintf(path, sizeof(path), "%s/%s.msg", f->dir, ID2);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/%s.meta", f->dir, ID2);
	assert_int_equal(access(path, F_OK), -1);

	/* --flush-id retries the failed one; an unknown id is a usage error. */
	memset(&fk, 0, sizeof(fk));
	o.only_id = ID1;
	sx_clear(&e);
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), 0);
	assert_int_equal(st.sent, 1);
	sx_clear(&e);
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), -1);
	assert_int_equal(e.cls, SX_USAGE);
	sx_clear(&e);
	o.only_id = "nothex";
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), -1);
	assert_int_equal(e.cls, SX_USAGE);
}

static void
test_expire_on_flush(void **state)
{
	struct fixture *f = *state;
	struct fake fk;
	struct flush_opts o;
	struct flush_stats st;
	struct queue_meta m;
	struct sx_err e;

	make_msg(f->dir, ID1, 1000, "a@example.org");
	memset(&o, 0, sizeof(o));
	memset(&fk, 0, sizeof(fk));
	o.now = 1000 + 7200;
	o.max_age = 3600;
	sx_clear(&e);
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), 0);
	assert_int_equal(fk.n, 0);
	assert_int_equal(st.expired, 1);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	assert_int_equal(m.state, QUEUE_EXPIRED);
	queue_meta_free(&m);
	/* Kept, and still sendable when named. */
	o.only_id = ID1;
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), 0);
	assert_int_equal(fk.n, 1);
}

/* A failed message is listed for keep_failed after its failure, then removed. */
static void
test_keep_failed(void **state)
{
	struct fixture *f = *state;
	struct fake fk;
	struct flush_opts o;
	struct flush_stats st;
	struct queue_meta m;
	struct sx_err e;

	make_msg(f->dir, ID1, 1000, "a@example.org");
	make_msg(f->dir, ID2, 1000, "b@example.org");
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	sx_fail(&e, SX_NOUSER, STAGE_RCPT, "refused");
	queue_meta_fail(&m, &e, 2000, 0);
	sx_clear(&e);
	assert_int_equal(queue_meta_write(f->dir, &m, &e), 0);
	queue_meta_free(&m);
	memset(&o, 0, sizeof(o));
	memset(&fk, 0, sizeof(fk));
	o.keep_failed = 3600;
	o.now = 2000 + 3600; /* not yet */
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), 0);
	assert_int_equal(st.removed, 0);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	queue_meta_free(&m);
	o.now = 2000 + 3601;
	assert_int_equal(fake_flush(f->dir, &fk, &o, &st, &e), 0);
	assert_int_equal(st.removed, 1);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), -1);
	/* The deferred one was sent (in the first run), never removed for its age. */
	assert_int_equal(fk.n, 1);
	assert_string_equal(fk.seen[0], ID2);
}

/* .tmp files: a live writer's is left alone, a dead one's settled by -q. */
static void
test_settle_tmp(void **state)
{
	struct fixture *f = *state;
	struct queue_tmp *t;
	struct queue_meta m;
	struct sx_err e;
	char path[256];
	unsigned whole, partial;
	size_t n, i;
	int fd;

	/* ID1: whole (metadata written, not renamed); ID2: partial; ID3: receiving. */
	make_msg(f->dir, ID1, 1000, "a@example.org");
	snprintf(path, sizeof(path), "%s/%s.msg", f->dir, ID1);
	assert_int_equal(rename(path, strcat(strcpy(path + 128, f->dir), "/" ID1 ".tmp")), 0);
	put_file(f->dir, ID2 ".tmp", "half", 4);
	put_file(f->dir, ID3 ".tmp", "reading", 7);
	snprintf(path, sizeof(path), "%s/%s.tmp", f->dir, ID3);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);

	sx_clear(&e);
	assert_int_equal(queue_scan_tmp(f->dir, &t, &n, &e), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_int_equal(t[i].state, strcmp(t[i].id, ID1) == 0   ? QUEUE_TMP_WHOLE
					     : strcmp(t[i].id, ID2) == 0 ? QUEUE_TMP_PARTIAL
									 : QUEUE_TMP_RECEIVING);
	free(t);
	assert_int_equal(queue_settle_tmp(f->dir, &whole, &partial, &e), 0);
	assert_int_equal(whole, 1);
	assert_int_equal(partial, 1);
	snprintf(path, sizeof(path), "%s/%s.msg", f->dir, ID1);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), 0);
	queue_meta_free(&m);
	snprintf(path, sizeof(path), "%s/%s.tmp", f->dir, ID2);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/%s.tmp", f->dir, ID3);
	assert_int_equal(access(path, F_OK), 0);
	close(fd);
}

/* An envelope's temporary file a killed writer left: removed once it is an hour old. */
static void
test_settle_stale_meta_tmp(void **state)
{
	struct fixture *f = *state;
	struct timespec old[2] = {{0, UTIME_OMIT}, {0, 0}};
	struct sx_err e;
	char path[256];
	unsigned whole, partial;

	old[1].tv_sec = time(NULL) - 2 * 3600;
	put_file(f->dir, ID1 ".meta.4242.tmp", "stale", 5);
	snprintf(path, sizeof(path), "%s/%s.meta.4242.tmp", f->dir, ID1);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	put_file(f->dir, ID2 ".meta.4243.tmp", "fresh", 5); /* a writer now */
	put_file(f->dir, ID3 ".meta.x.tmp", "other", 5);    /* not ours: left */
	snprintf(path, sizeof(path), "%s/%s.meta.x.tmp", f->dir, ID3);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	sx_clear(&e);
	assert_int_equal(queue_settle_tmp(f->dir, &whole, &partial, &e), 0);
	assert_int_equal(whole + partial, 0);
	snprintf(path, sizeof(path), "%s/%s.meta.4242.tmp", f->dir, ID1);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/%s.meta.4243.tmp", f->dir, ID2);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/%s.meta.x.tmp", f->dir, ID3);
	assert_int_equal(access(path, F_OK), 0);
}

static void
test_dir(void **state)
{
	struct fixture *f = *state;
	struct sx_err e;
	char dir[256], buf[256];
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/x/y/queue", f->dir);
	sx_clear(&e);
	assert_int_equal(queue_dir_prepare(dir, &e), 0);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	/* A file in the way: named in the error. */
	put_file(f->dir, "file", "x", 1);
	snprintf(dir, sizeof(dir), "%s/file/queue", f->dir);
	assert_int_equal(queue_dir_prepare(dir, &e), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_non_null(strstr(e.detail, "/file"));
	sx_clear(&e);
	assert_int_equal(queue_dir_path("/q/dir", buf, sizeof(buf), &e), 0);
	assert_string_equal(buf, "/q/dir");
	assert_int_equal(queue_dir_path("/q/dir", buf, 4, &e), -1);
	assert_int_equal(e.cls, SX_CONFIG);

	assert_true(queue_id_valid(ID1));
	assert_false(queue_id_valid("0123456789ABCDEF0123456789abcdef"));
	assert_false(queue_id_valid(ID1 "0"));
	assert_int_equal(queue_id_of("/a/b/" ID1 ".msg", buf), 0);
	assert_string_equal(buf, ID1);
	assert_int_equal(queue_id_of("/a/b/" ID1 ".tmp", buf), -1);
}

/* The queue directory and its files must be ours alone (issue 21, item 2). */
static void
test_trust(void **state)
{
	struct fixture *f = *state;
	struct queue_entry *v;
	struct queue_meta m;
	struct sx_err e;
	char path[256], other[256];
	size_t n;
	int fd;

	make_msg(f->dir, ID1, 1000, "a@example.org");
	sx_clear(&e);
	assert_int_equal(queue_dir_check(f->dir, &e), 0);
	fd = queue_lock(f->dir, ID1, 1, &e);
	assert_true(fd >= 0);
	close(fd);

	/* A directory others (or the group) can write: nothing in it is trusted. */
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(queue_dir_check(f->dir, &e), -1);
	assert_non_null(strstr(e.detail, "writable by others"));
	sx_clear(&e);
	assert_int_equal(queue_scan(f->dir, &v, &n, &e), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	sx_clear(&e);
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_int_equal(queue_dir_prepare(f->dir, &e), -1);
	assert_non_null(strstr(e.detail, "its group"));
	assert_int_equal(chmod(f->dir, 0700), 0);

	/* A symbolic link in place of the directory. */
	snprintf(other, sizeof(other), "%s.link", f->dir);
	unlink(other);
	assert_int_equal(symlink(f->dir, other), 0);
	sx_clear(&e);
	assert_int_equal(queue_dir_check(other, &e), -1);
	unlink(other);

	/* A second name for the spool file (a hard link planted elsewhere). */
	snprintf(path, sizeof(path), "%s/%s.msg", f->dir, ID1);
	snprintf(other, sizeof(other), "%s/planted", f->dir);
	assert_int_equal(link(path, other), 0);
	sx_clear(&e);
	assert_int_equal(queue_lock(f->dir, ID1, 1, &e), -1);
	assert_non_null(strstr(e.detail, "hard links"));
	unlink(other);

	/* Metadata others may write. */
	snprintf(path, sizeof(path), "%s/%s.meta", f->dir, ID1);
	assert_int_equal(chmod(path, 0666), 0);
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), -1);
	assert_non_null(strstr(e.detail, "not trusted"));
	assert_int_equal(chmod(path, 0600), 0);

	/* Files of another user (only root can make them). */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, 65534), 0);
		sx_clear(&e);
		assert_int_equal(queue_meta_read(f->dir, ID1, &m, &e), -1);
		assert_non_null(strstr(e.detail, "belongs to uid 65534"));
		assert_int_equal(chown(f->dir, 65534, 65534), 0);
		sx_clear(&e);
		assert_int_equal(queue_dir_check(f->dir, &e), -1);
		assert_int_equal(chown(f->dir, 0, 0), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test(test_state_transitions),
	    cmocka_unit_test(test_expiry_and_backoff),
	    cmocka_unit_test_setup_teardown(test_lock_exclusion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_metadata, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expire_on_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keep_failed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_settle_tmp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_settle_stale_meta_tmp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trust, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
