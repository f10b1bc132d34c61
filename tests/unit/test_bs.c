/*
 * test_bs.c — the -bs server: bs_run() reads a scripted caller from a
 * memfd, writes its replies to a memory stream, and relays through a fake
 * that records each envelope and spool and answers as told.  Replies are
 * compared byte for byte.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "smtp/bs.h"

#define MAXCALLS 4
#define HOST     "host.example.org"
#define GREETING "220 " HOST " ESMTP smtps-send\r\n"
#define EHLO_REPLY                                                                                 \
	"250-" HOST "\r\n250-PIPELINING\r\n250-SIZE 67108864\r\n250-8BITMIME\r\n"                  \
	"250-SMTPUTF8\r\n250-CHUNKING\r\n250 ENHANCEDSTATUSCODES\r\n"
#define GO_AHEAD "354 End data with <CR><LF>.<CR><LF>\r\n"

/* What the fake relay answers to call i. */
struct verdict {
	int fail;
	enum sx_class cls;
	enum sx_stage stage;
	int code;
	const char *enh;
	const char *text;
};

struct call {
	char *from;
	char *rcpts; /* joined by ',' */
	char *spool; /* the spool file's content */
	char *path;
	int smtputf8;
};

struct fixture {
	char root[64];
	char spool[128];
	struct msg_policy pol;
	struct bs_relay relay;
	struct verdict verdict[MAXCALLS]; /* to data call i */
	struct verdict mailv[MAXCALLS];   /* to MAIL i: stage MAIL refuses, else no relay */
	int nmail, nrcpt, nrset, nclose;
	unsigned long long limit; /* the relay's SIZE, 0: none */
	char log[4096];           /* what reached the relay: "M<from> R<rcpt> D R " */
	struct call calls[MAXCALLS];
	int ncalls;
	struct sx_err err;
	char *out;
	size_t outlen;
	int rc;
	/* A pipelining relay (async): answers owed until its sync, "| " in the log. */
	struct {
		struct bs_answer *a;
		struct bs_answer ans;
	} owed[64];
	int nowed, async;
};

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];

	if (fp == NULL)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		char *nb = realloc(buf, len + n + 1);

		assert_non_null(nb);
		buf = nb;
		memcpy(buf + len, chunk, n);
		len += n;
	}
	fclose(fp);
	if (buf == NULL)
		buf = strdup("");
	else
		buf[len] = '\0';
	return buf;
}

/* Append "<kind><arg> " (arg in angle brackets when not NULL). */
static void
fake_log(struct fixture *f, const char *kind, const char *arg)
{
	size_t n = strlen(f->log);

	if (arg != NULL)
		snprintf(f->log + n, sizeof(f->log) - n, "%s<%s> ", kind, arg);
	else
		snprintf(f->log + n, sizeof(f->log) - n, "%s ", kind);
}

static void
fake_reply(struct smtp_reply *r, int code, const char *enh, const char *text)
{
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enh);
	snprintf(r->text, sizeof(r->text), "%s", text);
}

static void
fake_mail(void *arg, const struct smtp_message *m, unsigned long long *limit, struct bs_answer *a)
{
	struct fixture *f = arg;
	const struct verdict *v;

	assert_true(f->nmail < MAXCALLS);
	v = &f->mailv[f->nmail++];
	if (f->limit > 0)
		*limit = f->limit;
	if (v->fail && v->stage == STAGE_MAIL) {
		fake_reply(&a->r, v->code, v->enh, v->text);
		a->rc = 1;
		return;
	}
	if (v->fail) {
		sx_fail(&a->e, v->cls, v->stage, "relay failed");
		if (v->code != 0)
			sx_set_reply(&a->e, v->code, v->enh, v->text);
		a->rc = -1;
		return;
	}
	fake_log(f, "M", m->from);
	fake_reply(&a->r, 250, "2.1.0", "2.1.0 Ok");
	a->rc = 0;
}

/* Refuses reject-*, loses the session at lost-*, accepts the rest. */
static void
fake_rcpt(void *arg, const char *rcpt, struct bs_answer *a)
{
	struct fixture *f = arg;

	f->nrcpt++;
	if (strncmp(rcpt, "reject-", 7) == 0) {
		fake_reply(&a->r, 550, "5.1.1",
		    "5.1.1 <reject-x@example.org>: Recipient address rejected");
		a->rc = 1;
		return;
	}
	if (strncmp(rcpt, "lost-", 5) == 0) {
		sx_fail(&a->e, SX_TEMP, STAGE_RCPT, "connection lost");
		a->rc = -1;
		return;
	}
	if (f->nrcpt <= 4)
		fake_log(f, "R", rcpt);
	fake_reply(&a->r, 250, "2.1.5", "2.1.5 Ok");
	a->rc = 0;
}

static void
fake_rset(void *arg)
{
	struct fixture *f = arg;

	f->nrset++;
	fake_log(f, "RSET", NULL);
}

