/*
 * test_message.c — msg_intake() end to end on a temp file descriptor: the
 * spool it writes is compared byte for byte (the random Message-ID masked),
 * and the envelope field by field.  Every test gets its own spool directory.
 */
#include "config.h"

#include <dirent.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "msg/message.h"

/* Tue, 14 Nov 2023 22:13:20 UTC; TZ is UTC for the whole runner. */
#define NOW         1700000000
#define DATE_HDR    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
#define MSGID_HDR   "Message-ID: <xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@host.example.org>\n"
#define ADDED(from) "From: " from "\n" DATE_HDR MSGID_HDR

struct fixture {
	char root[64];
	char spool[128];
	char input[128];
	struct msg_policy pol;
	struct msg_envelope env;
	struct sx_err err;
	char *out; /* spool content (its Message-ID masked, see mask_msgid) */
	size_t outlen;
	size_t rawlen;          /* its length before */
	char msgid_domain[256]; /* the domain of the added Message-ID */
};

static int
rm_rf(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	strlcpy(f->root, "/tmp/test_message.XXXXXX", sizeof(f->root));
	if (mkdtemp(f->root) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->root);
	snprintf(f->input, sizeof(f->input), "%s/input", f->root);
	f->pol.spool_dir = f->spool;
	f->pol.hostname = "host.example.org";
	f->pol.local_user = "alice";
	f->pol.now = NOW;
	sx_clear(&f->err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	msg_envelope_free(&f->env);
	free(f->out);
	rm_rf(f->root);
	free(f);
	return 0;
}

static size_t
spool_entries(const struct fixture *f)
{
	DIR *d = opendir(f->spool);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/*
 * Replace the 32 random hex digits of an added Message-ID by 'x'.  Its
 * domain (kept in msgid_domain) must be the sender's when the sender has
 * one that fits, and is then written as the host name the expectations
 * name; rawlen keeps the length before, for the wire size.
 */
static void
mask_msgid(struct fixture *f)
{
	const char *tag = "Message-ID: <", *from = f->env.from, *at, *dom;
	char *p = memmem(f->out, f->outlen, tag, strlen(tag)), *end, *s;
	size_t i, n, head, dlen;

	f->rawlen = f->outlen;
	f->msgid_domain[0] = '\0';
	if (p == NULL)
		return;
	p += strlen(tag);
	for (i = 0; i < 32; i++) {
		if (strchr("0123456789abcdef", p[i]) == NULL || p[i] == '\0')
			return;
	}
	if (p[32] != '@' ||
	    (end = memchr(p + 33, '>', f->outlen - (size_t)(p + 33 - f->out))) == NULL)
		return;
	memset(p, 'x', 32);
	dom = p + 33;
	dlen = (size_t)(end - dom);
	snprintf(f->msgid_domain, sizeof(f->msgid_domain), "%.*s", (int)dlen, dom);
	at = from != NULL ? strrchr(from, '@') : NULL;
	if (at == NULL || at[1] == '[' || at[1] == '\0')
		return;
	for (i = 1; at[i] != '\0'; i++)
		if ((unsigned char)at[i] >= 0x80)
			return;
	if (strcmp(f->msgid_domain, at + 1) != 0)
		fail_msg("Message-ID domain %s, expected the sender's %s", f->msgid_domain, at + 1);
	head = (size_t)(dom - f->out);
	n = f->outlen - dlen + strlen("host.example.org");
	s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, f->out, head);
	memcpy(s + head, "host.example.org", strlen("host.example.org"));
	memcpy(s + head + strlen("host.example.org"), end, f->outlen - head - dlen);
	s[n] = '\0';
	free(f->out);
	f->out = s;
	f->outlen = n;
}

static void
read_spool(struct fixture *f)
{
	struct stat sb;
	int fd;

	free(f->out);
	f->out = NULL;
	f->outlen = 0;
	if (f->env.spool_path == NULL)
		return;
	fd = open(f->env.spool_tmp != NULL ? f->env.spool_tmp : f->env.spool_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	f->outlen = (size_t)sb.st_size;
	f->out = malloc(f->outlen + 1);
	assert_non_null(f->out);
	assert_int_equal(read(fd, f->out, f->outlen), (ssize_t)f->outlen);
	f->out[f->outlen] = '\0';
	close(fd);
	mask_msgid(f);
}

/* Run msg_intake on input[0..len) (len 0: strlen); returns its result. */
static int
run_len(struct fixture *f, const char *input, size_t len)
{
	int fd, rc;

	/* Each run starts with an empty spool directory. */
	if (f->env.spool_path != NULL)
		unlink(f->env.spool_path);
	if (f->env.spool_tmp != NULL)
		unlink(f->env.spool_tmp);
	msg_envelope_free(&f->env);
	sx_clear(&f->err);
	fd = open(f->input, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, input, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	rc = msg_intake(fd, &f->pol, &f->env, &f->err);
	close(fd);
	read_spool(f);
	return rc;
}

static int
run(struct fixture *f, const char *input)
{
	return run_len(f, input, strlen(input));
}

static unsigned long long
wire_of(const char *s, size_t len)
{
	unsigned long long n = len;
	size_t i;

	for (i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

static void
assert_ok_spool(struct fixture *f, int rc, const char *want)
{
	if (rc != 0)
		print_error("intake failed: %s\n", f->err.detail);
	assert_int_equal(rc, 0);
	assert_int_equal(f->err.cls, SX_OK);
	assert_non_null(f->out);
	assert_string_equal(f->out, want);
	assert_int_equal(f->outlen, strlen(want));
	assert_int_equal(f->env.wire_size, wire_of(want, strlen(want)) + f->rawlen - f->outlen);
	assert_int_equal(spool_entries(f), 1);
}

static void
assert_fail(struct fixture *f, int rc, enum sx_class cls, const char *detail)
{
	assert_int_equal(rc, -1);
	assert_int_equal(f->err.cls, cls);
	assert_int_equal(f->err.stage, STAGE_INTAKE);
	assert_string_equal(f->err.detail, detail);
}

/* Refused, but read whole and kept: "DETAIL; kept in PATH", the spool and the hint. */
static void
assert_kept(struct fixture *f, int rc, enum sx_class cls, const char *detail, const char *hint)
{
	char want[1024];

	assert_int_equal(rc, -1);
	assert_non_null(f->env.spool_path);
	snprintf(want, sizeof(want), "%s; kept in %s", detail, f->env.spool_path);
	assert_int_equal(f->err.cls, cls);
	assert_int_equal(f->err.stage, STAGE_INTAKE);
	assert_string_equal(f->err.detail, want);
	assert_string_equal(f->err.hint, hint);
	assert_int_equal(spool_entries(f), 1);
	assert_int_equal(access(f->env.spool_path, F_OK), 0);
}

#define HINT_RCPT                                                                                  \
	"set admin_address (where mail for local users goes), default_domain or from, or add "     \
	"an alias"
#define HINT_SENDER "set from or default_domain"

static char *rcpt_argv[4];

static void
set_rcpts(struct fixture *f, const char *a, const char *b, const char *c)
{
	size_t n = 0;

	if (a != NULL)
		rcpt_argv[n++] = (char *)(uintptr_t)a;
	if (b != NULL)
		rcpt_argv[n++] = (char *)(uintptr_t)b;
	if (c != NULL)
		rcpt_argv[n++] = (char *)(uintptr_t)c;
	f->pol.argv_rcpts = rcpt_argv;
	f->pol.n_argv_rcpts = n;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* ---- basics ---- */

static void
test_basic(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_ok_spool(f, run(f, "Subject: hi\n\nbody\n"),
	    "Subject: hi\n" ADDED("alice@host.example.org") "\nbody\n");
	assert_string_equal(f->env.from, "alice@host.example.org");
	assert_int_equal(f->env.nrcpts, 1);
	assert_string_equal(f->env.rcpts[0], "bob@example.com");
	assert_int_equal(f->env.body_8bit, 0);
	assert_int_equal(f->env.needs_smtputf8, 0);
	assert_int_equal(f->env.long_lines, 0);
	assert_non_null(strstr(f->env.spool_path, "/spool/"));
}

static void
test_empty_input(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_ok_spool(f, run(f, ""), ADDED("alice@host.example.org") "\n");
	assert_int_equal(f->env.wire_size, strlen(ADDED("alice@host.example.org") "\n") + 4);
}

static void
test_whole_input_is_body(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_ok_spool(f, run(f, "Hello world\nSubject: not a header\n"),
	    ADDED("alice@host.example.org") "\nHello world\nSubject: not a header\n");
	/* mbox "From " line: not a header either. */
	assert_ok_spool(f, run(f, "From alice Tue Nov 14 2023\nx: y\n"),
	    ADDED("alice@host.example.org") "\nFrom alice Tue Nov 14 2023\nx: y\n");
	/* A continuation line cannot come first. */
	assert_ok_spool(f, run(f, " indented\n"), ADDED("alice@host.example.org") "\n indented\n");
	/* ":" with no name. */
	assert_ok_spool(f, run(f, ": x\n"), ADDED("alice@host.example.org") "\n: x\n");
}

static void
test_missing_blank_line(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_ok_spool(f, run(f, "Subject: x\nthis is the body\nmore\n"),
	    "Subject: x\n" ADDED("alice@host.example.org") "\nthis is the body\nmore\n");
	/* Headers only, no body, no final newline. */
	assert_ok_spool(
	    f, run(f, "Subject: x"), "Subject: x\n" ADDED("alice@host.example.org") "\n");
}

static void
test_header_forms(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.read_recipients = 1;
	/* obs "Name : value", folded To, duplicate headers kept, case-insensitive names. */
	assert_ok_spool(f,
	    run(f,
		"Subject : spaced\nto: a@x.org,\n  b@x.org\nX-Dup: 1\nX-Dup: 2\n"
		"DATE: Mon, 1 Jan 2024 00:00:00 +0000\nmessage-id: <m@x>\nfrom: me@x.org\n\nb\n"),
	    "Subject : spaced\nto: a@x.org,\n  b@x.org\nX-Dup: 1\nX-Dup: 2\n"
	    "DATE: Mon, 1 Jan 2024 00:00:00 +0000\nmessage-id: <m@x>\nfrom: me@x.org\n\nb\n");
	assert_int_equal(f->env.nrcpts, 3);
	assert_string_equal(f->env.rcpts[0], "bob@example.com");
	assert_string_equal(f->env.rcpts[1], "a@x.org");
	assert_string_equal(f->env.rcpts[2], "b@x.org");
}

/* ---- sendmail's dot rule ---- */

static void
test_dot_rule(void **state)
{
	struct fixture *f = *state;
	const char *in = "Subject: x\n\nline1\n..two\n.x\n.\nafter\n";

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_ok_spool(
	    f, run(f, in), "Subject: x\n" ADDED("alice@host.example.org") "\nline1\n..two\n.x\n");
	f->pol.ignore_dots = 1;
	assert_ok_spool(f, run(f, in),
	    "Subject: x\n" ADDED("alice@host.example.org") "\nline1\n..two\n.x\n.\nafter\n");
	f->pol.ignore_dots = 0;
	/* CRLF and CR endings of the "." line count too; so does EOF. */
	assert_ok_spool(f, run(f, "Subject: x\r\n\r\na\r\n.\r\nb\r\n"),
	    "Subject: x\n" ADDED("alice@host.example.org") "\na\n");
	assert_ok_spool(f, run(f, "Subject: x\n\na\n.\rb\n"),
	    "Subject: x\n" ADDED("alice@host.example.org") "\na\n");
	assert_ok_spool(f, run(f, "Subject: x\n\na\n."),
	    "Subject: x\n" ADDED("alice@host.example.org") "\na\n");
	/* In the header block it ends the input as well. */
	assert_ok_spool(f, run(f, "Subject: x\n.\nTo: z@z.org\n\nbody\n"),
	    "Subject: x\n" ADDED("alice@host.example.org") "\n");
	/* First line: no message at all. */
	assert_ok_spool(f, run(f, ".\nSubject: x\n"), ADDED("alice@host.example.org") "\n");
	f->pol.ignore_dots = 1;
	assert_ok_spool(f, run(f, "Subject: x\n.\nbody\n"),
	    "Subject: x\n" ADDED("alice@host.example.org") "\n.\nbody\n");
}

/*
 * What the lone "." left unread is counted, for the warning: exactly from
 * a file, at least what is there from a pipe; the dot line's own CRLF is
 * not content; nothing after it, or -i: nothing to say.
 */
static void
test_dot_rule_after(void **state)
{
	struct fixture *f = *state;
	const char *in = "Subject: x\n\nline1\n.\nafter\n";
	int p[2];

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_int_equal(run(f, in), 0);
	assert_int_equal(f->env.dot_line, 4);
	assert_int_equal(f->env.after_dot, strlen("after\n"));
	assert_false(f->env.after_dot_more);
	assert_int_equal(run(f, "Subject: x\r\n\r\na\r\n.\r\n"), 0);
	assert_int_equal(f->env.dot_line, 4);
	assert_int_equal(f->env.after_dot, 0);
	assert_int_equal(run(f, "Subject: x\r\n\r\na\r\n.\r\nb\r\n"), 0);
	assert_int_equal(f->env.after_dot, 3);
	assert_int_equal(run(f, "Subject: x\n\nno dot\n"), 0);
	assert_int_equal(f->env.dot_line, 0);
	assert_int_equal(f->env.after_dot, 0);
	f->pol.ignore_dots = 1;
	assert_int_equal(run(f, in), 0);
	assert_int_equal(f->env.dot_line, 0);
	assert_int_equal(f->env.after_dot, 0);
	f->pol.ignore_dots = 0;

	/* From a pipe (the writer still open): what is there, as a lower bound. */
	unlink(f->env.spool_path);
	msg_envelope_free(&f->env);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], in, strlen(in)), (ssize_t)strlen(in));
	assert_int_equal(msg_intake(p[0], &f->pol, &f->env, &f->err), 0);
	assert_int_equal(f->env.after_dot, strlen("after\n"));
	assert_true(f->env.after_dot_more);
	close(p[0]);
	close(p[1]);
	/* The dot last in a pipe with nothing more there: no wait, nothing counted. */
	unlink(f->env.spool_path);
	msg_envelope_free(&f->env);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "Subject: x\n\na\n.\n", 16), 16);
	assert_int_equal(msg_intake(p[0], &f->pol, &f->env, &f->err), 0);
	assert_int_equal(f->env.dot_line, 4);
	assert_int_equal(f->env.after_dot, 0);
	close(p[0]);
	close(p[1]);
}

/* ---- line endings ---- */

static void
test_line_endings(void **state)
{
	struct fixture *f = *state;
	const char *want = "Subject: x\n" ADDED("alice@host.example.org") "\na\nb\nc\n\nd\n";

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_ok_spool(f, run(f, "Subject: x\r\n\r\na\r\nb\r\nc\r\n\r\nd\r\n"), want);
	assert_ok_spool(f, run(f, "Subject: x\r\rа"),
	    "Subject: x\n" ADDED("alice@host.example.org") "\n\xd0\xb0\n");
	assert_ok_spool(f, run(f, "Subject: x\r\ra\rb\rc\r\rd\r"), want);
	assert_ok_spool(f, run(f, "Subject: x\n\na\nb\nc\n\nd"), want);
	/* Mixed: CRLF, bare CR, bare LF, LF CR (two breaks). */
	assert_ok_spool(f, run(f, "Subject: x\n\r\na\r\nb\rc\n\n\rd"),
	    "Subject: x\n" ADDED("alice@host.example.org") "\na\nb\nc\n\n\nd\n");
}

/* CR as the last byte of one read() and LF as the first of the next. */
static void
test_crlf_across_reads(void **state)
{
	struct fixture *f = *state;
	size_t hl = strlen("Subject: x\n\n"), n = 65536 + 10, i;
	char *in = malloc(n + 1), *want;

	assert_non_null(in);
	memcpy(in, "Subject: x\n\n", hl);
	memset(in + hl, 'a', n - hl);
	in[65535] = '\r';
	in[65536] = '\n';
	in[n - 1] = '\n';
	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_int_equal(run_len(f, in, n), 0);
	want = f->out + strlen("Subject: x\n" ADDED("alice@host.example.org") "\n");
	for (i = 0; want[i] == 'a'; i++)
		;
	assert_int_equal(i, 65535 - hl);
	assert_string_equal(want + i, "\naaaaaaaa\n");
	assert_int_equal(f->env.long_lines, 1);
	free(in);
}

/* ---- recipients ---- */

static void
test_bcc_removed(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	/* Without -t: removed all the same, folded lines too. */
	assert_ok_spool(f,
	    run(f, "To: a@x.org\nBcc: secret@x.org,\n  other@x.org\nSubject: s\nbcc:\n\nb\n"),
	    "To: a@x.org\nSubject: s\n" ADDED("alice@host.example.org") "\nb\n");
	assert_int_equal(f->env.nrcpts, 1);
	f->pol.read_recipients = 1;
	set_rcpts(f, NULL, NULL, NULL);
	assert_ok_spool(f,
	    run(f, "To: a@x.org\nBcc: secret@x.org,\n  other@x.org\nSubject: s\n\nb\n"),
	    "To: a@x.org\nSubject: s\n" ADDED("alice@host.example.org") "\nb\n");
	assert_int_equal(f->env.nrcpts, 3);
	assert_string_equal(f->env.rcpts[0], "a@x.org");
	assert_string_equal(f->env.rcpts[1], "secret@x.org");
	assert_string_equal(f->env.rcpts[2], "other@x.org");
}

static void
test_t_resent(void **state)
{
	struct fixture *f = *state;

	f->pol.read_recipients = 1;
	set_rcpts(f, "argv@x.org", NULL, NULL);
	assert_ok_spool(f,
	    run(f, "To: a@x.org\nCc: b@x.org\nBcc: c@x.org\nResent-To: r1@x.org\n"
		   "Resent-Cc: r2@x.org, a@x.org\nResent-Bcc: r3@x.org\n\nb\n"),
	    "To: a@x.org\nCc: b@x.org\nResent-To: r1@x.org\nResent-Cc: r2@x.org, a@x.org\n" ADDED(
		"alice@host.example.org") "\nb\n");
	assert_int_equal(f->env.nrcpts, 5);
	assert_string_equal(f->env.rcpts[0], "argv@x.org");
	assert_string_equal(f->env.rcpts[1], "r1@x.org");
	assert_string_equal(f->env.rcpts[2], "r2@x.org");
	assert_string_equal(f->env.rcpts[3], "a@x.org");
	assert_string_equal(f->env.rcpts[4], "r3@x.org");
}

static void
test_t_dedupe_groups(void **state)
{
	struct fixture *f = *state;

	f->pol.read_recipients = 1;
	set_rcpts(f, "a@x.org", NULL, NULL);
	assert_int_equal(run(f, "To: undisclosed-recipients:;\nCc: A <a@x.org>, a@x.org,"
				" team: b@x.org, a@x.org;\n\n"),
	    0);
	assert_int_equal(f->env.nrcpts, 2);
	assert_string_equal(f->env.rcpts[0], "a@x.org");
	assert_string_equal(f->env.rcpts[1], "b@x.org");
}

static void
test_t_errors(void **state)
{
	struct fixture *f = *state;

	f->pol.read_recipients = 1;
	assert_fail(f, run(f, "Subject: none\n\nbody\n"), SX_DATA,
	    "no recipients: none given and none in the To, Cc or Bcc headers");
	assert_int_equal(spool_entries(f), 0);
	assert_null(f->env.spool_path);
	assert_fail(f, run(f, "To: a@x.org b@y.org\n\nbody\n"), SX_DATA,
	    "To header: invalid address at \"b@y.org\": missing ',' between addresses");
	assert_int_equal(spool_entries(f), 0);
	assert_fail(f, run(f, "cc: ok@x.org, \"open\n\n"), SX_DATA,
	    "cc header: invalid address at \"\"open\": unterminated quoted string");
	f->pol.read_recipients = 0;
	set_rcpts(f, NULL, NULL, NULL);
	assert_fail(f, run(f, "Subject: x\n\n"), SX_USAGE, "no recipients given (and no -t)");
	assert_int_equal(spool_entries(f), 0);
}

static void
test_argv_recipients(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "a@x.org, B <b@x.org>", "a@x.org", "<c@x.org>");
	assert_int_equal(run(f, "\n"), 0);
	assert_int_equal(f->env.nrcpts, 3);
	assert_string_equal(f->env.rcpts[0], "a@x.org");
	assert_string_equal(f->env.rcpts[1], "b@x.org");
	assert_string_equal(f->env.rcpts[2], "c@x.org");
	set_rcpts(f, "a@b.org\r\nDATA", NULL, NULL);
	assert_fail(f, run(f, "\n"), SX_DATA, "recipient argument contains a line break");
	set_rcpts(f, "a@b.org\nRCPT TO:<x@y.org>", NULL, NULL);
	assert_fail(f, run(f, "\n"), SX_DATA, "recipient argument contains a line break");
	set_rcpts(f, "foo bar", NULL, NULL);
	assert_fail(f, run(f, "\n"), SX_DATA,
	    "recipient: invalid address at \"foo bar\": unquoted space in address (missing "
	    "'<...>' or ',')");
	assert_int_equal(spool_entries(f), 0);
}

