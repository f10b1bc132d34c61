/* test_dsn.c — the failure DSN: structure, fields, fallbacks, refusals, hostile input. */
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/dsn.h"
#include "store/queue.h"

/* A string literal where the queue keeps char * (never written to). */
#define S(x) ((char *)(uintptr_t)(x))
#define ID1  "0123456789abcdef0123456789abcdef"
#define T0   1000000000 /* Sun, 9 Sep 2001 01:46:40 +0000 */
#define HDRS "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hello\n"
#define BODY "\nthe body stays home\n"

struct fixture {
	char dir[64];
	int fd; /* the original message */
};

/* A DSN read back: the file, its header block, its boundary and parts. */
struct dsn_file {
	char *text;
	char *hdr;  /* header block (NUL-terminated copy) */
	char *body; /* points into text */
	char boundary[128];
	char *part[4]; /* NUL-terminated copies: headers and content of each part */
	size_t nparts;
	size_t delims; /* boundary lines seen */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	setenv("TZ", "UTC", 1);
	tzset();
	strlcpy(f->dir, "/tmp/test_dsn.XXXXXX", sizeof(f->dir));
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	f->fd = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (f->fd != -1)
		close(f->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* The original message's spool, opened as the queue run would hold it. */
static void
put_original(struct fixture *f, const char *text, size_t len)
{
	char path[128];
	FILE *fp;

	if (f->fd != -1)
		close(f->fd);
	snprintf(path, sizeof(path), "%s/orig", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	f->fd = open(path, O_RDONLY);
	assert_true(f->fd >= 0);
}

static char *rcpts2[] = {S("bob@example.net"), S("carol@example.net")};

/* A failed message with two recipients and a 550 5.1.1 from the relay. */
static void
base_meta(struct queue_meta *m)
{
	memset(m, 0, sizeof(*m));
	strlcpy(m->id, ID1, sizeof(m->id));
	m->state = QUEUE_FAILED;
	m->account = S("work");
	m->from = S("alice@example.org");
	m->rcpts = rcpts2;
	m->nrcpts = 2;
	m->dsn_envid = S("QQ+2B314159");
	m->created = T0;
	m->first_attempt = T0;
	m->last_attempt = T0 + 3600;
	m->attempts = 3;
	m->err_class = SX_NOUSER;
	m->err_stage = STAGE_RCPT;
	m->err_code = 550;
	m->err_text = S("every recipient was refused; server said: 5.1.1 no such user");
}

static void
base_info(struct dsn_info *in)
{
	memset(in, 0, sizeof(*in));
	in->reporting_host = "host.example.org";
	in->relay_host = "mail.example.net";
	in->from = "alice@example.org";
	in->now = T0 + 7200;
}

static char *
slurp(const char *path, size_t *len)
{
	struct stat sb;
	char *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)sb.st_size), sb.st_size);
	buf[sb.st_size] = '\0';
	close(fd);
	if (len != NULL)
		*len = (size_t)sb.st_size;
	return buf;
}

/* An unfolded header value (first occurrence) of a header block, or NULL. */
static char *
header(const char *block, const char *name)
{
	size_t n = strlen(name);
	const char *p = block, *e;
	char *v, *o;

	for (; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			p += strspn(p, " ");
			for (e = p; *e != '\0' && !(e[0] == '\n' && e[1] != ' ' && e[1] != '\t');
			     e++)
				;
			v = strndup(p, (size_t)(e - p));
			assert_non_null(v);
			for (o = v; (o = strchr(o, '\n')) != NULL;)
				memmove(o, o + 1, strlen(o));
			return v;
		}
		if (strchr(p, '\n') == NULL)
			break;
	}
	return NULL;
}

