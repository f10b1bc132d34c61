/*
 * test_scram.c — the SCRAM client (scram.c): the RFC 5802 (SHA-1) and RFC
 * 7677 (SHA-256) exchanges byte for byte, the gs2 flags y and
 * p=tls-exporter (values from an independent computation with Python's
 * hashlib/hmac), user name escaping, the password's preparation, and
 * every refusal with its own words: wrong or missing server signature, a
 * server error, a nonce that does not extend ours, iteration counts 0 and
 * 10^9, malformed challenges.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/scram.h"

#define SHA1_NONCE "fyko+d2lbbFgONRv9qkxdawL"
#define SHA1_FIRST "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
#define SHA1_FINAL                                                                                 \
	"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define SHA1_VERIFY "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

#define SHA256_NONCE  "rOprNGfwEbeRWgbNEkqO"
#define SHA256_SNONCE SHA256_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define SHA256_FIRST  "r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define SHA256_FINAL  "c=biws,r=" SHA256_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define SHA256_VERIFY "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* Start a SHA-256 exchange as user/pencil with the RFC 7677 nonce. */
static void
start256(struct scram *s, enum scram_cbind cb, const unsigned char *cbd, size_t cbl)
{
	struct sx_err e;
	char *msg;

	sx_clear(&e);
	assert_int_equal(
	    scram_first(s, SCRAM_SHA_256, cb, cbd, cbl, "user", SHA256_NONCE, &msg, &e), 0);
	scram_free_msg(msg);
}

/* A server-first-message must be refused (class cls), its detail containing want. */
static void
refuse_first(const char *first, enum sx_class cls, const char *want)
{
	struct scram s;
	struct sx_err e;
	char *msg = (char *)1;

	start256(&s, SCRAM_CB_NONE, NULL, 0);
	sx_clear(&e);
	assert_int_equal(scram_final(&s, "pencil", first, strlen(first), &msg, &e), -1);
	assert_null(msg);
	assert_int_equal(e.cls, cls);
	assert_int_equal(e.stage, STAGE_AUTH);
	if (strstr(e.detail, want) == NULL)
		fail_msg("challenge \"%s\": detail \"%s\" lacks \"%s\"", first, e.detail, want);
	/* Nothing goes on after a refusal. */
	sx_clear(&e);
	assert_int_equal(scram_verify(&s, SHA256_VERIFY, strlen(SHA256_VERIFY), &e), -1);
	assert_int_equal(e.cls, SX_INTERNAL);
	scram_clear(&s);
}

/* Run the RFC 7677 exchange to the server-final-message, which must be refused. */
static void
refuse_final(const char *final, enum sx_class cls, const char *want)
{
	struct scram s;
	struct sx_err e;
	char *msg;

	start256(&s, SCRAM_CB_NONE, NULL, 0);
	sx_clear(&e);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST, strlen(SHA256_FIRST), &msg, &e), 0);
	scram_free_msg(msg);
	assert_int_equal(scram_verify(&s, final, strlen(final), &e), -1);
	assert_int_equal(e.cls, cls);
	if (strstr(e.detail, want) == NULL)
		fail_msg("final \"%s\": detail \"%s\" lacks \"%s\"", final, e.detail, want);
	assert_false(scram_verified(&s));
	scram_clear(&s);
}

static void
test_rfc5802_sha1(void **state)
{
	struct scram s;
	struct sx_err e;
	char *msg;

	(void)state;
	sx_clear(&e);
	assert_int_equal(
	    scram_first(&s, SCRAM_SHA_1, SCRAM_CB_NONE, NULL, 0, "user", SHA1_NONCE, &msg, &e), 0);
	assert_string_equal(msg, "n,,n=user,r=" SHA1_NONCE);
	scram_free_msg(msg);
	assert_int_equal(scram_final(&s, "pencil", SHA1_FIRST, strlen(SHA1_FIRST), &msg, &e), 0);
	assert_string_equal(msg, SHA1_FINAL);
	scram_free_msg(msg);
	assert_int_equal(s.iterations, 4096);
	assert_int_equal(s.prep, SCRAM_PREP_ASCII);
	assert_false(scram_verified(&s));
	assert_int_equal(scram_verify(&s, SHA1_VERIFY, strlen(SHA1_VERIFY), &e), 0);
	assert_true(scram_verified(&s));
	assert_int_equal(e.cls, SX_OK);
	scram_clear(&s);
	assert_null(s.first_bare);
}