/*
 * A recipient without a domain is never a reason to drop mail: the
 * aliases, then admin_address, then default_domain, then the domain of
 * the account's from, then of its user.  With none of them the message is
 * refused as a configuration problem, but read whole and kept.
 */
static void
test_qualification(void **state)
{
	struct fixture *f = *state;
	char path[192];

	set_rcpts(f, "root", "www-data", "x@y.org");
	assert_kept(f, run(f, "Subject: cron\n\nout\n"), SX_CONFIG,
	    "recipient 'root' has no domain", HINT_RCPT);
	assert_string_equal(f->out, "Subject: cron\n" ADDED("alice@host.example.org") "\nout\n");
	assert_int_equal(f->env.nrcpts, 3);
	assert_string_equal(f->env.rcpts[0], "root");
	assert_string_equal(f->env.rcpts[1], "www-data");
	assert_string_equal(f->env.rcpts[2], "x@y.org");
	assert_string_equal(f->env.from, "alice@host.example.org");
	assert_int_equal(f->env.wire_size, wire_of(f->out, f->outlen));

	/* The user's domain, when the user is an address. */
	f->pol.account_user = "me@user.example";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.rcpts[0], "root@user.example");
	/* The from's domain comes first (its display name does not matter). */
	f->pol.account_from = "Cron <cron@from.example>";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.rcpts[0], "root@from.example");
	assert_string_equal(f->env.rcpts[1], "www-data@from.example");
	/* A from that is a pattern gives no domain. */
	f->pol.account_from = "*@[ab].example";
	f->pol.account_user = NULL;
	f->pol.envelope_from = "a@b.example";
	assert_kept(f, run(f, "\n"), SX_CONFIG, "recipient 'root' has no domain", HINT_RCPT);
	f->pol.envelope_from = NULL;
	f->pol.account_from = "cron@from.example";
	/* default_domain comes before that. */
	f->pol.default_domain = "example.com";
	assert_int_equal(run(f, "\n"), 0);
	assert_int_equal(f->env.nrcpts, 3);
	assert_string_equal(f->env.rcpts[0], "root@example.com");
	assert_string_equal(f->env.rcpts[1], "www-data@example.com");
	assert_string_equal(f->env.rcpts[2], "x@y.org");
	assert_string_equal(f->env.from, "cron@from.example");

	/* admin_address before that: every local name goes there, once. */
	f->pol.admin_address = "admin@example.net";
	assert_int_equal(run(f, "\n"), 0);
	assert_int_equal(f->env.nrcpts, 2);
	assert_string_equal(f->env.rcpts[0], "admin@example.net");
	assert_string_equal(f->env.rcpts[1], "x@y.org");
	/* A list; a name in it gets the domain. */
	f->pol.admin_address = "ops,b@example.net";
	assert_int_equal(run(f, "\n"), 0);
	assert_int_equal(f->env.nrcpts, 3);
	assert_string_equal(f->env.rcpts[0], "ops@example.com");
	assert_string_equal(f->env.rcpts[1], "b@example.net");

	/* The aliases before that; what they leave without a domain goes to admin_address. */
	f->pol.admin_address = "admin@example.net";
	snprintf(path, sizeof(path), "%s/aliases", f->root);
	write_file(path, "root: ops@example.org\nwww-data: webmaster\n");
	f->pol.aliases_file = path;
	assert_int_equal(run(f, "\n"), 0);
	assert_int_equal(f->env.nrcpts, 3);
	assert_string_equal(f->env.rcpts[0], "ops@example.org");
	assert_string_equal(f->env.rcpts[1], "admin@example.net");
	assert_string_equal(f->env.rcpts[2], "x@y.org");
	/* The catch-all before admin_address. */
	write_file(path, "root: ops@example.org\ndefault: catch@example.org\n");
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.rcpts[1], "catch@example.org");
	/* Without admin_address or a domain: named with the alias it came from. */
	write_file(path, "www-data: webmaster\n");
	f->pol.admin_address = NULL;
	f->pol.default_domain = NULL;
	f->pol.account_from = NULL;
	assert_kept(f, run(f, "\n"), SX_CONFIG, "recipient 'root' has no domain", HINT_RCPT);
	set_rcpts(f, "www-data", NULL, NULL);
	assert_kept(f, run(f, "\n"), SX_CONFIG,
	    "recipient 'webmaster' (from alias 'www-data') has no domain", HINT_RCPT);
	assert_string_equal(f->env.rcpts[0], "webmaster");

	/* An admin_address that cannot be qualified is the configuration's fault too. */
	f->pol.aliases_file = NULL;
	f->pol.admin_address = "postmaster";
	assert_kept(f, run(f, "\n"), SX_CONFIG, "admin_address 'postmaster' has no domain",
	    "write it as user@domain, or set default_domain or from");
	f->pol.admin_address = "a b@x.org";
	assert_kept(f, run(f, "\n"), SX_CONFIG,
	    "admin_address: invalid address at \"a b@x.org\": unquoted space in address "
	    "(missing '<...>' or ',')",
	    "");
}