static void
fake_close(void *arg)
{
	struct fixture *f = arg;

	f->nclose++;
}

/* A refused intake: kept where msg_intake left it (these tests keep no envelope). */
static int
fake_keep(void *arg, struct msg_envelope *env, const struct sx_err *why)
{
	(void)arg;
	(void)why;
	return env->spool_path != NULL ? 0 : -1;
}

static void
fake_data(void *arg, struct msg_envelope *env, const struct sx_err *cause, struct bs_answer *a)
{
	struct fixture *f = arg;
	const struct verdict *v;
	struct call *c;
	size_t i, len = 0;

	assert_true(f->ncalls < MAXCALLS);
	v = &f->verdict[f->ncalls];
	c = &f->calls[f->ncalls++];
	c->from = strdup(env->from);
	for (i = 0; i < env->nrcpts; i++)
		len += strlen(env->rcpts[i]) + 1;
	c->rcpts = calloc(1, len + 1);
	for (i = 0; i < env->nrcpts; i++) {
		if (i > 0)
			strcat(c->rcpts, ",");
		strcat(c->rcpts, env->rcpts[i]);
	}
	c->spool = slurp(env->spool_path);
	c->path = strdup(env->spool_path);
	c->smtputf8 = env->needs_smtputf8;
	if (cause != NULL) {
		/* No relay: kept, as main.c does. */
		fake_log(f, "K", NULL);
		a->e = *cause;
		a->rc = -1;
		return;
	}
	fake_log(f, "D", NULL);
	if (!v->fail) {
		/* Accepted: the spool is the callback's to remove (bs.h). */
		assert_int_equal(unlink(env->spool_path), 0);
		fake_reply(
		    &a->r, 250, "2.0.0", v->text != NULL ? v->text : "2.0.0 Ok: queued as ABC123");
		a->rc = 0;
		return;
	}
	sx_fail(&a->e, v->cls, v->stage, "relay failed");
	if (v->code != 0)
		sx_set_reply(&a->e, v->code, v->enh, v->text);
	a->rc = -1;
}

/*
 * The same relay, pipelining: each command is decided as it comes (and
 * logged), its answer only given at the next sync.
 */
static void
fake_owe(struct fixture *f, struct bs_answer *a)
{
	assert_true(f->nowed < 64);
	f->owed[f->nowed].a = a;
	f->owed[f->nowed].ans = *a;
	f->nowed++;
	memset(a, 0, sizeof(*a));
	a->pending = 1;
}

static void
async_mail(void *arg, const struct smtp_message *m, unsigned long long *limit, struct bs_answer *a)
{
	fake_mail(arg, m, limit, a);
	fake_owe(arg, a);
}

static void
async_rcpt(void *arg, const char *rcpt, struct bs_answer *a)
{
	fake_rcpt(arg, rcpt, a);
	fake_owe(arg, a);
}

static void
async_data(void *arg, struct msg_envelope *env, const struct sx_err *cause, struct bs_answer *a)
{
	fake_data(arg, env, cause, a);
	fake_owe(arg, a);
}

static void
async_sync(void *arg)
{
	struct fixture *f = arg;
	int i;

	fake_log(f, "|", NULL);
	for (i = 0; i < f->nowed; i++)
		*f->owed[i].a = f->owed[i].ans;
	f->nowed = 0;
}

