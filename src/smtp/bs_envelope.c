/*
 * bs_envelope.c — MAIL and RCPT of "-bs" (see bs.h): the envelope of a
 * transaction, checked here and forwarded to the relay as it comes, so the
 * caller gets the relay's own reply.  An unqualified address is resolved
 * as the intake would resolve it, so the relay sees the addresses the
 * message goes to.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg/address.h"
#include "msg/aliases.h"
#include "msg/qualify.h"
#include "smtp/bs_int.h"

static int bs_path(struct bs_session *, char *, int, char **, char **);

/*
 * The path after "FROM:" or "TO:": <mailbox>, <> (empty: *addr is ""), a
 * source route "<@a,@b:mailbox>" (dropped, RFC 5321 4.1.1.3), or a bare
 * mailbox, which lenient servers take too.  The mailbox is only cut out
 * here; the caller checks it.  *params: the rest after one or more spaces.
 * 0, or -1 after a 501 reply.
 */
static int
bs_path(struct bs_session *s, char *p, int rcpt, char **addr, char **params)
{
	const char *enh = rcpt ? "5.1.3" : "5.1.7";
	char *end, *colon;
	int quoted = 0;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		for (end = ++p; *end != '\0'; end++) {
			if (quoted && *end == '\\' && end[1] != '\0')
				end++;
			else if (*end == '"')
				quoted = !quoted;
			else if (!quoted && *end == '>')
				break;
		}
		if (*end != '>') {
			bs_reply(s, 501, enh, "syntax: missing '>' in the address");
			return -1;
		}
		*end++ = '\0';
		if (*p == '@') {
			if ((colon = strchr(p, ':')) == NULL) {
				bs_reply(s, 501, enh, "syntax: bad source route");
				return -1;
			}
			p = colon + 1;
		}
	} else {
		end = p + strcspn(p, " ");
		if (*end != '\0')
			*end++ = '\0';
	}
	if (*end != '\0' && *end != ' ') {
		bs_reply(s, 501, enh, "syntax: text after the address");
		return -1;
	}
	while (*end == ' ')
		end++;
	*addr = p;
	*params = end;
	return 0;
}

/* MAIL FROM:<path> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8] */
int
bs_mail(struct bs_session *s, char *args)
{
	char *addr, *params, *kw, *val;
	unsigned long long size = 0, limit = 0;
	int utf8 = 0, body8 = 0, unq = 0;
	char *q;
	struct smtp_message m;
	struct bs_slot *sl;
	const char *ef = s->relay->pol->envelope_from;

	if (s->have_mail) {
		bs_reply(s, 503, "5.5.1", "nested MAIL command");
		return -1;
	}
	if (strncasecmp(args, "FROM:", 5) != 0) {
		bs_reply(s, 501, "5.5.4", "syntax: MAIL FROM:<address>");
		return -1;
	}
	if (bs_path(s, args + 5, 0, &addr, &params) == -1)
		return -1;
	while ((kw = strsep(&params, " ")) != NULL) {
		if (*kw == '\0')
			continue;
		if ((val = strchr(kw, '=')) != NULL)
			*val++ = '\0';
		if (strcasecmp(kw, "SIZE") == 0 && val != NULL) {
			size_t i, n = strlen(val);

			if (n == 0 || n > 20 || strspn(val, "0123456789") != n) {
				bs_reply(s, 501, "5.5.4", "syntax: SIZE=number");
				return -1;
			}
			for (size = 0, i = 0; i < n && size <= s->max_size; i++) {
				if (size > (ULLONG_MAX - 9) / 10) {
					size = ULLONG_MAX;
					break;
				}
				size = size * 10 + (unsigned)(val[i] - '0');
			}
			if (size > s->max_size) {
				bs_reply(s, 552, "5.3.4", "message size exceeds the limit of %llu",
				    s->max_size);
				return -1;
			}
		} else if (strcasecmp(kw, "BODY") == 0 && val != NULL) {
			/* Passed on; the intake looks at the bytes themselves. */
			if (strcasecmp(val, "7BIT") != 0 && strcasecmp(val, "8BITMIME") != 0) {
				bs_reply(s, 501, "5.5.4", "syntax: BODY=7BIT or BODY=8BITMIME");
				return -1;
			}
			body8 = strcasecmp(val, "8BITMIME") == 0;
		} else if (strcasecmp(kw, "SMTPUTF8") == 0 && val == NULL) {
			utf8 = 1;
		} else {
			bs_reply(s, 555, "5.5.4", "unsupported MAIL parameter");
			return -1;
		}
	}
	if (*addr != '\0' && (unq = addr_check_mailbox(addr, NULL)) == -1) {
		bs_reply(s, 501, "5.1.7", "bad sender address syntax");
		return -1;
	}
	if (!utf8 && !addr_is_ascii(addr)) {
		bs_reply(s, 553, "5.6.7", "a non-ASCII address needs MAIL FROM:<...> SMTPUTF8");
		return -1;
	}
	/* The relay sees MAIL FROM now: an unqualified name is qualified here. */
	if (unq == 1 && ef == NULL) {
		const struct msg_policy *p = s->relay->pol;
		struct qualify qf;
		const char *dom;

		/* As the intake qualifies a sender (qualify.h); admin_address is for recipients. */
		qualify_init(&qf, NULL, p->default_domain, p->account_from, p->account_user, NULL);
		dom = qualify_sender_domain(&qf, p->hostname);
		q = NULL;
		if (dom == NULL)
			bs_reply(
			    s, 451, "4.3.0", "sender address has no domain: %s", qualify_hint(0));
		else if (asprintf(&q, "%s@%s", addr, dom) == -1) {
			q = NULL;
			bs_reply(s, 451, "4.3.0", "out of memory");
		}
		qualify_free(&qf);
		if (q == NULL)
			return -1;
		if (addr_check_mailbox(q, NULL) != 0) {
			free(q);
			bs_reply(s, 553, "5.1.7", "sender address too long once qualified");
			return -1;
		}
		s->from = q;
	} else if ((s->from = strdup(addr)) == NULL) {
		bs_reply(s, 451, "4.3.0", "out of memory");
		return -1;
	}
	/* -f wins over MAIL FROM, upstream as in the intake. */
	memset(&m, 0, sizeof(m));
	m.from = ef == NULL ? s->from : strcmp(ef, "<>") == 0 ? "" : ef;
	m.size = size;
	m.body_8bit = body8;
	m.needs_smtputf8 = utf8;
	m.body_fd = -1;
	if ((sl = bs_slot_new(BS_SLOT_MAIL)) == NULL) {
		free(s->from);
		s->from = NULL;
		bs_reply(s, 451, "4.3.0", "out of memory");
		return 0;
	}
	s->relay->mail(s->relay->arg, &m, &limit, &sl->a);
	/* Later messages are held to the relay's own limit. */
	if (limit > 0 && limit < s->max_size)
		s->max_size = limit;
	s->smtputf8 = utf8;
	s->body8 = body8;
	if (sl->a.pending) {
		/* Taken as accepted until the relay says otherwise (at the next sync). */
		s->have_mail = 1;
		s->upstream = 1;
		bs_slot_push(s, sl);
		return 0;
	}
	bs_mail_answered(s, &sl->a, 1);
	bs_slot_free(sl);
	return 0;
}