/* -t recipients without a domain: the same order, and the same refusal. */
static void
test_qualification_t(void **state)
{
	struct fixture *f = *state;

	f->pol.read_recipients = 1;
	assert_kept(f, run(f, "To: root\nSubject: s\n\nb\n"), SX_CONFIG,
	    "recipient 'root' has no domain", HINT_RCPT);
	assert_int_equal(f->env.nrcpts, 1);
	assert_string_equal(f->env.rcpts[0], "root");
	f->pol.admin_address = "admin@example.net";
	assert_int_equal(run(f, "To: root\nSubject: s\n\nb\n"), 0);
	assert_int_equal(f->env.nrcpts, 1);
	assert_string_equal(f->env.rcpts[0], "admin@example.net");
}

static void
test_aliases(void **state)
{
	struct fixture *f = *state;
	char path[192];

	snprintf(path, sizeof(path), "%s/aliases", f->root);
	write_file(path, "# system aliases\n\nroot: admin@example.com, ops\n"
			 "OPS: o1@example.com,\n  o2@example.com\n"
			 "default: catch@example.com, nobody\n");
	f->pol.aliases_file = path;
	f->pol.default_domain = "example.net";
	set_rcpts(f, "root", "www-data", "x@y.org");
	assert_int_equal(run(f, "\n"), 0);
	assert_int_equal(f->env.nrcpts, 6);
	assert_string_equal(f->env.rcpts[0], "admin@example.com");
	assert_string_equal(f->env.rcpts[1], "o1@example.com");
	assert_string_equal(f->env.rcpts[2], "o2@example.com");
	/* www-data: no entry, so the catch-all; its "nobody" is not re-defaulted. */
	assert_string_equal(f->env.rcpts[3], "catch@example.com");
	assert_string_equal(f->env.rcpts[4], "nobody@example.net");
	assert_string_equal(f->env.rcpts[5], "x@y.org");

	/* -t recipients go through the aliases too. */
	f->pol.read_recipients = 1;
	set_rcpts(f, NULL, NULL, NULL);
	assert_int_equal(run(f, "To: ops\n\n"), 0);
	assert_int_equal(f->env.nrcpts, 2);
	assert_string_equal(f->env.rcpts[1], "o2@example.com");
}