/* Read the DSN id back and split it into its parts (RFC 2046 5.1.1). */
static void
load(const char *dir, const char *id, struct dsn_file *d)
{
	char path[256], *ct, *b, *p, delim[140], *start = NULL;
	size_t len;

	memset(d, 0, sizeof(*d));
	snprintf(path, sizeof(path), "%s/%s.msg", dir, id);
	d->text = slurp(path, &len);
	assert_int_equal(strlen(d->text), len); /* no NUL */
	assert_null(strchr(d->text, '\r'));     /* the spool holds LF only */
	assert_int_equal(d->text[len - 1], '\n');
	p = strstr(d->text, "\n\n");
	assert_non_null(p);
	d->hdr = strndup(d->text, (size_t)(p - d->text) + 1);
	d->body = p + 2;
	ct = header(d->hdr, "Content-Type");
	assert_non_null(ct);
	assert_non_null(strstr(ct, "multipart/report; report-type=delivery-status;"));
	b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	b += 10;
	assert_non_null(strchr(b, '"'));
	*strchr(b, '"') = '\0';
	strlcpy(d->boundary, b, sizeof(d->boundary));
	assert_true(strlen(d->boundary) <= 70);
	free(ct);
	snprintf(delim, sizeof(delim), "--%s", d->boundary);
	/* Every line: a delimiter, or content that cannot be one. */
	for (p = d->body; *p != '\0'; p = strchr(p, '\n') + 1) {
		size_t l = strcspn(p, "\n");

		if (l >= strlen(delim) && strncmp(p, delim, strlen(delim)) == 0) {
			d->delims++;
			if (start != NULL) {
				assert_true(d->nparts < 4);
				/* The CRLF before a delimiter belongs to it. */
				d->part[d->nparts++] = strndup(start, (size_t)(p - 1 - start));
			}
			start = p + l + 1;
			if (l == strlen(delim) + 2) {
				assert_memory_equal(p + strlen(delim), "--", 2);
				assert_string_equal(p + l, "\n"); /* nothing after the close */
				break;
			}
			assert_int_equal(l, strlen(delim));
		}
	}
}

static void
unload(struct dsn_file *d)
{
	size_t i;

	for (i = 0; i < d->nparts; i++)
		free(d->part[i]);
	free(d->hdr);
	free(d->text);
}

/* Every line of the file is at most 998 octets and free of control bytes. */
static void
assert_lines_ok(const char *text)
{
	const char *p = text;
	size_t l;

	for (; *p != '\0'; p += l + 1) {
		l = strcspn(p, "\n");
		assert_true(l <= 998);
		for (size_t i = 0; i < l; i++)
			assert_true((unsigned char)p[i] >= 0x20 || p[i] == '\t');
	}
}

static size_t
count_files(const char *dir)
{
	char cmd[128], buf[32];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(buf, sizeof(buf), p));
	pclose(p);
	return (size_t)atoi(buf);
}

static void
remove_dsn(struct fixture *f, struct queue_meta *dsn)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s.msg", f->dir, dsn->id);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/%s.meta", f->dir, dsn->id);
	assert_int_equal(unlink(path), 0);
	queue_meta_free(dsn);
}

static void
make(struct fixture *f, const struct queue_meta *m, const struct dsn_info *in,
    struct queue_meta *dsn, struct dsn_file *d)
{
	struct sx_err e;

	sx_clear(&e);
	assert_int_equal(dsn_create(f->dir, m, f->fd, in, dsn, &e), 0);
	assert_int_equal(e.cls, SX_OK);
	load(f->dir, dsn->id, d);
	assert_lines_ok(d->text);
}