static void
fake_async(struct fixture *f)
{
	f->relay.mail = async_mail;
	f->relay.rcpt = async_rcpt;
	f->relay.data = async_data;
	f->relay.sync = async_sync;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strcpy(f->root, "/tmp/test_bs.XXXXXX");
	if (mkdtemp(f->root) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->spool, sizeof(f->spool), "%s/queue", f->root);
	f->pol.spool_dir = f->spool;
	f->pol.hostname = HOST;
	f->pol.local_user = "alice";
	f->pol.now = 1700000000;
	f->relay.mail = fake_mail;
	f->relay.rcpt = fake_rcpt;
	f->relay.data = fake_data;
	f->relay.rset = fake_rset;
	f->relay.keep = fake_keep;
	f->relay.close = fake_close;
	f->relay.arg = f;
	f->relay.pol = &f->pol;
	f->relay.hostname = HOST;
	sx_clear(&f->err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	int i;

	for (i = 0; i < f->ncalls; i++) {
		free(f->calls[i].from);
		free(f->calls[i].rcpts);
		free(f->calls[i].spool);
		free(f->calls[i].path);
	}
	free(f->out);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Run one session on input (len bytes); replies in f->out. */
static void
run(struct fixture *f, const char *input, size_t len)
{
	int fd = memfd_create("test_bs", MFD_CLOEXEC);
	FILE *out;

	assert_true(fd != -1);
	assert_int_equal(write(fd, input, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	free(f->out);
	f->out = NULL;
	out = open_memstream(&f->out, &f->outlen);
	assert_non_null(out);
	f->rc = bs_run(fd, out, &f->relay, &f->err);
	fclose(out);
	close(fd);
}

#define RUN(f, s) run((f), (s), sizeof(s) - 1)

/* Files in the spool directory. */
static int
spool_files(const struct fixture *f)
{
	DIR *d = opendir(f->spool);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The spool without the added Date and Message-ID lines. */
static void
assert_body(const char *spool, const char *want_tail)
{
	size_t sl = strlen(spool), wl = strlen(want_tail);

	assert_true(sl >= wl);
	assert_string_equal(spool + sl - wl, want_tail);
}

/* Symfony's SendmailTransport -bs: HELO, MAIL, RCPT, DATA, body, "\r\n.\r\n", QUIT. */
static void
test_symfony_session(void **state)
{
	struct fixture *f = *state;

	RUN(f, "HELO [127.0.0.1]\r\n"
	       "MAIL FROM:<app@example.com>\r\n"
	       "RCPT TO:<user@example.org>\r\n"
	       "DATA\r\n"
	       "From: app@example.com\r\nTo: user@example.org\r\nSubject: hi\r\n\r\n"
	       "Hello\r\n..dot\r\nbye"
	       "\r\n.\r\n"
	       "QUIT\r\n");
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, GREETING "250 " HOST "\r\n250 Ok\r\n250 Ok\r\n" GO_AHEAD
					     "250 Ok: queued as ABC123\r\n221 Bye\r\n");
	assert_int_equal(f->ncalls, 1);
	assert_string_equal(f->calls[0].from, "app@example.com");
	assert_string_equal(f->calls[0].rcpts, "user@example.org");
	assert_non_null(strstr(f->calls[0].spool, "Subject: hi\n"));
	assert_non_null(strstr(f->calls[0].spool, "\nMessage-ID: <"));
	assert_body(f->calls[0].spool, "\n\nHello\n.dot\nbye\n");
	/* Accepted: the spool is gone, and so is the raw data file. */
	assert_int_equal(spool_files(f), 0);
}

/* EHLO: enhanced codes; two messages with RSET between; NOOP, VRFY, HELP. */
static void
test_ehlo_two_messages(void **state)
{
	struct fixture *f = *state;

	RUN(f, "EHLO client.example\r\n"
	       "MAIL FROM:<a@example.com> BODY=8BITMIME SIZE=100\r\n"
	       "RCPT TO:<b@example.org>\r\n"
	       "RCPT TO:<c@example.org>\r\n"
	       "DATA\r\n"
	       "Subject: one\r\n\r\nfirst\r\n.\r\n"
	       "RSET\r\n"
	       "NOOP\r\n"
	       "VRFY someone\r\n"
	       "HELP\r\n"
	       "mail from:<>\r\n"
	       "rcpt to:<d@example.org>\r\n"
	       "data\r\n"
	       "Subject: two\r\n\r\nsecond\r\n.\r\n"
	       "quit\r\n");
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, GREETING EHLO_REPLY
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n" GO_AHEAD
	    "250 2.0.0 Ok: queued as ABC123\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n"
	    "252 2.5.0 cannot verify, but will take the message and try to "
	    "deliver it\r\n"
	    "214 2.0.0 commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY "
	    "HELP\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO_AHEAD
	    "250 2.0.0 Ok: queued as ABC123\r\n221 2.0.0 Bye\r\n");
	assert_int_equal(f->ncalls, 2);
	assert_string_equal(f->calls[0].from, "a@example.com");
	assert_string_equal(f->calls[0].rcpts, "b@example.org,c@example.org");
	assert_body(f->calls[0].spool, "\n\nfirst\n");
	assert_string_equal(f->calls[1].from, "");
	assert_string_equal(f->calls[1].rcpts, "d@example.org");
	assert_body(f->calls[1].spool, "\n\nsecond\n");
	assert_int_equal(spool_files(f), 0);
}

/* Everything in one buffer, data too: replies in order, nothing lost. */
static void
test_pipelined(void **state)
{
	struct fixture *f = *state;
	static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
				 "BOGUS\r\nRCPT TO:<c@y.example>\r\nDATA\r\n"
				 "\r\nbody one\r\n.\r\nMAIL FROM:<e@x.example>\r\n"
				 "RCPT TO:<f@y.example>\r\nDATA\r\n\r\nbody two\r\n.\r\nQUIT\r\n"
				 "NOOP\r\n";

	f->verdict[1].text = "2.0.0 Ok: queued as SECOND";
	RUN(f, in);
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, GREETING EHLO_REPLY
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n500 5.5.2 command not recognised\r\n"
	    "250 2.1.5 Ok\r\n" GO_AHEAD "250 2.0.0 Ok: queued as ABC123\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO_AHEAD "250 2.0.0 Ok: queued as SECOND\r\n"
	    "221 2.0.0 Bye\r\n");
	assert_int_equal(f->ncalls, 2);
	assert_string_equal(f->calls[0].rcpts, "b@y.example,c@y.example");
	assert_body(f->calls[0].spool, "\n\nbody one\n");
	assert_string_equal(f->calls[1].from, "e@x.example");
	assert_body(f->calls[1].spool, "\n\nbody two\n");
}

/*
 * The relay's refusal at RCPT reaches the caller at RCPT; the message goes
 * to the accepted recipients.  A refusal after the data comes back at the
 * end of data with the kept path.
 */
static void
test_relay_refusal(void **state)
{
	struct fixture *f = *state;
	char want[1024];

	f->verdict[1] = (struct verdict){
	    1, SX_TEMP, STAGE_EOM, 451, "4.3.0", "4.3.0 Error: queue file write error\nmore"};
	RUN(f, "EHLO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<reject-x@example.org>\r\n"
	       "RCPT TO:<b@example.org>\r\nDATA\r\n"
	       "Subject: r\r\n\r\npartly\r\n.\r\n"
	       "MAIL FROM:<a@x.example>\r\nRCPT TO:<reject-x@example.org>\r\nDATA\r\nRSET\r\n"
	       "MAIL FROM:<a@x.example>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"
	       "Subject: t\r\n\r\ntemp\r\n.\r\nQUIT\r\n");
	assert_int_equal(f->rc, 0);
	assert_int_equal(f->ncalls, 2);
	snprintf(want, sizeof(want),
	    GREETING EHLO_REPLY "250 2.1.0 Ok\r\n"
				"550 5.1.1 <reject-x@example.org>: Recipient address rejected\r\n"
				"250 2.1.5 Ok\r\n" GO_AHEAD "250 2.0.0 Ok: queued as ABC123\r\n"
				"250 2.1.0 Ok\r\n"
				"550 5.1.1 <reject-x@example.org>: Recipient address rejected\r\n"
				"554 5.5.1 no valid recipients\r\n250 2.0.0 Ok\r\n"
				"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO_AHEAD
				"451 4.3.0 Error: queue file write error; kept in %s\r\n"
				"221 2.0.0 Bye\r\n",
	    f->calls[1].path);
	assert_string_equal(f->out, want);
	assert_string_equal(f->calls[0].rcpts, "b@example.org");
	/* One relay session: MAIL per message, RSET for the abandoned one. */
	assert_string_equal(f->log, "M<a@x.example> R<b@example.org> D M<a@x.example> RSET "
				    "M<a@x.example> R<c@example.org> D ");
	assert_int_equal(f->nclose, 1);
	/* The refused one kept, as the relay saw it. */
	assert_int_equal(spool_files(f), 1);
	free(f->calls[1].spool);
	f->calls[1].spool = slurp(f->calls[1].path);
	assert_non_null(f->calls[1].spool);
	assert_body(f->calls[1].spool, "\n\ntemp\n");
}

/* The relay refuses MAIL: its reply at MAIL, no transaction, the next MAIL goes on. */
static void
test_mail_refused(void **state)
{
	struct fixture *f = *state;

	f->mailv[0] = (struct verdict){1, SX_PERM, STAGE_MAIL, 553, "5.7.1",
	    "5.7.1 <a@x.example>: Sender address rejected: not owned by user"};
	RUN(f, "EHLO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@example.org>\r\n"
	       "MAIL FROM:<me@x.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n\r\nok\r\n.\r\n"
	       "QUIT\r\n");
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, GREETING EHLO_REPLY
	    "553 5.7.1 <a@x.example>: Sender address rejected: not owned by user\r\n"
	    "503 5.5.1 need MAIL command\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO_AHEAD
	    "250 2.0.0 Ok: queued as ABC123\r\n221 2.0.0 Bye\r\n");
	assert_string_equal(f->calls[0].from, "me@x.example");
	assert_int_equal(f->nclose, 1);
}

/*
 * No relay session (connect, TLS, AUTH fail at MAIL): the message is
 * still taken and kept, and the end of data says so with the cause; the
 * relay lost at RCPT likewise.
 */
static void
test_local_failure(void **state)
{
	struct fixture *f = *state;
	char want[2048];

	f->mailv[0] = (struct verdict){1, SX_TEMP, STAGE_CONNECT, 0, NULL, NULL};
	f->mailv[1] = (struct verdict){1, SX_AUTH, STAGE_AUTH, 535, "5.7.8", "5.7.8 bad"};
	RUN(f, "HELO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
	       "\r\none\r\n.\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
	       "\r\ntwo\r\n.\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<lost-b@example.org>\r\n"
	       "RCPT TO:<c@example.org>\r\nDATA\r\n\r\nthree\r\n.\r\n");
	assert_int_equal(f->rc, 0);
	assert_int_equal(f->ncalls, 3);
	snprintf(want, sizeof(want),
	    GREETING "250 " HOST "\r\n"
		     "250 Ok, but no relay (connect: relay failed): the message will be kept in "
		     "the queue\r\n250 Ok\r\n" GO_AHEAD "451 connect: relay failed; kept in %s\r\n"
		     "250 Ok, but no relay (auth: relay failed): the message will be kept in "
		     "the queue\r\n250 Ok\r\n" GO_AHEAD
		     "451 auth: relay failed (relay said 535 5.7.8 bad); kept in %s\r\n"
		     "250 Ok\r\n"
		     "250 Ok, but no relay (rcpt: connection lost): the message will be kept in "
		     "the queue\r\n250 Ok\r\n" GO_AHEAD "451 rcpt: connection lost; kept in %s\r\n",
	    f->calls[0].path, f->calls[1].path, f->calls[2].path);
	assert_string_equal(f->out, want);
	assert_string_equal(f->log, "K K M<a@x.example> K ");
	assert_string_equal(f->calls[2].rcpts, "lost-b@example.org,c@example.org");
	assert_int_equal(spool_files(f), 3);
}

/* Unqualified names are qualified before the relay sees them, as the intake would. */
static void
test_unqualified(void **state)
{
	struct fixture *f = *state;

	f->pol.default_domain = "example.net";
	RUN(f, "HELO c\r\nMAIL FROM:<www-data>\r\nRCPT TO:<postmaster>\r\nDATA\r\n\r\nx\r\n.\r\n");
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->log, "M<www-data@example.net> R<postmaster@example.net> D ");
	assert_int_equal(f->ncalls, 1);
	assert_string_equal(f->calls[0].from, "www-data@example.net");
	assert_string_equal(f->calls[0].rcpts, "postmaster@example.net");
}