/* A broken aliases file is a configuration problem: the message is read and kept. */
static void
test_alias_errors(void **state)
{
	struct fixture *f = *state;
	char path[192], want[512];

	snprintf(path, sizeof(path), "%s/aliases", f->root);
	f->pol.aliases_file = path;
	set_rcpts(f, "a", NULL, NULL);

	write_file(path, "a: b\nb: c, x@y.org\nc: a\n");
	snprintf(want, sizeof(want), "%s: alias loop: a -> b -> c -> a", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");
	/* Kept with the name as it was given: it says who the message was for. */
	assert_int_equal(f->env.nrcpts, 1);
	assert_string_equal(f->env.rcpts[0], "a");

	write_file(path, "a: x@y.org\nthis line is wrong\n");
	snprintf(want, sizeof(want), "%s:2: missing ':' after the alias name", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");

	write_file(path, "a: x@y.org\nA: z@y.org\n");
	snprintf(want, sizeof(want), "%s:2: duplicate alias 'A' (first on line 1)", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");

	write_file(path, "a: x@y.org z@y.org\n");
	snprintf(want, sizeof(want),
	    "%s:1: alias 'a': invalid address at \"z@y.org\": missing ',' between addresses", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");

	write_file(path, "a:\n");
	snprintf(want, sizeof(want), "%s:1: alias 'a' has no addresses", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");

	write_file(path, "  x@y.org\n");
	snprintf(want, sizeof(want), "%s:1: continuation line without an alias above it", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");

	write_file(path, "bad name: x@y.org\n");
	snprintf(want, sizeof(want), "%s:1: invalid alias name 'bad name'", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");

	/* 17 levels deep. */
	write_file(path, "a: b\nb: c\nc: d\nd: e\ne: f\nf: g\ng: h\nh: i\ni: j\nj: k\nk: l\n"
			 "l: m\nm: n\nn: o\no: p\np: q\nq: r\nr: s@y.org\n");
	snprintf(want, sizeof(want), "%s: aliases nested more than 16 deep at 'q'", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");

	/* Fan-out: 4^6 addresses. */
	write_file(path, "a: b,b,b,b\nb: c,c,c,c\nc: d,d,d,d\nd: e,e,e,e\ne: g,g,g,g\n"
			 "g: h@y.org,h@y.org,h@y.org,h@y.org\n");
	assert_kept(f, run(f, "\n"), SX_CONFIG,
	    "alias expansion of 'a' yields more than 1000 addresses", "");

	snprintf(path, sizeof(path), "%s/missing", f->root);
	snprintf(
	    want, sizeof(want), "cannot open aliases file %s: No such file or directory", path);
	assert_kept(f, run(f, "\n"), SX_CONFIG, want, "");
}

/* ---- sender ---- */

static void
test_sender(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	/* cronie: -f root, and the account has a from. */
	f->pol.envelope_from = "root";
	f->pol.account_from = "cron@example.com";
	assert_ok_spool(f, run(f, "\n"), ADDED("cron@example.com") "\n");
	assert_string_equal(f->env.from, "cron@example.com");
	/* No account from: default_domain, the user's domain, then a FQDN host name. */
	f->pol.account_from = NULL;
	f->pol.default_domain = "d.org";
	f->pol.account_user = "u@user.example";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.from, "root@d.org");
	f->pol.default_domain = NULL;
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.from, "root@user.example");
	f->pol.account_user = "u";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.from, "root@host.example.org");
	/* None: a configuration problem, and the message is kept. */
	f->pol.hostname = "myhost";
	assert_kept(f, run(f, "\n"), SX_CONFIG, "sender 'root' has no domain", HINT_SENDER);
	assert_string_equal(f->env.from, "root");
	assert_string_equal(f->env.rcpts[0], "bob@example.com");
	/* The login name as the sender likewise. */
	f->pol.envelope_from = NULL;
	assert_kept(f, run(f, "\n"), SX_CONFIG, "sender 'alice' has no domain", HINT_SENDER);
	assert_string_equal(f->env.from, "alice");
	f->pol.envelope_from = "root";
	f->pol.account_user = NULL;
	f->pol.hostname = "host.example.org";
	/* Null sender; the From header still gets an author. */
	f->pol.envelope_from = "";
	assert_ok_spool(f, run(f, "\n"), ADDED("alice@host.example.org") "\n");
	assert_string_equal(f->env.from, "");
	f->pol.envelope_from = "<>";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.from, "");
	f->pol.envelope_from = "<x@y.org>";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.from, "x@y.org");
	f->pol.envelope_from = "x@y.org\r\nRCPT TO:<evil@z.org>";
	assert_fail(f, run(f, "\n"), SX_DATA, "sender address contains a line break");
	f->pol.envelope_from = "a@y.org, b@y.org";
	assert_fail(f, run(f, "\n"), SX_DATA, "sender 'a@y.org, b@y.org' is not one address");
	f->pol.envelope_from = "a b@y.org";
	assert_fail(f, run(f, "\n"), SX_DATA,
	    "sender: invalid address at \"a b@y.org\": unquoted space in address (missing "
	    "'<...>' or ',')");
	/* No -f: the account's from. */
	f->pol.envelope_from = NULL;
	f->pol.account_from = "me@acct.org";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->env.from, "me@acct.org");
	/* No -f, no from: the From header when configured so. */
	f->pol.account_from = NULL;
	f->pol.sender_from_header = 1;
	assert_int_equal(run(f, "From: Boss <boss@corp.org>\n\n"), 0);
	assert_string_equal(f->env.from, "boss@corp.org");
	assert_int_equal(run(f, "Subject: no from\n\n"), 0);
	assert_string_equal(f->env.from, "alice@host.example.org");
	/* Non-ASCII sender needs SMTPUTF8. */
	f->pol.envelope_from = "j\xc3\xb6rg@example.de";
	assert_int_equal(run(f, "\n"), 0);
	assert_int_equal(f->env.needs_smtputf8, 1);
	assert_int_equal(f->env.body_8bit, 1); /* the added From header carries it */
}

/* ---- From header ---- */

static void
test_fullname(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.fullname = "CronDaemon";
	assert_ok_spool(f, run(f, "\n"), ADDED("CronDaemon <alice@host.example.org>") "\n");
	f->pol.fullname = "J\xc3\xb6rg M\xc3\xbcller";
	assert_ok_spool(f, run(f, "\n"),
	    ADDED("=?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <alice@host.example.org>") "\n");
	assert_int_equal(f->env.body_8bit, 0);
	f->pol.fullname = "a \"b\" =?x?q?y?=";
	assert_ok_spool(
	    f, run(f, "\n"), ADDED("\"a \\\"b\\\" =?x?q?y?=\" <alice@host.example.org>") "\n");
	/* 30 two-byte characters: 44 bytes (not 45: no split character), then 16. */
	f->pol.fullname = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	assert_ok_spool(f, run(f, "\n"),
	    ADDED("=?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6k=?=\n"
		  " =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqQ==?= <alice@host.example.org>") "\n");
	f->pol.fullname = "Evil\r\nBcc: x@y.org";
	assert_fail(f, run(f, "\n"), SX_DATA, "full name contains a line break");
	f->pol.fullname = "Bad\x01";
	assert_fail(f, run(f, "\n"), SX_DATA, "full name contains a control character");
	f->pol.fullname = "Bad \xff";
	assert_fail(f, run(f, "\n"), SX_DATA, "full name is not valid UTF-8");
	assert_int_equal(spool_entries(f), 0);
}

static void
test_from_keep(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.account_from = "cron@example.com";
	f->pol.fullname = "Ignored";
	/* Kept, but with the domain RFC 5322 requires. */
	assert_ok_spool(f, run(f, "From: root (Cron Daemon)\nSubject: x\n\nb\n"),
	    "From: root@example.com (Cron Daemon)\nSubject: x\n" DATE_HDR MSGID_HDR "\nb\n");
}

static void
test_from_rewrite(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.from_header = FROM_HEADER_REWRITE;
	f->pol.account_from = "cron@example.com";
	f->pol.envelope_from = "root";
	/* Debian cron: the comment becomes the display name. */
	assert_ok_spool(f, run(f, "From: root (Cron Daemon)\nSubject: x\n\nb\n"),
	    "From: Cron Daemon <cron@example.com>\nSubject: x\n" DATE_HDR MSGID_HDR "\nb\n");
	assert_string_equal(f->env.from, "cron@example.com");
	assert_ok_spool(f,
	    run(f, "Subject: x\nFROM: \"Doe, J\" <j@old.org>\nFrom: second@x.org\n\n"),
	    "Subject: x\nFrom: \"Doe, J\" <cron@example.com>\n" DATE_HDR MSGID_HDR "\n");
	assert_ok_spool(
	    f, run(f, "From: @@@ garbage\n\n"), "From: cron@example.com\n" DATE_HDR MSGID_HDR "\n");
	f->pol.fullname = "Daemon";
	assert_ok_spool(f, run(f, "From: root\n\n"),
	    "From: Daemon <cron@example.com>\n" DATE_HDR MSGID_HDR "\n");
	/* Missing: added as with keep. */
	assert_ok_spool(f, run(f, "\n"), ADDED("Daemon <cron@example.com>") "\n");
	/* No account from: the envelope sender. */
	f->pol.account_from = NULL;
	f->pol.envelope_from = "me@x.org";
	assert_ok_spool(f, run(f, "From: Me <other@x.org>\n\n"),
	    "From: Me <me@x.org>\n" DATE_HDR MSGID_HDR "\n");
}

/*
 * Address fields without a domain get one, as the envelope sender would
 * (Postfix's append_at_myorigin, not admin_address): display names,
 * comments, groups and folding stay; Bcc goes; other fields are text.
 */
static void
test_header_qualify(void **state)
{
	struct fixture *f = *state;
	const char *in = "From: root (Cron Daemon)\n"
			 "To: root, \"Ops Team\" <ops>,\n  x@y.org, (c) www-data (d)\n"
			 "Cc: team: a, b@z.org;, <\"john doe\">\n"
			 "Reply-To: Me <me>\nSender: daemon\nResent-To: r\nResent-From: q\n"
			 "Bcc: secret\nX-Other: root\nSubject: root\nTo: not a list\n\nTo: root\n";

	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.account_from = "cron@example.com";
	f->pol.admin_address = "admin@example.net";
	assert_ok_spool(f, run(f, in),
	    "From: root@example.com (Cron Daemon)\n"
	    "To: root@example.com, \"Ops Team\" <ops@example.com>,\n"
	    "  x@y.org, (c) www-data@example.com (d)\n"
	    "Cc: team: a@example.com, b@z.org;, <\"john doe\"@example.com>\n"
	    "Reply-To: Me <me@example.com>\nSender: daemon@example.com\n"
	    "Resent-To: r@example.com\nResent-From: q@example.com\n"
	    "X-Other: root\nSubject: root\nTo: not a list\n" DATE_HDR MSGID_HDR "\nTo: root\n");
	/* default_domain first; then the host name, as for the sender. */
	f->pol.default_domain = "d.example";
	f->pol.from_header = FROM_HEADER_OFF;
	assert_ok_spool(f, run(f, "From: root\nTo: root\n\n"),
	    "From: root\nTo: root@d.example\n" DATE_HDR MSGID_HDR "\n");
	f->pol.default_domain = NULL;
	f->pol.account_from = NULL;
	f->pol.from_header = FROM_HEADER_KEEP;
	f->pol.envelope_from = "a@b.example";
	assert_ok_spool(f, run(f, "From: root\nTo: root\n\n"),
	    "From: root@host.example.org\nTo: root@host.example.org\n" DATE_HDR MSGID_HDR "\n");
	/* No FQDN host name: admin_address's domain is the last resort. */
	f->pol.hostname = "myhost";
	assert_int_equal(run(f, "From: root\nTo: root\n\n"), 0);
	assert_non_null(f->out);
	assert_int_equal(strncmp(f->out, "From: root@example.net\nTo: root@example.net\n", 44), 0);
	/* No domain at all: left as it is (the envelope is what must be right). */
	f->pol.admin_address = NULL;
	assert_int_equal(run(f, "From: root\nTo: root\n\n"), 0);
	assert_non_null(f->out);
	assert_int_equal(strncmp(f->out, "From: root\nTo: root\nDate: ", 26), 0);
}

static void
test_message_id_host(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	/* The sender's domain, not the host's (short) name. */
	f->pol.hostname = "laptop";
	f->pol.envelope_from = "a@mail.example";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->msgid_domain, "mail.example");
	/* No sender address (<>): the host name, when it makes a valid msg-id. */
	f->pol.envelope_from = "";
	f->pol.hostname = "host.example.org";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->msgid_domain, "host.example.org");
	/* An address literal makes no msg-id: the host name, else localhost. */
	f->pol.envelope_from = "a@[192.0.2.7]";
	assert_int_equal(run(f, "\n"), 0);
	assert_string_equal(f->msgid_domain, "host.example.org");
	f->pol.hostname = "bad host\n";
	assert_int_equal(run(f, "\n"), 0);
	assert_non_null(strstr(f->out, "@localhost>\n"));
	/* The masked form is only produced when the format is exactly right. */
	assert_non_null(
	    strstr(f->out, "Message-ID: <xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@localhost>\n"));
	f->pol.hostname = "[192.0.2.1]";
	assert_int_equal(run(f, "\n"), 0);
	assert_non_null(strstr(f->out, "@localhost>\n"));
	f->pol.hostname = NULL;
	assert_int_equal(run(f, "\n"), 0);
	assert_non_null(strstr(f->out, "@localhost>\n"));
}

