/*
 * client.c — the step-by-step client (smtp.h): the same state and checks
 * as smtp_session, driven one command at a time by a caller that speaks
 * SMTP itself (-bs), so the relay's verdict on each command reaches it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/session.h"

/*
 * The step-by-step client (smtp.h): the same state and checks as
 * smtp_session, driven one command at a time by a caller that speaks SMTP
 * itself (-bs), so the relay's verdict on each command reaches it.
 */
struct smtp_client {
	struct smtp_session_state s;
	struct smtp_message m; /* the current transaction */
	char *rcpt_one[1];
	int in_transaction;
};

static int
smtp_client_fail_reply(struct smtp_client *cl, const struct smtp_reply *r, const char *what)
{
	return smtp_refused(&cl->s, r, SX_PERM, what);
}

struct smtp_client *
smtp_client_open(
    struct conn *c, const struct smtp_params *p, struct smtp_result *res, struct sx_err *e)
{
	struct smtp_client *cl;

	memset(res, 0, sizeof(*res));
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		sx_fail(e, SX_INTERNAL, STAGE_CONNECT, "out of memory");
		return NULL;
	}
	cl->s.c = c;
	cl->s.p = p;
	cl->s.r = res;
	cl->s.e = e;
	cl->s.diag = conn_diag(c);
	if (smtp_open(&cl->s) == -1) {
		if (cl->s.greeted)
			smtp_quit(&cl->s, 0);
		free(cl);
		return NULL;
	}
	return cl;
}

int
smtp_client_usable(const struct smtp_client *cl)
{
	return conn_is_open(cl->s.c) && !cl->s.in_data && !cl->s.quit_sent;
}

/* One command in lockstep; the reply goes to *r.  0, or -1 (e filled). */
static int
smtp_client_step(struct smtp_client *cl, struct smtp_reply *r, struct sx_err *e)
{
	cl->s.e = e;
	if (conn_flush(cl->s.c, cl->s.stage, e) == -1 || smtp_reply(&cl->s, r) == -1)
		return -1;
	return 0;
}

int
smtp_client_mail(
    struct smtp_client *cl, const struct smtp_message *m, struct smtp_reply *r, struct sx_err *e)
{
	memset(r, 0, sizeof(*r));
	cl->s.e = e;
	cl->m = *m;
	cl->m.nrcpts = 1; /* checks below look at the flags and size only */
	cl->s.m = &cl->m;
	if (smtp_check_message(&cl->s) == -1 || smtp_queue_mail(&cl->s) == -1 ||
	    smtp_client_step(cl, r, e) == -1)
		return -1;
	if (r->code != 250)
		return smtp_client_fail_reply(cl, r, "sender");
	cl->in_transaction = 1;
	return 0;
}

int
smtp_client_rcpt(struct smtp_client *cl, const char *rcpt, struct smtp_reply *r, struct sx_err *e)
{
	memset(r, 0, sizeof(*r));
	cl->s.e = e;
	cl->rcpt_one[0] = (char *)(uintptr_t)rcpt;
	cl->m.rcpts = cl->rcpt_one;
	cl->m.nrcpts = 1;
	if (smtp_queue_rcpt(&cl->s, 0) == -1 || smtp_client_step(cl, r, e) == -1)
		return -1;
	if (r->code != 250 && r->code != 251)
		return smtp_client_fail_reply(cl, r, "recipient");
	return 0;
}

int
smtp_client_data(struct smtp_client *cl, int body_fd, struct smtp_reply *final, struct sx_err *e)
{
	struct smtp_reply r;

	memset(final, 0, sizeof(*final));
	cl->s.e = e;
	cl->m.body_fd = body_fd;
	cl->s.stage = STAGE_DATA;
	if (smtp_queue_data(&cl->s) == -1 || smtp_client_step(cl, &r, e) == -1)
		return -1;
	if (r.code != 354) {
		*final = r;
		return smtp_client_fail_reply(cl, &r, "DATA");
	}
	cl->s.in_data = 1;
	cl->in_transaction = 0;
	if (smtp_send_body(&cl->s) == -1)
		return -1;
	if (smtp_final_reply(&cl->s) == -1) {
		*final = cl->s.r->final;
		return -1;
	}
	*final = cl->s.r->final;
	return 0;
}

int
smtp_client_rset(struct smtp_client *cl, struct sx_err *e)
{
	struct smtp_reply r;

	cl->s.e = e;
	cl->in_transaction = 0;
	cl->s.stage = STAGE_MAIL;
	if (smtp_cmd(cl->s.c, cl->s.stage, 0, e, "RSET") == -1 || smtp_client_step(cl, &r, e) == -1)
		return -1;
	if (r.code != 250)
		return smtp_client_fail_reply(cl, &r, "RSET");
	return 0;
}

void
smtp_client_close(struct smtp_client *cl, int ok)
{
	struct sx_err ignored;

	if (cl == NULL)
		return;
	sx_clear(&ignored);
	cl->s.e = &ignored;
	smtp_quit(&cl->s, ok);
	free(cl);
}
