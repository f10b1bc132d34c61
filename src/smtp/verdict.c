/*
 * verdict.c — what the server's replies make of a message's
 * transaction: each reply taken in order (smtp_txn_reply), refusals
 * classified with the hint that points the right way (authentication,
 * relay access, a provider's quota), the recipients judged once all are
 * in, a lost session or a stalled transfer named by how far the message
 * got, and the outcome settled once nothing of the message is awaited.
 * mail.c sends; this file decides.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/diag.h"
#include "smtp/session.h"

#define SMTP_HINT_QUOTA                                                                            \
	"the provider's sending quota for this account is used up: the message stays queued and "  \
	"is retried after a back-off; set rate to stay under the quota"

/*
 * A refusal of one of the message's commands: 4xx temporary, 5xx
 * permanent (or the given class); a 2xx or 3xx where it makes no sense is
 * a protocol error, after which the replies cannot be trusted to match
 * their commands.  A 421 is the server closing the session.
 */
static int
smtp_txn_refused(struct smtp_session_state *s, struct smtp_txn *t, const struct smtp_reply *r,
    enum sx_class perm, enum sx_stage st, const char *what)
{
	enum sx_class cls = r->code >= 500 ? perm : r->code >= 400 ? SX_TEMP : SX_PROTO;
	const char *kind = r->code >= 400 ? "refused" : "unexpected reply to";
	int quota = smtp_quota_refusal(r->code, r->enhanced, r->text);

	if (quota)
		cls = SX_TEMP;
	if (cls == SX_PROTO)
		s->desync = 1;
	if (r->code == 421)
		s->closing = 1;
	t->failed = 1;
	sx_fail_reply(
	    t->e, cls, st, r->code, r->enhanced, r->text, "%s %s (%d)", kind, what, r->code);
	if (quota)
		sx_hint(t->e, SMTP_HINT_QUOTA);
	return -1;
}

/*
 * A refusal saying the server relays only for clients that authenticated,
 * while it offered AUTH and no user is set: the account lacks its login
 * (Postfix "Relay access denied", sendmail "Relaying denied", Exim "relay
 * not permitted").
 */
static int
smtp_relay_denied(
    const struct smtp_session_state *s, const struct smtp_txn *t, int code, const char *text)
{
	static const char *const says[] = {"relay access denied", "relaying denied",
	    "relay not permitted", "relaying not allowed", "not permitted to relay"};
	size_t i;

	if ((code != 550 && code != 554) || t->p.user != NULL || !s->r->caps.auth)
		return 0;
	for (i = 0; i < sizeof(says) / sizeof(says[0]); i++)
		if (strcasestr(text, says[i]) != NULL)
			return 1;
	return 0;
}

#define SMTP_HINT_RELAY                                                                            \
	"the server relays only for authenticated users and offers AUTH, but no user is set: "     \
	"set user and a password"

static int
smtp_mail_reply(struct smtp_session_state *s, struct smtp_txn *t, const struct smtp_reply *r)
{
	diag_stage(s->diag, STAGE_MAIL, "<%s>: %d %.200s", t->m->from, r->code, r->text);
	if (r->code == 250)
		return 0;
	smtp_txn_refused(s, t, r, SX_PERM, STAGE_MAIL, "sender");
	if (smtp_relay_denied(s, t, r->code, r->text))
		sx_hint(t->e, SMTP_HINT_RELAY);
	else if (r->code == 530)
		sx_hint(t->e, "the server requires authentication: set user and a password");
	else if (r->code == 550 || r->code == 553 || r->code == 554)
		sx_hint(t->e,
		    "sender <%s> not allowed for this account: set from to the account's "
		    "address",
		    t->m->from);
	return -1;
}

/*
 * "Too many recipients" (RFC 5321 4.5.3.1.10): 452, or the 552 of RFC 821
 * that RFC 5321 asks clients to treat as temporary, when it says so (the
 * enhanced code X.5.3 of RFC 3463, or the words); a bare 552 is a
 * permanent refusal.
 */