/* ---- bad input ---- */

static void
test_nul_kept(void **state)
{
	struct fixture *f = *state;
	static const char body[] = "Subject: x\n\nab\0c\r\nmore\n";
	static const char hdr[] = "Subj\0ect: x\r\nTo: y\n\nbody\n";
	char want[512];

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_int_equal(run_len(f, body, sizeof(body) - 1), -1);
	assert_int_equal(f->err.cls, SX_DATA);
	assert_non_null(f->env.spool_path);
	snprintf(
	    want, sizeof(want), "NUL byte in the message (line 3); kept in %s", f->env.spool_path);
	assert_string_equal(f->err.detail, want);
	assert_int_equal(spool_entries(f), 1);
	assert_int_equal(
	    f->outlen, strlen("Subject: x\n" ADDED("alice@host.example.org") "\n") + 10);
	assert_memory_equal(f->out + f->outlen - 10, "ab\0c\nmore\n", 10);
	/* In the header block: stored as read, line endings normalised. */
	assert_int_equal(unlink(f->env.spool_path), 0);
	assert_int_equal(run_len(f, hdr, sizeof(hdr) - 1), -1);
	assert_int_equal(f->err.cls, SX_DATA);
	assert_non_null(f->env.spool_path);
	assert_int_equal(f->outlen, sizeof(hdr) - 2);
	assert_memory_equal(f->out, "Subj\0ect: x\nTo: y\n\nbody\n", sizeof(hdr) - 2);
}

