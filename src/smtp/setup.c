/*
 * setup.c — the session up to the mail transaction: greeting, EHLO (HELO
 * where nothing needs EHLO), STARTTLS and AUTH; and QUIT on the way out.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "smtp/session.h"

/* How long QUIT may take on an error path. */
#define SMTP_QUIT_TIMEOUT_MS 2000

static int
smtp_expect(struct smtp_session_state *s, struct smtp_reply *r, int want, enum sx_class perm,
    const char *what)
{
	if (conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, r) == -1)
		return -1;
	if (r->code != want)
		return smtp_refused(s, r, perm, what);
	return 0;
}

static int
smtp_greeting(struct smtp_session_state *s)
{
	struct smtp_reply r;

	s->stage = STAGE_GREETING;
	diag_stage(s->diag, STAGE_GREETING, "waiting for the greeting (at most %d s)",
	    s->c->timeout_ms / 1000);
	if (smtp_reply(s, &r) == -1) {
		if (s->e->sys_errno == ETIMEDOUT && !conn_is_tls(s->c))
			sx_hint(s->e,
			    "no greeting: if port %u expects implicit TLS (like 465), use "
			    "tls implicit",
			    s->p->port);
		else if (s->e->cls == SX_PROTO && (unsigned char)s->e->reply[0] == '?')
			sx_hint(s->e, "the server may expect implicit TLS (like port 465)");
		return -1;
	}
	s->greeted = 1;
	diag_stage(s->diag, STAGE_GREETING, "%d %.200s", r.code, r.text);
	if (r.code != 220) {
		smtp_refused(s, &r, SX_PERM, "connection at greeting");
		return -1;
	}
	return 0;
}

static int
smtp_ehlo(struct smtp_session_state *s)
{
	struct smtp_reply r;
	char desc[256];

	s->stage = STAGE_EHLO;
	/* After STARTTLS the flush checks the certificate first (conn.h). */
	if (smtp_cmd(s->c, s->stage, 0, s->e, "EHLO %s", s->p->ehlo_name) == -1 ||
	    conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, &r) == -1)
		return -1;
	if (r.code == 250) {
		smtp_caps_parse(&r, &s->r->caps);
		diag_stage(
		    s->diag, STAGE_EHLO, "%s", smtp_caps_describe(&s->r->caps, desc, sizeof(desc)));
		return 0;
	}
	/*
	 * HELO only where nothing EHLO would negotiate is required: no TLS and
	 * no AUTH (RFC 5321 4.1.4).
	 */
	if (r.code >= 500 && s->p->tls == TLS_MODE_OFF && s->p->user == NULL) {
		if (smtp_cmd(s->c, s->stage, 0, s->e, "HELO %s", s->p->ehlo_name) == -1 ||
		    smtp_expect(s, &r, 250, SX_PERM, "HELO") == -1)
			return -1;
		memset(&s->r->caps, 0, sizeof(s->r->caps));
		diag_stage(s->diag, STAGE_EHLO, "EHLO refused; HELO accepted (no extensions)");
		return 0;
	}
	diag_stage(s->diag, STAGE_EHLO, "%d %.200s", r.code, r.text);
	return smtp_refused(s, &r, SX_PERM, "EHLO");
}

static int
smtp_starttls(struct smtp_session_state *s)
{
	struct smtp_reply r;
	int required = s->p->tls == TLS_MODE_STARTTLS;

	s->stage = STAGE_STARTTLS;
	if (!s->r->caps.starttls) {
		if (!required) {
			diag_stage(s->diag, STAGE_STARTTLS,
			    "not offered: continuing WITHOUT TLS (tls opportunistic)");
			return 0;
		}
		sx_fail(s->e, SX_TLS, STAGE_STARTTLS, "the server does not offer STARTTLS");
		sx_hint(s->e,
		    "TLS is required; if port %u uses implicit TLS (like 465) use tls "
		    "implicit; never send mail or passwords in cleartext",
		    s->p->port);
		return -1;
	}
	if (smtp_cmd(s->c, s->stage, 0, s->e, "STARTTLS") == -1 ||
	    conn_flush(s->c, s->stage, s->e) == -1)
		return -1;
	if (smtp_reply(s, &r) == -1)
		return -1;
	if (r.code != 220) {
		if (!required && r.code >= 400 && r.code < 600) {
			diag_stage(s->diag, STAGE_STARTTLS,
			    "refused (%d): continuing WITHOUT TLS (tls opportunistic)", r.code);
			return 0;
		}
		/* 4xx: try again later; 5xx: no TLS here, which retrying will not change. */
		return smtp_refused(s, &r, SX_TLS, "STARTTLS");
	}
	s->stage = STAGE_TLS;
	if (conn_tls_start(s->c, s->e) == -1)
		return -1;
	/* RFC 3207 4.2: forget everything learnt before TLS and ask again. */
	s->auth_before_tls = s->r->caps.auth;
	memset(&s->r->caps, 0, sizeof(s->r->caps));
	return smtp_ehlo(s);
}

