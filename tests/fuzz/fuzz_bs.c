/*
 * fuzz_bs.c — bs_run(), the -bs server, on arbitrary caller input (from a
 * memfd), with a fake relay that accepts or refuses as byte 0 says
 * (MAIL, RCPT by the address's first letter, and the end of data).
 *
 * Checks (bs.h): every reply line is "DDD " or "DDD-" with a code from 2xx
 * to 5xx, printable text, and CRLF; the relay only ever sees envelopes
 * whose addresses pass addr_check_mailbox, RCPT, RSET and DATA only in an
 * open transaction; nothing is left in the spool
 * directory but the messages that were refused (removed here).
 */
#include "config.h"

#include <sys/mman.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg/address.h"
#include "smtp/bs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fz_dir[64];

/* Remove every file in the spool dir; *tmp counts the unfinished ones. */
static size_t
fz_empty_dir(size_t *tmp)
{
	DIR *d = opendir(fz_dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char p[sizeof(fz_dir) + 300];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", fz_dir, de->d_name);
		if (tmp != NULL && strstr(de->d_name, ".tmp") != NULL)
			(*tmp)++;
		unlink(p);
		n++;
	}
	closedir(d);
	return n;
}

static void
fz_cleanup(void)
{
	fz_empty_dir(NULL);
	rmdir(fz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(fz_dir, sizeof(fz_dir), "%s/fuzz_bs.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(fz_dir) == NULL)
		abort();
	setenv("TZ", "UTC", 1);
	atexit(fz_cleanup);
	return 0;
}

struct fz_relay {
	uint8_t mode;
	size_t refused;
	int txn;   /* the relay has a transaction open */
	int async; /* answers come at the next sync, as from a pipelined relay */
	/* Answers owed until then, in order (kind 'M', 'R', 'D'). */
	struct fz_owed {
		char kind;
		struct bs_answer *a;
		struct msg_envelope *env;
		int lost;
	} * owed;
	size_t nowed;
};

/* Owe a (async), or not: 1 when owed. */
static int
fz_owe(struct fz_relay *r, char kind, struct bs_answer *a, struct msg_envelope *env, int lost)
{
	struct fz_owed *nv;

	if (!r->async)
		return 0;
	if ((nv = realloc(r->owed, (r->nowed + 1) * sizeof(*nv))) == NULL)
		abort();
	r->owed = nv;
	nv[r->nowed].kind = kind;
	nv[r->nowed].a = a;
	nv[r->nowed].env = env;
	nv[r->nowed].lost = lost;
	r->nowed++;
	a->pending = 1;
	return 1;
}

/* MAIL as bits 5-6 of byte 0 say: accept, refuse, no relay, odd code. */
static void
fz_mail_answer(struct fz_relay *r, struct bs_answer *a)
{
	switch ((r->mode >> 5) & 3) {
	case 0:
		a->r.code = 250;
		snprintf(a->r.text, sizeof(a->r.text), "2.1.0 Ok\r\n250 evil");
		a->rc = 0;
		break;
	case 1:
		a->r.code = 553;
		snprintf(a->r.enhanced, sizeof(a->r.enhanced), "5.7.1");
		snprintf(a->r.text, sizeof(a->r.text), "5.7.1 not\r\n yours");
		a->rc = 1;
		break;
	case 2:
		sx_fail(&a->e, SX_TEMP, STAGE_CONNECT, "connection refused");
		a->rc = -1;
		break;
	default:
		a->r.code = 999;
		snprintf(a->r.text, sizeof(a->r.text), "weird");
		a->rc = 1;
		break;
	}
}

static void
fz_mail(void *arg, const struct smtp_message *m, unsigned long long *limit, struct bs_answer *a)
{
	struct fz_relay *r = arg;

	if (m->from == NULL || (m->from[0] != '\0' && addr_check_mailbox(m->from, NULL) != 0))
		abort();
	/* Synchronous, a transaction is never open here; pipelined, a refused one may be. */
	if (r->txn && !r->async)
		abort();
	*limit = r->mode & 128 ? 300 : 0;
	r->txn = ((r->mode >> 5) & 3) == 0;
	if (!fz_owe(r, 'M', a, NULL, 0))
		fz_mail_answer(r, a);
}

/* RCPT: refused when the address starts with 'r', lost with 'l'. */
static void
fz_rcpt_answer(struct bs_answer *a, const char *rcpt)
{
	if (rcpt[0] == 'r') {
		a->r.code = 550;
		snprintf(a->r.text, sizeof(a->r.text), "5.1.1 no\r\n such user");
		a->rc = 1;
	} else if (rcpt[0] == 'l') {
		sx_fail(&a->e, SX_TEMP, STAGE_RCPT, "lost");
		a->rc = -1;
	} else {
		a->r.code = 250;
		a->rc = 0;
	}
}

static void
fz_rcpt(void *arg, const char *rcpt, struct bs_answer *a)
{
	struct fz_relay *r = arg;

	if ((!r->txn && !r->async) || addr_check_mailbox(rcpt, NULL) != 0)
		abort();
	if (rcpt[0] == 'l')
		r->txn = 0;
	if (r->async) {
		/* The answer is decided now; it is only given later. */
		fz_rcpt_answer(a, rcpt);
		fz_owe(r, 'R', a, NULL, 0);
		return;
	}
	fz_rcpt_answer(a, rcpt);
}

static void
fz_rset(void *arg)
{
	struct fz_relay *r = arg;

	if (!r->txn && !r->async)
		abort();
	r->txn = 0;
}

static void
fz_close(void *arg)
{
	(void)arg;
}

static int
fz_keep(void *arg, struct msg_envelope *env, const struct sx_err *why)
{
	(void)arg;
	(void)why;
	return env->spool_path != NULL ? 0 : -1;
}

static void
fz_data_answer(struct fz_relay *r, struct msg_envelope *env, struct bs_answer *a)
{
	switch (r->mode & 3) {
	case 0:
		/* Accepted: the callback removes the spool (bs.h). */
		if (unlink(env->spool_path) == -1)
			abort();
		a->r.code = 250;
		snprintf(a->r.text, sizeof(a->r.text), "2.0.0 Ok: queued as X");
		a->rc = 0;
		break;
	case 1:
		r->refused++;
		sx_fail(&a->e, SX_NOUSER, STAGE_RCPT, "refused");
		sx_set_reply(&a->e, 550, "5.1.1", "5.1.1 no\r\n such user");
		a->rc = -1;
		break;
	case 2:
		r->refused++;
		sx_fail(&a->e, SX_TEMP, STAGE_DATA, "connection lost");
		a->rc = -1;
		break;
	default:
		r->refused++;
		sx_fail(&a->e, SX_PERM, STAGE_EOM, "refused");
		sx_set_reply(&a->e, 999, NULL, "weird");
		a->rc = -1;
		break;
	}
}

static void
fz_data(void *arg, struct msg_envelope *env, const struct sx_err *cause, struct bs_answer *a)
{
	struct fz_relay *r = arg;
	size_t i;

	if (env->from == NULL || env->nrcpts == 0 || env->spool_path == NULL)
		abort();
	if (env->from[0] != '\0' && addr_check_mailbox(env->from, NULL) != 0)
		abort();
	for (i = 0; i < env->nrcpts; i++)
		if (addr_check_mailbox(env->rcpts[i], NULL) != 0)
			abort();
	if (cause != NULL) {
		r->refused++;
		a->e = *cause;
		a->rc = -1;
		return;
	}
	if (!r->txn && !r->async)
		abort();
	r->txn = 0;
	if (!fz_owe(r, 'D', a, env, 0))
		fz_data_answer(r, env, a);
}

/* Every owed answer, in order. */
static void
fz_sync(void *arg)
{
	struct fz_relay *r = arg;
	size_t i;

	for (i = 0; i < r->nowed; i++) {
		struct fz_owed *o = &r->owed[i];

		o->a->pending = 0;
		if (o->kind == 'M')
			fz_mail_answer(r, o->a);
		else if (o->kind == 'D')
			fz_data_answer(r, o->env, o->a);
	}
	r->nowed = 0;
}

/* Every line: a code 2xx-5xx, '-' or ' ', printable text, CRLF. */
static void
fz_check_output(const char *out, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(out + i, '\n', len - i);
		size_t l, k;

		if (nl == NULL)
			abort();
		l = (size_t)(nl - (out + i));
		if (l < 5 || out[i + l - 1] != '\r')
			abort();
		if (out[i] < '2' || out[i] > '5' || out[i + 1] < '0' || out[i + 1] > '9' ||
		    out[i + 2] < '0' || out[i + 2] > '9' ||
		    (out[i + 3] != ' ' && out[i + 3] != '-'))
			abort();
		for (k = 4; k < l - 1; k++)
			if ((unsigned char)out[i + k] < 0x20 || (unsigned char)out[i + k] > 0x7e)
				abort();
		i += l + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_policy pol;
	struct bs_relay relay;
	struct fz_relay fr;
	struct sx_err e;
	char *out = NULL;
	size_t outlen = 0, left, tmp = 0;
	FILE *fp;
	int fd, rc;

	if (size < 1)
		return 0;
	memset(&fr, 0, sizeof(fr));
	fr.mode = data[0];
	fr.async = size % 2;
	fd = memfd_create("fuzz_bs", MFD_CLOEXEC);
	if (fd == -1 || (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	memset(&pol, 0, sizeof(pol));
	pol.hostname = "host.example.org";
	pol.local_user = "fuzz";
	pol.default_domain = "example.org";
	pol.spool_dir = fz_dir;
	pol.now = 1700000000;
	pol.max_header_bytes = 64 * 1024;
	pol.envelope_from = data[0] & 4 ? "sender@example.org" : NULL;
	memset(&relay, 0, sizeof(relay));
	relay.mail = fz_mail;
	relay.rcpt = fz_rcpt;
	relay.data = fz_data;
	relay.sync = fz_sync;
	relay.rset = fz_rset;
	relay.keep = fz_keep;
	relay.close = fz_close;
	relay.arg = &fr;
	relay.pol = &pol;
	relay.hostname = data[0] & 8 ? "host\r\n250 evil" : "host.example.org";
	relay.max_size = data[0] & 16 ? 200 : 0;
	relay.idle_ms = 1000;
	if ((fp = open_memstream(&out, &outlen)) == NULL)
		abort();
	sx_clear(&e);
	rc = bs_run(fd, fp, &relay, &e);
	fclose(fp);
	close(fd);
	if (fr.nowed != 0)
		abort();
	free(fr.owed);
	if ((rc != 0 && rc != -1) || (rc == -1 && e.cls == SX_OK))
		abort();
	fz_check_output(out, outlen);
	free(out);
	/*
	 * What the relay refused is kept (and what the intake refused with a
	 * NUL byte); the raw data file never outlives its message.
	 */
	left = fz_empty_dir(&tmp);
	if (tmp != 0 || left < fr.refused)
		abort();
	return 0;
}