static void
test_rfc7677_sha256(void **state)
{
	struct scram s;
	struct sx_err e;
	unsigned char zero[SCRAM_HASH_MAX] = {0};
	char *msg;

	(void)state;
	sx_clear(&e);
	assert_int_equal(
	    scram_first(&s, SCRAM_SHA_256, SCRAM_CB_NONE, NULL, 0, "user", SHA256_NONCE, &msg, &e),
	    0);
	assert_string_equal(msg, "n,,n=user,r=" SHA256_NONCE);
	scram_free_msg(msg);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST, strlen(SHA256_FIRST), &msg, &e), 0);
	assert_string_equal(msg, SHA256_FINAL);
	scram_free_msg(msg);
	assert_int_equal(scram_verify(&s, SHA256_VERIFY, strlen(SHA256_VERIFY), &e), 0);
	assert_true(scram_verified(&s));
	/* The expected signature is wiped once it has served. */
	assert_memory_equal(s.server_sig, zero, sizeof(zero));
	scram_clear(&s);
	/* A server-final-message may carry extensions after the signature. */
	start256(&s, SCRAM_CB_NONE, NULL, 0);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST, strlen(SHA256_FIRST), &msg, &e), 0);
	scram_free_msg(msg);
	assert_int_equal(
	    scram_verify(&s, SHA256_VERIFY ",x=1", strlen(SHA256_VERIFY ",x=1"), &e), 0);
	scram_clear(&s);
}

/* The gs2 flags: y ("we could bind"), and p=tls-exporter with the binding data in c=. */
static void
test_gs2_flags(void **state)
{
	unsigned char cb[32];
	struct scram s;
	struct sx_err e;
	char *msg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cb); i++)
		cb[i] = (unsigned char)i;
	sx_clear(&e);
	assert_int_equal(scram_first(&s, SCRAM_SHA_256, SCRAM_CB_UNUSED, NULL, 0, "user",
			     SHA256_NONCE, &msg, &e),
	    0);
	assert_string_equal(msg, "y,,n=user,r=" SHA256_NONCE);
	scram_free_msg(msg);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST, strlen(SHA256_FIRST), &msg, &e), 0);
	assert_string_equal(
	    msg, "c=eSws,r=" SHA256_SNONCE ",p=FoqiHTtQEDE8lz1CdaEe3tK4mS+iMDTl77SPyDS53DY=");
	scram_free_msg(msg);
	assert_int_equal(
	    scram_verify(&s, "v=dI4KpiQJwBr1+V+K6U1dA6l6I4I9DUNXWND4pcpRU3U=", 46, &e), 0);
	scram_clear(&s);

	assert_int_equal(scram_first(&s, SCRAM_SHA_256, SCRAM_CB_EXPORTER, cb, sizeof(cb), "user",
			     SHA256_NONCE, &msg, &e),
	    0);
	assert_string_equal(msg, "p=tls-exporter,,n=user,r=" SHA256_NONCE);
	scram_free_msg(msg);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST, strlen(SHA256_FIRST), &msg, &e), 0);
	assert_string_equal(msg,
	    "c=cD10bHMtZXhwb3J0ZXIsLAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
	    ",r=" SHA256_SNONCE ",p=QC6CS20quADQRb3mT99YUH+n3VJxUvzuK0K0E1Vrs2M=");
	scram_free_msg(msg);
	assert_int_equal(
	    scram_verify(&s, "v=2GiAgapEppLVlUXbxUDksL3VgYHzuqiK5tR4mhJGgvs=", 46, &e), 0);
	scram_clear(&s);

	/* -PLUS without binding data is a bug, not a message. */
	assert_int_equal(
	    scram_first(&s, SCRAM_SHA_256, SCRAM_CB_EXPORTER, NULL, 0, "user", NULL, &msg, &e), -1);
	assert_int_equal(e.cls, SX_INTERNAL);
	scram_clear(&s);
}

static void
test_user_and_nonce(void **state)
{
	struct scram s;
	struct sx_err e;
	char *msg;

	(void)state;
	sx_clear(&e);
	/* RFC 5802 5.1: ',' and '=' in the name are escaped. */
	assert_int_equal(
	    scram_first(&s, SCRAM_SHA_1, SCRAM_CB_NONE, NULL, 0, "a,b=c", "xyz", &msg, &e), 0);
	assert_string_equal(msg, "n,,n=a=2Cb=3Dc,r=xyz");
	scram_free_msg(msg);
	scram_clear(&s);
	/* A fresh nonce: 32 base64 characters, different each time. */
	assert_int_equal(
	    scram_first(&s, SCRAM_SHA_1, SCRAM_CB_NONE, NULL, 0, "u", NULL, &msg, &e), 0);
	assert_int_equal(strlen(msg), strlen("n,,n=u,r=") + 32);
	assert_null(strchr(msg + 9, ','));
	{
		struct scram s2;
		char *msg2;

		assert_int_equal(
		    scram_first(&s2, SCRAM_SHA_1, SCRAM_CB_NONE, NULL, 0, "u", NULL, &msg2, &e), 0);
		assert_string_not_equal(msg, msg2);
		scram_free_msg(msg2);
		scram_clear(&s2);
	}
	scram_free_msg(msg);
	scram_clear(&s);
	/* A user name with a control character never reaches the server. */
	assert_int_equal(
	    scram_first(&s, SCRAM_SHA_1, SCRAM_CB_NONE, NULL, 0, "a\tb", "xyz", &msg, &e), -1);
	assert_int_equal(e.cls, SX_CONFIG);
	scram_clear(&s);
}