static int
smtp_auth_reply(struct smtp_session_state *s, struct smtp_reply *r)
{
	if (r->code == 235)
		return 0;
	sx_fail_reply(s->e,
	    r->code >= 400 && r->code < 500 ? SX_TEMP
	    : r->code >= 500                ? SX_AUTH
					    : SX_PROTO,
	    STAGE_AUTH, r->code, r->enhanced, r->text, "authentication as %s failed (%d)",
	    s->p->user != NULL ? s->p->user : "the certificate's identity", r->code);
	if (smtp_oauth_hint(s->e, r, 0))
		; /* a provider's text said what to do (oauth.c) */
	else if (r->code == 535)
		sx_hint(s->e, "check user and password; providers such as Gmail require an app "
			      "password or OAuth2 (oauth2_provider, oauth2_token_command: "
			      "smtps-send.conf(5))");
	else if (r->code == 534)
		sx_hint(s->e, "the provider wants a web login or an app password first");
	else if (r->code == 504)
		sx_hint(s->e, "the server does not support this mechanism; set auth on to pick "
			      "one it offers");
	return -1;
}

/*
 * What this session has for a mechanism: TLS, channel binding (its data
 * into cb, *cblen), a user, a client certificate.  *nobind: why there is
 * no binding.
 */
static unsigned
smtp_auth_have(struct smtp_session_state *s, unsigned char *cb, size_t cbsz, size_t *cblen,
    const char **nobind)
{
	unsigned have = 0;
	int n;

	*cblen = 0;
	if (conn_is_tls(s->c))
		have |= SASL_HAVE_TLS;
	if ((n = conn_tls_binding(s->c, cb, cbsz, nobind)) > 0) {
		have |= SASL_HAVE_BINDING;
		*cblen = (size_t)n;
		*nobind = NULL;
	}
	if (s->p->user != NULL)
		have |= SASL_HAVE_PASSWORD;
	if (s->p->client_cert)
		have |= SASL_HAVE_CERT;
	/* OAuth2: SASL_HAVE_TOKEN when a token is configured (the OAuth2 work). */
	return have;
}

/* RFC 4954: "*" abandons the exchange (the server answers 501); the session ends after. */
static void
smtp_auth_cancel(struct smtp_session_state *s)
{
	struct smtp_reply r;
	struct sx_err ignored;

	sx_clear(&ignored);
	if (!conn_is_open(s->c) || s->desync)
		return;
	conn_set_timeout(s->c, SMTP_QUIT_TIMEOUT_MS);
	if (smtp_cmd(s->c, s->stage, 0, &ignored, "*") == 0 &&
	    conn_flush(s->c, s->stage, &ignored) == 0)
		(void)smtp_read_reply(s->c, s->stage, &r, &ignored);
}

/*
 * The exchange: AUTH NAME [initial response], then an answer to each 334
 * until the server decides (*r).  What we send is masked in the
 * transcript; so is the server's answer to a SCRAM proof (its signature is
 * as good as a proof for guessing the password).
 */
static int
smtp_auth_exchange(
    struct smtp_session_state *s, struct sasl_exchange *x, const char *ir, struct smtp_reply *r)
{
	const char *name = sasl_name(x->mech);
	char *resp = NULL;
	int rc;

	rc = ir == NULL
		 ? smtp_cmd(s->c, s->stage, 0, s->e, "AUTH %s", name)
		 : smtp_cmd(s->c, s->stage, 1, s->e, "AUTH %s %s", name, ir[0] != '\0' ? ir : "=");
	if (rc == -1 || conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, r) == -1)
		return -1;
	while (r->code == 334) {
		if (sasl_step(x, r->text, &resp, s->e) == -1) {
			smtp_auth_cancel(s);
			return -1;
		}
		conn_mask_input(s->c, sasl_is_scram(x->mech) && x->step == 1);
		rc = smtp_cmd(s->c, s->stage, 1, s->e, "%s", resp) == -1 ||
			     conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, r) == -1
			 ? -1
			 : 0;
		conn_mask_input(s->c, 0);
		sasl_free(resp);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* -v: how it went, with what SCRAM checked. */