/* The relay's SIZE holds from its first MAIL on. */
static void
test_relay_size(void **state)
{
	struct fixture *f = *state;

	f->limit = 1000;
	RUN(f, "EHLO c\r\nMAIL FROM:<a@b.example> SIZE=2000\r\nRSET\r\n"
	       "MAIL FROM:<a@b.example> SIZE=2000\r\nEHLO c\r\n");
	assert_int_equal(f->rc, 0);
	assert_non_null(strstr(f->out, "250 2.1.0 Ok\r\n250 2.0.0 Ok\r\n"
				       "552 5.3.4 message size exceeds the limit of 1000\r\n"));
	assert_non_null(strstr(f->out, "250-SIZE 1000\r\n"));
}

/* Bad commands get 500/501/503/555 and the session stays in step. */
static void
test_malformed(void **state)
{
	struct fixture *f = *state;

	RUN(f, "\r\n"
	       "FOO\r\n"
	       "HELO\r\n"
	       "EHLO c\r\n"
	       "RCPT TO:<a@b.example>\r\n"
	       "DATA\r\n"
	       "MAIL\r\n"
	       "MAIL TO:<a@b.example>\r\n"
	       "MAIL FROM:<a@b.example\r\n"
	       "MAIL FROM:<a\x01@b.example>\r\n"
	       "MAIL FROM:<a@b.example> FOO=1\r\n"
	       "MAIL FROM:<a@b.example> SIZE=x\r\n"
	       "MAIL FROM:<a@b.example> BODY=9BIT\r\n"
	       "MAIL FROM:<a@b.example>junk\r\n"
	       "MAIL FROM:<a@b.example>\r\n"
	       "MAIL FROM:<a@b.example>\r\n"
	       "DATA\r\n"
	       "RCPT TO:<>\r\n"
	       "RCPT TO:<a b@c.example>\r\n"
	       "RCPT TO:<x@y.example> NOTIFY=NEVER\r\n"
	       "RCPT TO:<\xc3\xa9@y.example>\r\n"
	       "RSET x\r\n"
	       "DATA x\r\n"
	       "VRFY\r\n"
	       "AUTH PLAIN AAAA\r\n"
	       "STARTTLS\r\n"
	       "NOOP\0x\r\n"
	       "RCPT TO:<@route.example,@r2.example:ok@y.example>\r\n"
	       "DATA\r\n\r\nfine\r\n.\r\n"
	       "QUIT\r\n");
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out,
	    GREETING "500 command not recognised\r\n"
		     "500 command not recognised\r\n"
		     "501 syntax: HELO hostname\r\n" EHLO_REPLY "503 5.5.1 need MAIL command\r\n"
		     "503 5.5.1 need MAIL command\r\n"
		     "501 5.5.4 syntax: MAIL FROM:<address>\r\n"
		     "501 5.5.4 syntax: MAIL FROM:<address>\r\n"
		     "501 5.1.7 syntax: missing '>' in the address\r\n"
		     "501 5.1.7 bad sender address syntax\r\n"
		     "555 5.5.4 unsupported MAIL parameter\r\n"
		     "501 5.5.4 syntax: SIZE=number\r\n"
		     "501 5.5.4 syntax: BODY=7BIT or BODY=8BITMIME\r\n"
		     "501 5.1.7 syntax: text after the address\r\n"
		     "250 2.1.0 Ok\r\n"
		     "503 5.5.1 nested MAIL command\r\n"
		     "554 5.5.1 no valid recipients\r\n"
		     "501 5.1.3 bad recipient address syntax\r\n"
		     "501 5.1.3 bad recipient address syntax\r\n"
		     "555 5.5.4 unsupported RCPT parameter\r\n"
		     "553 5.6.7 a non-ASCII address needs MAIL FROM:<...> "
		     "SMTPUTF8\r\n"
		     "501 5.5.4 syntax: RSET takes no argument\r\n"
		     "501 5.5.4 syntax: DATA takes no argument\r\n"
		     "501 5.5.4 syntax: VRFY address\r\n"
		     "502 5.5.1 command not implemented\r\n"
		     "502 5.5.1 not offered: the caller is local\r\n"
		     "500 5.5.2 NUL byte in the command\r\n"
		     "250 2.1.5 Ok\r\n" GO_AHEAD "250 2.0.0 Ok: queued as ABC123\r\n"
		     "221 2.0.0 Bye\r\n");
	assert_int_equal(f->ncalls, 1);
	assert_string_equal(f->calls[0].from, "a@b.example");
	assert_string_equal(f->calls[0].rcpts, "ok@y.example");
}