static int
smtp_too_many(const struct smtp_reply *r)
{
	if (r->code == 452)
		return 1;
	return r->code == 552 && (strcmp(r->enhanced, "5.5.3") == 0 ||
				     strcasestr(r->text, "too many recipients") != NULL);
}

/*
 * Note one recipient's reply; refusals are judged once all are in.
 *
 * A "too many recipients" reply after this transaction accepted at least
 * one recipient is the server's limit per transaction (RFC 5321
 * 4.5.3.1.8): that recipient goes in a further transaction, not in the
 * refusals.  Any 452 counts, whatever its text or enhanced code: 452 is
 * the code RFC 5321 gives that condition, and servers word it in many
 * ways (Postfix "4.5.3 Error: too many recipients", others with no
 * enhanced code at all).  A 452 meant otherwise (4.3.1, storage) costs one
 * more transaction, which accepts none and so ends as the temporary
 * failure it would have been.  Before any acceptance it cannot be a limit
 * (a limit lets at least one through): an ordinary temporary refusal.
 */
static void
smtp_rcpt_reply(
    struct smtp_session_state *s, struct smtp_txn *t, size_t i, const struct smtp_reply *r)
{
	t->r->rcpt[i].code = r->code;
	sx_sanitize(
	    t->r->rcpt[i].text, sizeof(t->r->rcpt[i].text), r->text, strcspn(r->text, "\n"), 0);
	diag_stage(s->diag, STAGE_RCPT, "<%s>: %d %.200s", t->m->rcpts[i], r->code, r->text);
	if (r->code == 250 || r->code == 251) {
		t->accepted++;
		return;
	}
	if (t->accepted > 0 && smtp_too_many(r)) {
		t->later[t->nlater++] = i;
		return;
	}
	if ((r->code >= 400 && r->code < 500) || smtp_too_many(r) ||
	    smtp_quota_refusal(r->code, r->enhanced, r->text))
		t->ntemp++;
	sx_fail_reply(&t->first_refusal, SX_PERM, STAGE_RCPT, r->code, r->enhanced, r->text,
	    "recipient <%s> refused (%d)", t->m->rcpts[i], r->code);
}

/*
 * Once every RCPT reply is in: may the transaction go on?  Recipients over
 * the server's limit are no refusal: they go in the next transaction.
 */
static int
smtp_rcpt_verdict(struct smtp_session_state *s, struct smtp_txn *t)
{
	size_t n = t->nbatch, refused = n - t->accepted - t->nlater;
	char detail[SX_DETAIL_MAX];
	enum sx_class cls;

	if (t->nlater > 0)
		diag_stage(s->diag, STAGE_RCPT,
		    "too many recipients for the server: %zu accepted in this transaction, %zu "
		    "left for the next",
		    t->accepted, t->ntodo - t->nbatch + t->nlater);
	if (refused == 0)
		return 0;
	if (t->accepted > 0 && t->p.allow_partial) {
		diag_stage(s->diag, STAGE_RCPT,
		    "%zu of %zu recipients refused; sending to the others (allow_partial)", refused,
		    n);
		return 0;
	}
	/* Anything temporary: try again later; all permanent: the recipients are bad. */
	cls = t->ntemp > 0 ? SX_TEMP : t->accepted == 0 ? SX_NOUSER : SX_PERM;
	if (t->accepted > 0)
		/*
		 * A first BDAT chunk may have gone with the envelope: the data is
		 * then sent but never committed (no LAST), which RSET or QUIT
		 * discards.
		 */
		snprintf(detail, sizeof(detail),
		    "%zu of %zu recipients refused (first: %.300s); nothing %s", refused, n,
		    t->first_refusal.detail,
		    t->data_flowing           ? "was delivered (the data sent was not committed)"
		    : t->r->ntransactions > 0 ? "more was sent"
					      : "was sent");
	else if (n > 1)
		snprintf(detail, sizeof(detail), "all %zu recipients refused (first: %.300s)", n,
		    t->first_refusal.detail);
	else
		strlcpy(detail, t->first_refusal.detail, sizeof(detail));
	t->failed = 1;
	sx_fail_reply(t->e, cls, STAGE_RCPT, t->first_refusal.reply_code, t->first_refusal.enhanced,
	    t->first_refusal.reply, "%s", detail);
	if (smtp_quota_refusal(
		t->first_refusal.reply_code, t->first_refusal.enhanced, t->first_refusal.reply))
		sx_hint(t->e, SMTP_HINT_QUOTA);
	else if (smtp_relay_denied(s, t, t->first_refusal.reply_code, t->first_refusal.reply))
		sx_hint(t->e, SMTP_HINT_RELAY);
	else if (t->accepted > 0)
		sx_hint(t->e, "fix or remove the refused recipient, or set allow_partial on");
	return -1;
}