/* One proof for a password: the client-final-message of the RFC 7677 exchange. */
static void
proof_for(const char *password, char *out, size_t outsz, enum scram_prep *prep)
{
	struct scram s;
	struct sx_err e;
	char *msg;

	start256(&s, SCRAM_CB_NONE, NULL, 0);
	sx_clear(&e);
	assert_int_equal(
	    scram_final(&s, password, SHA256_FIRST, strlen(SHA256_FIRST), &msg, &e), 0);
	strlcpy(out, msg, outsz);
	*prep = s.prep;
	scram_free_msg(msg);
	scram_clear(&s);
}

/*
 * SASLprep as far as GnuTLS' OpaqueString goes: a decomposed "ä" and a
 * no-break space give the proof of their prepared forms; a password that
 * is not UTF-8 is used as bytes.
 */
static void
test_saslprep(void **state)
{
	char a[256], b[256];
	enum scram_prep pa, pb;

	(void)state;
	proof_for("p\xc3\xa4 ss:w\xc3\xb6rd+/=", a, sizeof(a), &pa);
	proof_for("pa\xcc\x88 ss:w\xc3\xb6rd+/=", b, sizeof(b), &pb);
	assert_int_equal(pa, SCRAM_PREP_OPAQUE);
	assert_int_equal(pb, SCRAM_PREP_OPAQUE);
	assert_string_equal(a, b);
	proof_for("p w", a, sizeof(a), &pa);
	proof_for("p\xc2\xa0w", b, sizeof(b), &pb);
	assert_int_equal(pa, SCRAM_PREP_ASCII);
	assert_int_equal(pb, SCRAM_PREP_OPAQUE);
	assert_string_equal(a, b);
	proof_for("p\xff\xfe", a, sizeof(a), &pa);
	assert_int_equal(pa, SCRAM_PREP_RAW);
	proof_for("pencil", a, sizeof(a), &pa);
	assert_string_equal(a, SHA256_FINAL);
}

/* The server's signature: wrong, missing, malformed, or the server's error instead. */
static void
test_server_signature(void **state)
{
	(void)state;
	refuse_final("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", SX_AUTH,
	    "could not prove it knows the password: wrong SCRAM server signature");
	/* The SHA-1 vector's signature is the wrong length for SHA-256. */
	refuse_final(SHA1_VERIFY, SX_AUTH, "signature is not 32 bytes of base64");
	refuse_final("v=not*base64", SX_AUTH, "signature is not 32 bytes of base64");
	refuse_final("", SX_AUTH, "has no signature (v=)");
	refuse_final(
	    "x=1,v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", SX_AUTH, "has no signature (v=)");
	refuse_final(
	    "e=invalid-proof", SX_AUTH, "the server refused the SCRAM exchange: invalid-proof");
	refuse_final("e=channel-bindings-dont-match", SX_AUTH, "channel-bindings-dont-match");
	refuse_final("v=\x1b[2J", SX_PROTO, "control characters");
}

static void
test_nonce(void **state)
{
	(void)state;
	/* Not our nonce, ours alone, and ours cut short. */
	refuse_first("r=XOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", SX_PROTO,
	    "nonce does not extend ours");
	refuse_first("r=" SHA256_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", SX_PROTO,
	    "nonce does not extend ours");
	refuse_first("r=rOprNGfwEb,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", SX_PROTO,
	    "nonce does not extend ours");
	refuse_first("r=" SHA256_NONCE "\xc3\xa4,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", SX_PROTO,
	    "nonce is not printable ASCII");
}

