/*
 * session.c — one session from start to end for one message (or --check),
 * and how its steps read replies and record refusals (see smtp.h,
 * session.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

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
	if (smtp_check_message(&s) == -1)
		goto out;
	res->rcpt = calloc(m->nrcpts, sizeof(*res->rcpt));
	if (res->rcpt == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_MAIL, "out of memory");
		goto out;
	}
	if ((res->caps.chunking ? smtp_transaction_bdat(&s) : smtp_transaction_data(&s)) == -1)
		goto out;
	rc = 0;
out:
	if (s.greeted)
		smtp_quit(&s, rc == 0);
	return rc;
}

void
smtp_result_free(struct smtp_result *r)
{
	free(r->rcpt);
	r->rcpt = NULL;
}
