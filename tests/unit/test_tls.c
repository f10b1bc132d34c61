/*
 * test_tls.c — the parts of tls.c that need no peer: the tls_fingerprint
 * syntax, IP literals (no SNI for those) and the priority string with its
 * verification profile.  Handshakes, verification and pins against real
 * servers: tests/e2e/t_tls_options.sh, t_faults_tls.sh.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/tls.h"

#define FPR_HEX "0123456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff"
#define FPR_COLONS                                                                                 \
	"01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:"  \
	"DD:EE:FF"

static void
test_fingerprint(void **state)
{
	static const unsigned char want[32] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01,
	    0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
	    0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	static const char *const bad[] = {
	    "",
	    "01:23", /* too short */
	    FPR_HEX "00",
	    "0" FPR_HEX,
	    /* a colon inside a pair */
	    "0:123456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff",
	    /* not hex */
	    "zz23456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff",
	    /* spaces are not separators */
	    "01 23 456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff",
	    "01 23456789abcdef0123456789ABCDEF00112233445566778899aabbccddeef",
	    /* no prefixes */
	    "SHA256:0123456789abcdef0123456789ABCDEF00112233445566778899aabbccddeeff",
	};
	unsigned char out[32];
	size_t i;

	(void)state;
	memset(out, 0, sizeof(out));
	assert_int_equal(tls_parse_fingerprint(FPR_HEX, out), 0);
	assert_memory_equal(out, want, 32);
	memset(out, 0, sizeof(out));
	assert_int_equal(tls_parse_fingerprint(FPR_COLONS, out), 0);
	assert_memory_equal(out, want, 32);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tls_parse_fingerprint(bad[i], out), -1);
}

static void
test_ip_literal(void **state)
{
	(void)state;
	assert_true(tls_is_ip_literal("127.0.0.1"));
	assert_true(tls_is_ip_literal("::1"));
	assert_false(tls_is_ip_literal("smtp.example.com"));
	assert_false(tls_is_ip_literal("127.0.0.1.example"));
}

/*
 * Certificates are checked with at least the "medium" profile (no 1024-bit
 * RSA): appended to a user's string, unless it names a profile itself (to
 * lower it on purpose) or a level that sets a stronger one.
 */
static void
test_priority_profile(void **state)
{
	gnutls_certificate_verification_profiles_t prof;
	gnutls_priority_t pc;
	const char *errpos;
	char *s;

	(void)state;
	assert_int_equal(tls_priority_string(NULL, &s, &prof), 0);
	assert_null(s);
	assert_int_equal(prof, GNUTLS_PROFILE_MEDIUM);

	assert_int_equal(tls_priority_string("NORMAL:-VERS-TLS1.3", &s, &prof), 0);
	assert_string_equal(s, "NORMAL:-VERS-TLS1.3:%PROFILE_MEDIUM");
	assert_int_equal(prof, GNUTLS_PROFILE_MEDIUM);
	/* GnuTLS takes it. */
	assert_int_equal(gnutls_priority_init(&pc, s, &errpos), 0);
	gnutls_priority_deinit(pc);
	free(s);

	assert_int_equal(tls_priority_string("NORMAL:%PROFILE_LOW", &s, &prof), 0);
	assert_string_equal(s, "NORMAL:%PROFILE_LOW");
	assert_int_equal(prof, GNUTLS_PROFILE_LOW);
	free(s);
	assert_int_equal(tls_priority_string("NORMAL:%profile_high:-VERS-TLS1.2", &s, &prof), 0);
	assert_string_equal(s, "NORMAL:%profile_high:-VERS-TLS1.2");
	assert_int_equal(prof, GNUTLS_PROFILE_HIGH);
	free(s);
	/* A level with a stronger profile of its own is not lowered. */
	assert_int_equal(tls_priority_string("SECURE256", &s, &prof), 0);
	assert_string_equal(s, "SECURE256");
	assert_int_equal(prof, GNUTLS_PROFILE_HIGH);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fingerprint),
	    cmocka_unit_test(test_ip_literal),
	    cmocka_unit_test(test_priority_profile),
	};

	return cmocka_run_group_tests_name("tls", tests, NULL, NULL);
}