static void
test_structure(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, dsn, back;
	struct dsn_info in;
	struct dsn_file d;
	struct sx_err e;
	char path[256], *v;
	struct stat sb;

	put_original(f, HDRS BODY, strlen(HDRS BODY));
	base_meta(&m);
	base_info(&in);
	make(f, &m, &in, &dsn, &d);

	/* The envelope: from <> to the sender, through the same account. */
	assert_true(queue_id_valid(dsn.id));
	assert_string_not_equal(dsn.id, ID1);
	assert_int_equal(dsn.state, QUEUE_DEFERRED);
	assert_string_equal(dsn.from, "");
	assert_int_equal(dsn.nrcpts, 1);
	assert_string_equal(dsn.rcpts[0], "alice@example.org");
	assert_string_equal(dsn.account, "work");
	assert_string_equal(dsn.dsn_notify, "NEVER");
	assert_null(dsn.dsn_ret);
	assert_null(dsn.dsn_envid);
	assert_int_equal(dsn.created, in.now);
	assert_int_equal(dsn.attempts, 0);
	assert_int_equal(dsn.err_class, SX_OK);
	assert_int_equal(dsn.body_8bit, 0);
	assert_int_equal(dsn.needs_smtputf8, 0);
	/* SIZE as on the wire: every LF a CRLF. */
	{
		size_t lfs = 0;

		for (v = d.text; *v != '\0'; v++)
			lfs += *v == '\n';
		assert_int_equal(dsn.size, strlen(d.text) + lfs);
	}
	/* Its metadata is on disk, and nothing else was left behind. */
	sx_clear(&e);
	assert_int_equal(queue_meta_read(f->dir, dsn.id, &back, &e), 0);
	assert_string_equal(back.from, "");
	assert_string_equal(back.rcpts[0], "alice@example.org");
	assert_int_equal(back.size, dsn.size);
	queue_meta_free(&back);
	snprintf(path, sizeof(path), "%s/%s.msg", f->dir, dsn.id);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(count_files(f->dir), 3); /* orig, .msg, .meta */

	/* The message header. */
	assert_non_null(strstr(d.hdr, "From: \"Mail Delivery System\" <alice@example.org>\n"));
	assert_non_null(strstr(d.hdr, "\nTo: <alice@example.org>\n"));
	assert_non_null(strstr(d.hdr, "\nSubject: Undelivered Mail Returned to Sender\n"));
	assert_non_null(strstr(d.hdr, "\nDate: Sun, 9 Sep 2001 03:46:40 +0000\n"));
	assert_non_null(strstr(d.hdr, "\nAuto-Submitted: auto-replied\n"));
	assert_non_null(strstr(d.hdr, "\nMIME-Version: 1.0\n"));
	v = header(d.hdr, "Message-ID");
	assert_non_null(v);
	assert_int_equal(strlen(v), 1 + 32 + 1 + strlen("host.example.org") + 1);
	assert_non_null(strstr(v, "@host.example.org>"));
	free(v);
	assert_int_equal(strncmp(d.boundary, "=_smtps-send_", 13), 0);

	/* Three parts, closed once. */
	assert_int_equal(d.nparts, 3);
	assert_int_equal(d.delims, 4);

	/* 1: for a human. */
	assert_int_equal(strncmp(d.part[0],
			     "Content-Type: text/plain; charset=us-ascii\n"
			     "Content-Description: Notification\n\n"
			     "This is the mail system at host host.example.org.\n",
			     strlen("Content-Type: text/plain; charset=us-ascii\n"
				    "Content-Description: Notification\n\n"
				    "This is the mail system at host host.example.org.\n")),
	    0);
	assert_non_null(strstr(d.part[0], "\n  <bob@example.net>\n  <carol@example.net>\n"));
	assert_non_null(strstr(d.part[0], "refused, and it will not be retried"));
	assert_non_null(strstr(d.part[0],
	    "The last of 3 attempts (Sun, 9 Sep 2001 02:46:40 +0000) failed with:\n\n"
	    "  every recipient was refused; server said: 5.1.1 no such user\n"));
	assert_non_null(strstr(d.part[0], "queued on Sun, 9 Sep 2001 01:46:40 +0000, as " ID1));
	assert_null(strstr(d.part[0], "KiB"));

	/* 2: for a program, every recipient. */
	assert_string_equal(d.part[1], "Content-Type: message/delivery-status\n"
				       "Content-Description: Delivery report\n"
				       "\n"
				       "Original-Envelope-Id: QQ+314159\n"
				       "Reporting-MTA: dns; host.example.org\n"
				       "Arrival-Date: Sun, 9 Sep 2001 01:46:40 +0000\n"
				       "X-Smtps-Send-Queue-ID: " ID1 "\n"
				       "\n"
				       "Final-Recipient: rfc822; bob@example.net\n"
				       "Action: failed\n"
				       "Status: 5.1.1\n"
				       "Remote-MTA: dns; mail.example.net\n"
				       "Diagnostic-Code: smtp; 550 5.1.1 no such user\n"
				       "Last-Attempt-Date: Sun, 9 Sep 2001 02:46:40 +0000\n"
				       "\n"
				       "Final-Recipient: rfc822; carol@example.net\n"
				       "Action: failed\n"
				       "Status: 5.1.1\n"
				       "Remote-MTA: dns; mail.example.net\n"
				       "Diagnostic-Code: smtp; 550 5.1.1 no such user\n"
				       "Last-Attempt-Date: Sun, 9 Sep 2001 02:46:40 +0000\n");

	/* 3: the header block, and not the body (RET=HDRS). */
	assert_string_equal(d.part[2], "Content-Type: text/rfc822-headers\n"
				       "Content-Description: Undelivered message headers\n"
				       "\n" HDRS);
	assert_null(strstr(d.text, "stays home"));
	unload(&d);
	queue_meta_free(&dsn);
}

