/*
 * test_oauth.c — XOAUTH2 and OAUTHBEARER: the encodings against RFC 7628's
 * and Google's examples, the error challenge, the mechanism choice, and the
 * AUTH exchange against the scripted transport (the challenge answered,
 * one refresh and retry in the same session, the token never in errors).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_conn.h"
#include "smtp/oauthsasl.h"
#include "smtp/smtp.h"

static void
test_bearer_rfc7628(void **state)
{
	struct sx_err e;
	char *b64;

	(void)state;
	sx_clear(&e);
	/* RFC 7628 4.1, the client's initial response. */
	assert_int_equal(
	    oauth_bearer("user@example.com",
		"vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143, &b64, &e),
	    0);
	assert_string_equal(b64,
	    "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9M"
	    "TQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZM"
	    "jl0Q2c9PQEB");
	free(b64);
	/* RFC 5801 saslname: ',' and '=' escaped; no host or port. */
	assert_int_equal(oauth_bearer("a=b,c", "t", NULL, 0, &b64, &e), 0);
	assert_string_equal(b64, "bixhPWE9M0RiPTJDYywBYXV0aD1CZWFyZXIgdAEB");
	free(b64);
}

static void
test_xoauth2(void **state)
{
	struct sx_err e;
	char *b64, big[OAUTH_TOKEN_MAX + 2];

	(void)state;
	sx_clear(&e);
	/* Google's XOAUTH2 documentation example. */
	assert_int_equal(oauth_xoauth2("someuser@example.com",
			     "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", &b64, &e),
	    0);
	assert_string_equal(b64,
	    "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRx"
	    "bVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
	free(b64);
	/* An 8 KiB token fits; one byte more does not, and a control character never. */
	memset(big, 'A', OAUTH_TOKEN_MAX);
	big[OAUTH_TOKEN_MAX] = '\0';
	assert_int_equal(oauth_xoauth2("u", big, &b64, &e), 0);
	free(b64);
	big[OAUTH_TOKEN_MAX] = 'A';
	big[OAUTH_TOKEN_MAX + 1] = '\0';
	assert_int_equal(oauth_xoauth2("u", big, &b64, &e), -1);
	assert_null(b64);
	assert_null(strstr(e.detail, "AAAA"));
	sx_clear(&e);
	assert_int_equal(oauth_xoauth2("u", "a\001b", &b64, &e), -1);
	assert_int_equal(e.cls, SX_CONFIG);
}

static void
test_challenge(void **state)
{
	struct oauth_challenge ch;

	(void)state;
	/* RFC 7628 4.3 */
	assert_int_equal(
	    oauth_challenge_parse("eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFt"
				  "cGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRw"
				  "czovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25m"
				  "aWd1cmF0aW9uIn0=",
		&ch),
	    0);
	assert_string_equal(ch.status, "invalid_token");
	assert_string_equal(ch.scope, "example_scope");
	assert_true(ch.token_refused);
	/* Google: the HTTP status as a string. */
	assert_int_equal(
	    oauth_challenge_parse("eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2Nv"
				  "cGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==",
		&ch),
	    0);
	assert_string_equal(ch.status, "401");
	assert_string_equal(ch.scope, "https://mail.google.com/");
	assert_true(ch.token_refused);
	assert_int_equal(
	    oauth_challenge_parse(
		"eyJzdGF0dXMiOiJpbnN1ZmZpY2llbnRfc2NvcGUiLCJzY29wZSI6InNtdHAifQ==", &ch),
	    0);
	assert_false(ch.token_refused);
	/* Not base64, not JSON, not an object. */
	assert_int_equal(oauth_challenge_parse("", &ch), -1);
	assert_int_equal(oauth_challenge_parse("!!!", &ch), -1);
	assert_int_equal(oauth_challenge_parse("bm90IGpzb24=", &ch), -1);
	assert_int_equal(oauth_challenge_parse("WzFd", &ch), -1); /* [1] */
}

static void
test_pick(void **state)
{
	(void)state;
	assert_int_equal(oauth_pick(SASL_NONE, "PLAIN XOAUTH2 OAUTHBEARER"), SASL_OAUTHBEARER);
	assert_int_equal(oauth_pick(SASL_NONE, "LOGIN PLAIN XOAUTH2"), SASL_XOAUTH2);
	assert_int_equal(oauth_pick(SASL_XOAUTH2, "xoauth2 OAUTHBEARER"), SASL_XOAUTH2);
	assert_int_equal(oauth_pick(SASL_OAUTHBEARER, "PLAIN XOAUTH2"), SASL_NONE);
	assert_int_equal(oauth_pick(SASL_NONE, "PLAIN XOAUTH"), SASL_NONE);
	assert_int_equal(oauth_pick(SASL_NONE, ""), SASL_NONE);
	assert_string_equal(sasl_name(SASL_OAUTHBEARER), "OAUTHBEARER");
}

/* The session, scripted: a refresh callback that hands out tok2 once. */
struct src_state {
	struct oauth_token_source src;
	int calls;
	int give; /* 1: a new token, 0: none, -1: fail */
};

static int
refresh_cb(struct oauth_token_source *src, struct sx_err *e)
{
	struct src_state *s = (struct src_state *)(void *)src;

	s->calls++;
	if (s->give == -1)
		return sx_fail(e, SX_AUTH, STAGE_CONFIG, "oauth2: the refresh token was refused");
	if (s->give == 1)
		src->token = "tok2";
	return s->give;
}

#define GREETING                                                                                   \
	{FK_TLS, NULL}, {FK_REPLY, "220 mx.example ESMTP\r\n"},                                    \
	{                                                                                          \
		FK_EXPECT, "EHLO client.example\r\n"                                               \
	}
#define AUTH_X1 "AUTH XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sxAQE=\r\n"
#define AUTH_X2 "AUTH XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2syAQE=\r\n"
#define CH_401                                                                                     \
	"334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xl" \
	"LmNvbS8ifQ==\r\n"

static int
run_session(const struct fk_step *steps, struct src_state *st, enum sasl_mech mech,
    struct sx_err *e, struct smtp_result *res)
{
	struct smtp_params p;
	struct fake_conn f;
	struct conn c;
	int rc;

	memset(&p, 0, sizeof(p));
	p.host = "mx.example";
	p.port = 587;
	p.tls = TLS_MODE_IMPLICIT;
	p.ehlo_name = "client.example";
	p.user = "alice";
	p.mech = mech;
	p.check_only = 1;
	st->src.token = "tok1";
	st->src.refresh = refresh_cb;
	p.oauth2 = &st->src;
	memset(res, 0, sizeof(*res));
	sx_clear(e);
	fake_conn_setup(&f, &c, steps, 0);
	rc = smtp_session(&c, &p, NULL, res, e);
	fake_conn_assert_done(&f);
	conn_close(&c, rc == 0);
	smtp_result_free(res);
	fake_conn_free(&f);
	return rc;
}

static void
test_session_refresh_once(void **state)
{
	static const struct fk_step steps[] = {
	    GREETING,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN XOAUTH2\r\n"},
	    {FK_EXPECT, AUTH_X1},
	    {FK_REPLY, CH_401},
	    {FK_EXPECT, "\r\n"}, /* XOAUTH2's dummy response: the empty line */
	    {FK_REPLY, "535 5.7.8 Username and Password not accepted\r\n"},
	    {FK_EXPECT, AUTH_X2},
	    {FK_REPLY, "235 2.7.0 Accepted\r\n"},
	    {FK_EXPECT, "QUIT\r\n"},
	    {FK_REPLY, "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct src_state st = {{NULL, NULL, NULL}, 0, 1};
	struct smtp_result res;
	struct sx_err e;

	(void)state;
	assert_int_equal(run_session(steps, &st, SASL_NONE, &e, &res), 0);
	assert_int_equal(st.calls, 1);
	assert_int_equal(res.mech, SASL_XOAUTH2);
}

static void
test_session_bearer_refused(void **state)
{
	/* OAUTHBEARER: the dummy response is %x01 (AQ==); a second refusal is final. */
	static const struct fk_step steps[] = {
	    GREETING,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH OAUTHBEARER XOAUTH2\r\n"},
	    {FK_EXPECT,
		"AUTH OAUTHBEARER "
		"bixhPWFsaWNlLAFob3N0PW14LmV4YW1wbGUBcG9ydD01ODcBYXV0aD1CZWFyZXIgdG9rMQEB\r\n"},
	    {FK_REPLY, CH_401},
	    {FK_EXPECT, "AQ==\r\n"},
	    {FK_REPLY, "535 5.7.8 no\r\n"},
	    {FK_EXPECT,
		"AUTH OAUTHBEARER "
		"bixhPWFsaWNlLAFob3N0PW14LmV4YW1wbGUBcG9ydD01ODcBYXV0aD1CZWFyZXIgdG9rMgEB\r\n"},
	    {FK_REPLY, CH_401},
	    {FK_EXPECT, "AQ==\r\n"},
	    {FK_REPLY, "535 5.7.8 still no\r\n"},
	    {FK_EXPECT, "QUIT\r\n"},
	    {FK_REPLY, "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct src_state st = {{NULL, NULL, NULL}, 0, 1};
	struct smtp_result res;
	struct sx_err e;

	(void)state;
	assert_int_equal(run_session(steps, &st, SASL_NONE, &e, &res), -1);
	assert_int_equal(st.calls, 1);
	assert_int_equal(e.cls, SX_AUTH);
	assert_non_null(strstr(e.detail, "OAUTHBEARER"));
	assert_non_null(strstr(e.detail, "status 401"));
	assert_non_null(strstr(e.detail, "scope https://mail.google.com/"));
	assert_null(strstr(e.detail, "tok"));
}

static void
test_session_refresh_fails(void **state)
{
	/* The refresh itself is refused (a revoked refresh token): that error stands. */
	static const struct fk_step steps[] = {
	    GREETING,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH XOAUTH2\r\n"},
	    {FK_EXPECT, AUTH_X1},
	    {FK_REPLY, "535 5.7.3 Authentication unsuccessful\r\n"},
	    {FK_EXPECT, "QUIT\r\n"},
	    {FK_REPLY, "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct src_state st = {{NULL, NULL, NULL}, 0, -1};
	struct smtp_result res;
	struct sx_err e;

	(void)state;
	assert_int_equal(run_session(steps, &st, SASL_XOAUTH2, &e, &res), -1);
	assert_int_equal(st.calls, 1);
	assert_int_equal(e.cls, SX_AUTH);
	assert_non_null(strstr(e.detail, "refresh token was refused"));
}

static void
test_session_scope_not_retried(void **state)
{
	/* insufficient_scope: a new token of the same grant would not help. */
	static const struct fk_step steps[] = {
	    GREETING,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH XOAUTH2\r\n"},
	    {FK_EXPECT, AUTH_X1},
	    {FK_REPLY, "334 eyJzdGF0dXMiOiJpbnN1ZmZpY2llbnRfc2NvcGUiLCJzY29wZSI6InNtdHAifQ==\r\n"},
	    {FK_EXPECT, "\r\n"},
	    {FK_REPLY, "535 5.7.8 no\r\n"},
	    {FK_EXPECT, "QUIT\r\n"},
	    {FK_REPLY, "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct src_state st = {{NULL, NULL, NULL}, 0, 1};
	struct smtp_result res;
	struct sx_err e;

	(void)state;
	assert_int_equal(run_session(steps, &st, SASL_NONE, &e, &res), -1);
	assert_int_equal(st.calls, 0);
	assert_non_null(strstr(e.hint, "oauth2_scope"));
}

static void
test_session_not_offered(void **state)
{
	static const struct fk_step steps[] = {
	    GREETING,
	    {FK_REPLY, "250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n"},
	    {FK_EXPECT, "QUIT\r\n"},
	    {FK_REPLY, "221 bye\r\n"},
	    {FK_END, NULL},
	};
	struct src_state st = {{NULL, NULL, NULL}, 0, 1};
	struct smtp_result res;
	struct sx_err e;

	(void)state;
	assert_int_equal(run_session(steps, &st, SASL_NONE, &e, &res), -1);
	assert_int_equal(e.cls, SX_PERM);
	assert_non_null(strstr(e.detail, "PLAIN LOGIN"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bearer_rfc7628),
	    cmocka_unit_test(test_xoauth2),
	    cmocka_unit_test(test_challenge),
	    cmocka_unit_test(test_pick),
	    cmocka_unit_test(test_session_refresh_once),
	    cmocka_unit_test(test_session_bearer_refused),
	    cmocka_unit_test(test_session_refresh_fails),
	    cmocka_unit_test(test_session_scope_not_retried),
	    cmocka_unit_test(test_session_not_offered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
