/*
 * session.c — one session from start to end for one message (or --check),
 * and how its steps read replies and record refusals (see smtp.h,
 * session.h).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/session.h"

/*
 * Record a refusal: 4xx temporary, 5xx permanent (or the given class); a
 * 2xx or 3xx where it makes no sense is a protocol error, after which the
 * replies to a pipelined flight cannot be trusted to match their commands.
 */
int
smtp_refused(
    struct smtp_session_state *s, const struct smtp_reply *r, enum sx_class perm, const char *what)
{
	enum sx_class cls = r->code >= 500 ? perm : r->code >= 400 ? SX_TEMP : SX_PROTO;
	const char *kind = r->code >= 400 ? "refused" : "unexpected reply to";

	if (cls == SX_PROTO)
		s->desync = 1;
	return sx_fail_reply(
	    s->e, cls, s->stage, r->code, r->enhanced, r->text, "%s %s (%d)", kind, what, r->code);
}

/*
 * Read the next reply.  One that cannot be read as a reply also puts the
 * replies out of step, whatever failed before it (the error keeps the
 * first cause).
 */
int
smtp_reply(struct smtp_session_state *s, struct smtp_reply *r)
{
	struct sx_err re;

	sx_clear(&re);
	if (smtp_read_reply(s->c, s->stage, r, &re) == 0)
		return 0;
	if (re.cls == SX_PROTO)
		s->desync = 1;
	return sx_adopt(s->e, &re, s->stage);
}

/*
 * The mail transactions of one message: one, or more when the server
 * limits recipients per transaction, each with the recipients the
 * previous one could not take; the body is read again for each.
 */
static int
smtp_transactions(struct smtp_session_state *s)
{
	off_t start;
	int err;

	if (smtp_recipients_init(s) == -1)
		return -1;
	start = lseek(s->m->body_fd, 0, SEEK_CUR);
	err = errno;
	for (;;) {
		smtp_transaction_begin(s);
		if ((s->r->caps.chunking ? smtp_transaction_bdat(s) : smtp_transaction_data(s)) ==
		    -1)
			return -1;
		if (smtp_transaction_end(s) == 0)
			return 0;
		if (start != -1 && lseek(s->m->body_fd, start, SEEK_SET) != -1)
			continue;
		if (start != -1)
			err = errno;
		return sx_fail_errno(s->e, SX_LOCALIO, STAGE_BODY, err,
		    "the message cannot be read again for the next transaction: %s", strerror(err));
	}
}

int
smtp_session(struct conn *c, const struct smtp_params *p, const struct smtp_message *m,
    struct smtp_result *res, struct sx_err *e)
{
	struct smtp_session_state s;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&s, 0, sizeof(s));
	s.c = c;
	s.p = p;
	s.m = m;
	s.r = res;
	s.e = e;
	s.diag = conn_diag(c);
	if (smtp_open(&s) == -1)
		goto out;
	if (p->check_only || m == NULL) {
		rc = 0;
		goto out;
	}
	if (m->nrcpts == 0) {
		sx_fail(e, SX_USAGE, STAGE_RCPT, "no recipients");
		goto out;
	}
	if (smtp_check_message(&s) == -1 || smtp_transactions(&s) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		c->failed = 1;
	if (s.greeted)
		smtp_quit(&s, rc == 0);
	smtp_recipients_free(&s);
	return rc;
}

void
smtp_result_free(struct smtp_result *r)
{
	free(r->rcpt);
	r->rcpt = NULL;
}