/* Lines over the limits: 500, the rest of the line dropped, in step after. */
static void
test_long_lines(void **state)
{
	struct fixture *f = *state;
	char *in = malloc(20000), *p = in;

	assert_non_null(in);
	p += sprintf(p, "NOOP ");
	memset(p, 'x', 506); /* 511 octets: one over 512 with CRLF */
	p += 506;
	p += sprintf(p, "\r\nNOOP ");
	memset(p, 'x', 505); /* exactly 512 with CRLF */
	p += 505;
	p += sprintf(p, "\r\nMAIL FROM:<a@b.example> ");
	memset(p, ' ', 900); /* MAIL may be longer; blanks are skipped */
	p += 900;
	p += sprintf(p, "SIZE=1\r\nRSET\r\n");
	memset(p, 'y', 15000); /* longer than the buffer: dropped whole */
	p += 15000;
	p += sprintf(p, "\r\nQUIT\r\n");
	run(f, in, (size_t)(p - in));
	free(in);
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, GREETING "500 line too long\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n"
					     "500 line too long\r\n221 Bye\r\n");
}

static void
test_too_many_rcpts(void **state)
{
	struct fixture *f = *state;
	size_t cap = 64 * (BS_MAX_RCPTS + 10), n = 0;
	char *in = malloc(cap), *want = malloc(cap);
	int i;

	assert_non_null(in);
	assert_non_null(want);
	n += (size_t)sprintf(in + n, "HELO c\r\nMAIL FROM:<a@b.example>\r\n");
	for (i = 0; i <= BS_MAX_RCPTS; i++)
		n += (size_t)sprintf(in + n, "RCPT TO:<r%d@c.example>\r\n", i);
	n += (size_t)sprintf(in + n, "QUIT\r\n");
	run(f, in, n);
	n = (size_t)sprintf(want, GREETING "250 " HOST "\r\n250 Ok\r\n");
	for (i = 0; i < BS_MAX_RCPTS; i++)
		n += (size_t)sprintf(want + n, "250 Ok\r\n");
	sprintf(want + n, "452 too many recipients (at most %d)\r\n221 Bye\r\n", BS_MAX_RCPTS);
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, want);
	free(in);
	free(want);
}