/* Status and Diagnostic-Code of one case, read back from part 2. */
static void
check_status(struct fixture *f, enum queue_state st, int code, const char *text, const char *status,
    const char *diag, int remote)
{
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct dsn_file d;
	char *g, *v;

	base_meta(&m);
	base_info(&in);
	m.state = st;
	m.err_code = code;
	m.err_text = (char *)(uintptr_t)text;
	make(f, &m, &in, &dsn, &d);
	g = strstr(d.part[1], "\n\nFinal-Recipient:");
	assert_non_null(g);
	v = header(g + 2, "Status");
	assert_string_equal(v, status);
	free(v);
	v = header(g + 2, "Diagnostic-Code");
	if (diag == NULL)
		assert_null(v);
	else
		assert_string_equal(v, diag);
	free(v);
	v = header(g + 2, "Remote-MTA");
	if (remote)
		assert_string_equal(v, "dns; mail.example.net");
	else
		assert_null(v);
	free(v);
	unload(&d);
	queue_meta_free(&dsn);
}

static void
test_status(void **state)
{
	struct fixture *f = *state;
	const char *said = "refused; server said: ";
	char t[256];

	put_original(f, HDRS BODY, strlen(HDRS BODY));
#define SAID(x) (snprintf(t, sizeof(t), "%s%s", said, x), t)
	check_status(f, QUEUE_FAILED, 550, SAID("5.1.1 gone"), "5.1.1", "smtp; 550 5.1.1 gone", 1);
	/* No enhanced code: the generic one of the reply's class. */
	check_status(f, QUEUE_FAILED, 550, SAID("gone"), "5.0.0", "smtp; 550 gone", 1);
	check_status(f, QUEUE_FAILED, 452, SAID("too many"), "4.0.0", "smtp; 452 too many", 1);
	/* A code of another class than the reply is no code (RFC 3463). */
	check_status(f, QUEUE_FAILED, 554, SAID("4.1.1 odd"), "5.0.0", "smtp; 554 4.1.1 odd", 1);
	/* Leading zeros are dropped (RFC 3464 2.3.4); over three digits is no code. */
	check_status(f, QUEUE_FAILED, 550, SAID("5.01.001 z"), "5.1.1", "smtp; 550 5.01.001 z", 1);
	check_status(f, QUEUE_FAILED, 550, SAID("5.1234.1 x"), "5.0.0", "smtp; 550 5.1234.1 x", 1);
	check_status(f, QUEUE_FAILED, 550, SAID("5.1.1x y"), "5.0.0", "smtp; 550 5.1.1x y", 1);
	/* Reply lines as the queue joined them. */
	check_status(f, QUEUE_FAILED, 550, SAID("5.7.1 no/5.7.1 see https://x.example/a"), "5.7.1",
	    "smtp; 550 5.7.1 no/5.7.1 see https://x.example/a", 1);
	/* No reply: ours, under the private type; no Remote-MTA. */
	check_status(f, QUEUE_FAILED, 0, "message too big for the relay", "5.0.0",
	    "X-smtps-send; message too big for the relay", 0);
	check_status(f, QUEUE_FAILED, 0, NULL, "5.0.0", NULL, 0);
	/* A reply of a bare code; a reply code the stored text does not quote. */
	check_status(f, QUEUE_FAILED, 550, "every recipient was refused", "5.0.0", "smtp; 550", 1);
	/* Expired: the last error's own code when it has one, else 4.4.7. */
	check_status(f, QUEUE_EXPIRED, 0, "connect to mail.example.net:465: Connection refused",
	    "4.4.7", "X-smtps-send; connect to mail.example.net:465: Connection refused", 0);
	check_status(f, QUEUE_EXPIRED, 451, SAID("4.3.0 try later"), "4.3.0",
	    "smtp; 451 4.3.0 try later", 1);
	check_status(f, QUEUE_EXPIRED, 451, SAID("try later"), "4.4.7", "smtp; 451 try later", 1);
	check_status(f, QUEUE_EXPIRED, 535, SAID("5.7.8 bad credentials"), "5.7.8",
	    "smtp; 535 5.7.8 bad credentials", 1);
#undef SAID
}

