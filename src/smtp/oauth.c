/*
 * oauth.c — AUTH with an OAuth2 access token (XOAUTH2, OAUTHBEARER): the
 * initial response in the AUTH line, the server's error challenge answered
 * as RFC 7628 3.2.3 says, and one refresh and retry in the same session
 * when the token was refused as expired or invalid.  The token never
 * reaches a transcript (the AUTH line is masked) or an error.
 */
#include "config.h"

#include <string.h>

#include "core/diag.h"
#include "smtp/oauthsasl.h"
#include "smtp/session.h"

/* One AUTH exchange: the final reply in *r, the error challenge (if any) in *ch. */
static int
smtp_oauth_try(struct smtp_session_state *s, enum sasl_mech mech, struct smtp_reply *r,
    struct oauth_challenge *ch, int *challenged)
{
	const struct oauth_token_source *src = s->p->oauth2;
	char *b64 = NULL;
	int rc;

	*challenged = 0;
	rc = mech == SASL_XOAUTH2
		 ? oauth_xoauth2(s->p->user, src->token, &b64, s->e)
		 : oauth_bearer(s->p->user, src->token, s->p->host, s->p->port, &b64, s->e);
	if (rc == -1)
		return -1;
	rc = smtp_cmd(s->c, s->stage, 1, s->e, "AUTH %s %s", sasl_name(mech), b64);
	sasl_free(b64);
	if (rc == -1 || conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, r) == -1)
		return -1;
	if (r->code != 334)
		return 0;
	/*
	 * The error challenge: the server waits for a dummy response before
	 * its final reply, the empty line (XOAUTH2) or %x01 (OAUTHBEARER).
	 */
	*challenged = oauth_challenge_parse(r->text, ch) == 0;
	if (!*challenged)
		diag_stage(s->diag, STAGE_AUTH, "334 challenge that is not JSON: %.100s", r->text);
	if (smtp_cmd(s->c, s->stage, 0, s->e, "%s", mech == SASL_XOAUTH2 ? "" : "AQ==") == -1 ||
	    conn_flush(s->c, s->stage, s->e) == -1 || smtp_reply(s, r) == -1)
		return -1;
	return 0;
}

static int
smtp_oauth_failed(struct smtp_session_state *s, enum sasl_mech mech, const struct smtp_reply *r,
    const struct oauth_challenge *ch, int challenged)
{
	sx_fail_reply(s->e,
	    r->code >= 400 && r->code < 500 ? SX_TEMP
	    : r->code >= 500                ? SX_AUTH
					    : SX_PROTO,
	    STAGE_AUTH, r->code, r->enhanced, r->text, "authentication as %s with %s failed (%d)",
	    s->p->user, sasl_name(mech), r->code);
	if (challenged && ch->status[0] != '\0')
		sx_append(s->e, "; the server says status %s%s%s", ch->status,
		    ch->scope[0] != '\0' ? ", scope " : "", ch->scope);
	if (!smtp_oauth_hint(s->e, r, 1)) {
		if (challenged && !ch->token_refused && ch->scope[0] != '\0')
			sx_hint(s->e,
			    "the token lacks the scope the server wants (%s): set oauth2_scope "
			    "and run smtps-send --oauth2-authorize again",
			    ch->scope);
		else
			sx_hint(s->e,
			    "the token was refused: check user (the mailbox the token was issued "
			    "for), oauth2_scope, and the token source (oauth2_token_command, "
			    "oauth2_token_file, or oauth2_provider with --oauth2-authorize)");
	}
	return -1;
}

int
smtp_auth_oauth(struct smtp_session_state *s)
{
	struct oauth_token_source *src = s->p->oauth2;
	struct oauth_challenge ch;
	struct smtp_reply r;
	enum sasl_mech mech;
	int challenged, retried = 0, rc;

	mech = oauth_pick(s->p->mech, s->r->caps.auth_list);
	if (mech == SASL_NONE) {
		sx_fail(s->e, SX_PERM, STAGE_AUTH,
		    "the server offers no %s mechanism (server offers: %s)",
		    s->p->mech == SASL_XOAUTH2       ? "XOAUTH2"
		    : s->p->mech == SASL_OAUTHBEARER ? "OAUTHBEARER"
						     : "OAuth2 (XOAUTH2, OAUTHBEARER)",
		    s->r->caps.auth_list);
		sx_hint(s->e, "an OAuth2 token is configured; with auth on the best offered "
			      "OAuth2 mechanism is used, or remove the oauth2_ keys to use a "
			      "password");
		return -1;
	}
	s->r->mech = mech;
	for (;;) {
		memset(&ch, 0, sizeof(ch));
		if (smtp_oauth_try(s, mech, &r, &ch, &challenged) == -1)
			return -1;
		if (r.code == 235)
			break;
		/*
		 * Expired or revoked: one new token, in the same session.  Without
		 * a challenge (Microsoft answers 535 5.7.3 at once) a 535 may
		 * mean the same.
		 */
		if (retried || src->refresh == NULL || r.code < 500 ||
		    (challenged ? !ch.token_refused : r.code != 535))
			return smtp_oauth_failed(s, mech, &r, &ch, challenged);
		retried = 1;
		diag_stage(s->diag, STAGE_AUTH, "%s: token refused (%d%s%s): fetching a new one",
		    sasl_name(mech), r.code, challenged ? ", status " : "", ch.status);
		if ((rc = src->refresh(src, s->e)) == -1)
			return -1;
		if (rc == 0)
			return smtp_oauth_failed(s, mech, &r, &ch, challenged);
	}
	diag_stage(s->diag, STAGE_AUTH, "%s as %s: %d %.200s%s", sasl_name(mech), s->p->user,
	    r.code, r.text, retried ? " (with a refreshed token)" : "");
	return 0;
}

/*
 * Provider texts that say what to do (SMTP AUTH off for the mailbox,
 * passwords refused).  1 when a hint was given.
 */
int
smtp_oauth_hint(struct sx_err *e, const struct smtp_reply *r, int oauth)
{
	if (strcmp(r->enhanced, "5.7.139") == 0 ||
	    strstr(r->text, "SmtpClientAuthentication is disabled") != NULL) {
		sx_hint(e, "Microsoft 365: SMTP AUTH is disabled for this mailbox or tenant; an "
			   "administrator must enable Authenticated SMTP for it (Set-CASMailbox "
			   "-SmtpClientAuthenticationDisabled $false)");
		return 1;
	}
	if (strcmp(r->enhanced, "5.7.30") == 0 ||
	    strstr(r->text, "Basic authentication is not supported") != NULL) {
		sx_hint(e, "the server takes no passwords: use OAuth2, e.g. for Microsoft 365 add "
			   "'oauth2_provider microsoft' and 'oauth2_client_id ID' to the "
			   "account, then run smtps-send --oauth2-authorize (smtps-send.conf(5))");
		return 1;
	}
	if (!oauth && (r->code == 534 || r->code == 535) &&
	    (strstr(r->text, "Application-specific password required") != NULL ||
		strstr(r->text, "Please log in with your web browser") != NULL ||
		strstr(r->text, "support.google.com") != NULL)) {
		sx_hint(e, "Google wants an app password or OAuth2: set 'oauth2_provider google' "
			   "and 'oauth2_client_id ID' (and its secret), then run smtps-send "
			   "--oauth2-authorize (smtps-send.conf(5), GMAIL)");
		return 1;
	}
	return 0;
}