static void
test_iterations(void **state)
{
	(void)state;
	refuse_first(
	    "r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", SX_PROTO, "iteration count of 0");
	refuse_first("r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=000", SX_PROTO,
	    "iteration count of 0");
	refuse_first("r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000000000", SX_PROTO,
	    "asks for 1000000000 SCRAM iterations: refusing more than 10000000");
	refuse_first("r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=10000001", SX_PROTO,
	    "refusing more than 10000000");
	/* No overflow however many digits. */
	refuse_first("r=" SHA256_SNONCE
		     ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=184467440737095516161844674407370955161",
	    SX_PROTO, "refusing more than");
	refuse_first("r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1", SX_PROTO,
	    "iteration count is not a number");
	refuse_first("r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x", SX_PROTO,
	    "iteration count is not a number");
	refuse_first("r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=", SX_PROTO,
	    "iteration count is empty");
}

static void
test_malformed(void **state)
{
	static const struct {
		const char *msg, *want;
	} cases[] = {
	    {"", "does not start with the nonce (r=)"},
	    {"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" SHA256_SNONCE ",i=4096",
		"does not start with the nonce (r=)"},
	    {"r=" SHA256_SNONCE, "no salt (s=)"},
	    {"r=" SHA256_SNONCE ",i=4096", "no salt (s=)"},
	    {"r=" SHA256_SNONCE ",s=,i=4096", "the salt is empty, not base64"},
	    {"r=" SHA256_SNONCE ",s=!!!!,i=4096", "the salt is empty, not base64"},
	    {"r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==", "no iteration count (i=)"},
	    {"r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,x=1,i=4096", "no iteration count"},
	    {"m=ext,r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"requires a SCRAM extension (m=)"},
	    {"r=" SHA256_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\r\n", "control characters"},
	};
	static const char *const early = "e=server-does-support-channel-binding";
	struct scram s;
	struct sx_err e;
	char *msg, big[5000];
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		refuse_first(cases[k].msg, SX_PROTO, cases[k].want);
	/* A server that ends the exchange at once says why (a downgrade it detected). */
	refuse_first(early, SX_AUTH,
	    "the server refused the SCRAM exchange: server-does-support-channel-binding");
	/* A NUL inside the message is a control character too. */
	start256(&s, SCRAM_CB_NONE, NULL, 0);
	sx_clear(&e);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST "\0x", strlen(SHA256_FIRST) + 2, &msg, &e), -1);
	assert_non_null(strstr(e.detail, "control characters"));
	scram_clear(&s);
	memset(big, 'a', sizeof(big));
	memcpy(big, "r=" SHA256_NONCE, strlen("r=" SHA256_NONCE));
	/* Extensions after the count are allowed (and enter the AuthMessage as sent). */
	start256(&s, SCRAM_CB_NONE, NULL, 0);
	sx_clear(&e);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST ",x=1", strlen(SHA256_FIRST ",x=1"), &msg, &e),
	    0);
	assert_string_not_equal(msg, SHA256_FINAL);
	scram_free_msg(msg);
	scram_clear(&s);
	start256(&s, SCRAM_CB_NONE, NULL, 0);
	sx_clear(&e);
	assert_int_equal(scram_final(&s, "pencil", big, sizeof(big), &msg, &e), -1);
	assert_non_null(strstr(e.detail, "longer than 4096"));
	scram_clear(&s);
}

static void
test_order(void **state)
{
	struct scram s;
	struct sx_err e;
	char *msg;

	(void)state;
	memset(&s, 0, sizeof(s));
	sx_clear(&e);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST, strlen(SHA256_FIRST), &msg, &e), -1);
	assert_int_equal(e.cls, SX_INTERNAL);
	sx_clear(&e);
	assert_int_equal(scram_verify(&s, SHA256_VERIFY, strlen(SHA256_VERIFY), &e), -1);
	assert_int_equal(e.cls, SX_INTERNAL);
	/* A verified exchange does not verify twice. */
	start256(&s, SCRAM_CB_NONE, NULL, 0);
	sx_clear(&e);
	assert_int_equal(
	    scram_final(&s, "pencil", SHA256_FIRST, strlen(SHA256_FIRST), &msg, &e), 0);
	scram_free_msg(msg);
	assert_int_equal(scram_verify(&s, SHA256_VERIFY, strlen(SHA256_VERIFY), &e), 0);
	assert_int_equal(scram_verify(&s, SHA256_VERIFY, strlen(SHA256_VERIFY), &e), -1);
	scram_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc5802_sha1),
	    cmocka_unit_test(test_rfc7677_sha256),
	    cmocka_unit_test(test_gs2_flags),
	    cmocka_unit_test(test_user_and_nonce),
	    cmocka_unit_test(test_saslprep),
	    cmocka_unit_test(test_server_signature),
	    cmocka_unit_test(test_nonce),
	    cmocka_unit_test(test_iterations),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_order),
	};

	return cmocka_run_group_tests_name("scram", tests, NULL, NULL);
}