/* SIZE above the limit at MAIL, and data above it: 552, not relayed. */
static void
test_oversize(void **state)
{
	struct fixture *f = *state;
	char in[4096];
	int n;

	f->relay.max_size = 100;
	n = snprintf(in, sizeof(in),
	    "EHLO c\r\nMAIL FROM:<a@b.example> SIZE=101\r\nMAIL FROM:<a@b.example> "
	    "SIZE=99999999999999999999\r\nMAIL FROM:<a@b.example> SIZE=100\r\n"
	    "RCPT TO:<c@d.example>\r\nDATA\r\n%0150d\r\n.\r\nNOOP\r\n",
	    0);
	run(f, in, (size_t)n);
	assert_int_equal(f->rc, 0);
	assert_non_null(strstr(f->out, "250-SIZE 100\r\n"));
	assert_non_null(strstr(f->out, "250 ENHANCEDSTATUSCODES\r\n"
				       "552 5.3.4 message size exceeds the limit of 100\r\n"
				       "552 5.3.4 message size exceeds the limit of 100\r\n"
				       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO_AHEAD
				       "552 5.3.4 message size exceeds the limit of 100\r\n"
				       "250 2.0.0 Ok\r\n"));
	assert_int_equal(f->ncalls, 0);
	assert_int_equal(spool_files(f), 0);
}

/* Input ends inside DATA: nothing relayed, nothing left, SX_TEMP. */
static void
test_eof_in_data(void **state)
{
	struct fixture *f = *state;

	RUN(f, "HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
	       "Subject: cut\r\n\r\nhalf a message\r\n.");
	assert_int_equal(f->rc, -1);
	assert_int_equal(f->err.cls, SX_TEMP);
	assert_int_equal(f->ncalls, 0);
	assert_int_equal(spool_files(f), 0);
	assert_string_equal(f->out, GREETING "250 " HOST "\r\n250 Ok\r\n250 Ok\r\n" GO_AHEAD);
}

