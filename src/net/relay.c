/* relay.c — connecting to the account's relay (see relay.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "core/clock.h"
#include "core/diag.h"
#include "net/relay.h"

/*
 * The state directory the caller named, else $SMTPS_SEND_STATE_DIR: not
 * documented for users, it is for tests and containers that run as root
 * and must keep their tickets away from the system's /var/lib/smtps-send
 * (root's rule ignores XDG_STATE_HOME on purpose, see fs_state_dir).  A
 * config key may take its place.  NULL: the rule.
 */
static const char *
relay_state_dir(const struct relay_opts *o)
{
	const char *d = o->state_dir != NULL ? o->state_dir : getenv("SMTPS_SEND_STATE_DIR");

	return d != NULL && d[0] == '/' ? d : NULL;
}

void
relay_start(struct relay *rl, const struct account *a, struct diag *d)
{
	sx_clear(&rl->early_err);
	rl->early = 1;
	sock_connect_start(&rl->sk, a->host, a->port, d, &rl->early_err);
}

/* Finish relay_start's set-up, or start afresh when there was none or it went stale. */
static int
relay_sock(
    struct relay *rl, const struct account *a, int timeout_ms, struct diag *d, struct sx_err *e)
{
	int started = 0;

	if (rl->early) {
		rl->early = 0;
		if (rl->early_err.cls != SX_OK)
			return sx_adopt(e, &rl->early_err, STAGE_RESOLVE);
		if (clock_now_ms() - rl->sk.started <= RELAY_EARLY_MAX_MS)
			started = 1;
		else
			sock_connect_abandon(&rl->sk);
	}
	if (!started && sock_connect_start(&rl->sk, a->host, a->port, d, e) == -1)
		return -1;
	rl->sk.tc = a->tls != TLS_MODE_OFF ? &rl->tc : NULL;
	return sock_connect_finish(&rl->sk, timeout_ms, e);
}

int
relay_connect(struct relay *rl, const struct account *a, const struct relay_opts *o, struct diag *d,
    struct sx_err *e)
{
	int timeout_ms = (a->timeout > 0 ? a->timeout : CLOCK_DEFAULT_TIMEOUT_S) * 1000;

	memset(&rl->tp, 0, sizeof(rl->tp));
	memset(&rl->tc, 0, sizeof(rl->tc));
	memset(&rl->sp, 0, sizeof(rl->sp));
	rl->diag = d;
	rl->connected = 0;
	rl->tp.host = a->host;
	rl->tp.trust_file = a->tls_trust_file;
	rl->tp.certcheck = a->tls_certcheck;
	rl->tp.fingerprint = a->tls_fingerprint;
	rl->tp.cert_file = a->tls_cert_file;
	rl->tp.key_file = a->tls_key_file;
	rl->tp.priorities = a->tls_priorities;
	if (a->tls_resume) {
		char dir[4096];

		/* No state directory: no resumption, nothing else changes. */
		if (tlscache_dir(relay_state_dir(o), dir, sizeof(dir)) == 0 &&
		    tlscache_path(
			dir, &rl->tp, a->port, rl->session_file, sizeof(rl->session_file)) == 0)
			rl->tp.session_file = rl->session_file;
	}

	rl->sp.host = a->host;
	rl->sp.port = a->port;
	rl->sp.tls = a->tls;
	rl->sp.ehlo_name = a->domain != NULL ? a->domain : o->hostname;
	rl->sp.auth_cleartext = a->auth_cleartext;
	rl->sp.allow_partial = a->allow_partial;
	rl->sp.allow_8bit = a->allow_8bit;
	rl->sp.mech = sasl_from_auth_mode(a->auth);
	rl->sp.client_cert = a->tls_cert_file != NULL;
	rl->sp.dsn_notify = o->dsn_notify;
	rl->sp.dsn_ret = o->dsn_ret;
	rl->sp.dsn_envid = o->dsn_envid;
	/* EXTERNAL needs no secret: the certificate is the credential. */
	if (a->auth == AUTH_MODE_EXTERNAL) {
		rl->sp.user = a->user;
	} else if (a->auth != AUTH_MODE_OFF && a->user != NULL) {
		rl->sp.user = a->user;
		/* No core dump may carry the secret. */
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		if (oauth2_configured(a)) {
			/* OAuth2 (issue 17): a token instead of the password. */
			if (rl->oauth.token == NULL &&
			    oauth2_open(&rl->oauth, a, relay_state_dir(o), e) == -1)
				return -1;
			rl->sp.oauth2 = &rl->oauth.src;
		} else if (rl->secret == NULL && conf_read_secret(a, &rl->secret, e) == -1)
			return -1;
		rl->sp.secret = rl->secret;
	}
	if (a->tls != TLS_MODE_OFF && tls_client_init(&rl->tc, &rl->tp, e) == -1)
		goto fail;
	if (relay_sock(rl, a, timeout_ms, d, e) == -1)
		goto fail;
	conn_init(&rl->c, &sock_ops, &rl->sk, timeout_ms, d);
	rl->connected = 1;
	return 0;
fail:
	if (rl->early) {
		rl->early = 0;
		sock_connect_abandon(&rl->sk);
	}
	tls_client_free(&rl->tc);
	return -1;
}

void
relay_disconnect(struct relay *rl)
{
	if (rl->connected) {
		conn_close(&rl->c, 1);
		diag_stage(rl->diag, STAGE_QUIT, "%s (%zu bytes in %u writes)",
		    rl->c.failed ? "connection closed after the failure" : "closed",
		    rl->c.bytes_written, rl->c.writes);
		rl->connected = 0;
	}
	if (rl->early) {
		rl->early = 0;
		sock_connect_abandon(&rl->sk);
	}
	tls_client_free(&rl->tc);
}

void
relay_free(struct relay *rl)
{
	relay_disconnect(rl);
	conf_secret_free(rl->secret);
	rl->secret = NULL;
	oauth2_close(&rl->oauth);
}
