/*
 * oauth2_provider.c — the endpoints and scopes of the providers smtps-send
 * knows, each overridable by the account's own oauth2_*_url and
 * oauth2_scope (see oauth2.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "auth/oauth2.h"

/* Google: an installed ("Desktop app") client; the Gmail scope is full mail access. */
#define GOOGLE_AUTH_URL   "https://accounts.google.com/o/oauth2/v2/auth"
#define GOOGLE_TOKEN_URL  "https://oauth2.googleapis.com/token"
#define GOOGLE_DEVICE_URL "https://oauth2.googleapis.com/device/code"
#define GOOGLE_SCOPE      "https://mail.google.com/"

/* Microsoft identity platform v2; %s is the tenant ("common" unless set). */
#define MS_BASE          "https://login.microsoftonline.com/%s/oauth2/v2.0/"
#define MS_SCOPE         "https://outlook.office.com/SMTP.Send offline_access"
#define MS_SCOPE_APPONLY "https://outlook.office365.com/.default"

static void
oauth2_pick(char *dst, size_t dstsz, const char *own, const char *preset)
{
	snprintf(dst, dstsz, "%s", own != NULL ? own : preset != NULL ? preset : "");
}

int
oauth2_endpoints(const struct account *a, struct oauth2_endpoints *ep, struct sx_err *e)
{
	const char *tenant = a->oauth2_tenant != NULL ? a->oauth2_tenant : "common";
	char ms_auth[512], ms_token[512], ms_device[512];

	memset(ep, 0, sizeof(*ep));
	ep->flow = a->oauth2_flow;
	switch (a->oauth2_provider) {
	case OAUTH2_PROVIDER_GOOGLE:
		/* Google's device flow does not grant the mail scope: the browser it is. */
		if (ep->flow == OAUTH2_FLOW_DEFAULT)
			ep->flow = OAUTH2_FLOW_BROWSER;
		oauth2_pick(
		    ep->token_url, sizeof(ep->token_url), a->oauth2_token_url, GOOGLE_TOKEN_URL);
		oauth2_pick(
		    ep->auth_url, sizeof(ep->auth_url), a->oauth2_auth_url, GOOGLE_AUTH_URL);
		oauth2_pick(ep->device_url, sizeof(ep->device_url), a->oauth2_device_url,
		    GOOGLE_DEVICE_URL);
		oauth2_pick(ep->scope, sizeof(ep->scope), a->oauth2_scope, GOOGLE_SCOPE);
		break;
	case OAUTH2_PROVIDER_MICROSOFT:
		if (ep->flow == OAUTH2_FLOW_DEFAULT)
			ep->flow = OAUTH2_FLOW_DEVICE;
		snprintf(ms_auth, sizeof(ms_auth), MS_BASE "authorize", tenant);
		snprintf(ms_token, sizeof(ms_token), MS_BASE "token", tenant);
		snprintf(ms_device, sizeof(ms_device), MS_BASE "devicecode", tenant);
		oauth2_pick(ep->token_url, sizeof(ep->token_url), a->oauth2_token_url, ms_token);
		oauth2_pick(ep->auth_url, sizeof(ep->auth_url), a->oauth2_auth_url, ms_auth);
		oauth2_pick(
		    ep->device_url, sizeof(ep->device_url), a->oauth2_device_url, ms_device);
		oauth2_pick(ep->scope, sizeof(ep->scope), a->oauth2_scope,
		    ep->flow == OAUTH2_FLOW_CLIENT_CREDENTIALS ? MS_SCOPE_APPONLY : MS_SCOPE);
		break;
	case OAUTH2_PROVIDER_CUSTOM:
		if (ep->flow == OAUTH2_FLOW_DEFAULT)
			ep->flow =
			    a->oauth2_device_url != NULL ? OAUTH2_FLOW_DEVICE : OAUTH2_FLOW_BROWSER;
		oauth2_pick(ep->token_url, sizeof(ep->token_url), a->oauth2_token_url, NULL);
		oauth2_pick(ep->auth_url, sizeof(ep->auth_url), a->oauth2_auth_url, NULL);
		oauth2_pick(ep->device_url, sizeof(ep->device_url), a->oauth2_device_url, NULL);
		oauth2_pick(ep->scope, sizeof(ep->scope), a->oauth2_scope, NULL);
		break;
	default:
		return sx_fail(e, SX_CONFIG, STAGE_CONFIG,
		    "account %s: no oauth2_provider (built-in token management is off)", a->name);
	}
	if (ep->token_url[0] == '\0')
		return sx_fail(
		    e, SX_CONFIG, STAGE_CONFIG, "account %s: no oauth2_token_url", a->name);
	return 0;
}