/* Unstuffing, the end-of-data line with CRLF or LF, ".\r" inside a line. */
static void
test_dots(void **state)
{
	struct fixture *f = *state;

	RUN(f, "HELO c\nMAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\nDATA\n"
	       "Subject: dots\n\n..one\n.two\n...\nx.\r\n.\rz\nend\n.\n"
	       "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
	       "\r\n.\r\nQUIT\r\n");
	assert_int_equal(f->rc, 0);
	assert_int_equal(f->ncalls, 2);
	/* ".\rz" is "\rz" after the dot, and the intake makes the CR a line break. */
	assert_body(f->calls[0].spool, "\n\n.one\ntwo\n..\nx.\n\nz\nend\n");
	/* An empty message still gets its header block. */
	assert_non_null(strstr(f->calls[1].spool, "Message-ID: <"));
}

/* -f replaces MAIL FROM; non-ASCII addresses with SMTPUTF8. */
static void
test_envelope_from_and_utf8(void **state)
{
	struct fixture *f = *state;

	f->pol.envelope_from = "override@example.net";
	RUN(f, "EHLO c\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\n"
	       "RCPT TO:<\xc3\xa9l\xc3\xa8"
	       "ve@\xc3\xa9"
	       "cole.example>\r\nDATA\r\n\r\nx\r\n.\r\n");
	assert_int_equal(f->rc, 0);
	assert_int_equal(f->ncalls, 1);
	assert_string_equal(f->calls[0].from, "override@example.net");
	assert_string_equal(f->calls[0].rcpts, "\xc3\xa9l\xc3\xa8"
					       "ve@\xc3\xa9"
					       "cole.example");
	assert_int_equal(f->calls[0].smtputf8, 1);
}

static void
test_too_many_errors(void **state)
{
	struct fixture *f = *state;
	char in[BS_MAX_ERRORS * 8 + 16];
	int i, n = 0;

	for (i = 0; i < BS_MAX_ERRORS + 5; i++)
		n += sprintf(in + n, "X\r\n");
	run(f, in, (size_t)n);
	assert_int_equal(f->rc, -1);
	assert_int_equal(f->err.cls, SX_PROTO);
	assert_non_null(strstr(f->out, "500 command not recognised\r\n421 too many errors"));
}

/* A caller that says nothing: 421 after the idle time. */
static void
test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	FILE *out;
	int p[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "NOOP\r\n", 6), 6);
	f->relay.idle_ms = 50;
	out = open_memstream(&f->out, &f->outlen);
	assert_non_null(out);
	f->rc = bs_run(p[0], out, &f->relay, &f->err);
	fclose(out);
	close(p[0]);
	close(p[1]);
	assert_int_equal(f->rc, -1);
	assert_int_equal(f->err.cls, SX_TEMP);
	assert_string_equal(f->out, GREETING "250 Ok\r\n421 idle for too long, closing\r\n");
}

/* A reply text from the relay cannot split the caller's reply. */
static void
test_relay_text_sanitised(void **state)
{
	struct fixture *f = *state;

	f->verdict[0].text = "2.0.0 Ok\r250 injected";
	RUN(f,
	    "HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n\r\nx\r\n.\r\n");
	assert_int_equal(f->rc, 0);
	assert_non_null(strstr(f->out, GO_AHEAD "250 Ok?250 injected\r\n"));
}

/*
 * A pipelined group goes to the relay as one group: MAIL and RCPTs without
 * waiting, their replies once the relay answered (at DATA); the verdict on
 * a message comes with the next group's answers; replies in order.
 */
static void
test_pipelined_groups(void **state)
{
	struct fixture *f = *state;
	static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
				 "RCPT TO:<reject-x@y.example>\r\nRCPT TO:<c@y.example>\r\nDATA\r\n"
				 "\r\nbody one\r\n.\r\nMAIL FROM:<e@x.example>\r\n"
				 "RCPT TO:<f@y.example>\r\nDATA\r\n\r\nbody two\r\n.\r\nQUIT\r\n";

	fake_async(f);
	f->verdict[1].text = "2.0.0 Ok: queued as SECOND";
	RUN(f, in);
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, GREETING EHLO_REPLY
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "550 5.1.1 <reject-x@example.org>: Recipient address rejected\r\n"
	    "250 2.1.5 Ok\r\n" GO_AHEAD "250 2.0.0 Ok: queued as ABC123\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO_AHEAD "250 2.0.0 Ok: queued as SECOND\r\n"
	    "221 2.0.0 Bye\r\n");
	/* Three flights: the first envelope; data one with envelope two; data two. */
	assert_string_equal(f->log, "M<a@x.example> R<b@y.example> R<c@y.example> | "
				    "D M<e@x.example> R<f@y.example> | D | ");
	assert_int_equal(f->ncalls, 2);
	assert_string_equal(f->calls[0].rcpts, "b@y.example,c@y.example");
	assert_string_equal(f->calls[1].rcpts, "f@y.example");
	assert_body(f->calls[1].spool, "\n\nbody two\n");
}