static void
test_header_bound(void **state)
{
	struct fixture *f = *state;
	size_t n = 1024 * 1024 + 10;
	char *big = malloc(n + 3);

	assert_non_null(big);
	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.max_header_bytes = 64;
	assert_fail(f,
	    run(f, "Subject: 0123456789012345678901234567890123456789\nX-Other: "
		   "01234567890123456789\n\nbody\n"),
	    SX_DATA, "header block larger than 64 bytes (no blank line after the headers?)");
	assert_int_equal(spool_entries(f), 0);
	/* Exactly 64 bytes of header block (LF included) is fine. */
	memcpy(big, "Subject: ", 9);
	memset(big + 9, 'y', 54);
	memcpy(big + 63, "\n\n", 2);
	assert_int_equal(run_len(f, big, 65), 0);
	big[62] = '\n'; /* 63 + the blank line: the blank line is not held */
	assert_int_equal(run_len(f, big, 64), 0);
	/* A long first line that is no header is body, whatever its length. */
	f->pol.max_header_bytes = 0;
	memset(big, 'x', n);
	big[n] = '\n';
	assert_int_equal(run_len(f, big, n + 1), 0);
	assert_int_equal(f->env.long_lines, 1);
	/* The default bound, 1 MiB. */
	memcpy(big, "X-Big: ", 7);
	assert_fail(f, run_len(f, big, n + 1), SX_DATA,
	    "header block larger than 1048576 bytes (no blank line after the headers?)");
	assert_int_equal(spool_entries(f), 0);
	free(big);
}