static void
test_expired(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct dsn_file d;

	put_original(f, HDRS BODY, strlen(HDRS BODY));
	base_meta(&m);
	base_info(&in);
	m.state = QUEUE_EXPIRED;
	m.err_code = 0;
	m.err_text = S("connect to mail.example.net:465: Connection refused");
	in.now = T0 + 5 * 86400 + 600;
	make(f, &m, &in, &dsn, &d);
	assert_non_null(strstr(d.part[0], "retried for 5 days, the longest a message is kept"));
	assert_non_null(strstr(d.part[0], "delivery has been given up"));
	assert_null(strstr(d.part[0], "will not be retried"));
	assert_non_null(strstr(d.part[1], "\nStatus: 4.4.7\n"));
	assert_non_null(strstr(d.part[1], "\nAction: failed\n"));
	assert_null(strstr(d.part[1], "Will-Retry-Until"));
	unload(&d);
	queue_meta_free(&dsn);
}

static void
test_refused(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct sx_err e;
	const char *why;
	size_t i;
	static const struct {
		const char *notify;
		int want;
	} cases[] = {
	    {"NEVER", 0}, {"never", 0}, {"SUCCESS,DELAY", 0}, {"DELAY", 0}, {"SUCCESS", 0},
	    {"FAILURE", 1}, {"failure,delay", 1}, {"SUCCESS,FAILURE,DELAY", 1},
	    {"BOGUS", 1},                  /* not a -N value: as if none was given */
	    {"", 1}, {"NEVER,FAILURE", 0}, /* NEVER must stand alone: taken at its word */
	};

	put_original(f, HDRS BODY, strlen(HDRS BODY));
	base_info(&in);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		base_meta(&m);
		m.dsn_notify = (char *)(uintptr_t)cases[i].notify;
		assert_int_equal(dsn_wanted(&m, &why), cases[i].want);
		if (cases[i].want) {
			assert_null(why);
			continue;
		}
		assert_non_null(why);
		assert_non_null(strstr(why, strcasestr(cases[i].notify, "never") != NULL
						? "-N never"
						: "-N without failure"));
		sx_clear(&e);
		assert_int_equal(dsn_create(f->dir, &m, f->fd, &in, &dsn, &e), 1);
		assert_int_equal(e.cls, SX_OK);
		assert_int_equal(count_files(f->dir), 1);
	}
	/* The null sender: never a DSN to <>, and so never one about a DSN. */
	base_meta(&m);
	m.from = S("");
	assert_int_equal(dsn_wanted(&m, &why), 0);
	assert_non_null(strstr(why, "null sender"));
	sx_clear(&e);
	assert_int_equal(dsn_create(f->dir, &m, f->fd, &in, &dsn, &e), 1);
	assert_int_equal(count_files(f->dir), 1);
	/* A DSN's own envelope is refused the same way. */
	{
		struct queue_meta d2;
		struct dsn_file d;

		base_meta(&m);
		make(f, &m, &in, &dsn, &d);
		unload(&d);
		dsn.state = QUEUE_FAILED;
		sx_clear(&e);
		assert_int_equal(dsn_create(f->dir, &dsn, f->fd, &in, &d2, &e), 1);
		assert_int_equal(count_files(f->dir), 3);
		remove_dsn(f, &dsn);
	}
	/* Still being retried: no failure DSN, and say it is a bug. */
	base_meta(&m);
	m.state = QUEUE_DEFERRED;
	sx_clear(&e);
	assert_int_equal(dsn_create(f->dir, &m, f->fd, &in, &dsn, &e), -1);
	assert_int_equal(e.cls, SX_INTERNAL);
	/* A sender that cannot receive mail. */
	base_meta(&m);
	m.from = S("root");
	sx_clear(&e);
	assert_int_equal(dsn_create(f->dir, &m, f->fd, &in, &dsn, &e), -1);
	assert_int_equal(e.cls, SX_DATA);
	assert_int_equal(e.stage, STAGE_QUEUE);
	base_meta(&m);
	m.from = S("alice@example.org\r\nBcc: x@example.net");
	sx_clear(&e);
	assert_int_equal(dsn_create(f->dir, &m, f->fd, &in, &dsn, &e), -1);
	assert_int_equal(e.cls, SX_DATA);
	assert_int_equal(count_files(f->dir), 1);
}