static void
smtp_auth_done(struct smtp_session_state *s, const struct sasl_exchange *x,
    const struct smtp_reply *r, enum scram_cbind cb)
{
	static const char *const flags[] = {
	    [SCRAM_CB_NONE] = "n (no channel binding here)",
	    [SCRAM_CB_UNUSED] = "y (we could bind; the server offers no -PLUS)",
	    [SCRAM_CB_EXPORTER] = "p=tls-exporter",
	};
	static const char *const preps[] = {
	    [SCRAM_PREP_ASCII] = "",
	    [SCRAM_PREP_OPAQUE] = ", non-ASCII password normalised (RFC 8265)",
	    [SCRAM_PREP_RAW] = ", non-ASCII password used as bytes (not valid for SASLprep)",
	};
	char scram[256] = "";

	if (sasl_is_scram(x->mech))
		snprintf(scram, sizeof(scram),
		    " (server signature verified, %lu iterations, gs2 flag %s%s)",
		    x->scram.iterations, flags[cb], preps[x->scram.prep]);
	diag_stage(s->diag, STAGE_AUTH, "%s as %s: %d %.200s%s", sasl_name(x->mech),
	    s->p->user != NULL ? s->p->user : "the certificate's identity", r->code, r->text,
	    scram);
}

static int
smtp_auth(struct smtp_session_state *s)
{
	struct smtp_reply r;
	struct sasl_exchange x;
	unsigned char cb[SCRAM_CB_MAX];
	enum sasl_mech mech;
	enum scram_cbind cbflag;
	const char *nobind = NULL;
	char why[512], *ir = NULL;
	unsigned offered, have;
	size_t cblen;
	int rc = -1;

	s->stage = STAGE_AUTH;
	if (s->p->user == NULL && s->p->mech != SASL_EXTERNAL)
		return 0;
	/* Never a password in cleartext, unless the user turned TLS off and said so. */
	if (!conn_is_tls(s->c) && !(s->p->tls == TLS_MODE_OFF && s->p->auth_cleartext)) {
		sx_fail(s->e, SX_TLS, STAGE_AUTH, "refusing to authenticate without TLS");
		sx_hint(
		    s->e, s->p->tls == TLS_MODE_OPPORTUNISTIC
			      ? "the server offered no usable STARTTLS; use a port with TLS"
			      : "set tls off and auth_cleartext on only for a trusted local relay");
		return -1;
	}
	if (!s->r->caps.auth) {
		sx_fail(s->e, SX_PERM, STAGE_AUTH, "the server offers no authentication%s",
		    conn_is_tls(s->c) ? (s->auth_before_tls ? " after TLS (it did before)" : "")
				      : " (before TLS)");
		if (s->auth_before_tls)
			sx_hint(s->e, "AUTH offered only in cleartext is never used: the server is "
				      "misconfigured, or something rewrote its capabilities");
		else
			sx_hint(s->e, "this server may not need AUTH (remove user), or it offers "
				      "AUTH only after TLS");
		return -1;
	}
	/*
	 * OAuth2 (issue 17): a configured token means XOAUTH2 or OAUTHBEARER
	 * (oauth.c: its 334 error challenge and the refresh-and-retry); the
	 * account has a token instead of a password, so nothing ranks above.
	 */
	if (s->p->oauth2 != NULL)
		return smtp_auth_oauth(s);
	offered = sasl_offered(s->r->caps.auth_list);
	have = smtp_auth_have(s, cb, sizeof(cb), &cblen, &nobind);
	mech = sasl_pick(s->p->mech, offered, have, nobind, why, sizeof(why));
	if (mech == SASL_NONE) {
		sx_fail(s->e, SX_PERM, STAGE_AUTH,
		    "no usable authentication mechanism: %s (server offers: %s)", why,
		    s->r->caps.auth_list);
		sx_hint(
		    s->e, s->p->mech != SASL_NONE
			      ? "set auth on to use the strongest mechanism the server offers"
			      : "smtps-send supports SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS), "
				"PLAIN, LOGIN, CRAM-MD5 (over TLS) and EXTERNAL (auth external), "
				"and XOAUTH2/OAUTHBEARER with an OAuth2 token (oauth2_ keys)");
		explicit_bzero(cb, sizeof(cb));
		return -1;
	}
	diag_stage(s->diag, STAGE_AUTH, "%s chosen: %s (server offers: %s)", sasl_name(mech), why,
	    s->r->caps.auth_list);
	s->r->mech = mech;
	cbflag = sasl_cbind(mech, offered, have);
	if (sasl_begin(&x, mech, s->p->user, s->p->secret, cbflag, cb, cblen, &ir, s->e) == -1 ||
	    smtp_auth_exchange(s, &x, ir, &r) == -1)
		goto out;
	/* The mechanism tried and the verdict, whatever it is (a success says more). */
	if (r.code != 235)
		diag_stage(s->diag, STAGE_AUTH, "%s as %s: %d %.200s", sasl_name(mech),
		    s->p->user != NULL ? s->p->user : "the certificate's identity", r.code, r.text);
	if (smtp_auth_reply(s, &r) == -1 || sasl_end(&x, s->e) == -1)
		goto out;
	smtp_auth_done(s, &x, &r, cbflag);
	rc = 0;
out:
	sasl_free(ir);
	sasl_exchange_clear(&x);
	explicit_bzero(cb, sizeof(cb));
	return rc;
}

