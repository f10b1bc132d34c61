/*
 * test_sasl.c — the mechanisms' encodings (RFC 4616 PLAIN, LOGIN, RFC 2195
 * CRAM-MD5, EXTERNAL), one exchange at a time, and the choice: the
 * ranking, pinning, what each mechanism needs, and the gs2 flag.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_conn.h"
#include "smtp/sasl.h"
#include "smtp/smtp.h"

static void
test_plain(void **state)
{
	struct sx_err e;
	char *b64;

	(void)state;
	sx_clear(&e);
	/* RFC 4616 section 4 example (empty authzid): "\0tim\0tanstaaftanstaaf". */
	assert_int_equal(sasl_plain("tim", "tanstaaftanstaaf", &b64, &e), 0);
	assert_string_equal(b64, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	sasl_free(b64);
	/* UTF-8, spaces, colon and base64 specials pass through unchanged. */
	assert_int_equal(sasl_plain("bob", "p\xc3\xa4 ss:w\xc3\xb6rd+/=", &b64, &e), 0);
	assert_string_equal(b64, "AGJvYgBww6Qgc3M6d8O2cmQrLz0=");
	sasl_free(b64);
	assert_int_equal(sasl_plain("", "", &b64, &e), 0);
	assert_string_equal(b64, "AAA=");
	sasl_free(b64);
}

static void
test_login_and_bounds(void **state)
{
	struct sx_err e;
	char *b64, big[2000];

	(void)state;
	sx_clear(&e);
	assert_int_equal(sasl_base64("alice", &b64, &e), 0);
	assert_string_equal(b64, "YWxpY2U=");
	sasl_free(b64);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sasl_plain("u", big, &b64, &e), -1);
	assert_null(b64);
	assert_int_equal(e.cls, SX_CONFIG);
}

