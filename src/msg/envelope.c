/*
 * envelope.c — the envelope of the message being read (see intake.h): the
 * sender from -f, the account, the From header or the login name, and the
 * recipients from the arguments or the -t header fields, each parsed,
 * aliased, qualified and deduplicated.  An address none of the settings
 * can qualify is a configuration problem: it stays in the envelope as it
 * was given, and the message is read, kept and refused (msg_hold).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/address.h"
#include "msg/aliases.h"
#include "msg/intake.h"

#define MSG_MAX_RCPTS 10000

static int msg_has_break(const char *);
static int msg_add_rcpt(struct msg_ctx *, const char *);
static int msg_hold_noaddr(struct msg_ctx *, int, const char *, const char *, const char *);
static int msg_fail_with(struct msg_ctx *, const struct sx_err *);

static int
msg_has_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

int
msg_hold(struct msg_ctx *c, const struct sx_err *pe)
{
	if (c->held.cls == SX_OK && pe->cls != SX_OK)
		c->held = *pe;
	return 0;
}

/* "WHAT 'NAME' has no domain", held with the hint for a recipient or a sender. */
static int
msg_hold_noaddr(
    struct msg_ctx *c, int recipient, const char *what, const char *name, const char *origin)
{
	struct sx_err pe;

	sx_clear(&pe);
	if (origin != NULL && strcmp(origin, name) != 0)
		sx_fail(&pe, SX_CONFIG, STAGE_INTAKE, "%s '%s' (from alias '%s') has no domain",
		    what, name, origin);
	else
		sx_fail(&pe, SX_CONFIG, STAGE_INTAKE, "%s '%s' has no domain", what, name);
	sx_hint(&pe, "%s", qualify_hint(recipient));
	return msg_hold(c, &pe);
}

/* Pass on an error a part filled in its own struct (first error wins).  -1. */
static int
msg_fail_with(struct msg_ctx *c, const struct sx_err *pe)
{
	if (c->err != NULL && c->err->cls == SX_OK)
		*c->err = *pe;
	return -1;
}

/*
 * One sender address from text (-f, the account's from, the From header or
 * the login name): exactly one mailbox, qualified.  An unqualified name
 * becomes the account's from when allow_account and one is set, else gets
 * the domain (qualify.h), else the host name when it is a FQDN; with none
 * it is held and kept as it is.  *out is allocated.
 */
int
msg_sender_addr(struct msg_ctx *c, const char *text, size_t len, const char *what,
    int allow_account, char **out)
{
	const struct msg_policy *p = c->pol;
	struct addr_list l;
	struct sx_err pe;
	const char *dom;
	char *q = NULL;
	int rc = -1, r, held = 0;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	sx_clear(&pe);
	if (addr_parse_list(text, len, &l, &pe) == -1) {
		sx_fail(c->err, pe.cls, STAGE_INTAKE, "%s: %s", what, pe.detail);
		goto out;
	}
	if (l.n != 1) {
		char ex[64];

		sx_sanitize(ex, sizeof(ex), text, len, 0);
		sx_fail(c->err, SX_DATA, STAGE_INTAKE, "%s '%s' is not one address", what, ex);
		goto out;
	}
	if (!l.v[0].unqualified) {
		q = strdup(l.v[0].spec);
	} else if (allow_account && p->account_from != NULL && *p->account_from != '\0') {
		rc = msg_sender_addr(
		    c, p->account_from, strlen(p->account_from), "account from", 0, out);
		goto out;
	} else if ((dom = qualify_sender_domain(&c->q, p->hostname)) == NULL) {
		held = 1;
		msg_hold_noaddr(c, 0, what, l.v[0].spec, NULL);
		q = strdup(l.v[0].spec);
	} else if (asprintf(&q, "%s@%s", l.v[0].spec, dom) == -1)
		q = NULL;
	if (q == NULL) {
		sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
		goto out;
	}
	if ((r = addr_check_mailbox(q, c->err)) != 0 && !(r == 1 && held)) {
		if (r == 1)
			sx_fail(c->err, SX_DATA, STAGE_INTAKE, "%s '%s' has no domain", what, q);
		free(q);
		goto out;
	}
	*out = q;
	rc = 0;
out:
	addr_list_free(&l);
	return rc;
}

/*
 * The envelope sender: -f/-r ("" and "<>" are the null sender), else the
 * account's from, else the From header when so configured (from is that
 * field, or NULL before the header block is read: then nothing is decided
 * yet), else the login name.
 */
int
msg_sender(struct msg_ctx *c, const struct msg_field *from)
{
	const struct msg_policy *p = c->pol;
	const char *ef = p->envelope_from, *af = p->account_from;
	int rc;

	if (ef != NULL) {
		if (*ef == '\0' || strcmp(ef, "<>") == 0) {
			if ((c->env->from = strdup("")) == NULL)
				return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
			return 0;
		}
		if (msg_has_break(ef))
			return sx_fail(
			    c->err, SX_DATA, STAGE_INTAKE, "sender address contains a line break");
		rc = msg_sender_addr(c, ef, strlen(ef), "sender", 1, &c->env->from);
	} else if (af != NULL && *af != '\0') {
		rc = msg_sender_addr(c, af, strlen(af), "account from", 0, &c->env->from);
	} else if (p->sender_from_header && from != NULL) {
		rc = msg_sender_addr(c, c->hdr + from->valoff, from->off + from->len - from->valoff,
		    "From header", 0, &c->env->from);
	} else if (p->sender_from_header && c->in_headers) {
		return 0; /* decided once the header block is read */
	} else {
		if (p->local_user == NULL || *p->local_user == '\0' || msg_has_break(p->local_user))
			return sx_fail(
			    c->err, SX_DATA, STAGE_INTAKE, "no sender: use -f or set from");
		rc = msg_sender_addr(
		    c, p->local_user, strlen(p->local_user), "sender", 0, &c->env->from);
	}
	if (rc == 0 && !addr_is_ascii(c->env->from))
		c->env->needs_smtputf8 = 1;
	return rc;
}