/*
 * From the start to a session ready for mail: [implicit TLS] greeting,
 * EHLO, [STARTTLS, TLS, EHLO again], [AUTH].
 */
int
smtp_open(struct smtp_session_state *s)
{
	if (s->p->tls == TLS_MODE_IMPLICIT) {
		s->stage = STAGE_TLS;
		if (conn_tls_start(s->c, s->e) == -1)
			return -1;
	}
	if (smtp_greeting(s) == -1 || smtp_ehlo(s) == -1)
		return -1;
	if ((s->p->tls == TLS_MODE_STARTTLS || s->p->tls == TLS_MODE_OPPORTUNISTIC) &&
	    !conn_is_tls(s->c) && smtp_starttls(s) == -1)
		return -1;
	return smtp_auth(s);
}

/*
 * QUIT on every path where the server can still read a command.  After a
 * failure it waits at most SMTP_QUIT_TIMEOUT_MS; after a time-out it goes
 * only if it can leave at once, and its reply is not awaited: the server
 * stopped answering (or reading), and a second wait would double what the
 * timeout promised.  Under -v the last lines say what happened.
 */
void
smtp_quit(struct smtp_session_state *s, int ok)
{
	struct smtp_reply r;
	struct sx_err ignored;
	int stalled = !ok && s->e != NULL && s->e->sys_errno == ETIMEDOUT;

	sx_clear(&ignored);
	s->stage = STAGE_QUIT;
	if (!ok)
		s->c->failed = 1;
	if (!conn_is_open(s->c) || s->in_data) {
		if (!ok)
			diag_stage(s->diag, STAGE_QUIT, "no QUIT: %s",
			    s->c->eof      ? "the server closed the connection"
			    : s->c->broken ? "the connection is unusable after the failure"
					   : "inside the message data it would be text");
		return;
	}
	if (!ok)
		conn_set_timeout(s->c, stalled ? 1 : SMTP_QUIT_TIMEOUT_MS);
	if (!s->quit_sent) {
		if (!ok)
			conn_discard(s->c);
		if (smtp_cmd(s->c, s->stage, 0, &ignored, "QUIT") == -1 ||
		    conn_flush(s->c, s->stage, &ignored) == -1) {
			if (!ok)
				diag_stage(s->diag, STAGE_QUIT,
				    "QUIT after the failure could not "
				    "be sent");
			return;
		}
		s->quit_sent = 1;
	}
	if (stalled) {
		diag_stage(
		    s->diag, STAGE_QUIT, "QUIT sent after the time-out; not waiting for its reply");
		return;
	}
	if (smtp_read_reply(s->c, s->stage, &r, &ignored) == 0)
		diag_stage(s->diag, STAGE_QUIT, "%s%d %.200s",
		    ok ? "" : "after the failure: ", r.code, r.text);
	else if (!ok)
		diag_stage(
		    s->diag, STAGE_QUIT, "no reply to QUIT after the failure: %s", ignored.detail);
}