/*
 * Everything in the queue could have been written by a hostile server or
 * edited by hand: nothing of it may add a header, a line, a part.
 */
static void
test_hostile(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct dsn_file d;
	char *rcpts[] = {S("evil\r\nBcc: x@example.net"), S("ok@example.net")};
	char big[1100], *p;
	size_t i;

	put_original(f, HDRS BODY, strlen(HDRS BODY));
	base_meta(&m);
	base_info(&in);
	m.rcpts = rcpts;
	m.err_text = S("refused; server said: 5.1.1 x\r\n\r\n--=_smtps-send_0123\r\n"
		       "Content-Type: text/html\r\n\r\n<script>\x1b[31m\n--\x7f\tend");
	m.dsn_envid = S("id\r\nX-Evil: 1");
	in.relay_host = "relay\r\nX-Evil: 2";
	in.reporting_host = "host\nX-Evil: 3";
	in.from = "x@example.org>\r\nX-Evil: 4";
	make(f, &m, &in, &dsn, &d);
	assert_int_equal(d.nparts, 3);
	assert_int_equal(d.delims, 4);
	for (p = d.text; p != NULL; p = strchr(p, '\n')) {
		p += *p == '\n';
		assert_true(strncmp(p, "X-Evil", 6) != 0);
		assert_true(strncmp(p, "Bcc", 3) != 0);
		assert_true(strncmp(p, "Content-Type: text/html", 23) != 0);
		assert_true(strncmp(p, "--=_smtps-send_0123", 19) != 0);
	}
	assert_non_null(strstr(d.part[1], "\nFinal-Recipient: rfc822; evil??Bcc: x@example.net\n"));
	assert_non_null(strstr(d.part[1], "\nOriginal-Envelope-Id: id??X-Evil: 1\n"));
	assert_non_null(strstr(d.part[1], "\nReporting-MTA: x-local-hostname; localhost\n"));
	assert_non_null(
	    strstr(d.hdr, "From: \"Mail Delivery System\" <MAILER-DAEMON@localhost>\n"));
	assert_non_null(strstr(d.part[1], "Remote-MTA: dns; relay??X-Evil:\n"));
	unload(&d);
	queue_meta_free(&dsn);

	/* A long reply without spaces: cut into folded lines under 998. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "refused; server said: 5.7.1 ", 28);
	base_meta(&m);
	m.err_text = big;
	make(f, &m, &in, &dsn, &d);
	p = header(d.part[1], "Diagnostic-Code");
	assert_non_null(p);
	assert_int_equal(strlen(p), strlen("smtp; 550 ") + strlen(big + 22) + 1);
	free(p);
	unload(&d);
	queue_meta_free(&dsn);

	/* A long reply with spaces: folded under 78 where it can be. */
	for (i = 28; i < sizeof(big) - 1; i++)
		big[i] = i % 7 == 0 ? ' ' : 'y';
	make(f, &m, &in, &dsn, &d);
	p = strstr(d.part[1], "\nDiagnostic-Code:") + 1;
	do {
		assert_true(strcspn(p, "\n") <= 78);
		p += strcspn(p, "\n") + 1;
	} while (*p == ' ');
	assert_int_equal(strncmp(p, "Last-Attempt-Date:", 18), 0);
	unload(&d);
	queue_meta_free(&dsn);

	/* A trailing space just at the fold column: no line of white space alone. */
	snprintf(big, sizeof(big), "refused; server said: 5.1.1 %.45s ",
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	make(f, &m, &in, &dsn, &d);
	p = strstr(d.part[1], "\nDiagnostic-Code:") + 1;
	assert_int_equal(strcspn(p, "\n"), 78 + 1);
	assert_int_equal(strncmp(p + 80, "Last-Attempt-Date:", 18), 0);
	unload(&d);
	queue_meta_free(&dsn);
}

static void
test_big_headers(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct dsn_file d;
	size_t n = 0, i, hlen;
	char *msg = malloc(200000), *h;

	assert_non_null(msg);
	/*
	 * 100 KiB of fields, each folded over two lines, laid out so that the
	 * last line end before the limit is inside a field.
	 */
	for (i = 0; n < 100 * 1024; i++)
		n += (size_t)sprintf(msg + n, "X-Field-%05zu: some value\n\t%s\n", i,
		    "continued over a second line of text..");
	for (i = DSN_HEADERS_MAX; msg[i - 1] != '\n'; i--)
		;
	assert_int_equal(msg[i], '\t');
	n += (size_t)sprintf(msg + n, "\nbody\n");
	put_original(f, msg, n);
	base_meta(&m);
	base_info(&in);
	make(f, &m, &in, &dsn, &d);
	assert_non_null(strstr(d.part[0], "longer than 64 KiB: only its first 64 KiB"));
	h = strstr(d.part[2], "\n\n");
	assert_non_null(h);
	h += 2;
	hlen = strlen(h);
	assert_true(hlen <= DSN_HEADERS_MAX);
	assert_true(hlen > DSN_HEADERS_MAX - 100);
	/* Cut at a field boundary: whole fields of the original. */
	assert_memory_equal(h, msg, hlen);
	assert_true(msg[hlen] == 'X');
	assert_null(strstr(d.part[2], "Content-Transfer-Encoding"));
	unload(&d);
	queue_meta_free(&dsn);

	/* One field longer than the limit: cut hard, sent quoted-printable. */
	memset(msg, 'a', 70000);
	memcpy(msg, "X-Long: ", 8);
	memcpy(msg + 70000, "\n\nbody\n", 7);
	put_original(f, msg, 70007);
	make(f, &m, &in, &dsn, &d);
	assert_non_null(strstr(d.part[2], "Content-Transfer-Encoding: quoted-printable\n"));
	assert_non_null(strstr(d.part[0], "longer than 64 KiB"));
	for (h = strstr(d.part[2], "\n\n") + 2; *h != '\0'; h += strcspn(h, "\n") + 1)
		assert_true(strcspn(h, "\n") <= 76);
	unload(&d);
	queue_meta_free(&dsn);

	/* No header block at all: no third part. */
	put_original(f, "\nbody only\n", 11);
	make(f, &m, &in, &dsn, &d);
	assert_int_equal(d.nparts, 2);
	assert_int_equal(d.delims, 3);
	unload(&d);
	queue_meta_free(&dsn);
	free(msg);
}

static void
test_utf8(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct dsn_file d;
	char *rcpts[] = {S("j\xc3\xb6rg+a=b@b\xc3\xbc"
			   "cher.example"),
	    S("bad\xff@example.net")};
	const char *hdrs = "Subject: caf\xc3\xa9 =?utf-8?q?x?=\nX-Tab:\ta \n\nbody\n";
	char *p;

	put_original(f, hdrs, strlen(hdrs));
	base_meta(&m);
	base_info(&in);
	m.from = S("\xc3\xa9ric@example.fr");
	m.rcpts = rcpts;
	in.from = "\xc3\xa9ric@example.fr"; /* not ASCII: not for From: */
	make(f, &m, &in, &dsn, &d);
	/* The DSN goes to a UTF-8 address: SMTPUTF8, and To: carries 8 bits. */
	assert_int_equal(dsn.needs_smtputf8, 1);
	assert_int_equal(dsn.body_8bit, 1);
	assert_non_null(strstr(d.hdr, "\nTo: <\xc3\xa9ric@example.fr>\n"));
	assert_non_null(strstr(d.hdr, "<MAILER-DAEMON@host.example.org>"));
	/* The body itself stays 7-bit. */
	for (p = d.body; *p != '\0'; p++)
		assert_true((unsigned char)*p < 0x80);
	/* RFC 6533: the utf-8 type's 7-bit form; broken UTF-8 is no address. */
	assert_non_null(strstr(d.part[1],
	    "\nFinal-Recipient: utf-8; j\\x{F6}rg\\x{2B}a\\x{3D}b@b\\x{FC}cher.example\n"));
	assert_non_null(strstr(d.part[1], "\nFinal-Recipient: utf-8; bad?@example.net\n"));
	/* Part 1 names them in UTF-8, quoted-printable. */
	assert_non_null(strstr(d.part[0], "Content-Type: text/plain; charset=utf-8\n"
					  "Content-Transfer-Encoding: quoted-printable\n"));
	assert_non_null(strstr(d.part[0], "<j=C3=B6rg+a=3Db@b=C3=BCcher.example>"));
	assert_non_null(strstr(d.part[0], "<bad?@example.net>"));
	/* Part 3: 8-bit headers travel quoted-printable (RFC 6522 4). */
	assert_string_equal(d.part[2], "Content-Type: text/rfc822-headers\n"
				       "Content-Transfer-Encoding: quoted-printable\n"
				       "Content-Description: Undelivered message headers\n"
				       "\n"
				       "Subject: caf=C3=A9 =3D?utf-8?q?x?=3D\n"
				       "X-Tab:\ta=20\n");
	unload(&d);
	queue_meta_free(&dsn);
}

static void
test_names(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct dsn_file d;
	char **many;
	size_t i;

	put_original(f, HDRS BODY, strlen(HDRS BODY));
	/* No FQDN: not "dns" (RFC 3461 6.3 b); no From: given: MAILER-DAEMON. */
	base_meta(&m);
	base_info(&in);
	in.reporting_host = "myhost";
	in.from = NULL;
	in.relay_host = "192.0.2.7";
	m.dsn_envid = S("bad+zzxtext");
	make(f, &m, &in, &dsn, &d);
	assert_non_null(strstr(d.part[1], "\nReporting-MTA: x-local-hostname; myhost\n"));
	assert_non_null(strstr(d.part[1], "\nRemote-MTA: dns; [192.0.2.7]\n"));
	assert_non_null(strstr(d.part[1], "Original-Envelope-Id: bad+zzxtext\n"));
	assert_non_null(strstr(d.hdr, "<MAILER-DAEMON@myhost>\n"));
	assert_non_null(strstr(d.hdr, "@myhost>\n"));
	unload(&d);
	queue_meta_free(&dsn);

	in.reporting_host = NULL;
	in.relay_host = "2001:db8::1";
	m.dsn_envid = NULL;
	make(f, &m, &in, &dsn, &d);
	assert_non_null(strstr(d.part[1], "\nReporting-MTA: x-local-hostname; localhost\n"));
	assert_non_null(strstr(d.part[1], "\nRemote-MTA: dns; [IPv6:2001:db8::1]\n"));
	assert_null(strstr(d.part[1], "Original-Envelope-Id"));
	unload(&d);
	queue_meta_free(&dsn);

	/* Many recipients: all in the report, the first 100 in the text. */
	many = calloc(150, sizeof(*many));
	assert_non_null(many);
	for (i = 0; i < 150; i++)
		assert_true(asprintf(&many[i], "user%03zu@example.net", i) > 0);
	base_meta(&m);
	base_info(&in);
	m.rcpts = many;
	m.nrcpts = 150;
	make(f, &m, &in, &dsn, &d);
	assert_non_null(strstr(d.part[0], "<user099@example.net>\n  and 50 more"));
	assert_null(strstr(d.part[0], "user100"));
	assert_non_null(strstr(d.part[1], "Final-Recipient: rfc822; user149@example.net\n"));
	{
		size_t groups = 0;
		const char *p;

		for (p = d.part[1]; (p = strstr(p, "\nAction: failed\n")) != NULL; p++)
			groups++;
		assert_int_equal(groups, 150);
	}
	unload(&d);
	queue_meta_free(&dsn);
	for (i = 0; i < 150; i++)
		free(many[i]);
	free(many);
}

/* Local trouble: SX_LOCALIO, and nothing left behind. */
static void
test_errors(void **state)
{
	struct fixture *f = *state;
	struct queue_meta m, dsn;
	struct dsn_info in;
	struct sx_err e;
	char path[128];

	put_original(f, HDRS BODY, strlen(HDRS BODY));
	base_meta(&m);
	base_info(&in);
	/* The message cannot be read. */
	sx_clear(&e);
	assert_int_equal(dsn_create(f->dir, &m, -1, &in, &dsn, &e), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(e.sys_errno, EBADF);
	assert_non_null(strstr(e.detail, ID1));
	assert_int_equal(count_files(f->dir), 1);
	/* The queue cannot be written. */
	snprintf(path, sizeof(path), "%s/orig/queue", f->dir);
	sx_clear(&e);
	assert_int_equal(dsn_create(path, &m, f->fd, &in, &dsn, &e), -1);
	assert_int_equal(e.cls, SX_LOCALIO);
	assert_int_equal(e.stage, STAGE_QUEUE);
	assert_int_equal(count_files(f->dir), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_structure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_utf8, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