static void
test_long_lines(void **state)
{
	struct fixture *f = *state;
	char in[2100];

	set_rcpts(f, "bob@example.com", NULL, NULL);
	memcpy(in, "Subject: x\n\n", 12);
	memset(in + 12, 'a', 998);
	in[12 + 998] = '\n';
	in[12 + 999] = '\0';
	assert_int_equal(run(f, in), 0);
	assert_int_equal(f->env.long_lines, 0);
	memset(in + 12, 'a', 999);
	in[12 + 999] = '\n';
	in[12 + 1000] = '\0';
	assert_int_equal(run(f, in), 0);
	assert_int_equal(f->env.long_lines, 1);
	f->pol.strict_line_length = 1;
	assert_fail(f, run(f, in), SX_DATA, "line 3 is longer than 998 octets");
	assert_int_equal(spool_entries(f), 0);
	/* A long header line too. */
	memcpy(in, "X-Long: ", 8);
	memset(in + 8, 'b', 1000);
	memcpy(in + 1008, "\n\nbody\n", 8);
	assert_fail(f, run(f, in), SX_DATA, "line 1 is longer than 998 octets");
	f->pol.strict_line_length = 0;
	assert_int_equal(run(f, in), 0);
	assert_int_equal(f->env.long_lines, 1);
}

/* ---- flags and size ---- */

static void
test_8bit_smtputf8(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_int_equal(run(f, "Subject: plain\n\nascii only\n"), 0);
	assert_int_equal(f->env.body_8bit, 0);
	assert_int_equal(f->env.needs_smtputf8, 0);
	assert_int_equal(run(f, "Subject: plain\n\ncaf\xc3\xa9\n"), 0);
	assert_int_equal(f->env.body_8bit, 1);
	assert_int_equal(f->env.needs_smtputf8, 0);
	/* 8-bit header: 8BITMIME, not SMTPUTF8 (see message.c). */
	assert_int_equal(run(f, "Subject: caf\xc3\xa9\n\nascii\n"), 0);
	assert_int_equal(f->env.body_8bit, 1);
	assert_int_equal(f->env.needs_smtputf8, 0);
	/* A Bcc header with 8-bit bytes is dropped, so it does not count. */
	assert_int_equal(run(f, "Bcc: \"J\xc3\xb6rg\" <j@x.org>\n\nascii\n"), 0);
	assert_int_equal(f->env.body_8bit, 0);
	set_rcpts(f, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
	    NULL, NULL);
	assert_int_equal(run(f, "Subject: plain\n\nascii\n"), 0);
	assert_int_equal(f->env.needs_smtputf8, 1);
	assert_int_equal(f->env.body_8bit, 0);
}

static void
test_wire_size(void **state)
{
	struct fixture *f = *state;
	const char *want = "Subject: x\n" ADDED("alice@host.example.org") "\nab\n\ncd\n";

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_ok_spool(f, run(f, "Subject: x\r\n\r\nab\r\n\r\ncd"), want);
	/* 11 + 29 + 38 + 64 + 1 + 3 + 1 + 3 bytes, 8 LFs. */
	assert_int_equal(strlen(want), 150);
	assert_int_equal(f->env.wire_size, 158);
}

/* A body much larger than every buffer goes through unchanged. */
static void
test_large_body(void **state)
{
	struct fixture *f = *state;
	size_t lines = 100000, i, off;
	const char *line = "0123456789 the quick brown fox \xc3\xa9\r\n"; /* 35 bytes */
	char *in = malloc(lines * 35 + 16), *body;

	assert_non_null(in);
	memcpy(in, "Subject: big\n\n", 14);
	for (i = 0, off = 14; i < lines; i++, off += 35)
		memcpy(in + off, line, 35);
	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_int_equal(run_len(f, in, off), 0);
	body = f->out + strlen("Subject: big\n" ADDED("alice@host.example.org") "\n");
	assert_int_equal(f->outlen - (size_t)(body - f->out), lines * 34);
	for (i = 0; i < lines; i++)
		assert_memory_equal(body + i * 34, "0123456789 the quick brown fox \xc3\xa9\n", 34);
	assert_int_equal(f->env.body_8bit, 1);
	assert_int_equal(f->env.wire_size, f->outlen + lines + 4 + 1);
	free(in);
}

/* Is the .tmp spool file in dir locked by someone else?  1, 0, or -1 when there is none. */
static int
tmp_locked(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);
	int fd, rc = -1;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n < 4 || strcmp(de->d_name + n - 4, ".tmp") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((fd = open(path, O_RDONLY)) == -1)
			break;
		rc = flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK;
		close(fd);
		break;
	}
	closedir(d);
	return rc;
}

static int locked_while_reading;

static void
check_locked(void *arg)
{
	locked_while_reading = tmp_locked(arg);
}

