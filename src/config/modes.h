/*
 * modes.h — the account's enumerated settings, on their own so that the
 * session (smtp.h) and intake (message.h) need not see the config parser.
 */
#ifndef SX_MODES_H
#define SX_MODES_H

enum tls_mode {
	TLS_MODE_DEFAULT = 0, /* by port: implicit for 465, else starttls */
	TLS_MODE_STARTTLS,
	TLS_MODE_IMPLICIT,
	TLS_MODE_OPPORTUNISTIC, /* STARTTLS when offered, else cleartext */
	TLS_MODE_OFF
};

enum auth_mode {
	AUTH_MODE_DEFAULT = 0, /* authenticate when a user is set: best offered mechanism */
	AUTH_MODE_OFF,
	/* A pinned mechanism (sasl_from_auth_mode, smtp/sasl.h). */
	AUTH_MODE_PLAIN,
	AUTH_MODE_LOGIN,
	AUTH_MODE_CRAM_MD5,
	AUTH_MODE_SCRAM_SHA_1,
	AUTH_MODE_SCRAM_SHA_256,
	AUTH_MODE_SCRAM_SHA_1_PLUS,
	AUTH_MODE_SCRAM_SHA_256_PLUS,
	AUTH_MODE_EXTERNAL, /* the TLS client certificate; no password */
	AUTH_MODE_XOAUTH2,  /* OAuth2 (issue 17): needs a token source, src/auth/oauth2.h */
	AUTH_MODE_OAUTHBEARER
};

/* OAuth2 token management (account key oauth2_provider, src/auth/oauth2.h). */
enum oauth2_provider {
	OAUTH2_PROVIDER_NONE = 0,
	OAUTH2_PROVIDER_GOOGLE,
	OAUTH2_PROVIDER_MICROSOFT,
	OAUTH2_PROVIDER_CUSTOM
};

/* How tokens are had (oauth2_flow); DEFAULT: browser for Google, device otherwise. */
enum oauth2_flow {
	OAUTH2_FLOW_DEFAULT = 0,
	OAUTH2_FLOW_BROWSER,           /* authorization code + PKCE, loopback redirect (RFC 8252) */
	OAUTH2_FLOW_DEVICE,            /* device authorization grant (RFC 8628) */
	OAUTH2_FLOW_CLIENT_CREDENTIALS /* app-only: no user, no refresh token */
};

/* What to do with the From header (msmtp's set_from_header). */
enum from_header_mode {
	FROM_HEADER_KEEP = 0, /* auto: leave as is; add only when missing */
	FROM_HEADER_REWRITE,  /* on: rewrite the address to the account's, keep the display name */
	FROM_HEADER_OFF       /* off: never add or change a From header */
};

#endif