/*
 * The server took the data of a transaction whose MAIL it refused: it
 * must have added our recipients to a failed transaction it still held
 * open (a pipelined MAIL after a message it refused).  Those recipients
 * have the message (under the other message's sender): counted as
 * delivered, so that no retry sends them a second copy.
 */
static void
smtp_txn_stale(struct smtp_session_state *s, struct smtp_txn *t, const struct smtp_reply *r)
{
	size_t k;

	t->r->final = *r;
	for (k = 0; k < t->nbatch; k++) {
		struct smtp_rcpt_result *rr = &t->r->rcpt[t->todo[k]];

		if ((rr->code == 250 || rr->code == 251) && !rr->delivered) {
			rr->delivered = 1;
			t->r->ndelivered++;
		}
	}
	diag_stage(s->diag, STAGE_EOM,
	    "the server accepted the data although it refused MAIL (%d %.200s): %zu "
	    "recipient(s) have the message",
	    r->code, r->text, t->r->ndelivered);
}

/* The verdict on the message's data (the queue id), or its refusal. */
static void
smtp_txn_final(struct smtp_session_state *s, struct smtp_txn *t, const struct smtp_reply *r)
{
	t->eom = r->code;
	if (t->failed) {
		if (t->mail == -1 && r->code == 250)
			smtp_txn_stale(s, t, r);
		return;
	}
	s->stage = STAGE_EOM;
	t->r->final = *r;
	if (r->code != 250) {
		diag_stage(s->diag, STAGE_EOM, "%d %.300s", r->code, r->text);
		smtp_txn_refused(s, t, r, SX_PERM, STAGE_EOM, "the message");
		return;
	}
	diag_stage(s->diag, STAGE_EOM, "%d %.300s (%llu bytes sent)", r->code, r->text,
	    t->r->body_bytes - t->txn_bytes);
}

void
smtp_txn_reply(struct smtp_session_state *s, const struct smtp_wait *w, const struct smtp_reply *r)
{
	struct smtp_txn *t = w->t;

	switch (w->kind) {
	case SMTP_WAIT_MAIL:
		s->stage = STAGE_MAIL;
		t->mail = smtp_mail_reply(s, t, r) == 0 ? 1 : -1;
		break;
	case SMTP_WAIT_RCPT:
		s->stage = STAGE_RCPT;
		t->rcpt_wait--;
		t->rcpt_done++;
		/* Pipelined after a refused MAIL, every RCPT still has its reply. */
		if (t->mail == 1)
			smtp_rcpt_reply(s, t, w->idx, r);
		else
			t->r->rcpt[w->idx].code = r->code;
		if (t->rcpt_done == t->nbatch && t->mail == 1 && !t->failed)
			smtp_rcpt_verdict(s, t);
		break;
	case SMTP_WAIT_DATA:
		t->data = r->code;
		diag_stage(s->diag, STAGE_DATA, "%d %.200s", r->code, r->text);
		if (r->code != 354 && !t->failed)
			smtp_txn_refused(s, t, r, SX_PERM, STAGE_DATA, "DATA");
		break;
	case SMTP_WAIT_CHUNK:
		t->chunks_out--;
		if (r->code != 250 && !t->failed)
			smtp_txn_refused(s, t, r, SX_PERM, STAGE_BODY, "a message chunk");
		break;
	case SMTP_WAIT_EOM:
		smtp_txn_final(s, t, r);
		break;
	default:
		break;
	}
	/* The server is closing: whatever this message still awaits will not come. */
	if (r->code == 421)
		s->closing = 1;
}