/* Without defer_commit: renamed into place and closed, no lock left (as before). */
static void
test_commit_unlocked(void **state)
{
	struct fixture *f = *state;
	int fd;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.on_accepted = check_locked;
	f->pol.on_accepted_arg = f->spool;
	locked_while_reading = 0;
	assert_int_equal(run(f, "Subject: x\n\nbody\n"), 0);
	assert_int_equal(locked_while_reading, 1); /* the writer's lock, while it writes */
	assert_null(f->env.spool_tmp);
	assert_int_equal(f->env.spool_fd, -1);
	fd = open(f->env.spool_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
}

/*
 * defer_commit: the spool is complete but stays .tmp, open and locked,
 * until msg_commit renames it; the lock is kept through the rename and
 * until the envelope is freed, and the descriptor reads the spool.
 */
static void
test_defer_commit(void **state)
{
	struct fixture *f = *state;
	char tmp[256], path[256], buf[512];
	int other, again;
	ssize_t n;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.defer_commit = 1;
	f->pol.on_accepted = check_locked;
	f->pol.on_accepted_arg = f->spool;
	locked_while_reading = 0;
	assert_ok_spool(f, run(f, "Subject: x\n\nbody\n"),
	    "Subject: x\n" ADDED("alice@host.example.org") "\nbody\n");
	assert_int_equal(locked_while_reading, 1);
	assert_non_null(f->env.spool_tmp);
	assert_non_null(f->env.spool_path);
	assert_true(f->env.spool_fd >= 0);
	strlcpy(tmp, f->env.spool_tmp, sizeof(tmp));
	strlcpy(path, f->env.spool_path, sizeof(path));
	assert_int_equal(strcmp(tmp + strlen(tmp) - 4, ".tmp"), 0);
	assert_int_equal(strcmp(path + strlen(path) - 4, ".msg"), 0);
	assert_int_equal(strncmp(tmp, path, strlen(path) - 4), 0);
	/* Not in place yet: no .msg without its envelope. */
	assert_int_equal(access(tmp, F_OK), 0);
	assert_int_equal(access(path, F_OK), -1);
	other = open(tmp, O_RDONLY);
	assert_true(other >= 0);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);

	assert_int_equal(msg_commit(&f->env, &f->err), 0);
	assert_int_equal(f->err.cls, SX_OK);
	assert_null(f->env.spool_tmp);
	assert_string_equal(f->env.spool_path, path);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(spool_entries(f), 1);
	/* Still locked, by the same descriptor: seen through the old and a new one. */
	assert_true(f->env.spool_fd >= 0);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	again = open(path, O_RDONLY);
	assert_true(again >= 0);
	assert_int_equal(flock(again, LOCK_EX | LOCK_NB), -1);
	/* A second commit changes nothing. */
	assert_int_equal(msg_commit(&f->env, &f->err), 0);
	assert_int_equal(access(path, F_OK), 0);
	/* The descriptor reads the spool from the start. */
	assert_int_equal(lseek(f->env.spool_fd, 0, SEEK_SET), 0);
	n = read(f->env.spool_fd, buf, sizeof(buf));
	assert_int_equal(n, (ssize_t)f->rawlen);
	/* The same bytes up to the Message-ID's random part (masked in f->out). */
	assert_memory_equal(buf, f->out, (size_t)(strstr(f->out, "Message-ID: <") - f->out) + 13);
	/* Freeing the envelope releases the lock and keeps the file. */
	msg_envelope_free(&f->env);
	assert_int_equal(flock(again, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(access(path, F_OK), 0);
	close(again);
	close(other);
	assert_int_equal(unlink(path), 0);
}

/* A commit that fails removes the spool and releases the lock. */
static void
test_defer_commit_failure(void **state)
{
	struct fixture *f = *state;
	char tmp[256], path[256], want[512];
	int other;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	f->pol.defer_commit = 1;
	assert_int_equal(run(f, "Subject: x\n\nbody\n"), 0);
	strlcpy(tmp, f->env.spool_tmp, sizeof(tmp));
	strlcpy(path, f->env.spool_path, sizeof(path));
	other = open(tmp, O_RDONLY);
	assert_true(other >= 0);
	/* The final name is taken by a directory: the rename fails. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(msg_commit(&f->env, &f->err), -1);
	assert_int_equal(f->err.cls, SX_LOCALIO);
	assert_int_equal(f->err.stage, STAGE_INTAKE);
	snprintf(want, sizeof(want), "cannot rename spool file %s: Is a directory", tmp);
	assert_string_equal(f->err.detail, want);
	assert_null(f->env.spool_path);
	assert_null(f->env.spool_tmp);
	assert_int_equal(f->env.spool_fd, -1);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(spool_entries(f), 0);
	/* Nothing to commit then. */
	sx_clear(&f->err);
	assert_int_equal(msg_commit(&f->env, &f->err), -1);
	assert_int_equal(f->err.cls, SX_INTERNAL);
}

/* Refused but kept, with defer_commit: left uncommitted like an accepted message. */
static void
test_defer_commit_kept(void **state)
{
	struct fixture *f = *state;
	static const char nul[] = "Subject: x\n\na\0b\n";
	char want[512];

	f->pol.defer_commit = 1;
	set_rcpts(f, "root", NULL, NULL);
	assert_int_equal(run(f, "Subject: x\n\nbody\n"), -1);
	assert_int_equal(f->err.cls, SX_CONFIG);
	snprintf(
	    want, sizeof(want), "recipient 'root' has no domain; kept in %s", f->env.spool_path);
	assert_string_equal(f->err.detail, want);
	assert_non_null(f->env.spool_tmp);
	assert_true(f->env.spool_fd >= 0);
	assert_int_equal(access(f->env.spool_path, F_OK), -1);
	assert_string_equal(f->env.rcpts[0], "root");
	assert_int_equal(msg_commit(&f->env, &f->err), 0);
	assert_int_equal(access(f->env.spool_path, F_OK), 0);

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_int_equal(run_len(f, nul, sizeof(nul) - 1), -1);
	assert_int_equal(f->err.cls, SX_DATA);
	assert_non_null(f->env.spool_tmp);
	assert_int_equal(tmp_locked(f->spool), 1);
	assert_int_equal(msg_commit(&f->env, &f->err), 0);
	assert_int_equal(spool_entries(f), 1);
}

static void
test_read_error(void **state)
{
	struct fixture *f = *state;

	set_rcpts(f, "bob@example.com", NULL, NULL);
	assert_int_equal(msg_intake(-1, &f->pol, &f->env, &f->err), -1);
	assert_int_equal(f->err.cls, SX_LOCALIO);
	assert_string_equal(f->err.detail, "cannot read the message: Bad file descriptor");
	assert_int_equal(spool_entries(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_basic),
	    T(test_empty_input),
	    T(test_whole_input_is_body),
	    T(test_missing_blank_line),
	    T(test_header_forms),
	    T(test_dot_rule),
	    T(test_dot_rule_after),
	    T(test_line_endings),
	    T(test_crlf_across_reads),
	    T(test_bcc_removed),
	    T(test_t_resent),
	    T(test_t_dedupe_groups),
	    T(test_t_errors),
	    T(test_argv_recipients),
	    T(test_qualification),
	    T(test_qualification_t),
	    T(test_aliases),
	    T(test_alias_errors),
	    T(test_sender),
	    T(test_fullname),
	    T(test_from_keep),
	    T(test_from_rewrite),
	    T(test_header_qualify),
	    T(test_message_id_host),
	    T(test_nul_kept),
	    T(test_header_bound),
	    T(test_long_lines),
	    T(test_8bit_smtputf8),
	    T(test_wire_size),
	    T(test_large_body),
	    T(test_commit_unlocked),
	    T(test_defer_commit),
	    T(test_defer_commit_failure),
	    T(test_defer_commit_kept),
	    T(test_read_error),
#undef T
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