/* RSET inside a group: what the relay answers for the abandoned transaction stays there. */
static void
test_pipelined_rset(void **state)
{
	struct fixture *f = *state;
	static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
				 "RSET\r\nMAIL FROM:<c@x.example>\r\nRCPT TO:<d@y.example>\r\n"
				 "DATA\r\n\r\nbody\r\n.\r\nQUIT\r\n";

	fake_async(f);
	RUN(f, in);
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out,
	    GREETING EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
				"250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n"
				"250 2.1.5 Ok\r\n" GO_AHEAD "250 2.0.0 Ok: queued as ABC123\r\n"
				"221 2.0.0 Bye\r\n");
	assert_string_equal(
	    f->log, "M<a@x.example> R<b@y.example> RSET M<c@x.example> R<d@y.example> | D | ");
	assert_int_equal(f->ncalls, 1);
	assert_string_equal(f->calls[0].from, "c@x.example");
	assert_string_equal(f->calls[0].rcpts, "d@y.example");
}

/* MAIL refused inside a group: the RCPTs after it are the relay's to refuse; no data goes. */
static void
test_pipelined_mail_refused(void **state)
{
	struct fixture *f = *state;

	fake_async(f);
	f->mailv[0] = (struct verdict){1, SX_PERM, STAGE_MAIL, 553, "5.7.1",
	    "5.7.1 <a@x.example>: Sender address rejected: not owned by user"};
	RUN(f, "EHLO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<reject-x@example.org>\r\n"
	       "DATA\r\nQUIT\r\n");
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, GREETING EHLO_REPLY
	    "553 5.7.1 <a@x.example>: Sender address rejected: not owned by user\r\n"
	    "550 5.1.1 <reject-x@example.org>: Recipient address rejected\r\n"
	    "503 5.5.1 need MAIL command\r\n221 2.0.0 Bye\r\n");
	assert_int_equal(f->ncalls, 0);
}

/*
 * BDAT (RFC 3030) from a pipelining caller: nothing is waited for, each
 * message goes to the relay with its envelope in one flight, the replies
 * come back in order; chunks are kept raw and joined.
 */
static void
test_bdat_pipelined(void **state)
{
	struct fixture *f = *state;
	static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"
				 "BDAT 20 LAST\r\nSubject: one\r\n\r\nhi\r\n"
				 "MAIL FROM:<e@x.example>\r\nRCPT TO:<f@y.example>\r\n"
				 "BDAT 9\r\nSubject: BDAT 11 LAST\r\ntwo\r\n\r\n.i\r\nQUIT\r\n";

	fake_async(f);
	f->verdict[1].text = "2.0.0 Ok: queued as SECOND";
	RUN(f, in);
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out,
	    GREETING EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as ABC123\r\n"
				"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 9 octets received\r\n"
				"250 2.0.0 Ok: queued as SECOND\r\n221 2.0.0 Bye\r\n");
	/* One flight: both messages, each with its envelope, then the answers. */
	assert_string_equal(
	    f->log, "M<a@x.example> R<b@y.example> D M<e@x.example> R<f@y.example> D | ");
	assert_int_equal(f->ncalls, 2);
	assert_string_equal(f->calls[0].rcpts, "b@y.example");
	assert_non_null(strstr(f->calls[0].spool, "Subject: one\n"));
	assert_body(f->calls[0].spool, "\n\nhi\n");
	assert_non_null(strstr(f->calls[1].spool, "Subject: two\n"));
	assert_body(f->calls[1].spool, "\n\n.i\n");
}

/* BDAT's octets are read whatever the reply; no MAIL, no recipient, bad syntax. */
static void
test_bdat_refused(void **state)
{
	struct fixture *f = *state;

	RUN(f, "EHLO c\r\nBDAT 3 LAST\r\nabcNOOP\r\nMAIL FROM:<a@x.example>\r\n"
	       "BDAT 2\r\nxyBDAT x\r\nRSET\r\nQUIT\r\n");
	assert_int_equal(f->rc, 0);
	assert_string_equal(f->out, GREETING EHLO_REPLY "503 5.5.1 need MAIL command\r\n"
							"250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n"
							"554 5.5.1 no valid recipients\r\n"
							"501 5.5.4 syntax: BDAT size [LAST]\r\n"
							"250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
	assert_int_equal(f->ncalls, 0);
	assert_int_equal(spool_files(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_symfony_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ehlo_two_messages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_refusal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mail_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unqualified, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_rcpts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversize, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eof_in_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dots, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_envelope_from_and_utf8, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relay_text_sanitised, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined_rset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined_mail_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bdat_pipelined, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bdat_refused, setup, teardown),
	};

	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