/*
 * Is the message still on its way while kind's reply is awaited?  Its
 * bytes are still being written, or a reply that comes before its verdict
 * is awaited (a pipelined MAIL's with the first chunk behind it, a
 * chunk's).
 */
static int
smtp_data_stalled(
    const struct smtp_session_state *s, const struct smtp_txn *t, enum smtp_wait_kind kind)
{
	if (!t->data_flowing)
		return 0;
	return kind != SMTP_WAIT_EOM || t->data_end == 0 || s->c->bytes_written < t->data_end;
}

/*
 * A step of the message failed into le (at stage st, awaiting kind's
 * reply).  A time-out while the message is on its way -- a write that
 * cannot progress, or a reply that does not come while its data is still
 * being written -- is reported at the data stage with how far the
 * message got, whatever command's reply was awaited.  Anything else is
 * recorded as it is.  Always -1.
 */
int
smtp_data_failed(struct smtp_session_state *s, struct smtp_txn *t, const struct sx_err *le,
    enum sx_stage st, enum smtp_wait_kind kind)
{
	unsigned long long sent = 0;

	if (le->sys_errno != ETIMEDOUT || !smtp_data_stalled(s, t, kind))
		return sx_adopt(t->e, le, st);
	if (s->c->bytes_written > t->data_mark)
		sent = s->c->bytes_written - t->data_mark;
	sx_fail_errno(t->e, SX_TEMP, STAGE_DATA, ETIMEDOUT,
	    "no answer from the server within %d s while sending the message (%llu of %llu "
	    "bytes written)",
	    s->c->timeout_ms / 1000, sent, t->m->size);
	sx_hint(t->e, "the server or the network stalled the transfer; if only large messages "
		      "stall, suspect a proxy or a path that drops large packets (MTU)");
	return -1;
}

/* The session was lost while this command of the message awaited its reply. */
void
smtp_txn_lost(struct smtp_session_state *s, struct smtp_txn *t, enum sx_stage st,
    enum smtp_wait_kind kind, const struct sx_err *cause)
{
	struct sx_err here = *cause;

	/* Named by the command of this message that got no reply. */
	here.stage = st;
	t->failed = 1;
	if (smtp_data_failed(s, t, &here, st, kind) == -1 && kind == SMTP_WAIT_EOM &&
	    cause->sys_errno == ETIMEDOUT && t->e->stage == STAGE_EOM)
		sx_hint(t->e, "the server did not confirm the message; it may or may not "
			      "have been accepted");
}

void
smtp_txn_settle(struct smtp_session_state *s, struct smtp_txn *t)
{
	if (t->done || t->more || t->sending || t->nout > 0)
		return;
	if (!t->failed && t->eom == 250) {
		if (smtp_transaction_end(t) > 0) {
			t->more = 1;
			return;
		}
		t->rc = 0;
	} else {
		if (!t->failed) {
			t->failed = 1;
			sx_fail(t->e, SX_INTERNAL, STAGE_EOM, "the message got no verdict");
		}
		/*
		 * Its MAIL was accepted and nothing ended the transaction (no
		 * verdict on its data; or a failed BDAT, after which RFC 3030
		 * leaves the server's state open): abandoned, with RSET before
		 * another transaction.  A session that ends sends QUIT instead.
		 */
		if (t->mail == 1 && (t->eom == 0 || t->bdat))
			s->dirty = 1;
		t->rc = -1;
	}
	t->done = 1;
	smtp_session_done(s, t);
}