/*
 * The relay's answer to MAIL: its reply for the caller and, for the
 * current transaction, what it means: refused (no transaction), accepted,
 * or no relay (the message will only be kept).
 */
void
bs_mail_answered(struct bs_session *s, const struct bs_answer *a, int current)
{
	if (a->rc == 1) {
		if (current) {
			free(s->from);
			s->from = NULL;
			s->have_mail = 0;
			s->upstream = 0;
		}
		bs_pass(s, &a->r, 1); /* the relay's verdict, not the caller's mistake */
		return;
	}
	if (current)
		s->have_mail = 1;
	if (a->rc == 0) {
		if (current)
			s->upstream = 1;
		bs_pass(s, &a->r, 0);
	} else if (current) {
		s->upstream = 0;
		bs_fallback(s, &a->e, "2.1.0");
	} else {
		bs_fallback_reply(s, &a->e, "2.1.0");
	}
}

/*
 * RCPT TO:<mailbox>: checked here, then judged by the relay.  An
 * unqualified name is resolved first, as the intake would (aliases, then
 * default_domain), so the relay sees the addresses the message goes to;
 * the caller gets one reply: an acceptance if any of them was accepted,
 * else the relay's first refusal.
 */
int
bs_rcpt(struct bs_session *s, char *args)
{
	const struct msg_policy *p = s->relay->pol;
	char *addr, *params, **nv;
	struct qualify qf;
	struct addr_list list;
	struct bs_slot *sl = NULL;
	struct sx_err e;
	size_t i, pending = 0;
	int unq, ret = -1;

	if (!s->have_mail) {
		bs_reply(s, 503, "5.5.1", "need MAIL command");
		return -1;
	}
	if (strncasecmp(args, "TO:", 3) != 0) {
		bs_reply(s, 501, "5.5.4", "syntax: RCPT TO:<address>");
		return -1;
	}
	if (bs_path(s, args + 3, 1, &addr, &params) == -1)
		return -1;
	if (*params != '\0') {
		bs_reply(s, 555, "5.5.4", "unsupported RCPT parameter");
		return -1;
	}
	if (*addr == '\0' || (unq = addr_check_mailbox(addr, NULL)) == -1) {
		bs_reply(s, 501, "5.1.3", "bad recipient address syntax");
		return -1;
	}
	if (!s->smtputf8 && !addr_is_ascii(addr)) {
		bs_reply(s, 553, "5.6.7", "a non-ASCII address needs MAIL FROM:<...> SMTPUTF8");
		return -1;
	}
	if (s->nrcpts + s->npending >= BS_MAX_RCPTS) {
		bs_reply(s, 452, "4.5.3", "too many recipients (at most %d)", BS_MAX_RCPTS);
		return -1;
	}
	memset(&list, 0, sizeof(list));
	memset(&qf, 0, sizeof(qf));
	sx_clear(&e);
	if (unq == 1 && !s->aliases_loaded && s->relay->pol->aliases_file != NULL &&
	    *s->relay->pol->aliases_file != '\0') {
		if (alias_load(s->relay->pol->aliases_file, &s->aliases, &e) == -1) {
			alias_free(&s->aliases);
			bs_reply(s, 451, "4.3.0", "aliases: %.300s", e.detail);
			return 0;
		}
		s->aliases_loaded = 1;
	}
	if (unq == 1 && qualify_init(&qf, p->admin_address, p->default_domain, p->account_from,
			    p->account_user, &e) == -1) {
		bs_reply(s, 451, "4.3.0", "%.300s", e.detail);
		goto out;
	}
	if (alias_resolve(s->aliases_loaded ? &s->aliases : NULL, &qf, addr, unq == 1, &list, &e) ==
	    -1) {
		if (e.cls == SX_DATA)
			bs_reply(s, 553, "5.1.3", "%.300s", e.detail);
		else
			bs_reply(s, 451, "4.3.0", "%.300s", e.detail);
		goto out;
	}
	/* No setting qualifies it: the configuration's fault, so a temporary failure. */
	for (i = 0; i < list.n; i++)
		if (list.v[i].unqualified) {
			bs_reply(s, 451, "4.3.0", "recipient '%.100s' has no domain: %s",
			    list.v[i].spec, qualify_hint(1));
			goto out;
		}
	ret = 0;
	/* No relay for this transaction: every address is taken to be kept. */
	if (s->fallback) {
		for (i = 0; i < list.n && s->nrcpts < BS_MAX_RCPTS; i++) {
			if ((nv = reallocarray(s->rcpts, s->nrcpts + 1, sizeof(*nv))) == NULL)
				break;
			s->rcpts = nv;
			if ((s->rcpts[s->nrcpts] = strdup(list.v[i].spec)) == NULL)
				break;
			s->nrcpts++;
		}
		if (i == 0)
			bs_reply(s, 451, "4.3.0", "out of memory");
		else
			bs_reply(s, 250, "2.1.5", "Ok");
		goto out;
	}
	if ((sl = bs_slot_new(BS_SLOT_RCPT)) == NULL ||
	    (sl->parts = calloc(list.n > 0 ? list.n : 1, sizeof(*sl->parts))) == NULL) {
		bs_reply(s, 451, "4.3.0", "out of memory");
		goto out;
	}
	for (i = 0; i < list.n && s->nrcpts + s->npending + pending < BS_MAX_RCPTS; i++) {
		struct bs_part *pt = &sl->parts[sl->nparts];

		if ((pt->addr = strdup(list.v[i].spec)) == NULL)
			break;
		sl->nparts++;
		s->relay->rcpt(s->relay->arg, pt->addr, &pt->a);
		pending += pt->a.pending != 0;
	}
	if (pending > 0) {
		/* Its reply once the relay answered every address (the next sync). */
		s->npending += sl->nparts;
		bs_slot_push(s, sl);
		sl = NULL;
	} else {
		bs_rcpt_answered(s, sl->parts, sl->nparts, 1);
	}
out:
	bs_slot_free(sl);
	qualify_free(&qf);
	addr_list_free(&list);
	return ret;
}

