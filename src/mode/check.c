/* check.c — --check: connect, TLS, AUTH, QUIT; nothing is sent (see run.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mode/run.h"
#include "net/relay.h"

static void
check_oauth2(const struct oauth2 *o)
{
	long long left = (long long)(o->expires_at - time(NULL));

	if (o->expires_at == 0)
		printf("  OAuth2 token: from %s, expiry not known\n", o->from);
	else if (left > 0)
		printf("  OAuth2 token: from %s, expires in %lld min %lld s\n", o->from, left / 60,
		    left % 60);
	else
		printf("  OAuth2 token: from %s, expired %lld s ago\n", o->from, -left);
}

/* What a pin or a renewal reminder needs, without -v. */
static void
check_tls(gnutls_session_t s)
{
	struct tls_info info;

	tls_session_info(s, &info);
	printf("  TLS: %s, certificate expires %s (%ld days left)\n", info.version, info.expiry,
	    info.days_left);
	if (info.fingerprint[0] != '\0')
		printf("  certificate SHA-256: %s\n", info.fingerprint);
}

int
mode_check(struct run *r)
{
	struct smtp_result res;
	struct relay_opts ro;
	struct relay rl;
	char desc[256], clean[256];
	int rc = -1;

	memset(&res, 0, sizeof(res));
	memset(&rl, 0, sizeof(rl));
	memset(&ro, 0, sizeof(ro));
	ro.hostname = r->hostname;
	if (relay_connect(&rl, &r->acct, &ro, &r->diag, &r->err) == 0) {
		rl.sp.check_only = 1;
		rc = smtp_session(&rl.c, &rl.sp, NULL, &res, &r->err);
	}
	if (rc == 0) {
		printf("smtps-send: %s port %u: TLS %s, AUTH %s: OK\n", r->acct.host, r->acct.port,
		    conf_tls_name(r->acct.tls),
		    res.mech != SASL_NONE ? sasl_name(res.mech) : "not used");
		/* Built from validated names already; sanitised again as all server text is. */
		smtp_caps_describe(&res.caps, desc, sizeof(desc));
		sx_sanitize(clean, sizeof(clean), desc, strlen(desc), 0);
		printf("  capabilities: %s\n", clean);
		if (res.caps.size > 0)
			printf("  size limit: %llu bytes\n", res.caps.size);
		if (rl.sk.tls != NULL)
			check_tls(rl.sk.tls);
		if (rl.oauth.from != NULL) /* OAuth2: where the token came from, never the token */
			check_oauth2(&rl.oauth);
	}
	relay_free(&rl); /* after the report: it wipes the OAuth2 token */
	smtp_result_free(&res);
	return rc;
}