/* RFC 2195 section 2's example. */
static void
test_cram_md5(void **state)
{
	static const char ch[] = "<1896.697170952@postoffice.reston.mci.net>";
	struct sasl_exchange x;
	struct sx_err e;
	char *b64, *ir;

	(void)state;
	sx_clear(&e);
	assert_int_equal(sasl_cram_md5("tim", "tanstaaftanstaaf", (const unsigned char *)ch,
			     strlen(ch), &b64, &e),
	    0);
	/* base64("tim b913a602c7eda7a495b4e6e7334d3890") */
	assert_string_equal(b64, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	sasl_free(b64);
	/* The same through an exchange: no initial response, one challenge, no second. */
	assert_int_equal(sasl_begin(&x, SASL_CRAM_MD5, "tim", "tanstaaftanstaaf", SCRAM_CB_NONE,
			     NULL, 0, &ir, &e),
	    0);
	assert_null(ir);
	assert_int_equal(
	    sasl_step(&x, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", &b64, &e), 0);
	assert_string_equal(b64, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	sasl_free(b64);
	assert_int_equal(sasl_end(&x, &e), 0);
	assert_int_equal(sasl_step(&x, "PDE+", &b64, &e), -1);
	assert_int_equal(e.cls, SX_PROTO);
	sasl_exchange_clear(&x);
	/* An empty or undecodable challenge. */
	sx_clear(&e);
	assert_int_equal(
	    sasl_begin(&x, SASL_CRAM_MD5, "tim", "x", SCRAM_CB_NONE, NULL, 0, &ir, &e), 0);
	assert_int_equal(sasl_step(&x, "", &b64, &e), -1);
	assert_non_null(strstr(e.detail, "CRAM-MD5 challenge is empty"));
	sasl_exchange_clear(&x);
	sx_clear(&e);
	assert_int_equal(
	    sasl_begin(&x, SASL_CRAM_MD5, "tim", "x", SCRAM_CB_NONE, NULL, 0, &ir, &e), 0);
	assert_int_equal(sasl_step(&x, "***", &b64, &e), -1);
	assert_non_null(strstr(e.detail, "not base64"));
	sasl_exchange_clear(&x);
}

static void
test_exchanges(void **state)
{
	struct sasl_exchange x;
	struct sx_err e;
	char *ir, *resp;

	(void)state;
	sx_clear(&e);
	/* PLAIN: the initial response, again when asked with an empty challenge, never more. */
	assert_int_equal(
	    sasl_begin(&x, SASL_PLAIN, "tim", "tanstaaftanstaaf", SCRAM_CB_NONE, NULL, 0, &ir, &e),
	    0);
	assert_string_equal(ir, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	assert_int_equal(sasl_step(&x, "", &resp, &e), 0);
	assert_string_equal(resp, ir);
	sasl_free(resp);
	sasl_free(ir);
	assert_int_equal(sasl_step(&x, "", &resp, &e), -1);
	assert_int_equal(e.cls, SX_PROTO);
	sasl_exchange_clear(&x);
	/* LOGIN: user, password, then nothing. */
	sx_clear(&e);
	assert_int_equal(
	    sasl_begin(&x, SASL_LOGIN, "alice", "pw", SCRAM_CB_NONE, NULL, 0, &ir, &e), 0);
	assert_null(ir);
	assert_int_equal(sasl_step(&x, "VXNlcm5hbWU6", &resp, &e), 0);
	assert_string_equal(resp, "YWxpY2U=");
	sasl_free(resp);
	assert_int_equal(sasl_step(&x, "UGFzc3dvcmQ6", &resp, &e), 0);
	assert_string_equal(resp, "cHc=");
	sasl_free(resp);
	assert_int_equal(sasl_step(&x, "UGFzc3dvcmQ6", &resp, &e), -1);
	assert_null(resp);
	sasl_exchange_clear(&x);
	/* EXTERNAL: empty authzid ("=" on the wire), or the user as authzid. */
	sx_clear(&e);
	assert_int_equal(
	    sasl_begin(&x, SASL_EXTERNAL, NULL, NULL, SCRAM_CB_NONE, NULL, 0, &ir, &e), 0);
	assert_string_equal(ir, "");
	sasl_free(ir);
	assert_int_equal(sasl_end(&x, &e), 0);
	sasl_exchange_clear(&x);
	assert_int_equal(
	    sasl_begin(&x, SASL_EXTERNAL, "alice", NULL, SCRAM_CB_NONE, NULL, 0, &ir, &e), 0);
	assert_string_equal(ir, "YWxpY2U=");
	sasl_free(ir);
	sasl_exchange_clear(&x);
	/* The OAuth2 places are not mechanisms yet. */
	assert_int_equal(
	    sasl_begin(&x, SASL_XOAUTH2, "u", "t", SCRAM_CB_NONE, NULL, 0, &ir, &e), -1);
	assert_int_equal(e.cls, SX_INTERNAL);
	sasl_exchange_clear(&x);
}

/*
 * SCRAM through the exchange: RFC 7677's server messages cannot be used
 * (our nonce is random), so a challenge that does not extend it is
 * refused, and a 235 before the signature fails the exchange.
 */
static void
test_scram_exchange(void **state)
{
	struct sasl_exchange x;
	struct sx_err e;
	char *ir, *resp;

	(void)state;
	sx_clear(&e);
	assert_int_equal(
	    sasl_begin(&x, SASL_SCRAM_SHA_256, "user", "pencil", SCRAM_CB_UNUSED, NULL, 0, &ir, &e),
	    0);
	/* base64("y,,n=user,r=") */
	assert_memory_equal(ir, "eSwsbj11c2VyLHI9", 16);
	sasl_free(ir);
	/* base64 of an RFC 7677 challenge: not our nonce. */
	assert_int_equal(sasl_step(&x,
			     "cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5s"
			     "RiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY=",
			     &resp, &e),
	    -1);
	assert_int_equal(e.cls, SX_PROTO);
	assert_non_null(strstr(e.detail, "nonce does not extend ours"));
	sasl_exchange_clear(&x);
	/* A 235 straight after the client-first: the server proved nothing. */
	sx_clear(&e);
	assert_int_equal(
	    sasl_begin(&x, SASL_SCRAM_SHA_1, "user", "pencil", SCRAM_CB_NONE, NULL, 0, &ir, &e), 0);
	sasl_free(ir);
	assert_int_equal(sasl_end(&x, &e), -1);
	assert_int_equal(e.cls, SX_AUTH);
	assert_non_null(strstr(e.detail, "could not prove it knows the password"));
	sasl_exchange_clear(&x);
	/* The gs2 flag must match the mechanism. */
	sx_clear(&e);
	assert_int_equal(sasl_begin(&x, SASL_SCRAM_SHA_256_PLUS, "user", "pencil", SCRAM_CB_UNUSED,
			     NULL, 0, &ir, &e),
	    -1);
	assert_int_equal(e.cls, SX_INTERNAL);
	sasl_exchange_clear(&x);
}

static void
test_offered(void **state)
{
	(void)state;
	assert_int_equal(sasl_offered(""), 0);
	assert_int_equal(sasl_offered("PLAIN login"), SASL_BIT(SASL_PLAIN) | SASL_BIT(SASL_LOGIN));
	assert_int_equal(sasl_offered("scram-sha-1 SCRAM-SHA-256-PLUS GSSAPI SCRAM-SHA-25"),
	    SASL_BIT(SASL_SCRAM_SHA_1) | SASL_BIT(SASL_SCRAM_SHA_256_PLUS));
	assert_int_equal(sasl_offered("CRAM-MD5 EXTERNAL XOAUTH2 OAUTHBEARER"),
	    SASL_BIT(SASL_CRAM_MD5) | SASL_BIT(SASL_EXTERNAL) | SASL_BIT(SASL_XOAUTH2) |
		SASL_BIT(SASL_OAUTHBEARER));
	assert_int_equal(
	    sasl_from_auth_mode(AUTH_MODE_SCRAM_SHA_256_PLUS), SASL_SCRAM_SHA_256_PLUS);
	assert_int_equal(sasl_from_auth_mode(AUTH_MODE_EXTERNAL), SASL_EXTERNAL);
	assert_int_equal(sasl_from_auth_mode(AUTH_MODE_DEFAULT), SASL_NONE);
	assert_int_equal(sasl_from_auth_mode(AUTH_MODE_OFF), SASL_NONE);
	assert_string_equal(sasl_name(SASL_PLAIN), "PLAIN");
	assert_string_equal(sasl_name(SASL_SCRAM_SHA_1_PLUS), "SCRAM-SHA-1-PLUS");
}

#define ALL_PW "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256"
#define ALL    ALL_PW " SCRAM-SHA-1-PLUS SCRAM-SHA-256-PLUS EXTERNAL XOAUTH2 OAUTHBEARER"
#define TLS_PW (SASL_HAVE_TLS | SASL_HAVE_PASSWORD)

/* auth on: the strongest offered that this session can use, and why (stronger ones passed over). */
static void
test_pick_strongest(void **state)
{
	static const struct {
		const char *offered;
		unsigned have;
		enum sasl_mech want;
		const char *why;
	} cases[] = {
	    {ALL, TLS_PW | SASL_HAVE_BINDING, SASL_SCRAM_SHA_256_PLUS, "the strongest offered"},
	    {ALL, TLS_PW, SASL_SCRAM_SHA_256,
		"the strongest offered (passed over SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS: no "
		"channel binding on this connection (TLS 1.2 without extended master secret))"},
	    /* Only weaker ones are passed over in silence. */
	    {"CRAM-MD5 PLAIN EXTERNAL SCRAM-SHA-1", TLS_PW, SASL_SCRAM_SHA_1,
		"=the strongest offered"},
	    {"SCRAM-SHA-1-PLUS SCRAM-SHA-256 PLAIN", TLS_PW | SASL_HAVE_BINDING,
		SASL_SCRAM_SHA_1_PLUS, NULL},
	    {"SCRAM-SHA-1 PLAIN LOGIN", TLS_PW | SASL_HAVE_BINDING, SASL_SCRAM_SHA_1, NULL},
	    {"PLAIN LOGIN CRAM-MD5", TLS_PW, SASL_PLAIN, NULL},
	    {"LOGIN CRAM-MD5", TLS_PW, SASL_LOGIN, NULL},
	    {"CRAM-MD5", TLS_PW, SASL_CRAM_MD5, NULL},
	    /* Without TLS (tls off, auth_cleartext on) CRAM-MD5 is not used. */
	    {"CRAM-MD5", SASL_HAVE_PASSWORD, SASL_NONE, "CRAM-MD5: used only over TLS"},
	    {"CRAM-MD5 PLAIN", SASL_HAVE_PASSWORD, SASL_PLAIN, NULL},
	    /* OAuth2 only with a token; EXTERNAL only when pinned. */
	    {"XOAUTH2 OAUTHBEARER", TLS_PW, SASL_NONE,
		"usable: OAUTHBEARER, XOAUTH2: needs an OAuth2 token"},
	    {"CRAM-MD5 EXTERNAL", SASL_HAVE_PASSWORD, SASL_NONE,
		"usable: CRAM-MD5, EXTERNAL: used only over TLS"},
	    {"XOAUTH2 PLAIN", TLS_PW, SASL_PLAIN, NULL},
	    {"EXTERNAL", TLS_PW | SASL_HAVE_CERT, SASL_NONE, "used only when pinned"},
	    {"GSSAPI NTLM", TLS_PW, SASL_NONE, "none of the offered mechanisms is usable"},
	    {"", TLS_PW, SASL_NONE, NULL},
	};
	char why[512];
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		enum sasl_mech got = sasl_pick(SASL_NONE, sasl_offered(cases[k].offered),
		    cases[k].have, "TLS 1.2 without extended master secret", why, sizeof(why));

		if (got != cases[k].want)
			fail_msg("case %zu (%s): %s, expected %s", k, cases[k].offered,
			    sasl_name(got), sasl_name(cases[k].want));
		/* "=text": why is exactly text; else it contains it. */
		if (cases[k].why != NULL && cases[k].why[0] == '=' &&
		    strcmp(why, cases[k].why + 1) != 0)
			fail_msg("case %zu: why \"%s\", expected \"%s\"", k, why, cases[k].why + 1);
		if (cases[k].why != NULL && cases[k].why[0] != '=' &&
		    strstr(why, cases[k].why) == NULL)
			fail_msg("case %zu: why \"%s\" lacks \"%s\"", k, why, cases[k].why);
	}
}

/* auth NAME: that one or nothing, saying why. */
static void
test_pick_pinned(void **state)
{
	char why[512];

	(void)state;
	assert_int_equal(
	    sasl_pick(SASL_LOGIN, sasl_offered(ALL), TLS_PW, NULL, why, sizeof(why)), SASL_LOGIN);
	assert_non_null(strstr(why, "pinned"));
	assert_int_equal(sasl_pick(SASL_SCRAM_SHA_256, sasl_offered("PLAIN LOGIN"), TLS_PW, NULL,
			     why, sizeof(why)),
	    SASL_NONE);
	assert_string_equal(why, "SCRAM-SHA-256 is pinned (auth) but the server does not offer it");
	assert_int_equal(sasl_pick(SASL_SCRAM_SHA_256_PLUS, sasl_offered(ALL), TLS_PW,
			     "TLS 1.2 without extended master secret", why, sizeof(why)),
	    SASL_NONE);
	assert_non_null(strstr(why, "SCRAM-SHA-256-PLUS is pinned (auth) but no channel binding on "
				    "this connection (TLS 1.2 without extended master secret)"));
	assert_int_equal(
	    sasl_pick(SASL_CRAM_MD5, sasl_offered(ALL), SASL_HAVE_PASSWORD, NULL, why, sizeof(why)),
	    SASL_NONE);
	assert_non_null(strstr(why, "used only over TLS"));
	assert_int_equal(
	    sasl_pick(SASL_EXTERNAL, sasl_offered(ALL), TLS_PW, NULL, why, sizeof(why)), SASL_NONE);
	assert_non_null(strstr(why, "needs a client certificate"));
	assert_int_equal(sasl_pick(SASL_EXTERNAL, sasl_offered(ALL), SASL_HAVE_TLS | SASL_HAVE_CERT,
			     NULL, why, sizeof(why)),
	    SASL_EXTERNAL);
	assert_int_equal(
	    sasl_pick(SASL_PLAIN, sasl_offered("LOGIN"), TLS_PW, NULL, why, sizeof(why)),
	    SASL_NONE);
}

/* RFC 5802 sections 6 and 7: p for -PLUS; y when we could bind and no -PLUS is offered. */
static void
test_cbind(void **state)
{
	unsigned bind = TLS_PW | SASL_HAVE_BINDING;

	(void)state;
	assert_int_equal(
	    sasl_cbind(SASL_SCRAM_SHA_256_PLUS, sasl_offered(ALL), bind), SCRAM_CB_EXPORTER);
	assert_int_equal(
	    sasl_cbind(SASL_SCRAM_SHA_1_PLUS, sasl_offered(ALL), bind), SCRAM_CB_EXPORTER);
	/* The list shows no -PLUS but we could bind: y, so a stripped list is detected. */
	assert_int_equal(sasl_cbind(SASL_SCRAM_SHA_256, sasl_offered("SCRAM-SHA-256 PLAIN"), bind),
	    SCRAM_CB_UNUSED);
	/* We cannot bind: n. */
	assert_int_equal(
	    sasl_cbind(SASL_SCRAM_SHA_256, sasl_offered("SCRAM-SHA-256 PLAIN"), TLS_PW),
	    SCRAM_CB_NONE);
	/* The server binds (-PLUS offered) but SCRAM-SHA-256 was pinned: n, not y. */
	assert_int_equal(sasl_cbind(SASL_SCRAM_SHA_256, sasl_offered(ALL), bind), SCRAM_CB_NONE);
	assert_int_equal(
	    sasl_cbind(SASL_SCRAM_SHA_256, sasl_offered("SCRAM-SHA-1-PLUS SCRAM-SHA-256"), bind),
	    SCRAM_CB_NONE);
}

/* --- the exchange inside a session (check_only: AUTH, then QUIT) --- */

#define S_GREET                                                                                    \
	{FK_TLS, NULL},                                                                            \
	{                                                                                          \
		FK_REPLY, "220 mx.example ESMTP\r\n"                                               \
	}
#define S_EHLO                                                                                     \
	{                                                                                          \
		FK_EXPECT, "EHLO client.example\r\n"                                               \
	}
#define S_QUIT                                                                                     \
	{FK_EXPECT, "QUIT\r\n"},                                                                   \
	{                                                                                          \
		FK_REPLY, "221 2.0.0 Bye\r\n"                                                      \
	}

/* Run steps (implicit TLS) as alice/secret, replies whole and one byte at a time. */
static int
session(
    const struct fk_step *steps, struct smtp_params *pp, struct smtp_result *res, struct sx_err *e)
{
	struct smtp_params p;
	struct fake_conn f;
	struct conn c;
	size_t chunk;
	int rc = -1;

	for (chunk = 0; chunk <= 1; chunk++) {
		memset(&p, 0, sizeof(p));
		p.host = "mx.example";
		p.port = 465;
		p.tls = TLS_MODE_IMPLICIT;
		p.ehlo_name = "client.example";
		p.user = "alice";
		p.secret = "secret";
		p.check_only = 1;
		if (pp != NULL) {
			p.mech = pp->mech;
			p.client_cert = pp->client_cert;
			p.user = pp->user;
		}
		memset(res, 0, sizeof(*res));
		sx_clear(e);
		fake_conn_setup(&f, &c, steps, chunk);
		rc = smtp_session(&c, &p, NULL, res, e);
		fake_conn_assert_done(&f);
		conn_close(&c, rc == 0);
		smtp_result_free(res);
		fake_conn_free(&f);
	}
	return rc;
}

/* A server with nothing stronger: CRAM-MD5 inside TLS (RFC 2195's example, as alice). */
static void
test_session_cram_md5(void **state)
{
	static const struct fk_step steps[] = {
	    S_GREET,
	    S_EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH CRAM-MD5 GSSAPI\r\n"},
	    {FK_EXPECT, "AUTH CRAM-MD5\r\n"},
	    {FK_REPLY, "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"},
	    /* base64("alice " + HMAC-MD5("secret", challenge) in hex) */
	    {FK_EXPECT, "YWxpY2UgNzMzYmE4N2U2NGVkN2U0NDFmMDYyYzRhYzZkYjAxMDM=\r\n"},
	    {FK_REPLY, "235 2.7.0 ok\r\n"},
	    S_QUIT,
	    {FK_END, NULL},
	};
	struct smtp_result r;
	struct sx_err e;

	(void)state;
	assert_int_equal(session(steps, NULL, &r, &e), 0);
	assert_int_equal(r.mech, SASL_CRAM_MD5);
}

/* auth scram-sha-256 and a server without it: no AUTH at all, the list in the error. */
static void
test_session_pinned_not_offered(void **state)
{
	static const struct fk_step steps[] = {
	    S_GREET,
	    S_EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n"},
	    S_QUIT,
	    {FK_END, NULL},
	};
	struct smtp_params p;
	struct smtp_result r;
	struct sx_err e;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.user = "alice";
	p.mech = SASL_SCRAM_SHA_256;
	assert_int_equal(session(steps, &p, &r, &e), -1);
	assert_int_equal(e.cls, SX_PERM);
	assert_int_equal(e.stage, STAGE_AUTH);
	assert_string_equal(e.detail, "no usable authentication mechanism: SCRAM-SHA-256 is pinned "
				      "(auth) but the server does not offer it (server offers: "
				      "PLAIN LOGIN)");
	assert_non_null(strstr(e.hint, "auth on"));
}

/* auth external: the certificate's identity ("=") without a user; then with one. */
static void
test_session_external(void **state)
{
	static const struct fk_step steps[] = {
	    S_GREET,
	    S_EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN EXTERNAL\r\n"},
	    {FK_EXPECT, "AUTH EXTERNAL =\r\n"},
	    {FK_REPLY, "235 2.7.0 ok\r\n"},
	    S_QUIT,
	    {FK_END, NULL},
	};
	static const struct fk_step with_user[] = {
	    S_GREET,
	    S_EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN EXTERNAL\r\n"},
	    {FK_EXPECT, "AUTH EXTERNAL YWxpY2U=\r\n"},
	    {FK_REPLY, "334 \r\n"},
	    {FK_EXPECT, "YWxpY2U=\r\n"},
	    {FK_REPLY, "535 5.7.8 no\r\n"},
	    S_QUIT,
	    {FK_END, NULL},
	};
	static const struct fk_step no_cert[] = {
	    S_GREET,
	    S_EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN EXTERNAL\r\n"},
	    S_QUIT,
	    {FK_END, NULL},
	};
	struct smtp_params p;
	struct smtp_result r;
	struct sx_err e;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.mech = SASL_EXTERNAL;
	p.client_cert = 1;
	assert_int_equal(session(steps, &p, &r, &e), 0);
	assert_int_equal(r.mech, SASL_EXTERNAL);
	p.user = "alice";
	assert_int_equal(session(with_user, &p, &r, &e), -1);
	assert_int_equal(e.cls, SX_AUTH);
	p.user = NULL;
	p.client_cert = 0;
	assert_int_equal(session(no_cert, &p, &r, &e), -1);
	assert_non_null(
	    strstr(e.detail, "EXTERNAL is pinned (auth) but needs a client certificate"));
}

/* A challenge the mechanism does not expect: "*" cancels (RFC 4954), then QUIT. */
static void
test_session_cancel(void **state)
{
	static const struct fk_step steps[] = {
	    S_GREET,
	    S_EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH LOGIN\r\n"},
	    {FK_EXPECT, "AUTH LOGIN\r\n"},
	    {FK_REPLY, "334 VXNlcm5hbWU6\r\n"},
	    {FK_EXPECT, "YWxpY2U=\r\n"},
	    {FK_REPLY, "334 UGFzc3dvcmQ6\r\n"},
	    {FK_EXPECT, "c2VjcmV0\r\n"},
	    {FK_REPLY, "334 TW9yZTo=\r\n"},
	    {FK_EXPECT, "*\r\n"},
	    {FK_REPLY, "501 5.7.0 cancelled\r\n"},
	    S_QUIT,
	    {FK_END, NULL},
	};
	struct smtp_params p;
	struct smtp_result r;
	struct sx_err e;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.user = "alice";
	p.mech = SASL_LOGIN;
	assert_int_equal(session(steps, &p, &r, &e), -1);
	assert_int_equal(e.cls, SX_PROTO);
	assert_string_equal(e.detail, "the server asked for more than user and password (LOGIN)");
}

/* auth on, and nothing offered that smtps-send knows (a near-name is no name). */
static void
test_session_auto(void **state)
{
	static const struct fk_step none[] = {
	    S_GREET,
	    S_EHLO,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH GSSAPI CRAM-MD5x\r\n"},
	    S_QUIT,
	    {FK_END, NULL},
	};
	struct smtp_result r;
	struct sx_err e;

	(void)state;
	assert_int_equal(session(none, NULL, &r, &e), -1);
	assert_string_equal(e.detail, "no usable authentication mechanism: none of the offered "
				      "mechanisms is usable (server offers: GSSAPI CRAM-MD5X)");
	assert_non_null(strstr(e.hint, "SCRAM-SHA-256(-PLUS)"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_login_and_bounds),
	    cmocka_unit_test(test_cram_md5),
	    cmocka_unit_test(test_exchanges),
	    cmocka_unit_test(test_scram_exchange),
	    cmocka_unit_test(test_offered),
	    cmocka_unit_test(test_pick_strongest),
	    cmocka_unit_test(test_pick_pinned),
	    cmocka_unit_test(test_cbind),
	    cmocka_unit_test(test_session_cram_md5),
	    cmocka_unit_test(test_session_pinned_not_offered),
	    cmocka_unit_test(test_session_external),
	    cmocka_unit_test(test_session_cancel),
	    cmocka_unit_test(test_session_auto),
	};

	return cmocka_run_group_tests_name("sasl", tests, NULL, NULL);
}