/*
 * The relay's answers to the addresses one RCPT became: the accepted (and,
 * when the relay was lost, every later one) join the current transaction;
 * the caller's reply is an acceptance if any was accepted, else the first
 * refusal.
 */
void
bs_rcpt_answered(struct bs_session *s, struct bs_part *parts, size_t n, int current)
{
	struct smtp_reply *ok = NULL, *refusal = NULL;
	struct sx_err *lost = NULL;
	size_t i, added = 0;
	char **nv;

	if (current)
		s->npending = s->npending > n ? s->npending - n : 0;
	for (i = 0; i < n; i++) {
		struct bs_answer *a = &parts[i].a;

		if (a->rc == 1) {
			if (refusal == NULL)
				refusal = &a->r;
			continue;
		}
		if (a->rc == -1 && lost == NULL) {
			/* Lost on the way: the transaction is ours alone now. */
			lost = &a->e;
			if (lost->cls == SX_OK)
				sx_fail(
				    lost, SX_INTERNAL, STAGE_RCPT, "relay failed without a reason");
		}
		if (a->rc == 0)
			ok = &a->r;
		if (current) {
			if ((nv = reallocarray(s->rcpts, s->nrcpts + 1, sizeof(*nv))) == NULL)
				continue;
			s->rcpts = nv;
			s->rcpts[s->nrcpts] = parts[i].addr;
			parts[i].addr = NULL;
			s->nrcpts++;
		}
		added++;
	}
	if (added == 0 && refusal != NULL)
		bs_pass(s, refusal, 1);
	else if (added == 0)
		bs_reply(s, 451, "4.3.0", "out of memory");
	else if (lost != NULL && current) {
		s->upstream = 0;
		bs_fallback(s, lost, "2.1.5");
	} else if (lost != NULL)
		bs_fallback_reply(s, lost, "2.1.5");
	else if (ok == NULL || ok->code == 0)
		bs_reply(s, 250, "2.1.5", "Ok");
	else
		bs_pass(s, ok, 0);
}