/*
 * Append one qualified recipient unless it is already there.  Only the
 * envelope decides SMTPUTF8: an address cannot go out without it, while
 * raw UTF-8 in a header (a Subject) passes servers under 8BITMIME in
 * practice, and demanding SMTPUTF8 for it would refuse mail to every
 * server that lacks the extension.  Such headers set body_8bit.
 */
static int
msg_add_rcpt(struct msg_ctx *c, const char *spec)
{
	struct msg_envelope *env = c->env;
	char **nv;
	size_t i;

	for (i = 0; i < env->nrcpts; i++)
		if (strcmp(env->rcpts[i], spec) == 0)
			return 0;
	if (env->nrcpts == MSG_MAX_RCPTS)
		return sx_fail(
		    c->err, SX_DATA, STAGE_INTAKE, "more than %d recipients", MSG_MAX_RCPTS);
	if ((nv = reallocarray(env->rcpts, env->nrcpts + 1, sizeof(*nv))) == NULL)
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	env->rcpts = nv;
	if ((env->rcpts[env->nrcpts] = strdup(spec)) == NULL)
		return sx_fail(c->err, SX_INTERNAL, STAGE_INTAKE, "out of memory");
	env->nrcpts++;
	if (!addr_is_ascii(spec))
		env->needs_smtputf8 = 1;
	return 0;
}

/*
 * Recipients from an argument or a header value (name/namelen, or NULL
 * for an argument): parsed, aliased, qualified, deduplicated.  What cannot
 * be qualified, or the aliases cannot expand, is held and kept as given.
 */
int
msg_rcpts(struct msg_ctx *c, const char *text, size_t len, const char *name, size_t namelen)
{
	struct addr_list l, r;
	struct sx_err pe;
	size_t i, k;
	int rc = -1;

	memset(&l, 0, sizeof(l));
	memset(&r, 0, sizeof(r));
	sx_clear(&pe);
	if (addr_parse_list(text, len, &l, &pe) == -1) {
		if (name != NULL)
			sx_fail(c->err, pe.cls, STAGE_INTAKE, "%.*s header: %s", (int)namelen, name,
			    pe.detail);
		else
			sx_fail(c->err, pe.cls, STAGE_INTAKE, "recipient: %s", pe.detail);
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		sx_clear(&pe);
		if (alias_resolve(c->have_aliases ? &c->aliases : NULL, &c->q, l.v[i].spec,
			l.v[i].unqualified, &r, &pe) == -1) {
			if (pe.cls != SX_CONFIG) {
				msg_fail_with(c, &pe);
				goto out;
			}
			/* An alias loop and the like: the name goes on record as given. */
			msg_hold(c, &pe);
			if (addr_list_add(&r, l.v[i].spec, 1, c->err) == -1)
				goto out;
		}
		for (k = 0; k < r.n; k++) {
			if (r.v[k].unqualified)
				msg_hold_noaddr(c, 1, "recipient", r.v[k].spec, l.v[i].spec);
			if (msg_add_rcpt(c, r.v[k].spec) == -1)
				goto out;
		}
		addr_list_free(&r);
	}
	rc = 0;
out:
	addr_list_free(&l);
	addr_list_free(&r);
	return rc;
}

/*
 * Before the message is read: -F, the aliases file, the recipients given
 * as arguments, and the sender unless it waits for the From header.
 */
int
msg_envelope_begin(struct msg_ctx *c)
{
	const struct msg_policy *p = c->pol;
	struct sx_err pe;
	size_t i;

	if (p->fullname != NULL && msg_has_break(p->fullname))
		return sx_fail(c->err, SX_DATA, STAGE_INTAKE, "full name contains a line break");
	sx_clear(&pe);
	if (qualify_init(&c->q, p->admin_address, p->default_domain, p->account_from,
		p->account_user, &pe) == -1) {
		if (pe.cls != SX_CONFIG)
			return msg_fail_with(c, &pe);
		msg_hold(c, &pe);
	}
	if (p->aliases_file != NULL && *p->aliases_file != '\0') {
		sx_clear(&pe);
		if (alias_load(p->aliases_file, &c->aliases, &pe) == -1) {
			alias_free(&c->aliases);
			if (pe.cls != SX_CONFIG)
				return msg_fail_with(c, &pe);
			/* Names are qualified without the aliases, and the message is kept. */
			msg_hold(c, &pe);
		} else
			c->have_aliases = 1;
	}
	for (i = 0; i < p->n_argv_rcpts; i++) {
		const char *r = p->argv_rcpts[i];

		if (msg_has_break(r))
			return sx_fail(c->err, SX_DATA, STAGE_INTAKE,
			    "recipient argument contains a line break");
		if (msg_rcpts(c, r, strlen(r), NULL, 0) == -1)
			return -1;
	}
	if (!p->read_recipients && c->env->nrcpts == 0)
		return sx_fail(c->err, SX_USAGE, STAGE_INTAKE, "no recipients given (and no -t)");
	return msg_sender(c, NULL);
}
